"""Bayesian hyper-parameter search of one network (resumes from its finished trials).

The wildcard `network` is the search's name (selcn.hpo.search_name): `segmentation`,
`symmetry`, or `lesion-<dataset>` (one lesion search per lesion dataset)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.data.inputs import StageInputs
from selcn.hpo import Search, SearchFiles, search_network

torch.set_num_threads(snakemake.threads)
out = snakemake.output
search_network(
    Search.parse(snakemake.wildcards.network, snakemake.params.symmetry_mask),
    snakemake.config,
    StageInputs.named(snakemake.input),
    SearchFiles(out.trials, out.best, out.convergence),
    snakemake.params.work_dir,
)
