# Lesion stage (thesis 4.1.3, 5.2 experiments 3-5 and the ISIC 2016 experiment, Figure 10):
# EfficientNet (+ E-Layer fed with the symmetry CAMs) over the grid
# {lesion_dataset} x {classifier_mask} x {symmetry_mask} x {fold}; HAM10000 models also predict
# ISIC 2019; per grid cell one job picks each dataset's best fold and localises it (Grad-CAM++
# vs the HAM10000 ground truth, the same images and inputs for every dataset's model).
# Tables 8-15 and Figures 11-13 are aggregated by the report stage from these files; Figure 10:
# the stage job `lesion_figure_cams` computes the CAMs it shows, `fig10_lesion_cams` draws them.
# Inputs and outputs: JOBS (selcn.jobs, "---- lesion").
from selcn.paths import LESION_FIGURE_DATA, model_pattern

# One training rule per lesion dataset, `train_lesion_<dataset>`: a rule's outputs are fixed
# patterns, and a dataset with an external test set (HAM10000: ISIC 2019) trains in a job that
# also writes `predictions_<external>.csv` (so its inputs add the `ext_*` files); the datasets
# differ in nothing else, so one definition serves them all. And one per path shape
# (selcn.grid.Shape) of the trained models: under `segmentation.mode: axis` models 3-12 once
# per segmenter (`train_lesion_<dataset>_by_segmenter`, .../<model>/{segmenter}/fold{k}/),
# under `hpo.scope: per_model` the per-model copies (`..._per_model`, a `per_model` folder).
for dataset, shape in (
    (d, s) for d in GRID.lesion_datasets for s in GRID.shapes(GRID.trained_models())
):

    rule:
        name:
            f"train_lesion_{dataset}{shape.suffix}"
        input:
            unpack(lambda w: JOBS.lesion_training_inputs(w.lesion_dataset, model_of(w))),
            checks=JOBS.training_checks(),
        output:
            **JOBS.lesion_training_outputs(dataset, shape),
        log:
            f"{LOGS}/lesion/train_{{lesion_dataset}}_{MODEL_PATTERN}{shape.tag}_fold{{fold}}.log",
        wildcard_constraints:
            **JOBS.lesion_constraints(GRID.trained_models(shape)),
            lesion_dataset=dataset,
            fold=alternation(GRID.lesion_folds),
        priority: PRIORITY["lesion_external" if JOBS.external_of(dataset) else "lesion"]
        conda:
            SELCN_ENV
        threads: threads_of("lesion")
        resources:
            **stage_resources("lesion"),
            runtime=runtime_of("lesion"),
        params:
            cfg=declared("lesion", "seed", "protocol", "data.balance", "data.balance_isic2016"),
            external_name=JOBS.external_of(dataset),
        script:
            "../workflow/scripts/lesion_train.py"


# Tables 9 / 15: the reported models (under axis, the reference segmenter's), one rule per shape
for shape in GRID.shapes(GRID.models()):

    rule:
        name:
            f"lesion_localisation{shape.suffix}"
        input:
            unpack(lambda w: JOBS.lesion_localisation_inputs(model_of(w))),
        output:
            **JOBS.lesion_localisation_outputs(model_pattern(shape)),
        log:
            f"{LOGS}/lesion/localisation_{MODEL_PATTERN}{shape.tag}.log",
        wildcard_constraints:
            **JOBS.lesion_constraints([m for m in GRID.models() if m.shape == shape]),
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


rule lesion_figure_cams:
    input:
        **JOBS.lesion_figure_inputs(),
    output:
        data=LESION_FIGURE_DATA,
    log:
        f"{LOGS}/lesion/figure_cams.log",
    conda:
        SELCN_ENV
    threads: threads_of("cams")
    resources:
        **stage_resources("cams"),
        runtime=runtime_of("cams"),
    params:
        models=JOBS.model_names(),
        folds=list(GRID.lesion_folds),
        image_id=None,
        cfg=declared("lesion"),
    script:
        "../workflow/scripts/lesion_figure_cams.py"


rule fig10_lesion_cams:
    input:
        data=LESION_FIGURE_DATA,
    output:
        figure=report(
            figure_file("fig10_lesion_cams"),
            caption="../workflow/report/fig10_lesion_cams.rst",
            category=report_category("Lesion classification"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 10", "content": "Grad-CAM++ of every lesion model"},
        ),
    log:
        f"{LOGS}/lesion/fig10_lesion_cams.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/lesion_fig10.py"
