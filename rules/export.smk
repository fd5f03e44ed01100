# Export and prediction (use a trained model on new images): `export_model` gathers one grid
# model (the selected segmentation network, the symmetry network whose CAMs it was trained
# with, its K lesion folds, the preprocessing and a manifest) into a self-contained bundle;
# `predict_images` runs `selcn predict` on the folder `predict.input_dir`, which is only ever
# read (never a rule's output). The bundle's model is `export.model`: a number 1-12, or `best` =
# the best mean validation macro-F1 over folds (predictions_val.csv; the test split is never
# read). The demo copies a few HAM10000 test images into its own folder
# results/predict/demo_input (`predict.demo_images`) and predicts them.
# (inputs and targets: JOBS, selcn.jobs "---- export"; paths: selcn.paths)
from selcn.jobs import MODEL_CONFIG_KEYS
from selcn.paths import DEMO_PREDICT_INPUT, export_dir, predict_dir, split_file


rule export_model:
    input:
        unpack(lambda w: JOBS.export_inputs(w.lesion_dataset, selection_of(w))),
    output:
        bundle=directory(export_dir("{lesion_dataset}", "{selection}")),
    log:
        f"{LOGS}/export/export_model_{{lesion_dataset}}_{{selection}}.log",
    wildcard_constraints:
        selection="best|model([1-9]|1[0-2])",
    conda:
        SELCN_ENV
    threads: 1
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        models=lambda w: [m.name for m in JOBS.export_models(selection_of(w))],
        folds=list(GRID.lesion_folds),
        image_size=config["data"]["image_size"],
        hair_removal=config["data"]["hair_removal"],
        cam_size=config["symmetry"]["cam_size"],
        cfg=declared(*MODEL_CONFIG_KEYS),
    script:
        "../workflow/scripts/export_model.py"


if JOBS.demo_predict():

    rule predict_demo_images:
        input:
            splits=split_file("ham10000"),
            metadata=JOBS.data_paths("ham10000")["metadata"],
        output:
            images=directory(DEMO_PREDICT_INPUT),
        log:
            f"{LOGS}/export/predict_demo_images.log",
        conda:
            SELCN_ENV
        threads: 1
        resources:
            **stage_resources("data"),
            runtime=runtime_of("data"),
        params:
            image_dirs=JOBS.data_paths("ham10000")["image_dirs"],
            n=CFG["predict"]["demo_images"],
        script:
            "../workflow/scripts/predict_demo_images.py"


if JOBS.predict_enabled():

    rule predict_images:
        input:
            bundle=export_dir("{lesion_dataset}", "{selection}"),
            images=JOBS.predict_input(),
        output:
            predictions=f"{predict_dir('{lesion_dataset}', '{selection}')}/predictions.csv",
            gallery=f"{predict_dir('{lesion_dataset}', '{selection}')}/index.html",
            panels=directory(f"{predict_dir('{lesion_dataset}', '{selection}')}/panels"),
        log:
            f"{LOGS}/export/predict_images_{{lesion_dataset}}_{{selection}}.log",
        wildcard_constraints:
            selection="best|model([1-9]|1[0-2])",
        conda:
            SELCN_ENV
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            batch_size=config["predict"]["batch_size"],
            strict=config["predict"]["strict"],
            device=config["device"],
        script:
            "../workflow/scripts/predict_images.py"


# further external test sets of the lesion models (post-training prediction, Table 5 (external)'s masks)
include: "external.smk"
