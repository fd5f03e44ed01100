"""Best fold and Grad-CAM++ localisation of model 13 of every dataset it is trained on
(Tables 9 and 15): the engine's localise_best_fold, the same localisation images as the grid's."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn import multitask
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.engine import FoldFiles, localise_best_fold

job_device(snakemake.config, snakemake.resources.get("gpu", 0), job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs, output, folds = snakemake.input, snakemake.output, snakemake.params.folds
data = StageInputs.named(inputs).only(masks=False, cams=False).open()
for dataset in snakemake.params.datasets:
    print(f"[multitask] {dataset} model 13", flush=True)
    localise_best_fold(
        multitask.KIND,
        FoldFiles.of(folds, inputs[f"models_{dataset}"], inputs[f"predictions_{dataset}"]),
        data,
        snakemake.config,
        (output[f"localisation_{dataset}"], output[f"best_{dataset}"]),
    )
