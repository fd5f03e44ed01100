"""Train one fold of model 13 (selcn.multitask) on one lesion dataset with the symmetry
dataset's images and labels; write model, history, the lesion and symmetry predictions, the
mask metrics and, when the rule names an external test set (`params.external_name`, inputs
`ext_images`, `ext_index`, `ext_splits`), its predictions too."""
import sys
from pathlib import Path

from selcn.joblog import start_job

# lock the job's folder (a second process of it fails, naming this one's PID), then the log,
# continuing the one of an earlier, interrupted attempt
sys.stderr = sys.stdout = start_job(snakemake.log[0], Path(snakemake.output.model).parent)

import torch

from selcn import multitask
from selcn.data.inputs import StageInputs
from selcn.grid import Fold

torch.set_num_threads(snakemake.threads)
inputs, name = snakemake.input, snakemake.params.external_name
multitask.train(
    multitask.network(snakemake.config, snakemake.params.dataset),
    multitask.MultitaskInputs.named(inputs),
    Fold.parse(snakemake.wildcards.fold),
    Path(snakemake.output.model).parent,
    multitask.training_of(snakemake.config, gpus=snakemake.resources.get("gpu", 0)),
    external=None if name is None else (name, StageInputs.named(inputs, "ext_")),
)
