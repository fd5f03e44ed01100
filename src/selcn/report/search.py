"""The table "shared vs per-model search" (``hpo.scope: per_model``).

The thesis searched its hyper-parameters once, on the baseline, and trained every model with
them; it names this a limitation ("each model may have different optimal hyperparameter
settings"). Under ``hpo.scope: per_model`` every lesion grid cell also has its own search (on
its own inputs and training folds) and every model whose own search differs from the shared
one is trained both ways: with the shared values (the thesis' paths) and with its own (a
``per_model`` folder). Model 1's own search *is* the shared one (no copy).

:func:`search_comparison` has, per model (and segmenter), one row per scope: the values its
training read (``best.json``), the search's validation score, the epoch of the lowest
validation loss (mean ± std over folds), validation and test accuracy / macro F1 (mean ± std
over folds) and, on the per-model row, the paired statistics of per-model vs shared on the test
split **by lesion** (:mod:`selcn.report.stats`: the difference averaged over folds with a
cluster bootstrap interval and p-value, the clustered exact McNemar test on the fold ensembles;
Holm over the table's comparisons). :func:`render_search_html` writes its report page.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.grid import PER_MODEL, SEGMENTER_LABELS, SHARED, Model
from selcn.report.html import _key_text, _page, atomic_write_text
from selcn.report.stats import (
    STAT_METRICS,
    UNIT_IMAGE,
    UNIT_LESION,
    _compare,
    holm,
    read_groups,
)
from selcn.report.tables import fold_metrics, parse_result_path, summarise

__all__ = ["HYPER_PARAMETERS", "SearchComparisonFiles", "read_search_result",
           "best_epoch", "search_comparison", "render_search_html", "write_search_comparison",
           "SEARCH_KEYS"]

#: the searched hyper-parameters, as ``best.json`` names them (:data:`selcn.hpo.PARAMETERS`)
HYPER_PARAMETERS: tuple[str, ...] = ("batch_size", "lr", "momentum", "weight_decay",
                                     "weighted_loss")
#: the row keys: the model, its segmenter (empty under ``select``), the search scope
SEARCH_KEYS: tuple[str, ...] = ("model", "classifier_mask", "symmetry_mask", "segmenter",
                                "search")
_FOLD_METRICS = ("accuracy", "f1")


@dataclass(frozen=True)
class SearchComparisonFiles:
    """What the table reads of one lesion dataset.

    Attributes:
        predictions: ``predictions_val.csv`` and ``predictions_test.csv`` of every fold of the
            compared models (shared and per-model copies; contract paths).
        histories: their ``history.csv`` files.
        searches: the ``best.json`` of the dataset's lesion searches (the shared one, and per
            model where the lesion network is searched per model); empty without a search.
        splits: the dataset's split table (its ``group`` column: the lesions the statistics
            resample and pair), or None (images).
    """

    predictions: Sequence[str]
    histories: Sequence[str]
    searches: Sequence[str] = ()
    splits: str | None = None


def read_search_result(path: str | Path) -> dict:
    """A search's ``best.json``: ``{"cell", "segmenter", "best", "value", "objective"}``
    (``cell`` None for the shared search); errors name the file and the field."""
    path = Path(path)
    try:
        blob = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a search result ({err})") from None
    for key in ("best", "value"):
        if key not in blob:
            raise ValueError(f"{path}: missing field '{key}'")
    return {"cell": blob.get("cell"), "segmenter": blob.get("segmenter"),
            "best": dict(blob["best"]), "value": float(blob["value"]),
            "objective": blob.get("objective", "")}


def best_epoch(history_csv: str | Path) -> int:
    """The epoch whose weights a training kept: the first of the lowest validation loss
    (``history.csv``'s ``epoch`` / ``val_loss``), or the last epoch when no loss is finite."""
    df = pd.read_csv(history_csv)
    for col in ("epoch", "val_loss"):
        if col not in df.columns:
            raise ValueError(f"{history_csv}: missing column '{col}'")
    if df.empty:
        raise ValueError(f"{history_csv}: no epoch")
    loss = pd.to_numeric(df["val_loss"], errors="coerce")
    if not np.isfinite(loss).any():
        return int(df["epoch"].iloc[-1])
    return int(df["epoch"].iloc[int(np.nanargmin(loss.where(np.isfinite(loss))))])


def _key(keys: Mapping) -> tuple[int, str, str]:
    """``(model number, segmenter or "", search scope)`` of a parsed result path."""
    return int(keys["model"]), keys.get("segmenter") or "", keys.get("search") or SHARED


def _load(paths: Sequence[str]) -> pd.DataFrame:
    """Long frame of lesion prediction files with ``model, segmenter, search, fold, split`` and
    the files' columns."""
    from selcn.predictions import read_predictions

    frames = []
    for path in paths:
        keys = parse_result_path(path)
        if keys["stage"] != "lesion" or "fold" not in keys or "split" not in keys:
            raise ValueError(f"{path}: not a lesion fold prediction file")
        number, seg, search = _key(keys)
        frames.append(read_predictions(path).assign(model=number, segmenter=seg, search=search,
                                                    fold=keys["fold"], split=keys["split"]))
    return pd.concat(frames, ignore_index=True)


def _values_read(searches: Sequence[str]) -> tuple[dict | None, dict[tuple[str, str], dict]]:
    """``(shared result, {(cell, segmenter): per-model result})`` of the ``best.json`` files."""
    shared, own = None, {}
    for path in searches:
        result = read_search_result(path)
        if result["cell"] is None:
            shared = result
        else:
            own[(result["cell"], result["segmenter"] or "")] = result
    return shared, own


def search_comparison(files: SearchComparisonFiles, *, n_boot: int = 1000,
                      confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Shared vs per-model search on one lesion dataset (see the module doc).

    Returns:
        One row per (model, segmenter, scope), thesis order, the shared row first:
        :data:`SEARCH_KEYS`, ``n_folds``, the values read (:data:`HYPER_PARAMETERS`, empty
        without a search: the fixed ``lesion.train`` values), ``search_value`` (the search's
        validation score), ``best_epoch_mean/std``, ``val_<m>_mean/std`` and
        ``test_<m>_mean/std`` (``m`` accuracy, f1: macro averages over folds); on a per-model
        row ``unit``, per metric of :data:`selcn.report.stats.STAT_METRICS` ``<m>_diff``,
        ``<m>_ci_low``, ``<m>_ci_high``, ``<m>_p``, ``<m>_p_holm`` and ``mcnemar_b``,
        ``mcnemar_c``, ``mcnemar_discordant_lesions``, ``mcnemar_p``, ``mcnemar_p_holm``
        (per-model vs shared, test split). A model whose own search is the shared one (model
        1) has one row, scope ``shared``.
    """
    per = fold_metrics(list(files.predictions), average="macro")
    empty = pd.Series(index=per.index, dtype=object)
    per = per.assign(segmenter=per.get("segmenter", empty).fillna(""),
                     search=per.get("search", empty).fillna(SHARED))
    if per["dataset"].nunique() != 1:
        raise ValueError("search_comparison: the predictions are of several datasets")
    keys = ["model", "classifier_mask", "symmetry_mask", "segmenter", "search"]
    wide = None
    for split in ("val", "test"):
        part = per[per["split"] == split]
        if part.empty:
            raise ValueError(f"search_comparison: no predictions_{split}.csv given")
        stats = summarise(part, keys, _FOLD_METRICS).rename(
            columns={f"{m}_{s}": f"{split}_{m}_{s}" for m in _FOLD_METRICS
                     for s in ("mean", "std")})
        wide = stats if wide is None else wide.merge(stats.drop(columns="n_folds"), on=keys,
                                                     how="outer")
    epochs = pd.DataFrame([{**dict(zip(("model", "segmenter", "search"),
                                       _key(parse_result_path(h)))),
                            "best_epoch": best_epoch(h)} for h in files.histories])
    if not epochs.empty:
        ep = epochs.groupby(["model", "segmenter", "search"])["best_epoch"].agg(
            best_epoch_mean="mean", best_epoch_std=lambda s: s.std(ddof=0) if len(s) > 1
            else np.nan).reset_index()
        wide = wide.merge(ep, on=["model", "segmenter", "search"], how="left")
    shared, own = _values_read(files.searches)
    rows = []
    for _, r in wide.iterrows():
        name = Model.of_number(int(r["model"])).name
        result = own.get((name, r["segmenter"])) if r["search"] == PER_MODEL else None
        result = result or shared
        values = {p: (result["best"].get(p) if result else np.nan) for p in HYPER_PARAMETERS}
        rows.append({**values, "search_value": result["value"] if result else np.nan})
    wide = pd.concat([wide.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    wide = _with_statistics(wide, files, (n_boot, confidence, seed))
    wide["model"] = wide["model"].astype(int)
    scope = wide["search"].map({SHARED: 0, PER_MODEL: 1})
    segmenters = {s: i for i, s in enumerate(dict.fromkeys(per["segmenter"]))}   # files' order
    wide = wide.assign(_o=scope, _s=wide["segmenter"].map(segmenters)).sort_values(
        ["model", "_s", "_o"], kind="stable")
    front = [*SEARCH_KEYS, "n_folds", *HYPER_PARAMETERS, "search_value"]
    return wide[front + [c for c in wide.columns if c not in front and c not in ("_o", "_s")]] \
        .reset_index(drop=True)


def _with_statistics(wide: pd.DataFrame, files: SearchComparisonFiles,
                     boot: tuple[int, float, int]) -> pd.DataFrame:
    """``wide`` with the paired statistics of every per-model row against its shared row."""
    n_boot, confidence, seed = boot
    groups = read_groups(files.splits) if files.splits else None
    test = _load([p for p in files.predictions
                  if parse_result_path(p).get("split") == "test"])
    settings = {"metrics": STAT_METRICS, "n_boot": n_boot, "confidence": confidence,
                "seed": seed, "groups": groups}
    stats = []
    for i, r in wide[wide["search"] == PER_MODEL].iterrows():
        same = (test["model"] == r["model"]) & (test["segmenter"] == r["segmenter"])
        base, mine = test[same & (test["search"] == SHARED)], test[same &
                                                                   (test["search"] == PER_MODEL)]
        folds = sorted(set(base["fold"]) & set(mine["fold"]))
        if base.empty or not folds:
            raise ValueError(f"search_comparison: model {int(r['model'])} "
                             f"{r['segmenter']}: no shared-search test predictions to pair "
                             "the per-model ones with")
        row = _compare(base, mine, folds, (int(r["model"]), int(r["model"])), settings)
        row["unit"] = UNIT_IMAGE if groups is None else UNIT_LESION
        stats.append(pd.Series(row, name=i))
    if not stats:
        return wide
    table = pd.DataFrame(stats)
    for col in [f"{m}_p" for m in STAT_METRICS] + ["mcnemar_p"]:
        table[f"{col}_holm"] = holm(table[col].to_numpy(np.float64))
    keep = ["unit"] + [f"{m}_{k}" for m in STAT_METRICS
                       for k in ("diff", "ci_low", "ci_high", "p", "p_holm")]
    keep += ["mcnemar_b", "mcnemar_c", "mcnemar_discordant_lesions", "mcnemar_p",
             "mcnemar_p_holm"]
    return wide.join(table[keep])


# ---- the report page ------------------------------------------------------------------------
def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    value = float(value)
    return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e3 else \
        f"{value:.{digits}f}"


def _mean_std(row: pd.Series, col: str, digits: int = 3) -> str:
    mean, std = row.get(f"{col}_mean"), row.get(f"{col}_std")
    if mean is None or pd.isna(mean):
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{digits}f}")


def _flag(value) -> str:
    return "—" if value is None or pd.isna(value) else ("yes" if bool(value) else "no")


def render_search_html(table: pd.DataFrame, title: str, *, confidence: float,
                       note: str = "") -> str:
    """The report page of :func:`search_comparison`'s table: per model (and segmenter) its
    shared-search row and its per-model row, the paired statistics on the latter."""
    pct = f"{100 * confidence:g} %"
    with_seg = bool((table["segmenter"].fillna("") != "").any()) if len(table) else False
    unit = next((u for u in table.get("unit", pd.Series(dtype=str)).dropna()), "lesion")
    head = ["Model", "Classifier input mask", "Symmetry CAM"] + (["Segmenter"] if with_seg
                                                                  else [])
    head += ["Search", "Folds", "Batch", "Learning rate", "Momentum (β1)", "Weight decay",
             "Weighted loss", "Search's validation score", "Best epoch", "Validation accuracy",
             "Validation macro F1", "Test accuracy", "Test macro F1",
             f"Δ test accuracy [{pct} CI, {unit}s], p → Holm",
             f"Δ test macro F1 [{pct} CI, {unit}s], p → Holm",
             "McNemar b / c (ensembles)", f"McNemar p ({unit}s) → Holm"]
    body, previous = [], None
    for _, r in table.iterrows():
        group = (r["model"], r["segmenter"])
        cls = ' class="group"' if previous is not None and group != previous else ""
        previous = group
        own = r["search"] == PER_MODEL
        alone = not own and not ((table["model"] == r["model"]) &
                                 (table["segmenter"] == r["segmenter"]) &
                                 (table["search"] == PER_MODEL)).any()
        scope = ("per-model search" if own else
                 "shared (= its own: the shared search is this model's)" if alone
                 else "shared search")
        cells = [str(int(r["model"])), _key_text("classifier_mask", r["classifier_mask"]),
                 _key_text("symmetry_mask", r["symmetry_mask"])]
        if with_seg:
            cells.append(SEGMENTER_LABELS.get(r["segmenter"], r["segmenter"]) or "—")
        cells += [scope, str(int(r["n_folds"])), _num(r["batch_size"], 0) if not
                  pd.isna(r["batch_size"]) else "—", _num(r["lr"]), _num(r["momentum"]),
                  _num(r["weight_decay"]), _flag(r["weighted_loss"]), _num(r["search_value"]),
                  _mean_std(r, "best_epoch", 1), _mean_std(r, "val_accuracy"),
                  _mean_std(r, "val_f1"), _mean_std(r, "test_accuracy"),
                  _mean_std(r, "test_f1")]
        for m in STAT_METRICS:
            diff = r.get(f"{m}_diff")
            if not own or diff is None or pd.isna(diff):
                cells.append("")
                continue
            lo, hi = r[f"{m}_ci_low"], r[f"{m}_ci_high"]
            mark = " *" if lo > 0 or hi < 0 else ""
            cells.append(f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}, "
                         f"{r[f'{m}_p']:.3g} → {r[f'{m}_p_holm']:.3g}")
        if own and not pd.isna(r.get("mcnemar_p", np.nan)):
            cells += [f"{int(r['mcnemar_b'])} / {int(r['mcnemar_c'])}",
                      f"{r['mcnemar_p']:.3g} → {r['mcnemar_p_holm']:.3g}"]
        else:
            cells += ["", ""]
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                    + "</tr>")
    table_html = ("<table>\n<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                  + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>")
    notes = [
        "Per model: its training with the network's shared search (the thesis: one search on "
        "model 1, every model trained with its values) and with its own search (hpo.scope: "
        "per_model; the cell's own inputs and training folds, never the test split). The "
        "values are those each training read (—: no lesion search, the fixed lesion.train "
        "values); best epoch = the epoch of the lowest validation loss (the weights kept), "
        "mean ± std over folds; metrics: macro averages, mean ± std over folds.",
        f"Δ = per-model − shared on the test split, averaged over folds, with its {pct} "
        "percentile bootstrap interval (* = excludes 0) drawing the test split's "
        f"{unit}s (one draw for all folds) and the bootstrap p that inverts it; McNemar: the "
        "clustered exact (sign-flip) test on the fold ensembles, b = images the shared-search "
        "model gets right and the per-model one wrong, c = the converse. Holm: over the "
        "per-model rows, per column. Not in the thesis.",
        html.escape(note) if note else ""]
    return _page(title, notes, table_html)


def write_search_comparison(files: SearchComparisonFiles, out: tuple[str, str], *,
                            title: str, intervals: Mapping, note: str = "") -> pd.DataFrame:
    """:func:`search_comparison` written as ``out`` = ``(csv, html)``; ``intervals``:
    ``{"n_boot", "confidence", "seed"}``. Returns the table."""
    table = search_comparison(files, n_boot=int(intervals["n_boot"]),
                              confidence=float(intervals["confidence"]),
                              seed=int(intervals["seed"]))
    atomic_write_text(out[0], table.to_csv(index=False))
    atomic_write_text(out[1], render_search_html(table, title,
                                                 confidence=float(intervals["confidence"]),
                                                 note=note))
    return table
