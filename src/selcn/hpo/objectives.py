"""The trial functions of the hyper-parameter search: one per network of the cascade.

One search per network (segmentation, symmetry, lesion) on a 75 / 25 split of that network's
*training* data (every ``fold<k>`` row of its split table; the ``test`` and ``excluded`` rows
are never read). Each trial is a short training with the stage's own fit function
(:func:`selcn.segmentation.fit_segmentation`, :func:`selcn.symmetry.fit_symmetry`,
:func:`selcn.lesion.fit_lesion`) on the data opened and checked by
:func:`selcn.classifier.open_stage_data`; its validation score at the epoch the training core
keeps is maximised by :func:`selcn.hpo.search.run_search`. :func:`search_network` runs (or
resumes) one network's search and writes ``best.json``, ``trials.csv`` and the convergence
plot.

The lesion network is searched once **per lesion dataset** (HAM10000 and ISIC 2016 differ in
classes, size and balance, so one result is not reused for the other): the search of
``lesion`` on ``dataset`` is named ``lesion-<dataset>`` (:func:`search_name`; its files
``results/hpo/lesion-<dataset>/``), and its ``best.json`` records ``network`` and ``dataset``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selcn.atomic import atomic_path
from selcn.classifier import open_stage_data, plain_table, read_split_rows
from selcn.grid import CAM_OFF
from selcn.hpo.names import PER_DATASET_NETWORKS, parse_search_name, search_name
from selcn.hpo.search import PARAMETERS, run_search

__all__ = ["split_for_search", "search_rows", "objective_metric", "trial_params",
           "network_objective", "search_network", "search_name", "parse_search_name",
           "PER_DATASET_NETWORKS"]



#: what a classifier search may optimise (``hpo.objective``)
_CLASSIFICATION_OBJECTIVES = ("accuracy", "balanced_accuracy")


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
    train = splits[splits["split"].str.startswith("fold")]
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


def _need(inputs: Mapping[str, str], network: str, *keys: str) -> list[str]:
    missing = [k for k in keys if not inputs.get(k)]
    if missing:
        raise ValueError(f"hpo search of {network}: missing input(s) {', '.join(missing)} "
                         f"(given: {', '.join(sorted(inputs)) or 'none'})")
    return [str(inputs[k]) for k in keys]


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


def _segmentation_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path,
                            metric: str) -> Callable[[dict], float]:
    """Dice (pooled over the search-validation images) of the first configured architecture."""
    from selcn.segmentation import fit_segmentation

    images_npy, gt_npy, index_csv, splits_csv = _need(inputs, "segmentation", "images",
                                                      "gt_masks", "index", "splits")
    data = open_stage_data(index_csv, images_npy, gt_masks_npy=gt_npy)
    rows = search_rows(index_csv, splits_csv, val_fraction=cfg["hpo"]["val_fraction"],
                       seed=cfg["seed"], stratify=False,
                       grouped=cfg["protocol"] == "leakage_free")
    arch = cfg["segmentation"]["architectures"][0]
    print(f"[hpo] segmentation ({arch}): search-train {len(rows['train'])}, "
          f"search-val {len(rows['val'])} images", flush=True)
    return _trials("segmentation", cfg, work_dir, metric, lambda out, params: fit_segmentation(
        arch, data.images, data.gt_masks, rows["train"], rows["val"], out, cfg, params,
        progress=False))


def _lesion_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path,
                      metric: str, dataset: str | None = None) -> Callable[[dict], float]:
    """Validation accuracy of the baseline lesion classifier (no mask, no CAM: 'none-off') on
    ``dataset``'s training folds (its classes checked against :mod:`selcn.data.labels`; None:
    read from the index).

    The search-train part is balanced like a training fold (``data.balance``); the
    search-validation part is not augmented.
    """
    from selcn.data.tables import class_names_of
    from selcn.lesion import fit_lesion

    images_npy, index_csv, splits_csv = _need(inputs, "lesion", "images", "index", "splits")
    data = open_stage_data(index_csv, images_npy, splits_csv)
    names = class_names_of(data.index, source=str(index_csv), dataset=dataset)
    tables = _search_tables(cfg, data.splits, splits_csv, dataset=dataset)
    print(f"[hpo] lesion on {dataset or 'the given cache'} (none-off, {len(names)} classes): "
          f"search-train {len(tables['train'])} "
          f"(balanced), search-val {len(tables['val'])} images", flush=True)
    return _trials("lesion", cfg, work_dir, metric, lambda out, params: fit_lesion(
        data.images, tables["train"], tables["val"], out, cfg, params, num_classes=len(names),
        classifier_mask="none", symmetry_mask=CAM_OFF, progress=False))


def _symmetry_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path, metric: str,
                        mask: str) -> Callable[[dict], float]:
    """Validation accuracy of the symmetry classifier (``symmetry.architecture``, masking
    strategy ``mask``) on SymDerm; like the symmetry stage, no balancing (weighted loss)."""
    from selcn.symmetry import class_names, fit_symmetry

    images_npy, index_csv, splits_csv = _need(inputs, "symmetry", "images", "index", "splits")
    masks_npy = _need(inputs, "symmetry", "masks")[0] if mask != "none" else None
    data = open_stage_data(index_csv, images_npy, splits_csv, masks_npy=masks_npy)
    n_classes = len(class_names())
    tables = _search_tables(cfg, data.splits, splits_csv, balanced=False)
    print(f"[hpo] symmetry ({cfg['symmetry']['architecture']}, mask {mask}): search-train "
          f"{len(tables['train'])}, search-val {len(tables['val'])} images", flush=True)
    return _trials("symmetry", cfg, work_dir, metric, lambda out, params: fit_symmetry(
        data.images, tables["train"], tables["val"], out, cfg, params, mask=mask,
        masks=data.masks, num_classes=n_classes, progress=False))


def _search_tables(cfg: Mapping, splits: pd.DataFrame, splits_csv: str | Path, *,
                   balanced: bool = True, dataset: str | None = None) -> dict[str, pd.DataFrame]:
    """``train`` / ``val`` tables ``row,transform,target`` of a classifier search.

    ``splits`` is a split table joined with the cache rows (``row,target,split[,group]``,
    :func:`selcn.data.tables.read_splits`). Only the ``fold<k>`` rows enter (never ``test`` or
    ``excluded``). When ``balanced`` (the lesion stage), the search-train part is balanced like
    a training fold (:func:`selcn.lesion.balanced_table`, :func:`selcn.config.balance_of`
    ``dataset``); otherwise (the
    symmetry stage) every image enters once. The search-validation part is never augmented.
    """
    from selcn.lesion import balanced_table

    grouped = cfg["protocol"] == "leakage_free"
    if grouped and "group" not in splits.columns:
        raise ValueError(f"{splits_csv}: missing column 'group' (the leakage-free search split "
                         "is grouped by lesion)")
    pool = splits[splits["split"].astype(str).str.startswith("fold")]
    if pool.empty:
        raise ValueError(f"{splits_csv}: no training rows (field 'split' has no fold<k> value)")
    train, val = split_for_search(pool, cfg["hpo"]["val_fraction"], cfg["seed"],
                                  group_col="group" if grouped else None, label_col="target")
    from selcn.config import balance_of

    bal = balance_of(cfg, dataset or "ham10000") if balanced else None
    epoch = (balanced_table(train[["row", "target"]], bal["target_per_class"],
                            bal["max_copies"], cfg["seed"]) if bal else plain_table(train))
    return {"train": epoch, "val": plain_table(val)}


def network_objective(network: str, cfg: Mapping, inputs: Mapping[str, str],
                      work_dir: str | Path, *, symmetry_mask: str = "none",
                      dataset: str | None = None) -> tuple[Callable[[dict], float], str, tuple]:
    """The trial function of ``network``'s search: ``(objective, metric, excluded parameters)``.

    Each call of ``objective(params)`` trains the network for ``hpo.max_epochs`` epochs on the
    search-train part (``<work_dir>/trial``, removed afterwards) and returns ``metric`` on the
    search-validation part, at the epoch the training core keeps (lowest validation loss).

    Args:
        inputs: ``images``, ``index``, ``splits`` (the cache and split table of the network's
            dataset), plus ``gt_masks`` (segmentation) or ``masks`` (symmetry with
            ``symmetry_mask`` seg / lae).
        symmetry_mask: masking strategy of the symmetry search (the baseline: ``none``).
        dataset: the lesion search's dataset (``ham10000`` | ``isic2016``; names its classes).
    """
    metric = objective_metric(network, cfg["hpo"]["objective"])
    work_dir = Path(work_dir)
    if network == "segmentation":
        return _segmentation_objective(cfg, inputs, work_dir, metric), metric, ("weighted_loss",)
    if network == "symmetry":
        return _symmetry_objective(cfg, inputs, work_dir, metric, symmetry_mask), metric, ()
    return _lesion_objective(cfg, inputs, work_dir, metric, dataset), metric, ()


def search_network(network: str, cfg: Mapping, inputs: Mapping[str, str], *,
                   best_json: str | Path, trials_csv: str | Path, convergence_png: str | Path,
                   work_dir: str | Path, symmetry_mask: str = "none",
                   dataset: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the search of ``network`` with the settings of ``cfg["hpo"]``.

    ``dataset``: the lesion search's dataset (required for ``lesion``, one search per lesion
    dataset; :func:`search_name`), ``None`` for the other networks. The running trials table
    lives in ``<work_dir>/trials.csv`` (kept when the job dies, so a rerun resumes from it);
    ``trials_csv`` receives a copy when the search is complete. Returns the content of
    ``best_json`` (the search result plus ``network`` and ``dataset``).
    """
    from selcn.atomic import write_json

    name = search_name(network, dataset)
    hpo = cfg["hpo"]
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    objective, metric, exclude = network_objective(network, cfg, inputs, work_dir,
                                                   symmetry_mask=symmetry_mask, dataset=dataset)
    log(f"[hpo] {name}: {hpo['n_calls']} trials ({hpo['n_initial_points']} random), "
        f"{hpo['max_epochs']} epoch(s) each, maximising validation {metric}")
    running = work_dir / "trials.csv"
    result = run_search(objective, hpo["space"], n_calls=hpo["n_calls"],
                        n_initial_points=hpo["n_initial_points"], seed=cfg["seed"],
                        trials_csv=running, objective_name=metric, best_json=best_json,
                        convergence_png=convergence_png, exclude=exclude,
                        title=f"Bayesian search: {network} network"
                        + (f" on {dataset}" if dataset else ""), log=log)
    result = {**result, "network": network, "dataset": dataset}
    write_json(result, best_json)
    with atomic_path(trials_csv) as tmp:
        shutil.copyfile(running, tmp)
    return result
