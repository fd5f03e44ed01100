"""Localisation of a symmetry model's Grad-CAM++ on HAM10000 (Table 7): every image with a
ground-truth mask under protocol thesis, the test split under leakage_free."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.classifier import localisation_split
from selcn.symmetry import best_model_path, localise_symmetry, write_localisation

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
split = localisation_split(snakemake.params.get("protocol", snakemake.config["protocol"]))
table = localise_symmetry(
    best_model_path(inputs.best, inputs.models),
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    gt_masks_npy=inputs.gt_masks,
    masks_npy=inputs.get("masks"),
    cams_cfg=snakemake.params.cams,
    split=split,
    num_workers=snakemake.params.num_workers,
    device=snakemake.config["device"],
)
write_localisation(table, snakemake.output.localisation)
print(f"[symmetry] {snakemake.wildcards.variant}: {len(table)} images "
      f"({'every image with a mask' if split is None else 'split ' + split}), "
      + ", ".join(f"{c}={table[c].mean():.3f}" for c in ("iou", "overlap", "pointing")))
