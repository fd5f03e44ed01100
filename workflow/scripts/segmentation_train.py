"""Train one segmentation architecture on the HAM10000 cache, evaluate it on the test split."""
import sys
from pathlib import Path

from selcn.joblog import start_job

# lock the job's folder (a second process of it fails, naming this one's PID), then the log,
# continuing the one of an earlier, interrupted attempt
sys.stderr = sys.stdout = start_job(snakemake.log[0], Path(snakemake.output.model).parent)

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
    Training.of(snakemake.config, "segmentation", hpo if isinstance(hpo, str) else None,
                gpus=snakemake.resources.get("gpu", 0)),
)
