"""Bayesian hyper-parameter search (thesis 5.2, Figure 7a).

:mod:`selcn.hpo.search` is the scikit-optimize engine (space, ask / tell loop with resume,
trials table, convergence plot); :mod:`selcn.hpo.objectives` the trial function of each
network and :func:`search_network`, what the ``hpo_search`` rule runs; :mod:`selcn.hpo.names`
the names of the searches (one per network, the lesion one per dataset; under
``hpo.scope: per_model`` one per lesion grid cell and per symmetry input mask).

The names are imported lazily (PEP 562), so ``from selcn.hpo.names import search_name`` (the
rules, at planning time) does not import torch or scikit-optimize.
"""

from importlib import import_module

__all__ = [
    "PARAMETERS", "SearchPlan", "SearchFiles", "search_space", "read_trials", "run_search",
    "plot_convergence", "Search", "split_for_search", "search_rows", "objective_metric",
    "trial_params", "network_objective", "search_network", "search_name", "parse_search_name",
    "search_names", "PER_DATASET_NETWORKS", "SearchParts", "parse_search",
]

_HOME = {
    **dict.fromkeys(("PARAMETERS", "SearchPlan", "SearchFiles", "search_space", "read_trials",
                     "run_search", "plot_convergence"), "selcn.hpo.search"),
    **dict.fromkeys(("Search", "split_for_search", "search_rows", "objective_metric",
                     "trial_params", "network_objective", "search_network"),
                    "selcn.hpo.objectives"),
    **dict.fromkeys(("search_name", "parse_search_name", "search_names",
                     "PER_DATASET_NETWORKS", "SearchParts", "parse_search"), "selcn.hpo.names"),
}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'selcn.hpo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
