"""Figure 9: input / Grad-CAM++ pairs of the symmetry network per masking strategy."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.report.cam_figures import figure9_from_files

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
models = [{**m, "best_json": inputs[f"best_{m['mask']}"],
           "model_pts": inputs[f"models_{m['mask']}"]} for m in snakemake.params.models]
figure9_from_files(
    models,
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    masks_npy=inputs.get("masks"),
    out_path=snakemake.output.figure,
    n_per_class=snakemake.params.n_per_class,
    device=snakemake.config["device"],
)
