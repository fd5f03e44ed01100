# Further external test sets (config roles.external: a list; selcn.external): the first set of a
# lesion dataset is predicted inside its training jobs (rules/lesion.smk: HAM10000 -> ISIC
# 2019); every further one (PH² as ph2_ham) by `predict_external`, one job per model x fold x
# set reading the fold's model.pt, so adding a set retrains nothing. Both write
# predictions_<set>.csv beside the fold's model (Table 10, Table 10 (PH²)). An external set with
# ground-truth masks (PH²) also scores the selected segmentation network's masks of it
# (`score_external_masks`, Table 5 (external); the masks come from `predict_masks`).
# Inputs and outputs: JOBS (selcn.jobs, "---- further external test sets").
from selcn.grid import Fold
from selcn.paths import external_segmentation_file

# the models the tables report (under segmentation.mode: axis the reference segmenter's), one
# rule per path shape (selcn.grid.Shape), as rules/lesion.smk's localisation
for shape in GRID.shapes(GRID.models()) if JOBS.external_later_sets() else ():

    rule:
        name:
            f"predict_external{shape.suffix}"
        input:
            unpack(
                lambda w: JOBS.external_prediction_inputs(
                    w.lesion_dataset, model_of(w), Fold.parse(w.fold), w.external
                )
            ),
        output:
            predictions=JOBS.external_prediction_output(shape),
        log:
            f"{LOGS}/lesion/predict_{{external}}_{{lesion_dataset}}_{MODEL_PATTERN}{shape.tag}_fold{{fold}}.log",
        wildcard_constraints:
            **JOBS.lesion_constraints([m for m in GRID.models() if m.shape == shape]),
            lesion_dataset=alternation(JOBS.external_later_datasets()),
            external=alternation(JOBS.external_later_sets()),
            fold=alternation(GRID.lesion_folds),
        priority: PRIORITY["lesion"]
        conda:
            SELCN_ENV
        # inference only: the inference jobs' resources (cams.resources), not the training's
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            batch_size=config["lesion"]["train"]["batch_size"],
        script:
            "../workflow/scripts/lesion_predict_external.py"


if JOBS.external_mask_sets():

    rule score_external_masks:
        input:
            unpack(lambda w: JOBS.external_mask_score_inputs(w.dataset)),
        output:
            scores=external_segmentation_file("{dataset}"),
        log:
            f"{LOGS}/segmentation/score_external_{{dataset}}.log",
        wildcard_constraints:
            dataset=alternation(JOBS.external_mask_sets()),
        localrule: True
        conda:
            SELCN_ENV
        script:
            "../workflow/scripts/segmentation_score_external.py"
