"""Bayesian hyper-parameter search of one network (resumes from its finished trials).

The wildcard `network` is the search's name (selcn.hpo.search_name): `segmentation`,
`symmetry`, or `lesion-<dataset>` (one lesion search per lesion dataset); a plain `lesion`
(rules written before the per-dataset search) searches the first lesion dataset."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.hpo import parse_search_name, search_network

torch.set_num_threads(snakemake.threads)
name = snakemake.wildcards.network
if name == "lesion":
    network, dataset = "lesion", snakemake.config["lesion"]["datasets"][0]
else:
    network, dataset = parse_search_name(name)
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
