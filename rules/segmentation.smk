# Segmentation stage (thesis 4.1.1, Table 5, Figure 3): DeepLabV3+ and U-Net (or any of
# `segmentation.architectures`) trained on the HAM10000 training folds with Dice + rank loss,
# evaluated on the test split; the better one predicts a lesion mask for every cached image of
# every dataset (`segmentation.mode: axis`: every architecture predicts its own masks,
# results/masks/{segmenter}/{dataset}.npy). Figure 3: the stage job
# `segmentation_figure_masks` picks the images and their masks, `fig3_masking_strategies`
# draws them. Inputs: JOBS (selcn.jobs, "---- segmentation").
from selcn.paths import (
    SEGMENTATION_FIGURE_DATA,
    SEGMENTATION_SELECTED,
    segmentation_file,
)

#: the log of predict_masks names the job's wildcards: `{dataset}` (and `{segmenter}`, axis)
MASKS_LOG = "{dataset}_{segmenter}" if GRID.segmenters else "{dataset}"


rule train_segmentation:
    input:
        **JOBS.segmentation_training_inputs(),
        checks=JOBS.training_checks(),
    output:
        model=segmentation_file("{arch}", "model.pt"),
        history=segmentation_file("{arch}", "history.csv"),
        metrics=segmentation_file("{arch}", "metrics_test.csv"),
    log:
        f"{LOGS}/segmentation/train_{{arch}}.log",
    wildcard_constraints:
        arch=alternation(GRID.seg_archs),
    priority: PRIORITY["segmentation"]
    conda:
        SELCN_ENV
    threads: threads_of("segmentation")
    resources:
        **stage_resources("segmentation"),
        runtime=runtime_of("segmentation"),
    params:
        cfg=declared("segmentation", "seed"),
    script:
        "../workflow/scripts/segmentation_train.py"


rule select_segmentation:
    input:
        metrics=JOBS.segmentation_selection_files(),
    output:
        selected=SEGMENTATION_SELECTED,
    log:
        f"{LOGS}/segmentation/select.log",
    priority: PRIORITY["segmentation"]
    localrule: True
    conda:
        SELCN_ENV
    params:
        metric=config["segmentation"]["select_metric"],
        protocol=config["protocol"],
    script:
        "../workflow/scripts/segmentation_select.py"


rule predict_masks:
    input:
        unpack(lambda w: JOBS.mask_prediction_inputs(w.dataset, w.get("segmenter"))),
    output:
        masks=JOBS.mask_prediction_output(),
    log:
        f"{LOGS}/segmentation/predict_masks_{MASKS_LOG}.log",
    wildcard_constraints:
        segmenter=alternation(GRID.segmenters) or "no-segmenter-axis",
    priority: PRIORITY["segmentation"]
    conda:
        SELCN_ENV
    # inference only: the inference jobs' resources (cams.resources), not the training's
    threads: threads_of("cams")
    resources:
        **stage_resources("cams"),
        runtime=runtime_of("cams"),
    params:
        batch_size=config["segmentation"]["train"]["batch_size"],
        num_workers=config["segmentation"]["train"]["num_workers"],
    script:
        "../workflow/scripts/segmentation_predict.py"


rule segmentation_figure_masks:
    input:
        **JOBS.segmentation_figure_inputs(),
    output:
        data=SEGMENTATION_FIGURE_DATA,
    log:
        f"{LOGS}/segmentation/figure_masks.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        n=3,
    script:
        "../workflow/scripts/segmentation_figure_masks.py"


rule fig3_masking_strategies:
    input:
        data=SEGMENTATION_FIGURE_DATA,
    output:
        figure=report(
            figure_file("fig3_masking_strategies"),
            caption="../workflow/report/fig3_masking_strategies.rst",
            category=report_category("Segmentation"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 3", "content": "masking strategies"},
        ),
    log:
        f"{LOGS}/segmentation/fig3_masking_strategies.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/segmentation_fig3.py"
