"""Train one segmentation architecture on the HAM10000 cache, evaluate it on the test split."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.segmentation import train_segmentation

torch.set_num_threads(snakemake.threads)
hpo = snakemake.input.get("hpo")
train_segmentation(
    snakemake.wildcards.arch,
    cache_dir=Path(snakemake.input.images).parent,
    splits_csv=snakemake.input.splits,
    out_dir=Path(snakemake.output.model).parent,
    cfg=snakemake.config,
    hpo_best=hpo if isinstance(hpo, str) else None,
)
