# Report stage (thesis section 5.4 and appendices B-C): every table and the report's own
# figures, recomputed by aggregation rules that read only the per-model prediction / metric
# files of the stages (docs/contracts.md). All of them are local rules: they never go to
# the cluster. Each table is a CSV plus an HTML twin (the report item) that shows the
# thesis' published values (config/reference/) next to this run's.
#
# The report registry lives here: TABLE_REGISTRY (the thesis tables, built by the one rule
# `table`), the per-class and statistics tables, and FIGURES; all_targets() (common.smk)
# requests TABLES and FIGURES.
from selcn.grid import DATASET_LABELS
from selcn.report.html import run_note
from selcn.report.registry import (
    TableEntry,
    per_class_number,
    reference_table,
    render_caption,
    report_figures,
    report_tables,
    split_entries,
)


report: "../workflow/report/workflow.rst"


#: the thesis' published values (config/reference/), found from any working directory
REFERENCE_DIR = Path(workflow.current_basedir).parent / "config" / "reference"
#: the caption templates of the report items
CAPTION_DIR = Path(workflow.current_basedir).parent / "workflow" / "report"
#: the line under each table saying what this run is (a param: it changes with the config)
RUN_NOTE = run_note(CFG)


#: the thesis tables built by rule `table`: name -> input files, category, labels, caption
TABLE_REGISTRY = {
    "table5_segmentation": TableEntry(
        files=lambda: expand(segmentation_file("{arch}", "metrics_test.csv"), arch=GRID.seg_archs),
        category="Segmentation",
        labels={"table": "Table 5", "dataset": "HAM10000", "content": "segmentation networks"},
        caption="table5_segmentation",
    ),
    **split_entries(
        "table6_symmetry",
        symmetry_prediction_files,
        "Symmetry",
        "Table 6",
        "SymDerm v2.0",
        "masking strategies",
        "table6_symmetry",
    ),
    "table6c_symmetry_architectures": TableEntry(
        files=lambda: symmetry_arch_prediction_files("val")
        + symmetry_arch_prediction_files("test"),
        category="Symmetry",
        labels={"table": "Table 6c", "dataset": "SymDerm v2.0", "content": "architectures"},
        caption="table6c_symmetry_architectures",
        options=lambda: {"arch_variants": dict(GRID.symmetry_arch_variants)},
    ),
    "table7_symmetry_cam_localisation": TableEntry(
        files=symmetry_localisation_files,
        category="Symmetry",
        labels={"table": "Table 7", "dataset": "HAM10000", "content": "CAM localisation"},
        caption="table7_symmetry_cam_localisation",
    ),
    **split_entries(
        "table8_lesion",
        lambda split: lesion_prediction_files("ham10000", split),
        "Lesion classification",
        "Table 8",
        "HAM10000",
        "SE-LCN grid",
        "table8_lesion",
    ),
    "table9_lesion_cam_localisation": TableEntry(
        files=lambda: lesion_localisation_files("ham10000"),
        category="Lesion classification",
        labels={"table": "Table 9", "dataset": "HAM10000", "content": "CAM localisation"},
        caption="table9_lesion_cam_localisation",
    ),
    "table10_isic2019": TableEntry(
        files=lambda: lesion_prediction_files("ham10000", "isic2019"),
        category="Lesion classification",
        labels={"table": "Table 10", "dataset": "ISIC 2019", "content": "external test set"},
        caption="table10_isic2019",
    ),
    "table13_isic2016_val": TableEntry(
        files=lambda: lesion_prediction_files("isic2016", "val"),
        category="Lesion classification",
        labels={"table": "Table 13", "dataset": "ISIC 2016", "content": "validation folds"},
        caption="table13_14_isic2016",
    ),
    "table14_isic2016_test": TableEntry(
        files=lambda: lesion_prediction_files("isic2016", "test"),
        category="Lesion classification",
        labels={"table": "Table 14", "dataset": "ISIC 2016", "content": "test split"},
        caption="table13_14_isic2016",
    ),
    "table15_isic2016_cam_localisation": TableEntry(
        files=lambda: lesion_localisation_files("isic2016"),
        category="Lesion classification",
        labels={"table": "Table 15", "dataset": "ISIC 2016", "content": "CAM localisation"},
        caption="table15_isic2016_cam_localisation",
    ),
}


#: every table and figure of the workflow (all_targets() in common.smk builds them)
TABLES = report_tables(GRID)
#: the figures of the report stage itself
REPORT_FIGURES = report_figures(GRID)
FIGURES = (
    [
        "fig3_masking_strategies",
        "fig5_hair_removal",
        "fig6_class_distribution",
        "fig9_symmetry_cams",
        "fig10_lesion_cams",
    ]
    + ([f"fig7a_hpo_convergence_{n}" for n in hpo_searches()] if CFG["hpo"]["enabled"] else [])
    + REPORT_FIGURES
)


rule table:
    input:
        files=lambda w: TABLE_REGISTRY[w.table].files(),
        reference=lambda w: reference_table(REFERENCE_DIR, w.table),
    output:
        csv=table_file("{table}", "csv"),
        html=report(
            table_file("{table}", "html"),
            caption="../workflow/report/table.rst",
            category=lambda w: TABLE_REGISTRY[w.table].category,
            subcategory="Tables",
            labels=lambda w: dict(TABLE_REGISTRY[w.table].labels),
        ),
    log:
        f"{LOGS}/report/{{table}}.log",
    wildcard_constraints:
        table=alternation(TABLE_REGISTRY),
    localrule: True
    conda:
        SELCN_ENV
    params:
        table=lambda w: w.table,
        options=lambda w: TABLE_REGISTRY[w.table].options(),
        note=RUN_NOTE,
        caption=lambda w: render_caption(
            CAPTION_DIR / f"{TABLE_REGISTRY[w.table].caption}.rst",
            CFG,
            TABLE_REGISTRY[w.table].caption_wildcards,
        ),
    script:
        "../workflow/scripts/report_table.py"


rule table_per_class:
    input:
        files=lambda w: lesion_model_files(
            "ham10000", per_class_number(w.name), "predictions_test.csv"
        ),
        reference=lambda w: reference_table(REFERENCE_DIR, w.name),
    output:
        csv=table_file("{name}", "csv"),
        html=report(
            table_file("{name}", "html"),
            caption="../workflow/report/table_per_class.rst",
            category="Lesion classification",
            subcategory="Tables",
            labels=lambda w: {
                "table": (
                    f"Table {w.name.split('_')[0][len('table'):]}"
                    if w.name.startswith("table")
                    else "per class"
                ),
                "dataset": "HAM10000",
                "content": f"per class, model {per_class_number(w.name)}, test split",
            },
        ),
    log:
        f"{LOGS}/report/{{name}}.log",
    wildcard_constraints:
        name="(table[0-9]+_)?per_class_model[0-9]+",
    localrule: True
    conda:
        SELCN_ENV
    params:
        number=lambda w: per_class_number(w.name),
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_per_class.py"


rule stats_vs_baseline:
    input:
        files=lambda w: lesion_prediction_files(w.lesion_dataset, "test"),
    output:
        csv=table_file("stats_vs_baseline_{lesion_dataset}", "csv"),
        html=report(
            table_file("stats_vs_baseline_{lesion_dataset}", "html"),
            caption="../workflow/report/stats_vs_baseline.rst",
            category="Model comparison",
            subcategory="Tables",
            labels=lambda w: {
                "table": "Δ vs baseline",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "bootstrap CI and McNemar, test split",
            },
        ),
    log:
        f"{LOGS}/report/stats_vs_baseline_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        n_boot=config["report"]["bootstrap"],
        confidence=config["report"]["confidence"],
        seed=config["seed"],
        cfg=declared("report", "seed"),
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_stats.py"


rule heatmap:
    input:
        predictions=lambda w: lesion_prediction_files(w.lesion_dataset, "test"),
        localisation=lambda w: lesion_localisation_files(w.lesion_dataset),
    output:
        figure=report(
            figure_file("heatmap_{lesion_dataset}"),
            caption="../workflow/report/heatmap.rst",
            category="Model comparison",
            subcategory="Figures",
            labels=lambda w: {
                "figure": "grid heat-map",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "accuracy, macro F1, CAM IoU",
            },
        ),
    log:
        f"{LOGS}/report/heatmap_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        title=lambda w: f"SE-LCN grid on {DATASET_LABELS[w.lesion_dataset]}",
    script:
        "../workflow/scripts/report_heatmap.py"


rule fig11_13_training_curves:
    input:
        histories=lambda w: lesion_history_files(w.lesion_dataset, fold=0),
    output:
        figure=report(
            figure_file("fig11_13_training_curves_{lesion_dataset}"),
            caption="../workflow/report/fig11_13_training_curves.rst",
            category="Lesion classification",
            subcategory="Figures",
            labels=lambda w: {
                "figure": "Figures 11-13",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "training curves, first fold",
            },
        ),
    log:
        f"{LOGS}/report/fig11_13_training_curves_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        title=lambda w: f"Training curves (fold 0) on {DATASET_LABELS[w.lesion_dataset]}",
    script:
        "../workflow/scripts/report_training_curves.py"
