"""Best fold of one lesion model and the localisation of its Grad-CAM++ (Tables 9 and 15)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.lesion import localise_best_fold

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
folds = snakemake.params.folds
localise_best_fold(
    dict(zip(folds, inputs.models)),
    dict(zip(folds, inputs.predictions)),
    protocol=snakemake.params.protocol,
    out_csv=snakemake.output.localisation,
    best_json=snakemake.output.best,
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    gt_masks_npy=inputs.gt_masks,
    masks_npy=inputs.get("masks"),
    cams_npy=inputs.get("cams"),
    cams_cfg=snakemake.params.cams,
    device=snakemake.config["device"],
)
