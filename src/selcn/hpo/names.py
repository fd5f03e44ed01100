"""The names of the hyper-parameter searches (no heavy import: ``rules/*.smk`` read them).

One search per network, the lesion network once **per lesion dataset** (HAM10000 and ISIC
2016 differ in classes, size and balance, so one result is not reused for the other):
``segmentation``, ``symmetry``, ``lesion-<dataset>``; each name is a ``results/hpo/<name>/``
directory and the ``{network}`` wildcard of the ``hpo_search`` rule.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PER_DATASET_NETWORKS", "search_name", "parse_search_name", "search_names"]

#: networks searched once per dataset they are trained on (``lesion.datasets``)
PER_DATASET_NETWORKS: tuple[str, ...] = ("lesion",)


def search_name(network: str, dataset: str | None = None) -> str:
    """The name of a search (its ``results/hpo/<name>/`` directory, the rule's wildcard):
    ``segmentation``, ``symmetry``, or ``lesion-<dataset>`` (one per lesion dataset)."""
    if network in PER_DATASET_NETWORKS:
        if not dataset:
            raise ValueError(f"the {network} search needs its dataset (one search per dataset)")
        return f"{network}-{dataset}"
    if dataset is not None:
        raise ValueError(f"the {network} search has one fixed dataset, got dataset={dataset!r}")
    return network


def parse_search_name(name: str) -> tuple[str, str | None]:
    """Invert :func:`search_name`: ``"lesion-isic2016"`` -> ``("lesion", "isic2016")``,
    ``"symmetry"`` -> ``("symmetry", None)``."""
    network, _, dataset = str(name).partition("-")
    if network in PER_DATASET_NETWORKS:
        if not dataset:
            raise ValueError(f"search name {name!r}: expected {network}-<dataset>")
        return network, dataset
    if dataset or network not in ("segmentation", "symmetry"):
        raise ValueError(f"unknown search name {name!r} (segmentation, symmetry, "
                         "lesion-<dataset>)")
    return network, None


def search_names(networks: Iterable[str], lesion_datasets: Iterable[str]) -> list[str]:
    """Every search of a config: ``hpo.networks`` in order, the lesion network once per
    dataset of ``lesion.datasets``, e.g. ``(["lesion", "symmetry"], ["ham10000", "isic2016"])``
    -> ``["lesion-ham10000", "lesion-isic2016", "symmetry"]``."""
    lesion_datasets = list(lesion_datasets)
    return [search_name(n, d) for n in networks
            for d in (lesion_datasets if n in PER_DATASET_NETWORKS else [None])]
