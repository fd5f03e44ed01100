"""The names of the hyper-parameter searches (no heavy import: ``rules/*.smk`` read them).

One search per network, the lesion network once **per lesion dataset** (HAM10000 and ISIC
2016 differ in classes, size and balance, so one result is not reused for the other):
``segmentation``, ``symmetry``, ``lesion-<dataset>``; each name is a ``results/hpo/<name>/``
directory and the ``{network}`` wildcard of the ``hpo_search`` rule.

Under ``hpo.scope: per_model`` a model searches its own values (:data:`selcn.grid.PER_MODEL`):
a lesion grid cell ``lesion-<dataset>-<classifier_mask>-<cam_source>``, a symmetry input mask
``symmetry-<mask>``, each followed by ``-<segmenter>`` when it reads a segmenter's masks
(``segmentation.mode: axis``), e.g. ``lesion-ham10000-seg-lae-unet``, ``symmetry-seg-unet``.
The shared searches are the per-model searches of their own cells (model 1, the shared search's
mask), so those keep the shared names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from selcn.grid import MASKS, SEGMENTERS, Model

__all__ = ["PER_DATASET_NETWORKS", "search_name", "parse_search_name", "search_names",
           "SearchParts", "parse_search"]

#: networks searched once per dataset they are trained on (``lesion.datasets``)
PER_DATASET_NETWORKS: tuple[str, ...] = ("lesion",)
#: the networks of the cascade, each with one shared search
_NETWORKS: tuple[str, ...] = ("segmentation", "symmetry", "lesion")


class SearchParts(NamedTuple):
    """What a search name says: its ``network``, the lesion search's ``dataset``, a per-model
    search's ``cell`` (a lesion model ``seg-lae`` or a symmetry input mask ``seg``; None for a
    shared search) and the ``segmenter`` whose masks that cell reads (or None)."""

    network: str
    dataset: str | None = None
    cell: str | None = None
    segmenter: str | None = None


def search_name(network: str, dataset: str | None = None, cell: str | None = None,
                segmenter: str | None = None) -> str:
    """The name of a search (its ``results/hpo/<name>/`` directory, the rule's wildcard):
    ``segmentation``, ``symmetry``, ``lesion-<dataset>`` (one per lesion dataset); a per-model
    search adds its ``cell`` (``lesion-ham10000-seg-lae``, ``symmetry-seg``) and the cell's
    ``segmenter`` where it has one. ValueError for a combination no search has."""
    if network not in _NETWORKS:
        raise ValueError(f"unknown network {network!r} (one of {', '.join(_NETWORKS)})")
    if network in PER_DATASET_NETWORKS:
        if not dataset:
            raise ValueError(f"the {network} search needs its dataset (one search per dataset)")
    elif dataset is not None:
        raise ValueError(f"the {network} search has one fixed dataset, got dataset={dataset!r}")
    if cell is None:
        if segmenter is not None:
            raise ValueError(f"a shared {network} search has no segmenter (got {segmenter!r})")
        return network if dataset is None else f"{network}-{dataset}"
    if network == "segmentation":
        raise ValueError("the segmentation network has one search (no per-model cell)")
    if network == "symmetry":
        if cell not in MASKS or (segmenter is not None and cell == MASKS[0]):
            raise ValueError(f"symmetry search: {cell!r} with segmenter {segmenter!r} is not a "
                             f"symmetry input mask that reads masks (one of {', '.join(MASKS)})")
        if segmenter is not None and segmenter not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {segmenter!r}")
    else:
        cm, _, cs = cell.partition("-")
        Model(cm, cs, segmenter)                        # checks the cell and its segmenter
    parts = [network, dataset, cell, segmenter]
    return "-".join(p for p in parts if p is not None)


def parse_search(name: str) -> SearchParts:
    """Invert :func:`search_name`: ``"lesion-ham10000-seg-lae-unet"`` -> ``SearchParts("lesion",
    "ham10000", "seg-lae", "unet")``; ValueError for any other text."""
    tokens = str(name).split("-")
    network, rest = tokens[0], tokens[1:]
    try:
        if network in PER_DATASET_NETWORKS and rest:
            dataset, rest = rest[0], rest[1:]
            cell = "-".join(rest[:2]) if len(rest) >= 2 else None
            parts = SearchParts(network, dataset, cell, rest[2] if len(rest) == 3 else None)
            if len(rest) not in (0, 2, 3):
                raise ValueError(name)
        else:
            parts = SearchParts(network, None, rest[0] if rest else None,
                                rest[1] if len(rest) == 2 else None)
            if len(rest) > 2:
                raise ValueError(name)
        if search_name(*parts) != name:
            raise ValueError(name)
    except ValueError:
        raise ValueError(f"unknown search name {name!r} (segmentation, symmetry[-<mask>"
                         "[-<segmenter>]], lesion-<dataset>[-<model>[-<segmenter>]])") from None
    return parts


def parse_search_name(name: str) -> tuple[str, str | None]:
    """``(network, dataset)`` of a search name: ``"lesion-isic2016"`` -> ``("lesion",
    "isic2016")``, ``"symmetry"`` -> ``("symmetry", None)``; per-model searches too
    (:func:`parse_search` has their cell)."""
    parts = parse_search(name)
    return parts.network, parts.dataset


def search_names(networks: Iterable[str], lesion_datasets: Iterable[str]) -> list[str]:
    """Every shared search of a config: ``hpo.networks`` in order, the lesion network once per
    dataset of ``lesion.datasets``, e.g. ``(["lesion", "symmetry"], ["ham10000", "isic2016"])``
    -> ``["lesion-ham10000", "lesion-isic2016", "symmetry"]``."""
    lesion_datasets = list(lesion_datasets)
    return [search_name(n, d) for n in networks
            for d in (lesion_datasets if n in PER_DATASET_NETWORKS else [None])]
