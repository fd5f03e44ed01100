"""Bayesian hyper-parameter search (thesis 5.2, Figure 7a) with scikit-optimize.

One search per network of the cascade (segmentation, symmetry, lesion) on a 75 / 25 split of
that network's *training* data (every ``fold<k>`` row of its split table; the ``test`` and
``excluded`` rows are never read). Each trial is a short training with the shared core; its
validation score is maximised (skopt minimises, so the optimizer is told ``-score``).

Files (``docs/contracts.md``, hyper-parameter search), all written atomically:

- ``trials.csv`` — one row per finished trial: ``trial,<parameters…>,value,seconds``,
  rewritten after every trial; a restarted search tells the optimizer these trials first and
  runs only the remaining ``n_calls - len(trials)`` ones;
- ``best.json`` — ``{"best": {<parameters>}, "objective": name, "value": x, "n_trials": n,
  "trial": i}``, read by :func:`selcn.config.train_params`;
- the convergence plot (PNG): each trial's score and the best score so far.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from skopt import Optimizer
from skopt.space import Categorical, Dimension, Real

from selcn.atomic import atomic_path, save_figure, write_csv, write_json

__all__ = [
    "PARAMETERS", "search_space", "split_for_search", "search_rows", "objective_metric",
    "read_trials", "run_search", "plot_convergence", "write_json", "trial_params",
    "network_objective", "search_network",
]

#: searched hyper-parameters, in the order of the search space (config ``hpo.space`` keys)
PARAMETERS: tuple[str, ...] = ("batch_size", "lr", "momentum", "weight_decay", "weighted_loss")
#: log-uniform priors (scale parameters); the others are uniform
_LOG_UNIFORM = ("lr", "weight_decay")
#: what each search optimises, per network family
_CLASSIFICATION_OBJECTIVES = ("accuracy", "balanced_accuracy")


# ---- the search space ----------------------------------------------------------------------
def search_space(space_cfg: Mapping[str, Sequence], *,
                 exclude: Sequence[str] = ()) -> list[Dimension]:
    """The skopt search space of a validated config's ``hpo.space`` block.

    ``batch_size`` and ``weighted_loss`` are :class:`~skopt.space.Categorical` over the listed
    values; ``lr`` and ``weight_decay`` are :class:`~skopt.space.Real` ``[low, high]`` with a
    log-uniform prior; ``momentum`` (Adam β1) is a uniform ``Real``. Every dimension is named
    after its config key. ``exclude`` drops parameters a network does not use (segmentation:
    ``weighted_loss``).
    """
    unknown = sorted(set(space_cfg) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"hpo.space: unknown key(s) {unknown} (allowed: {', '.join(PARAMETERS)})")
    bad = sorted(set(exclude) - set(PARAMETERS))
    if bad:
        raise ValueError(f"search_space: cannot exclude unknown parameter(s) {bad}")
    dims: list[Dimension] = []
    for name in PARAMETERS:
        if name in exclude:
            continue
        if name not in space_cfg:
            raise ValueError(f"hpo.space: missing key '{name}'")
        values = list(space_cfg[name])
        if name in ("batch_size", "weighted_loss"):
            if not values:
                raise ValueError(f"hpo.space.{name}: needs at least one value")
            cast = int if name == "batch_size" else bool
            dims.append(Categorical([cast(v) for v in dict.fromkeys(values)], name=name))
            continue
        if len(values) != 2:
            raise ValueError(f"hpo.space.{name}: expected [low, high], got {values}")
        low, high = float(values[0]), float(values[1])
        if not low < high:
            raise ValueError(f"hpo.space.{name}: low {low} must be below high {high}")
        prior = "log-uniform" if name in _LOG_UNIFORM else "uniform"
        if prior == "log-uniform" and low <= 0:
            raise ValueError(f"hpo.space.{name}: log-uniform bounds must be > 0, got {low}")
        dims.append(Real(low, high, prior=prior, name=name))
    if not dims:
        raise ValueError("search_space: every parameter is excluded")
    return dims


def _as_space(space: Mapping | Sequence[Dimension], exclude: Sequence[str] = ()) -> list[Dimension]:
    if isinstance(space, Mapping):
        return search_space(space, exclude=exclude)
    dims = list(space)
    if not dims or not all(isinstance(d, Dimension) and d.name for d in dims):
        raise TypeError("space: expected the hpo.space config block or a list of named "
                        "skopt Dimensions")
    return dims


def _native(value: Any) -> Any:
    """numpy scalars -> Python (JSON-safe) scalars."""
    return value.item() if isinstance(value, np.generic) else value


def _point_to_params(point: Sequence, space: Sequence[Dimension]) -> dict:
    return {dim.name: _native(v) for dim, v in zip(space, point)}


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
    index_csv, splits_csv = Path(index_csv), Path(splits_csv)
    for path, what in ((index_csv, "cache index"), (splits_csv, "split table")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
    index = pd.read_csv(index_csv, dtype={"image_id": str})
    splits = pd.read_csv(splits_csv, dtype={"image_id": str, "split": str, "group": str})
    need = {index_csv: ("row", "image_id"),
            splits_csv: ("image_id", "split") + (("group",) if grouped else ())
            + (("target",) if stratify else ())}
    for path, cols in need.items():
        table = index if path == index_csv else splits
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    row_of = dict(zip(index["image_id"], index["row"].astype(np.int64)))
    train = splits[splits["split"].astype(str).str.startswith("fold")].copy()
    if train.empty:
        raise ValueError(f"{splits_csv}: no training rows (field 'split' has no fold<k> value)")
    unknown = train.loc[~train["image_id"].isin(row_of), "image_id"]
    if len(unknown):
        raise ValueError(f"{splits_csv}: image_id {unknown.iloc[0]!r} not in the cache index "
                         f"{index_csv}")
    train["row"] = train["image_id"].map(row_of).astype(np.int64)
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


# ---- the trials table ----------------------------------------------------------------------
def _category(dim: Categorical, value: Any, path: Path, trial: Any) -> Any:
    for cat in dim.categories:
        if cat == value or str(cat).lower() == str(value).strip().lower():
            return _native(cat)
    raise ValueError(f"{path}: trial {trial}: field '{dim.name}' = {value!r} is not in the "
                     f"search space {list(dim.categories)} (the space changed? delete the file "
                     "to start a new search)")


def read_trials(trials_csv: str | Path, space: Sequence[Dimension]) -> pd.DataFrame:
    """The finished trials stored in ``trials_csv`` (an empty table when it does not exist).

    Values are cast back to the types of ``space``; a value outside the space, a missing
    column or a non-finite score is an error naming the file and field.
    """
    path = Path(trials_csv)
    columns = ["trial", *(d.name for d in space), "value", "seconds"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(map(str, table.columns))})")
    out = {c: [] for c in columns}
    for _, rec in table.iterrows():
        trial = rec["trial"]
        for dim in space:
            raw = rec[dim.name]
            if isinstance(dim, Categorical):
                value = _category(dim, raw, path, trial)
            else:
                value = float(raw)
                low, high = dim.bounds
                if not (math.isfinite(value) and low <= value <= high):
                    raise ValueError(f"{path}: trial {trial}: field '{dim.name}' = {raw!r} is "
                                     f"outside the search space [{low}, {high}] (the space "
                                     "changed? delete the file to start a new search)")
            out[dim.name].append(value)
        value = float(rec["value"])
        if not math.isfinite(value):
            raise ValueError(f"{path}: trial {trial}: field 'value' is not a number ({rec['value']!r})")
        out["trial"].append(int(trial))
        out["value"].append(value)
        out["seconds"].append(float(rec["seconds"]))
    return pd.DataFrame(out, columns=columns)


# ---- the search ----------------------------------------------------------------------------
def run_search(objective: Callable[[dict], float], space_cfg: Mapping | Sequence[Dimension], *,
               n_calls: int, n_initial_points: int, seed: int, trials_csv: str | Path,
               objective_name: str = "accuracy", best_json: str | Path | None = None,
               convergence_png: str | Path | None = None, exclude: Sequence[str] = (),
               title: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Maximise ``objective`` over the search space with a Gaussian-process optimizer.

    Args:
        objective: ``params -> score`` (higher is better); ``params`` maps each parameter name
            of the space to a Python value (``int``, ``float``, ``bool``).
        space_cfg: the ``hpo.space`` config block, or a list of named skopt dimensions.
        n_calls: total number of trials of the search (finished ones included).
        n_initial_points: random trials before the Gaussian process proposes points.
        seed: random state of the optimizer.
        trials_csv: the trials table; existing trials are told to the optimizer first and are
            not run again. Rewritten (atomically) after every finished trial.
        objective_name: name of the score, stored in ``best.json``.
        best_json: where to write the result (default: ``best.json`` next to ``trials_csv``).
        convergence_png: where to draw the convergence plot (default: ``convergence.png`` next
            to ``trials_csv``).
        exclude: parameters left out of the space (see :func:`search_space`).
        title: title of the convergence plot.

    Returns:
        The content of ``best.json``.
    """
    if n_calls < 1 or n_initial_points < 1:
        raise ValueError(f"hpo: n_calls ({n_calls}) and n_initial_points ({n_initial_points}) "
                         "must be >= 1")
    space = _as_space(space_cfg, exclude)
    trials_csv = Path(trials_csv)
    best_json = Path(best_json) if best_json else trials_csv.with_name("best.json")
    convergence_png = (Path(convergence_png) if convergence_png
                       else trials_csv.with_name("convergence.png"))
    names = [d.name for d in space]

    optimizer = Optimizer(space, base_estimator="GP", n_initial_points=n_initial_points,
                          random_state=seed)
    trials = read_trials(trials_csv, space)
    if len(trials):
        optimizer.tell(trials[names].values.tolist(), (-trials["value"]).tolist())
        log(f"[hpo] resuming: {len(trials)} finished trial(s) told to the optimizer "
            f"({trials_csv})")
    records = trials.to_dict("records")
    for trial in range(len(records), n_calls):
        point = optimizer.ask()
        params = _point_to_params(point, space)
        log(f"[hpo] trial {trial + 1}/{n_calls}: "
            + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in params.items()))
        started = time.perf_counter()
        score = float(objective(dict(params)))
        seconds = time.perf_counter() - started
        if not math.isfinite(score):
            raise ValueError(f"hpo: trial {trial + 1} returned a non-finite {objective_name} "
                             f"({score}) for {params}")
        optimizer.tell(list(point), -score)
        records.append({"trial": trial, **params, "value": score, "seconds": round(seconds, 3)})
        write_csv(pd.DataFrame(records, columns=["trial", *names, "value", "seconds"]),
                   trials_csv)
        log(f"[hpo] trial {trial + 1}/{n_calls}: {objective_name} = {score:.4f} "
            f"({seconds:.1f} s)")

    table = pd.DataFrame(records, columns=["trial", *names, "value", "seconds"])
    best_i = int(np.argmax(table["value"].to_numpy()))       # first of the ties
    best_rec = table.iloc[best_i]
    result = {
        "best": {name: _native(best_rec[name]) for name in names},
        "objective": objective_name,
        "value": float(best_rec["value"]),
        "n_trials": int(len(table)),
        "trial": int(best_rec["trial"]),
    }
    for dim in space:                       # pandas may have widened the types
        if isinstance(dim, Categorical):
            result["best"][dim.name] = _category(dim, result["best"][dim.name], trials_csv,
                                                 result["trial"])
        else:
            result["best"][dim.name] = float(result["best"][dim.name])
    plot_convergence(table, convergence_png, objective_name=objective_name,
                     n_initial_points=n_initial_points, title=title)
    write_json(result, best_json)
    log(f"[hpo] best {objective_name} = {result['value']:.4f} (trial {result['trial'] + 1}): "
        f"{result['best']}")
    return result


def plot_convergence(trials: pd.DataFrame, path: str | Path, *, objective_name: str = "score",
                     n_initial_points: int | None = None, title: str | None = None) -> None:
    """Draw each trial's score and the best score so far against the trial number (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.arange(1, len(trials) + 1)
    values = trials["value"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.plot(x, values, "o", color="tab:blue", alpha=0.6, label="trial")
    ax.step(x, np.maximum.accumulate(values), where="post", color="tab:red",
            label="best so far")
    if n_initial_points and n_initial_points < len(trials):
        ax.axvline(n_initial_points + 0.5, color="grey", ls="--", lw=1,
                   label="random → Gaussian process")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {objective_name.replace('_', ' ')}")
    ax.set_title(title or "Bayesian search: convergence")
    ax.set_xticks(x if len(x) <= 20 else np.linspace(1, len(x), 11).round().astype(int))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=fig.dpi)


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


def _fresh_dir(path: Path) -> Path:
    """An empty directory (a killed trial's leftovers, e.g. resume state, are removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


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


def _segmentation_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path,
                            metric: str) -> Callable[[dict], float]:
    """Dice (pooled over the search-validation images) of the first configured architecture."""
    from selcn.segmentation import fit_segmentation

    images_npy, gt_npy, index_csv, splits_csv = _need(inputs, "segmentation", "images",
                                                      "gt_masks", "index", "splits")
    images = np.load(images_npy, mmap_mode="r")
    gt_masks = np.load(gt_npy, mmap_mode="r")
    if gt_masks.shape != images.shape[:3]:
        raise ValueError(f"{gt_npy}: shape {gt_masks.shape} does not match {images_npy} "
                         f"{images.shape[:3]}")
    rows = search_rows(index_csv, splits_csv, val_fraction=cfg["hpo"]["val_fraction"],
                       seed=cfg["seed"], stratify=False,
                       grouped=cfg["protocol"] == "leakage_free")
    arch = cfg["segmentation"]["architectures"][0]
    print(f"[hpo] segmentation ({arch}): search-train {len(rows['train'])}, "
          f"search-val {len(rows['val'])} images", flush=True)

    def objective(params: dict) -> float:
        out = _fresh_dir(work_dir / "trial")
        result = fit_segmentation(arch, images, gt_masks, rows["train"], rows["val"], out, cfg,
                                  trial_params(cfg, "segmentation", params), progress=False)
        shutil.rmtree(out, ignore_errors=True)
        return _score(result, metric, "segmentation")

    return objective


def _lesion_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path,
                      metric: str) -> Callable[[dict], float]:
    """Validation accuracy of the baseline lesion classifier (no mask, no CAM: 'none-off').

    The search-train part is balanced like a training fold (``data.balance``); the
    search-validation part is not augmented.
    """
    from selcn.data.tables import class_names_of, read_index, read_splits
    from selcn.lesion import fit_lesion

    images_npy, index_csv, splits_csv = _need(inputs, "lesion", "images", "index", "splits")
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    names = class_names_of(index, source=str(index_csv))
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[0] != len(index):
        raise ValueError(f"{images_npy}: expected (N={len(index)}, S, S, 3), got {images.shape}")
    tables = _search_tables(cfg, splits, splits_csv)
    print(f"[hpo] lesion (none-off, {len(names)} classes): search-train {len(tables['train'])} "
          f"(balanced), search-val {len(tables['val'])} images", flush=True)

    def objective(params: dict) -> float:
        out = _fresh_dir(work_dir / "trial")
        result = fit_lesion(images, tables["train"], tables["val"], out, cfg,
                            trial_params(cfg, "lesion", params), num_classes=len(names),
                            classifier_mask="none", symmetry_mask="off", progress=False)
        shutil.rmtree(out, ignore_errors=True)
        return _score(result, metric, "lesion")

    return objective


def _symmetry_objective(cfg: Mapping, inputs: Mapping[str, str], work_dir: Path, metric: str,
                        mask: str) -> Callable[[dict], float]:
    """Validation accuracy of the symmetry classifier (``symmetry.architecture``, masking
    strategy ``mask``) on SymDerm; like the symmetry stage, no balancing (weighted loss)."""
    from selcn.data.tables import read_index, read_splits
    from selcn.symmetry import class_names, fit_symmetry

    images_npy, index_csv, splits_csv = _need(inputs, "symmetry", "images", "index", "splits")
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[0] != len(index):
        raise ValueError(f"{images_npy}: expected (N={len(index)}, S, S, 3), got {images.shape}")
    masks = None
    if mask != "none":
        (masks_npy,) = _need(inputs, "symmetry", "masks")
        masks = np.load(masks_npy, mmap_mode="r")
        if masks.shape != images.shape[:3]:
            raise ValueError(f"{masks_npy}: shape {masks.shape} does not match {images_npy} "
                             f"{images.shape[:3]}")
    n_classes = len(class_names())
    tables = _search_tables(cfg, splits, splits_csv, balanced=False)
    print(f"[hpo] symmetry ({cfg['symmetry']['architecture']}, mask {mask}): search-train "
          f"{len(tables['train'])}, search-val {len(tables['val'])} images", flush=True)

    def objective(params: dict) -> float:
        out = _fresh_dir(work_dir / "trial")
        result = fit_symmetry(images, tables["train"], tables["val"], out, cfg,
                              trial_params(cfg, "symmetry", params), mask=mask, masks=masks,
                              num_classes=n_classes, progress=False)
        shutil.rmtree(out, ignore_errors=True)
        return _score(result, metric, "symmetry")

    return objective


def _search_tables(cfg: Mapping, splits: pd.DataFrame, splits_csv: str | Path, *,
                   balanced: bool = True) -> dict[str, pd.DataFrame]:
    """``train`` / ``val`` tables ``row,transform,target`` of a classifier search.

    ``splits`` is a split table joined with the cache rows (``row,target,split[,group]``,
    :func:`selcn.data.tables.read_splits`). Only the ``fold<k>`` rows enter (never ``test`` or
    ``excluded``). When ``balanced`` (the lesion stage), the search-train part is balanced like
    a training fold (:func:`selcn.data.splits.balance`, ``data.balance``); otherwise (the
    symmetry stage) every image enters once. The search-validation part is never augmented.
    """
    from selcn.data.splits import balance

    grouped = cfg["protocol"] == "leakage_free"
    if grouped and "group" not in splits.columns:
        raise ValueError(f"{splits_csv}: missing column 'group' (the leakage-free search split "
                         "is grouped by lesion)")
    pool = splits[splits["split"].astype(str).str.startswith("fold")]
    if pool.empty:
        raise ValueError(f"{splits_csv}: no training rows (field 'split' has no fold<k> value)")
    train, val = split_for_search(pool, cfg["hpo"]["val_fraction"], cfg["seed"],
                                  group_col="group" if grouped else None, label_col="target")
    bal = cfg["data"]["balance"]
    epoch = (balance(train[["row", "target"]].reset_index(drop=True), bal["target_per_class"],
                     bal["max_copies"], cfg["seed"]) if balanced
             else pd.DataFrame({"row": train["row"].to_numpy(np.int64),
                                "transform": np.zeros(len(train), np.int64)}))
    target_of = dict(zip(train["row"], train["target"]))
    return {
        "train": pd.DataFrame({"row": epoch["row"].to_numpy(np.int64),
                               "transform": epoch["transform"].to_numpy(np.int64),
                               "target": epoch["row"].map(target_of).to_numpy(np.int64)}),
        "val": pd.DataFrame({"row": val["row"].to_numpy(np.int64),
                             "transform": np.zeros(len(val), np.int64),
                             "target": val["target"].to_numpy(np.int64)}),
    }


def network_objective(network: str, cfg: Mapping, inputs: Mapping[str, str],
                      work_dir: str | Path, *,
                      symmetry_mask: str = "none") -> tuple[Callable[[dict], float], str, tuple]:
    """The trial function of ``network``'s search: ``(objective, metric, excluded parameters)``.

    Each call of ``objective(params)`` trains the network for ``hpo.max_epochs`` epochs on the
    search-train part (``<work_dir>/trial``, removed afterwards) and returns ``metric`` on the
    search-validation part, at the epoch the training core keeps (lowest validation loss).

    Args:
        inputs: ``images``, ``index``, ``splits`` (the cache and split table of the network's
            dataset), plus ``gt_masks`` (segmentation) or ``masks`` (symmetry with
            ``symmetry_mask`` seg / lae).
        symmetry_mask: masking strategy of the symmetry search (the baseline: ``none``).
    """
    metric = objective_metric(network, cfg["hpo"]["objective"])
    work_dir = Path(work_dir)
    if network == "segmentation":
        return _segmentation_objective(cfg, inputs, work_dir, metric), metric, ("weighted_loss",)
    if network == "symmetry":
        return _symmetry_objective(cfg, inputs, work_dir, metric, symmetry_mask), metric, ()
    return _lesion_objective(cfg, inputs, work_dir, metric), metric, ()


def search_network(network: str, cfg: Mapping, inputs: Mapping[str, str], *,
                   best_json: str | Path, trials_csv: str | Path, convergence_png: str | Path,
                   work_dir: str | Path, symmetry_mask: str = "none",
                   log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the search of ``network`` with the settings of ``cfg["hpo"]``.

    The running trials table lives in ``<work_dir>/trials.csv`` (kept when the job dies, so a
    rerun resumes from it); ``trials_csv`` receives a copy when the search is complete.
    Returns the content of ``best_json``.
    """
    hpo = cfg["hpo"]
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    objective, metric, exclude = network_objective(network, cfg, inputs, work_dir,
                                                   symmetry_mask=symmetry_mask)
    log(f"[hpo] {network}: {hpo['n_calls']} trials ({hpo['n_initial_points']} random), "
        f"{hpo['max_epochs']} epoch(s) each, maximising validation {metric}")
    running = work_dir / "trials.csv"
    result = run_search(objective, hpo["space"], n_calls=hpo["n_calls"],
                        n_initial_points=hpo["n_initial_points"], seed=cfg["seed"],
                        trials_csv=running, objective_name=metric, best_json=best_json,
                        convergence_png=convergence_png, exclude=exclude,
                        title=f"Bayesian search: {network} network", log=log)
    with atomic_path(trials_csv) as tmp:
        shutil.copyfile(running, tmp)
    return result
