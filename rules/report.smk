# Report stage (thesis section 5.4 and appendices B-C): every table and the report's own
# figures, recomputed by aggregation rules that read only the per-model prediction / metric
# files of the stages (docs/contracts.md). All of them are local rules: they never go to
# the cluster. Each table is a CSV plus an HTML twin (the report item) that shows the
# thesis' published values (config/reference/) next to this run's.

report: "../workflow/report/workflow.rst"


#: every table and figure of the workflow (all_targets() in common.smk builds them;
#: the helpers are in common.smk's targets section)
TABLES = report_tables()
FIGURES = (
    [
        "fig3_masking_strategies",
        "fig5_hair_removal",
        "fig6_class_distribution",
        "fig9_symmetry_cams",
        "fig10_lesion_cams",
    ]
    + (
        [f"fig7a_hpo_convergence_{n}" for n in CFG["hpo"]["networks"]]
        if CFG["hpo"]["enabled"]
        else []
    )
    + report_figures()
)


rule table5_segmentation:
    input:
        files=expand(segmentation_file("{arch}", "metrics_test.csv"), arch=GRID.seg_archs),
        reference=reference_table("table5_segmentation"),
    output:
        **table_output(
            "table5_segmentation",
            "Segmentation",
            {"table": "Table 5", "dataset": "HAM10000", "content": "segmentation networks"},
        ),
    params:
        table="table5_segmentation",
    log:
        f"{LOGS}/report/table5_segmentation.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table6_symmetry:
    input:
        files=lambda w: symmetry_prediction_files(w.split),
        reference=lambda w: reference_table(f"table6_symmetry_{w.split}"),
    output:
        **table_output(
            "table6_symmetry_{split}",
            "Symmetry",
            lambda w: {
                "table": "Table 6" + ("a" if w.split == "val" else "b"),
                "dataset": "SymDerm v2.0",
                "content": f"masking strategies, {SPLIT_LABELS[w.split]}",
            },
            caption="table6_symmetry",
        ),
    params:
        table=lambda w: f"table6_symmetry_{w.split}",
    log:
        f"{LOGS}/report/table6_symmetry_{{split}}.log",
    wildcard_constraints:
        split="val|test",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table6c_symmetry_architectures:
    input:
        files=symmetry_arch_prediction_files("val") + symmetry_arch_prediction_files("test"),
    output:
        **table_output(
            "table6c_symmetry_architectures",
            "Symmetry",
            {"table": "Table 6c", "dataset": "SymDerm v2.0", "content": "architectures"},
        ),
    params:
        table="table6c_symmetry_architectures",
    log:
        f"{LOGS}/report/table6c_symmetry_architectures.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table7_symmetry_cam_localisation:
    input:
        files=symmetry_localisation_files(),
        reference=reference_table("table7_symmetry_cam_localisation"),
    output:
        **table_output(
            "table7_symmetry_cam_localisation",
            "Symmetry",
            {"table": "Table 7", "dataset": "HAM10000", "content": "CAM localisation"},
        ),
    params:
        table="table7_symmetry_cam_localisation",
    log:
        f"{LOGS}/report/table7_symmetry_cam_localisation.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table8_lesion:
    input:
        files=lambda w: lesion_prediction_files("ham10000", w.split),
        reference=lambda w: reference_table(f"table8_lesion_{w.split}"),
    output:
        **table_output(
            "table8_lesion_{split}",
            "Lesion classification",
            lambda w: {
                "table": "Table 8" + ("a" if w.split == "val" else "b"),
                "dataset": "HAM10000",
                "content": f"SE-LCN grid, {SPLIT_LABELS[w.split]}",
            },
            caption="table8_lesion",
        ),
    params:
        table=lambda w: f"table8_lesion_{w.split}",
    log:
        f"{LOGS}/report/table8_lesion_{{split}}.log",
    wildcard_constraints:
        split="val|test",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table9_lesion_cam_localisation:
    input:
        files=lesion_localisation_files("ham10000"),
        reference=reference_table("table9_lesion_cam_localisation"),
    output:
        **table_output(
            "table9_lesion_cam_localisation",
            "Lesion classification",
            {"table": "Table 9", "dataset": "HAM10000", "content": "CAM localisation"},
        ),
    params:
        table="table9_lesion_cam_localisation",
    log:
        f"{LOGS}/report/table9_lesion_cam_localisation.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table10_isic2019:
    input:
        files=lesion_prediction_files("ham10000", "isic2019"),
        reference=reference_table("table10_isic2019"),
    output:
        **table_output(
            "table10_isic2019",
            "Lesion classification",
            {"table": "Table 10", "dataset": "ISIC 2019", "content": "external test set"},
        ),
    params:
        table="table10_isic2019",
    log:
        f"{LOGS}/report/table10_isic2019.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table_per_class:
    input:
        files=lambda w: lesion_model_files("ham10000", per_class_number(w),
                                           "predictions_test.csv"),
    output:
        **table_output(
            "{name}",
            "Lesion classification",
            lambda w: {
                "table": (f"Table {w.name.split('_')[0][len('table'):]}"
                          if w.name.startswith("table") else "per class"),
                "dataset": "HAM10000",
                "content": f"per class, model {per_class_number(w)}, test split",
            },
            caption="table_per_class",
        ),
    params:
        number=per_class_number,
    log:
        f"{LOGS}/report/{{name}}.log",
    wildcard_constraints:
        name="(table[0-9]+_)?per_class_model[0-9]+",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_per_class.py"


rule table13_isic2016_val:
    input:
        files=lesion_prediction_files("isic2016", "val"),
        reference=reference_table("table13_isic2016_val"),
    output:
        **table_output(
            "table13_isic2016_val",
            "Lesion classification",
            {"table": "Table 13", "dataset": "ISIC 2016", "content": "validation folds"},
            caption="table13_14_isic2016",
        ),
    params:
        table="table13_isic2016_val",
    log:
        f"{LOGS}/report/table13_isic2016_val.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table14_isic2016_test:
    input:
        files=lesion_prediction_files("isic2016", "test"),
        reference=reference_table("table14_isic2016_test"),
    output:
        **table_output(
            "table14_isic2016_test",
            "Lesion classification",
            {"table": "Table 14", "dataset": "ISIC 2016", "content": "test split"},
            caption="table13_14_isic2016",
        ),
    params:
        table="table14_isic2016_test",
    log:
        f"{LOGS}/report/table14_isic2016_test.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule table15_isic2016_cam_localisation:
    input:
        files=lesion_localisation_files("isic2016"),
        reference=reference_table("table15_isic2016_cam_localisation"),
    output:
        **table_output(
            "table15_isic2016_cam_localisation",
            "Lesion classification",
            {"table": "Table 15", "dataset": "ISIC 2016", "content": "CAM localisation"},
        ),
    params:
        table="table15_isic2016_cam_localisation",
    log:
        f"{LOGS}/report/table15_isic2016_cam_localisation.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_table.py"


rule stats_vs_baseline:
    input:
        files=lambda w: lesion_prediction_files(w.lesion_dataset, "test"),
    output:
        **table_output(
            "stats_vs_baseline_{lesion_dataset}",
            "Model comparison",
            lambda w: {
                "table": "Δ vs baseline",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "bootstrap CI and McNemar, test split",
            },
            caption="stats_vs_baseline",
        ),
    params:
        n_boot=config["report"]["bootstrap"],
        confidence=config["report"]["confidence"],
        seed=config["seed"],
    log:
        f"{LOGS}/report/stats_vs_baseline_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_stats.py"


rule heatmap:
    input:
        predictions=lambda w: lesion_prediction_files(w.lesion_dataset, "test"),
        localisation=lambda w: lesion_localisation_files(w.lesion_dataset),
    output:
        figure=report(
            f"{RESULTS}/figures/heatmap_{{lesion_dataset}}.png",
            caption="../workflow/report/heatmap.rst",
            category="Model comparison",
            subcategory="Figures",
            labels=lambda w: {
                "figure": "grid heat-map",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "accuracy, macro F1, CAM IoU",
            },
        ),
    params:
        title=lambda w: f"SE-LCN grid on {DATASET_LABELS[w.lesion_dataset]}",
    log:
        f"{LOGS}/report/heatmap_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_heatmap.py"


rule fig11_13_training_curves:
    input:
        histories=lambda w: lesion_history_files(w.lesion_dataset, fold=0),
    output:
        figure=report(
            f"{RESULTS}/figures/fig11_13_training_curves_{{lesion_dataset}}.png",
            caption="../workflow/report/fig11_13_training_curves.rst",
            category="Lesion classification",
            subcategory="Figures",
            labels=lambda w: {
                "figure": "Figures 11-13",
                "dataset": DATASET_LABELS[w.lesion_dataset],
                "content": "training curves, first fold",
            },
        ),
    params:
        title=lambda w: f"Training curves (fold 0) on {DATASET_LABELS[w.lesion_dataset]}",
    log:
        f"{LOGS}/report/fig11_13_training_curves_{{lesion_dataset}}.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/report_training_curves.py"
