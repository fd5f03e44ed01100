"""The trial functions of the hyper-parameter search: one per network of the cascade.

One search per network (segmentation, symmetry, lesion) on a 75 / 25 split of that network's
*training* data (every ``fold<k>`` row of its split table; the ``test`` and ``excluded`` rows
are never read). Each trial is a short training with the stage's own fit
(:func:`selcn.segmentation.fit_segmentation`, or the stage engine's
:func:`selcn.engine.fit_network` on the symmetry / lesion spec) on the data opened and checked
by :meth:`selcn.data.inputs.StageInputs.open`; its validation score at the epoch the training
core keeps is maximised by :func:`selcn.hpo.search.run_search`. :func:`search_network` runs (or
resumes) one :class:`Search` and writes ``best.json``, ``trials.csv`` and the convergence plot.

The lesion network is searched once **per lesion dataset** (HAM10000 and ISIC 2016 differ in
classes, size and balance, so one result is not reused for the other): the search of
``lesion`` on ``dataset`` is named ``lesion-<dataset>`` (:func:`search_name`; its files
``results/hpo/lesion-<dataset>/``), and its ``best.json`` records ``network`` and ``dataset``.
Under ``hpo.scope: per_model`` every grid cell has its own search (``lesion-<dataset>-<model>``,
on the cell's own inputs: its masks, its CAMs), every symmetry input mask too
(``symmetry-<mask>``); ``best.json`` then records the ``cell`` (and its ``segmenter``).
Searches split the training rows by lesion where the protocol groups its splits
(:attr:`selcn.protocol.Protocol.grouped`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selcn.atomic import atomic_path
from selcn.data.inputs import StageData, StageInputs, plain_table, read_split_rows
from selcn.grid import CAM_OFF, NO_MASK, Cell, Fold, Model, SymmetryVariant
from selcn.hpo.names import PER_DATASET_NETWORKS, parse_search, parse_search_name, search_name
from selcn.hpo.search import PARAMETERS, SearchFiles, SearchPlan, run_search
from selcn.protocol import policy

__all__ = ["Search", "split_for_search", "search_rows", "objective_metric", "trial_params",
           "network_objective", "search_network", "search_name", "parse_search_name",
           "parse_search", "PER_DATASET_NETWORKS"]

#: what a classifier search may optimise (``hpo.objective``)
_CLASSIFICATION_OBJECTIVES = ("accuracy", "balanced_accuracy")


@dataclass(frozen=True)
class Search:
    """One search: the network, the lesion search's dataset, the symmetry search's input mask,
    and a per-model search's cell (a lesion model's name ``seg-lae``; for the symmetry network
    its input mask) and the segmenter of that cell's masks (its name only: the masks are inputs).

    Constructing one checks the name (:func:`search_name`: the lesion network needs its
    dataset, the others take none; a cell must be one).
    """

    network: str
    dataset: str | None = None
    symmetry_mask: str = NO_MASK
    cell: str | None = None
    segmenter: str | None = None

    def __post_init__(self) -> None:
        search_name(self.network, self.dataset, self.cell, self.segmenter)
        if self.network == "symmetry" and self.cell is not None and \
                self.cell != self.symmetry_mask:
            raise ValueError(f"symmetry search {self.name}: its mask is {self.cell!r}, "
                             f"got symmetry_mask={self.symmetry_mask!r}")

    @property
    def name(self) -> str:
        """``segmentation``, ``symmetry``, ``lesion-<dataset>``, or a per-model search's
        name (``lesion-<dataset>-<model>[-<segmenter>]``, ``symmetry-<mask>[-<segmenter>]``)."""
        return search_name(self.network, self.dataset, self.cell, self.segmenter)

    @property
    def lesion_model(self) -> Model:
        """The lesion model a lesion search trains: its cell's, else the baseline (no mask, no
        CAM: the shared search)."""
        return Model.parse(self.cell) if self.cell else Model(NO_MASK, CAM_OFF)

    @classmethod
    def parse(cls, name: str, symmetry_mask: str = NO_MASK) -> Search:
        """The search of a ``{network}`` wildcard, e.g. ``lesion-isic2016``; a per-model
        symmetry search's mask is its cell (``symmetry-seg``), a shared one's
        ``symmetry_mask``."""
        parts = parse_search(name)
        mask = parts.cell if parts.network == "symmetry" and parts.cell else symmetry_mask
        return cls(parts.network, parts.dataset, mask, parts.cell, parts.segmenter)


# ---- the data of a search ------------------------------------------------------------------
def split_for_search(table: pd.DataFrame, val_fraction: float = 0.25, seed: int = 0,
                     group_col: str | None = "group",
                     label_col: str | None = "target") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a network's training rows into search-train / search-validation parts.

    Stratified by ``label_col`` (``None``: not stratified, e.g. segmentation) and grouped by
    ``group_col`` (``None``: every row its own group, the thesis' image-level split), so one
    lesion never lands in both parts. The validation part is one fold of a
    ``k = round(1 / val_fraction)``-fold (stratified) group split — 25 % for ``0.25``.

    Returns:
        ``(train, val)``: the rows of ``table`` (index kept) of each part.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if not 0 < val_fraction < 1:
        raise ValueError(f"hpo.val_fraction must be in (0, 1), got {val_fraction}")
    for col in (group_col, label_col):
        if col is not None and col not in table.columns:
            raise ValueError(f"split_for_search: missing column '{col}' "
                             f"(has {', '.join(map(str, table.columns))})")
    k = max(2, round(1.0 / val_fraction))
    groups = (table[group_col].astype(str).to_numpy() if group_col
              else np.arange(len(table)).astype(str))
    n_groups = len(np.unique(groups))
    if n_groups < k:
        raise ValueError(f"split_for_search: {n_groups} group(s) in '{group_col}' cannot be split "
                         f"{k} ways (val_fraction {val_fraction})")
    if label_col is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        labels = table[label_col].to_numpy()
    else:
        splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        labels = None
    train_idx, val_idx = next(splitter.split(np.zeros(len(table)), labels, groups))
    return table.iloc[np.sort(train_idx)], table.iloc[np.sort(val_idx)]


def search_rows(index_csv: str | Path, splits_csv: str | Path, *, val_fraction: float = 0.25,
                seed: int = 0, stratify: bool = True,
                grouped: bool = True) -> dict[str, np.ndarray]:
    """Cache rows of the search's ``train`` / ``val`` parts of one dataset.

    Only the training data enter: rows whose ``split`` is ``fold<k>`` (never ``test`` nor
    ``excluded``), split by :func:`split_for_search` (stratified on ``target`` when
    ``stratify``, grouped on ``group`` when ``grouped``). Row arrays are sorted int64.
    """
    columns = (("group",) if grouped else ()) + (("target",) if stratify else ())
    splits = read_split_rows(index_csv, splits_csv, columns)
    train = splits[splits["split"].map(Fold.is_name).astype(bool)]
    if train.empty:
        raise ValueError(f"{splits_csv}: no training rows (field 'split' has no fold<k> value)")
    part_train, part_val = split_for_search(train, val_fraction, seed,
                                            group_col="group" if grouped else None,
                                            label_col="target" if stratify else None)
    return {"train": np.sort(part_train["row"].to_numpy(np.int64)),
            "val": np.sort(part_val["row"].to_numpy(np.int64))}


def objective_metric(network: str, objective: str) -> str:
    """The validation score a search of ``network`` maximises.

    Segmentation maximises the Dice coefficient whatever ``hpo.objective`` says (pixel
    accuracy rewards empty masks); the classifiers maximise ``hpo.objective``
    (``accuracy`` as in the thesis, or ``balanced_accuracy``; ``dice`` falls back to
    ``accuracy`` for them).
    """
    if network == "segmentation":
        return "dice"
    if network not in ("symmetry", "lesion"):
        raise ValueError(f"unknown network {network!r} (one of segmentation, symmetry, lesion)")
    if objective == "dice":
        return "accuracy"
    if objective not in _CLASSIFICATION_OBJECTIVES:
        raise ValueError(f"hpo.objective: unknown value {objective!r} "
                         "(accuracy, balanced_accuracy, dice)")
    return objective


# ---- one search per network ----------------------------------------------------------------
def trial_params(cfg: Mapping, network: str, params: Mapping) -> dict:
    """Training hyper-parameters of one trial: the network's ``<network>.train`` block with the
    trial's ``params`` on top and ``hpo.max_epochs`` epochs."""
    from selcn.config import train_params

    out = train_params(cfg, network)
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"trial_params: unknown parameter(s) {unknown}")
    out.update(params)
    out["max_epochs"] = int(cfg["hpo"]["max_epochs"])
    return out


def _score(result: Any, metric: str, network: str) -> float:
    """The validation ``metric`` of the epoch whose weights the training core kept.

    That is the epoch of the lowest validation loss (``result.best_epoch``), or the last one
    when no epoch had a finite loss. A diverged trial (non-finite score) scores 0.
    """
    history = result.history
    if metric not in history.columns:
        raise ValueError(f"hpo search of {network}: the training history has no '{metric}' "
                         f"column (has {', '.join(map(str, history.columns))})")
    rows = history.loc[history["epoch"] == result.best_epoch, metric]
    value = float(rows.iloc[0] if len(rows) else history[metric].iloc[-1])
    return value if math.isfinite(value) else 0.0


def _trials(network: str, cfg: Mapping, work_dir: Path, metric: str,
            train: Callable[[Path, dict], Any]) -> Callable[[dict], float]:
    """The trial function: ``train(out_dir, trial_params)`` in an empty ``<work_dir>/trial``
    (a killed trial's leftovers, e.g. resume state, are removed first; the directory is removed
    afterwards), scored with :func:`_score`."""

    def objective(params: dict) -> float:
        out = work_dir / "trial"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        result = train(out, trial_params(cfg, network, params))
        shutil.rmtree(out, ignore_errors=True)
        return _score(result, metric, network)

    return objective


def _segmentation_objective(cfg: Mapping, inputs: StageInputs, work_dir: Path,
                            metric: str) -> Callable[[dict], float]:
    """Dice (pooled over the search-validation images) of the first configured architecture."""
    from selcn.engine import Training
    from selcn.segmentation import fit_segmentation

    data = StageInputs(inputs.images, inputs.index, gt_masks=inputs.gt_masks).open()
    if data.gt_masks is None:
        raise ValueError("hpo search of segmentation: missing input gt_masks")
    rows = search_rows(inputs.index, inputs.splits, val_fraction=cfg["hpo"]["val_fraction"],
                       seed=cfg["seed"], stratify=False, grouped=policy(cfg["protocol"]).grouped)
    arch = cfg["segmentation"]["architectures"][0]
    print(f"[hpo] segmentation ({arch}): search-train {len(rows['train'])}, "
          f"search-val {len(rows['val'])} images", flush=True)
    return _trials("segmentation", cfg, work_dir, metric, lambda out, params: fit_segmentation(
        arch, data, rows, out, Training(cfg, params)))


def _classifier_objective(net: Any, cfg: Mapping, data: StageData, work_dir: Path,
                          metric: str) -> Callable[[dict], float]:
    """Validation ``metric`` of a classifier spec (:mod:`selcn.engine`) on the search split of
    ``data``'s training folds. The lesion network's search-train part is balanced like a
    training fold; the symmetry network's is not (weighted loss, as its stage)."""
    from selcn.engine import Training, fit_network

    balance = getattr(net, "balance", None)
    tables = _search_tables(cfg, data, balance)
    names = net.class_names(data.index, data.inputs.index)
    print(f"[hpo] {net.tag} ({len(names)} classes): search-train {len(tables['train'])}"
          f"{' (balanced)' if balance else ''}, search-val {len(tables['val'])} images",
          flush=True)
    return _trials(net.kind.stage, cfg, work_dir, metric, lambda out, params: fit_network(
        net, data, tables, out, Training(cfg, params)))


def _search_tables(cfg: Mapping, data: StageData,
                   balance: Mapping | None = None) -> dict[str, pd.DataFrame]:
    """``train`` / ``val`` tables ``row,transform,target`` of a classifier search.

    Only the ``fold<k>`` rows of ``data.splits`` enter (never ``test`` or ``excluded``), split
    by :func:`split_for_search` (grouped by lesion where the protocol groups its splits). With
    ``balance`` (the lesion stage) the search-train part is balanced like a training fold
    (:func:`selcn.lesion.balanced_table`); otherwise (the symmetry stage) every image enters
    once. The search-validation part is never augmented.
    """
    from selcn.lesion import balanced_table

    splits = data.splits
    grouped = policy(cfg["protocol"]).grouped
    if grouped and "group" not in splits.columns:
        raise ValueError(f"{data.inputs.splits}: missing column 'group' (the leakage-free search "
                         "split is grouped by lesion)")
    pool = splits[splits["split"].astype(str).map(Fold.is_name).astype(bool)]
    if pool.empty:
        raise ValueError(f"{data.inputs.splits}: no training rows (field 'split' has no fold<k> "
                         "value)")
    train, val = split_for_search(pool, cfg["hpo"]["val_fraction"], cfg["seed"],
                                  group_col="group" if grouped else None, label_col="target")
    epoch = (balanced_table(train[["row", "target"]], balance, cfg["seed"]) if balance
             else plain_table(train))
    return {"train": epoch, "val": plain_table(val)}


def network_objective(search: Search, cfg: Mapping, inputs: StageInputs,
                      work_dir: str | Path) -> tuple[Callable[[dict], float], str, tuple]:
    """The trial function of ``search``: ``(objective, metric, excluded parameters)``.

    Each call of ``objective(params)`` trains the network for ``hpo.max_epochs`` epochs on the
    search-train part (``<work_dir>/trial``, removed afterwards) and returns ``metric`` on the
    search-validation part, at the epoch the training core keeps (lowest validation loss).

    ``inputs``: the cache and split table of the network's dataset, plus ``gt_masks``
    (segmentation) or ``masks`` (a symmetry search with a seg / lae mask, a lesion cell with a
    masked input) and ``cams`` (a lesion cell with CAM transfer). The shared lesion search
    trains the baseline (no mask, no CAM) of its dataset, a per-model one its cell's model
    (:attr:`Search.lesion_model`); the symmetry search ``symmetry.architecture`` with the
    search's mask.
    """
    from selcn import lesion, symmetry

    metric = objective_metric(search.network, cfg["hpo"]["objective"])
    work_dir = Path(work_dir)
    if search.network == "segmentation":
        return _segmentation_objective(cfg, inputs, work_dir, metric), metric, ("weighted_loss",)
    if search.network == "symmetry":
        variant = SymmetryVariant(bool(cfg["symmetry"]["pretrained"]), search.symmetry_mask)
        net = symmetry.network(cfg, variant)
    else:
        net = lesion.network(cfg, Cell(search.dataset, search.lesion_model))
    data = inputs.only(masks=net.view.needs_masks, cams=net.view.takes_cam).open()
    return _classifier_objective(net, cfg, data, work_dir, metric), metric, ()


def search_network(search: Search, cfg: Mapping, inputs: StageInputs, files: SearchFiles,
                   work_dir: str | Path, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) ``search`` with the settings of ``cfg["hpo"]``.

    The running trials table lives in ``<work_dir>/trials.csv`` (kept when the job dies, so a
    rerun resumes from it); ``files.trials_csv`` receives a copy when the search is complete,
    ``files.best_json`` the result, ``files.convergence_png`` the plot. Returns the content of
    ``best.json`` (the search result plus ``network``, ``dataset`` and, for a per-model
    search, its ``cell`` and ``segmenter``).
    """
    from selcn.atomic import write_json

    hpo = cfg["hpo"]
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    objective, metric, exclude = network_objective(search, cfg, inputs, work_dir)
    log(f"[hpo] {search.name}: {hpo['n_calls']} trials ({hpo['n_initial_points']} random), "
        f"{hpo['max_epochs']} epoch(s) each, maximising validation {metric}")
    running = work_dir / "trials.csv"
    plan = SearchPlan.of(hpo, cfg["seed"], exclude=exclude, objective_name=metric,
                         title=f"Bayesian search: {search.network} network"
                         + (f" on {search.dataset}" if search.dataset else "")
                         + (f", {search.cell}" if search.cell else "")
                         + (f" ({search.segmenter})" if search.segmenter else ""))
    result = run_search(objective, plan, SearchFiles(running, files.best_json,
                                                     files.convergence_png), log=log)
    result = {**result, "network": search.network, "dataset": search.dataset}
    if search.cell:
        result.update(cell=search.cell, segmenter=search.segmenter)
    write_json(result, files.best_json)
    with atomic_path(files.trials_csv) as tmp:
        shutil.copyfile(running, tmp)
    return result
