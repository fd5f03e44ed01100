"""Train one lesion grid cell x fold; write model, history and val/test predictions."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.lesion import train_lesion_fold

torch.set_num_threads(snakemake.threads)
w = snakemake.wildcards
inputs = snakemake.input
train_lesion_fold(
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    out_dir=Path(snakemake.output.model).parent,
    cfg=snakemake.config,
    classifier_mask=w.classifier_mask,
    symmetry_mask=w.symmetry_mask,
    fold=int(w.fold),
    dataset=w.lesion_dataset,
    masks_npy=inputs.get("masks"),
    cams_npy=inputs.get("cams"),
    hpo_best=inputs.get("hpo"),
    progress=False,           # one line per epoch in the log instead of progress bars
)
