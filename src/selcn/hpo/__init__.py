"""Bayesian hyper-parameter search (thesis 5.2, Figure 7a).

:mod:`selcn.hpo.search` is the scikit-optimize engine (space, ask / tell loop with resume,
trials table, convergence plot); :mod:`selcn.hpo.objectives` the trial function of each
network and :func:`search_network`, what the ``hpo_search`` rule runs.
"""

from selcn.hpo.objectives import (
    PER_DATASET_NETWORKS,
    network_objective,
    objective_metric,
    parse_search_name,
    search_name,
    search_network,
    search_rows,
    split_for_search,
    trial_params,
)
from selcn.hpo.search import PARAMETERS, plot_convergence, read_trials, run_search, search_space

__all__ = [
    "PARAMETERS", "search_space", "read_trials", "run_search", "plot_convergence",
    "split_for_search", "search_rows", "objective_metric", "trial_params", "network_objective",
    "search_network", "search_name", "parse_search_name", "PER_DATASET_NETWORKS",
]
