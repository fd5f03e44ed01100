"""Train one symmetry variant (or comparison architecture) x fold; write model, history and
val/test predictions."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.symmetry import parse_variant, train_symmetry_fold

torch.set_num_threads(snakemake.threads)
w = snakemake.wildcards
cfg = snakemake.config
if "variant" in w.keys():
    pretrained, mask = parse_variant(w.variant)
    arch = cfg["symmetry"]["architecture"]
else:
    pretrained, mask, arch = cfg["symmetry"]["pretrained"], "none", w.arch
inputs = snakemake.input
train_symmetry_fold(
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    out_dir=Path(snakemake.output.model).parent,
    cfg=cfg,
    fold=int(w.fold),
    mask=mask,
    pretrained=pretrained,
    arch=arch,
    masks_npy=inputs.get("masks"),
    hpo_best=inputs.get("hpo"),
    progress=False,  # one line per epoch in the log instead of progress bars
)
