"""Train one segmentation architecture on the HAM10000 cache, evaluate it on the test split."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.data.inputs import StageInputs
from selcn.engine import Training
from selcn.segmentation import train_segmentation

torch.set_num_threads(snakemake.threads)
hpo = snakemake.input.get("hpo")
train_segmentation(
    snakemake.wildcards.arch,
    StageInputs.named(snakemake.input),
    Path(snakemake.output.model).parent,
    Training.of(snakemake.config, "segmentation", hpo if isinstance(hpo, str) else None),
)
