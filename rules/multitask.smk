# Model 13 (the thesis' future work, 7.2 (2); selcn.multitask, docs/multitask.md): one
# end-to-end network (the lesion network's encoder, a U-Net mask decoder, a symmetry head, a
# lesion head whose E-Layer takes the symmetry head's own CAM) trained with partial labels on
# the lesion dataset's folds and the symmetry dataset's images, reported beside the 12 grid
# models (Tables 5, 6, 8-10, 13-15, the statistics, the training curves, the cost table).
# Planned only with `multitask.enabled: true` (config/paper.yaml; off in the demo).
# Inputs and outputs: JOBS (selcn.jobs, "---- model 13").
from selcn.jobs import MODEL_CONFIG_KEYS
from selcn.paths import export_dir

#: rule all's model 13 targets beyond the report's tables (its export bundle)
MULTITASK_TARGETS = JOBS.multitask_targets()

# One training rule per dataset, as the grid's (`train_lesion_<dataset>`): a dataset with an
# external test set also writes `predictions_<external>.csv`.
for dataset in GRID.multitask_datasets:

    rule:
        name:
            f"train_multitask_{dataset}"
        input:
            **JOBS.multitask_training_inputs(dataset),
            checks=JOBS.training_checks(),
        output:
            **JOBS.multitask_training_outputs(dataset),
        log:
            f"{LOGS}/multitask/train_{dataset}_fold{{fold}}.log",
        wildcard_constraints:
            fold=alternation(GRID.lesion_folds),
        priority: PRIORITY["lesion_external" if JOBS.external_of(dataset) else "lesion"]
        conda:
            SELCN_ENV
        threads: threads_of("multitask")
        resources:
            **stage_resources("multitask"),
            runtime=runtime_of("multitask"),
        params:
            dataset=dataset,
            external_name=JOBS.external_of(dataset),
            cfg=declared(
                "multitask",
                "lesion",
                "segmentation.loss",
                "segmentation.threshold",
                "seed",
                "protocol",
                "data.balance",
                "data.balance_isic2016",
            ),
        script:
            "../workflow/scripts/multitask_train.py"


if GRID.multitask:

    rule multitask_localisation:
        input:
            **JOBS.multitask_localisation_inputs(),
        output:
            **JOBS.multitask_localisation_outputs(),
        log:
            f"{LOGS}/multitask/localisation.log",
        priority: PRIORITY["lesion"]
        conda:
            SELCN_ENV
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            datasets=list(GRID.multitask_datasets),
            folds=list(GRID.lesion_folds),
            cfg=declared("multitask", "lesion", "cams", "protocol"),
        script:
            "../workflow/scripts/multitask_localisation.py"

    # The cost table: parameters, multiply-accumulates, training GPU-hours from the plan and
    # CPU images/s of the cascade and of model 13 at one input size (a measurement: one CPU
    # core, the networks built by the config with random weights; no trained model is read).
    rule multitask_cost:
        output:
            cost=JOBS.multitask_cost_files()[0],
        log:
            f"{LOGS}/multitask/cost.log",
        conda:
            SELCN_ENV
        threads: 1
        resources:
            **stage_resources("data"),
            runtime=runtime_of("data"),
        params:
            dataset=JOBS.multitask_reported_dataset(),
            # every network at the lesion network's side, rounded up to the segmenters' 32
            input_size=-(-CFG["lesion"]["input_size"] // 32) * 32,
            batch_size=4,
            repeats=5,
            cfg=declared("multitask", "lesion", "segmentation", "symmetry", "plan", "data"),
        script:
            "../workflow/scripts/multitask_cost.py"

    rule export_multitask:
        input:
            unpack(lambda w: JOBS.multitask_export_inputs(w.lesion_dataset)),
        output:
            bundle=directory(export_dir("{lesion_dataset}", "multitask")),
        log:
            f"{LOGS}/export/export_multitask_{{lesion_dataset}}.log",
        wildcard_constraints:
            lesion_dataset=alternation(GRID.multitask_datasets),
        conda:
            SELCN_ENV
        threads: 1
        resources:
            **stage_resources("data"),
            runtime=runtime_of("data"),
        params:
            image_size=config["data"]["image_size"],
            hair_removal=config["data"]["hair_removal"],
            cfg=declared(*MODEL_CONFIG_KEYS, "multitask"),
        script:
            "../workflow/scripts/multitask_export.py"
