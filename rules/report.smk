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
from selcn.report.differences import run_settings
from selcn.report.html import run_note
from selcn.report.registry import (
    FIGURES_SUBCATEGORY,
    PER_CLASS_PATTERN,
    STAGE_FIGURES,
    TABLE_REGISTRY,
    TABLES_SUBCATEGORY,
    calibration_figures,
    findings_file,
    findings_files,
    per_class_dataset,
    per_class_labels,
    per_class_number,
    reference_table,
    render_caption,
    report_category,
    report_figures,
    report_tables,
    table_labels,
    table_options,
    table_title,
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
    + calibration_figures(GRID)
)
#: the report's targets of `rule all`: every table (its HTML twin), figure and Findings page
REPORT_TARGETS = (
    [table_file(n, "html") for n in TABLES]
    + [figure_file(n) for n in FIGURES]
    + findings_files(GRID)
    + [table_file("differences", "html")]
)


rule table:
    input:
        files=lambda w: TABLE_REGISTRY[w.table].files(JOBS),
        # the thesis' values only beside a table of the dataset they were published for
        reference=lambda w: reference_table(REFERENCE_DIR, w.table, GRID),
    output:
        csv=table_file("{table}", "csv"),
        html=report(
            table_file("{table}", "html"),
            caption="../workflow/report/table.rst",
            category=lambda w: report_category(TABLE_REGISTRY[w.table].category),
            subcategory=TABLES_SUBCATEGORY,
            labels=lambda w: table_labels(w.table, GRID),
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
        title=lambda w: table_title(w.table, GRID),
        options=lambda w: table_options(w.table, GRID, CFG),
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
            per_class_dataset(w.name),
            GRID.model(per_class_number(w.name)),
            "predictions_test.csv",
        ),
        reference=lambda w: reference_table(REFERENCE_DIR, w.name),
    output:
        csv=table_file("{name}", "csv"),
        html=report(
            table_file("{name}", "html"),
            caption="../workflow/report/table_per_class.rst",
            category=report_category("Lesion classification"),
            subcategory=TABLES_SUBCATEGORY,
            labels=lambda w: per_class_labels(w.name),
        ),
    log:
        f"{LOGS}/report/{{name}}.log",
    wildcard_constraints:
        name=PER_CLASS_PATTERN,
    localrule: True
    conda:
        SELCN_ENV
    params:
        number=lambda w: per_class_number(w.name),
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_per_class.py"


# the statistics of a lesion dataset (each model against model 1 and against its group's
# baseline, by lesion: the split table's groups) and its Findings page (best model on
# validation, its test metrics, the effects against model 1): one job, so that
# report.bootstrap re-plans these and nothing else
rule stats_vs_baseline:
    input:
        unpack(lambda w: JOBS.lesion_statistics_inputs(w.lesion_dataset)),
    output:
        csv=table_file("stats_vs_baseline_{lesion_dataset}", "csv"),
        html=report(
            table_file("stats_vs_baseline_{lesion_dataset}", "html"),
            caption="../workflow/report/stats_vs_baseline.rst",
            category=report_category("Model comparison"),
            subcategory=TABLES_SUBCATEGORY,
            labels=lambda w: {
                "table": "Δ vs baseline",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "vs model 1 and vs group baseline, by lesion, test split",
            },
        ),
        findings=report(
            findings_file("{lesion_dataset}"),
            caption="../workflow/report/findings.rst",
            category=report_category("Findings"),
            labels=lambda w: {"dataset": DATASET_LABELS[w.lesion_dataset]},
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
        synthetic=config["data"]["source"] == "synthetic",
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_stats.py"


# the table "shared vs per-model search" of a lesion dataset (hpo.scope: per_model): each model
# trained with the shared search's values and with its own, compared by lesion (issue 25)
rule search_comparison:
    input:
        unpack(lambda w: JOBS.search_comparison_inputs(w.lesion_dataset)),
    output:
        csv=table_file("search_comparison_{lesion_dataset}", "csv"),
        html=report(
            table_file("search_comparison_{lesion_dataset}", "html"),
            caption="../workflow/report/search_comparison.rst",
            category=report_category("Hyper-parameter search"),
            subcategory=TABLES_SUBCATEGORY,
            labels=lambda w: {
                "table": "Shared vs per-model search",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "values, epochs, metrics and statistics by lesion",
            },
        ),
    log:
        f"{LOGS}/report/search_comparison_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        intervals={
            "n_boot": config["report"]["bootstrap"],
            "confidence": config["report"]["confidence"],
            "seed": config["seed"],
        },
        title=lambda w: "Shared vs per-model hyper-parameter search — SE-LCN on "
        f"{DATASET_LABELS[w.lesion_dataset]}",
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_search_comparison.py"


# the segmenter figure of a lesion dataset (segmentation.mode: axis): each segmenter's test Dice
# against the test accuracy of the models using its masks, from the segmenter table (issue 25)
rule segmenter_figure:
    input:
        table=table_file("segmenter_effect_{lesion_dataset}", "csv"),
    output:
        figure=report(
            figure_file("segmenter_effect_{lesion_dataset}"),
            caption="../workflow/report/segmenter_effect_figure.rst",
            category=report_category("Segmentation"),
            subcategory=FIGURES_SUBCATEGORY,
            labels=lambda w: {
                "figure": "segmenters",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "segmenter Dice vs lesion accuracy",
            },
        ),
    log:
        f"{LOGS}/report/segmenter_figure_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        title=lambda w: "Segmenter quality and lesion classification on "
        f"{DATASET_LABELS[w.lesion_dataset]}",
    script:
        "../workflow/scripts/report_segmenter_figure.py"


rule heatmap:
    input:
        predictions=lambda w: JOBS.lesion_prediction_files(w.lesion_dataset, "test"),
        localisation=lambda w: JOBS.lesion_localisation_files(w.lesion_dataset),
    output:
        figure=report(
            figure_file("heatmap_{lesion_dataset}"),
            caption="../workflow/report/heatmap.rst",
            category=report_category("Model comparison"),
            subcategory=FIGURES_SUBCATEGORY,
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
        histories=lambda w: JOBS.lesion_history_files(w.lesion_dataset)
        + JOBS.multitask_history_files(w.lesion_dataset),
    output:
        figure=report(
            figure_file("fig11_13_training_curves_{lesion_dataset}"),
            caption="../workflow/report/fig11_13_training_curves.rst",
            category=report_category("Lesion classification"),
            subcategory=FIGURES_SUBCATEGORY,
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


rule reliability:
    input:
        predictions=lambda w: JOBS.lesion_prediction_files(w.lesion_dataset, "test"),
    output:
        figure=report(
            figure_file("reliability_{lesion_dataset}"),
            caption="../workflow/report/reliability.rst",
            category=report_category("Model comparison"),
            subcategory=FIGURES_SUBCATEGORY,
            labels=lambda w: {
                "figure": "reliability diagrams",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "calibration of the fold ensembles, test split",
            },
        ),
    log:
        f"{LOGS}/report/reliability_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        title=lambda w: f"SE-LCN grid on {DATASET_LABELS[w.lesion_dataset]}",
    script:
        "../workflow/scripts/report_reliability.py"


# the appendix "Differences from the thesis' code": docs/differences.md, headed by what this
# run's settings resolve to (selcn.report.differences)
rule differences:
    input:
        page=Path(workflow.current_basedir).parent / "docs" / "differences.md",
    output:
        html=report(
            table_file("differences", "html"),
            caption="../workflow/report/differences.rst",
            category="About this run",
            labels={"page": "Differences from the thesis' code"},
        ),
    log:
        f"{LOGS}/report/differences.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        settings=run_settings(CFG),
        note=RUN_NOTE,
    script:
        "../workflow/scripts/report_differences.py"
