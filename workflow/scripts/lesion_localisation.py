"""Best fold and Grad-CAM++ localisation of one grid cell's model of every lesion dataset
(Tables 9 and 15): one job, the same HAM10000 images and inputs for each."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn import lesion
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.engine import FoldFiles, localise_best_fold
from selcn.grid import Model

# the device, logged (a declared GPU must work); localise_best_fold resolves the same one
job_device(snakemake.config, snakemake.resources.get("gpu", 0), job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs, output, folds = snakemake.input, snakemake.output, snakemake.params.folds
model = Model(snakemake.wildcards.classifier_mask, snakemake.wildcards.symmetry_mask)
data = StageInputs.named(inputs).only(masks=model.needs_masks, cams=model.takes_cam).open()
for dataset in snakemake.params.datasets:
    print(f"[lesion] {dataset} model of {model}", flush=True)
    localise_best_fold(
        lesion.KIND,
        FoldFiles.of(folds, inputs[f"models_{dataset}"], inputs[f"predictions_{dataset}"]),
        data,
        snakemake.config,
        (output[f"localisation_{dataset}"], output[f"best_{dataset}"]),
    )
