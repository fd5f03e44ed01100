"""Predict a further external test set with one fold of a lesion grid cell (rule
predict_external): the fold's model.pt on the set's cache -> predictions_<set>.csv."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.external import predict_external

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
predict_external(snakemake.input.model, StageInputs.named(snakemake.input, "ext_"),
                 snakemake.output.predictions, device=device,
                 batch_size=snakemake.params.batch_size)
