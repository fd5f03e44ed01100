"""Grad-CAM++ of the best symmetry fold for every cached image of every dataset of
`params.datasets` in one job (outputs `cams_<dataset>`, inputs `images_<dataset>`,
`index_<dataset>` and, for a masked variant, `masks_<dataset>`)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.symmetry import best_model_path, export_cams_datasets

torch.set_num_threads(snakemake.threads)
inputs, params = snakemake.input, snakemake.params
export_cams_datasets(best_model_path(inputs.best, inputs.models), [
    {"images_npy": inputs[f"images_{d}"], "index_csv": inputs[f"index_{d}"],
     "masks_npy": inputs.get(f"masks_{d}"), "out_npy": snakemake.output[f"cams_{d}"]}
    for d in params.datasets], cam_size=params.cam_size, batch_size=params.batch_size,
    num_workers=params.num_workers, device=snakemake.config["device"])
