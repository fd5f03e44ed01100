"""Bayesian hyper-parameter search of one network (resumes from its finished trials)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.hpo import search_network

torch.set_num_threads(snakemake.threads)
search_network(
    snakemake.wildcards.network,
    snakemake.config,
    inputs=dict(snakemake.input.items()),
    best_json=snakemake.output.best,
    trials_csv=snakemake.output.trials,
    convergence_png=snakemake.output.convergence,
    work_dir=snakemake.params.work_dir,
    symmetry_mask=snakemake.params.symmetry_mask,
)
