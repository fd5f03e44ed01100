"""Grad-CAM++ of the best symmetry fold for every cached image of one dataset."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.symmetry import best_model_path, export_cams

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
export_cams(
    best_model_path(inputs.best, inputs.models),
    images_npy=inputs.images,
    index_csv=inputs.index,
    out_npy=snakemake.output.cams,
    cam_size=snakemake.params.cam_size,
    masks_npy=inputs.get("masks"),
    batch_size=snakemake.params.batch_size,
    num_workers=snakemake.params.num_workers,
    device=snakemake.config["device"],
)
