"""Bayesian hyper-parameter search of one network (resumes from its finished trials).

The wildcard `network` is the search's name (selcn.hpo.search_name): `segmentation`,
`symmetry`, or `lesion-<dataset>` (one lesion search per lesion dataset)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.hpo import parse_search_name, search_network

torch.set_num_threads(snakemake.threads)
network, dataset = parse_search_name(snakemake.wildcards.network)
search_network(
    network,
    snakemake.config,
    inputs=dict(snakemake.input.items()),
    best_json=snakemake.output.best,
    trials_csv=snakemake.output.trials,
    convergence_png=snakemake.output.convergence,
    work_dir=snakemake.params.work_dir,
    symmetry_mask=snakemake.params.symmetry_mask,
    dataset=dataset,
)
