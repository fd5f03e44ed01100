# Report stage (thesis section 5.4 and appendices B-C): every table and the report's own
# figures, recomputed by aggregation rules that read only the per-model prediction / metric
# files of the stages (docs/contracts.md). All of them are local rules: they never go to
# the cluster. Each table is a CSV plus an HTML twin (the report item) that shows the
# thesis' published values (config/reference/) next to this run's.
#
# The report registry is selcn.report.registry: TABLE_REGISTRY (the thesis tables, built by
# the one rule `table`: files, builder, category, labels, caption), the per-class and
# statistics tables, and the figures; `rule all` requests TABLES and FIGURES (REPORT_TARGETS).
from selcn.grid import DATASET_LABELS
from selcn.paths import table_file
from selcn.report.html import run_note
from selcn.report.registry import (
    STAGE_FIGURES,
    TABLE_REGISTRY,
    per_class_labels,
    per_class_number,
    reference_table,
    render_caption,
    report_figures,
    report_tables,
)


report: "../workflow/report/workflow.rst"


#: the thesis' published values (config/reference/), found from any working directory
REFERENCE_DIR = Path(workflow.current_basedir).parent / "config" / "reference"
#: the caption templates of the report items
CAPTION_DIR = Path(workflow.current_basedir).parent / "workflow" / "report"
#: the line under each table saying what this run is (a param: it changes with the config)
RUN_NOTE = run_note(CFG)

#: every table of this config's report (results/tables/<name>.csv + .html)
TABLES = report_tables(GRID)
#: the figures of the report stage itself
REPORT_FIGURES = report_figures(GRID)
#: every figure of the report: the stages', the searches' (when enabled), the report stage's
FIGURES = (
    list(STAGE_FIGURES)
    + ([f"fig7a_hpo_convergence_{n}" for n in JOBS.hpo_searches()] if CFG["hpo"]["enabled"] else [])
    + REPORT_FIGURES
)
#: the report's targets of `rule all`: every table (its HTML twin) and figure
REPORT_TARGETS = [table_file(n, "html") for n in TABLES] + [figure_file(n) for n in FIGURES]


rule table:
    input:
        files=lambda w: TABLE_REGISTRY[w.table].files(JOBS),
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
        options=lambda w: TABLE_REGISTRY[w.table].options(GRID),
        note=RUN_NOTE,
        caption=lambda w: render_caption(
            CAPTION_DIR / f"{TABLE_REGISTRY[w.table].caption.template}.rst",
            CFG,
            TABLE_REGISTRY[w.table].caption.wildcards,
        ),
    script:
        "../workflow/scripts/report_table.py"


rule table_per_class:
    input:
        files=lambda w: JOBS.lesion_model_files(
            "ham10000", GRID.model(per_class_number(w.name)), "predictions_test.csv"
        ),
        reference=lambda w: reference_table(REFERENCE_DIR, w.name),
    output:
        csv=table_file("{name}", "csv"),
        html=report(
            table_file("{name}", "html"),
            caption="../workflow/report/table_per_class.rst",
            category="Lesion classification",
            subcategory="Tables",
            labels=lambda w: per_class_labels(w.name),
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
        files=lambda w: JOBS.lesion_prediction_files(w.lesion_dataset, "test"),
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
        predictions=lambda w: JOBS.lesion_prediction_files(w.lesion_dataset, "test"),
        localisation=lambda w: JOBS.lesion_localisation_files(w.lesion_dataset),
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
        histories=lambda w: JOBS.lesion_history_files(w.lesion_dataset),
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
