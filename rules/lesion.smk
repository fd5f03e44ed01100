# Lesion stage (thesis 4.1.3, 5.2 experiments 3-5 and the ISIC 2016 experiment, Figure 10):
# EfficientNet (+ E-Layer fed with the symmetry CAMs) over the grid
# {lesion_dataset} x {classifier_mask} x {symmetry_mask} x {fold}; HAM10000 models also predict
# ISIC 2019; per grid cell one job picks each dataset's best fold and localises it (Grad-CAM++
# vs the HAM10000 ground truth, the same images and inputs for every dataset's model).
# Tables 8-15 and Figures 11-13 are aggregated by the report stage from these files.


rule train_lesion:
    input:
        unpack(lesion_training_inputs),
    output:
        **lesion_fold_outputs(),
    log:
        f"{LOGS}/lesion/train_{{lesion_dataset}}_{{classifier_mask}}-{{symmetry_mask}}_fold{{fold}}.log",
    wildcard_constraints:
        lesion_dataset=alternation(d for d in GRID.lesion_datasets if d not in LESION_EXTERNAL)
        or "no-plain-dataset",
        classifier_mask=alternation(GRID.classifier_masks),
        symmetry_mask=alternation(GRID.cam_sources),
        fold=alternation(GRID.lesion_folds),
    priority: PRIORITY["lesion"]
    conda:
        SELCN_ENV
    threads: threads_of("lesion")
    resources:
        **stage_resources("lesion"),
        runtime=runtime_of("lesion"),
    params:
        cfg=declared("lesion", "seed", "protocol", "data.balance", "data.balance_isic2016"),
        external_name=None,
    script:
        "../workflow/scripts/lesion_train.py"


# HAM10000 models: the same training job also predicts the external test set (ISIC 2019)
use rule train_lesion as train_lesion_external with:
    input:
        unpack(lesion_training_inputs),
        unpack(lesion_external_inputs),
    output:
        **lesion_fold_outputs(),
        predictions_external=lesion_fold_file(
            "{lesion_dataset}",
            "{classifier_mask}",
            "{symmetry_mask}",
            "{fold}",
            f"predictions_{LESION_EXTERNAL.get('ham10000', 'isic2019')}.csv",
        ),
    wildcard_constraints:
        lesion_dataset=alternation(d for d in GRID.lesion_datasets if d in LESION_EXTERNAL)
        or "no-external-set",
        classifier_mask=alternation(GRID.classifier_masks),
        symmetry_mask=alternation(GRID.cam_sources),
        fold=alternation(GRID.lesion_folds),
    priority: PRIORITY["lesion_external"]
    params:
        cfg=declared("lesion", "seed", "protocol", "data.balance", "data.balance_isic2016"),
        external_name=lambda w: LESION_EXTERNAL[w.lesion_dataset],


rule lesion_localisation:
    input:
        unpack(lesion_localisation_inputs),
    output:
        **lesion_localisation_outputs(),
    log:
        f"{LOGS}/lesion/localisation_{{classifier_mask}}-{{symmetry_mask}}.log",
    wildcard_constraints:
        classifier_mask=alternation(GRID.classifier_masks),
        symmetry_mask=alternation(GRID.cam_sources),
    priority: PRIORITY["lesion"]
    conda:
        SELCN_ENV
    threads: threads_of("cams")
    resources:
        **stage_resources("cams"),
        runtime=runtime_of("cams"),
    params:
        datasets=list(GRID.lesion_datasets),
        folds=list(GRID.lesion_folds),
        protocol=config["protocol"],
        cams=ordered(config["cams"]),
        cfg=declared("lesion", "cams"),
    script:
        "../workflow/scripts/lesion_localisation.py"


rule fig10_lesion_cams:
    input:
        **lesion_figure10_inputs(),
    output:
        figure=report(
            figure_file("fig10_lesion_cams"),
            caption="../workflow/report/fig10_lesion_cams.rst",
            category="Lesion classification",
            labels={"figure": "Figure 10", "content": "Grad-CAM++ of every lesion model"},
        ),
    log:
        f"{LOGS}/lesion/fig10_lesion_cams.log",
    conda:
        SELCN_ENV
    threads: threads_of("cams")
    resources:
        **stage_resources("cams"),
        runtime=runtime_of("cams"),
    params:
        models=GRID.models(),
        folds=list(GRID.lesion_folds),
        image_id=None,
        cfg=declared("lesion"),
    script:
        "../workflow/scripts/lesion_fig10.py"
