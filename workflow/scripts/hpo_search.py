"""Bayesian hyper-parameter search of one network (resumes from its finished trials).

The wildcard `network` is the search's name (selcn.hpo.search_name): `segmentation`,
`symmetry`, or `lesion-<dataset>` (one lesion search per lesion dataset)."""
import sys

from selcn.joblog import start_job

# lock the search's folder, then the log, continuing the one of an earlier attempt
sys.stderr = sys.stdout = start_job(snakemake.log[0], snakemake.params.work_dir)

import torch

from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.hpo import Search, SearchFiles, search_network

job_device(snakemake.config, snakemake.resources.get("gpu", 0), job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
out = snakemake.output
search_network(
    Search.parse(snakemake.wildcards.network, snakemake.params.symmetry_mask),
    snakemake.config,
    StageInputs.named(snakemake.input),
    SearchFiles(out.trials, out.best, out.convergence),
    snakemake.params.work_dir,
)
