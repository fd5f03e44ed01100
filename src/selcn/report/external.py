"""The external test sets' own tables (beyond the thesis): melanoma vs nevus of the HAM10000
models on PH² (Table 10 (PH²)) and the selected segmentation network on an external set's masks
(Table 5 (external)). They read result files only (prediction CSVs, split tables, score CSVs).

**Melanoma vs nevus from 7 classes.** PH²'s images are nevi (common and atypical, labelled
``nv``) or melanomas (``mel``); a HAM10000 model gives each image 7 class probabilities. The
binary **decision** is *melanoma* when ``P(mel) > P(nv)`` — the melanoma probability
renormalised over the two classes present, ``P(mel) / (P(mel) + P(nv)) > 1/2``, whatever the
other five classes hold (ties: nevus); the **score** is ``P(mel)`` itself (the AUROC is that of
``P(mel)``, the literature's). Melanoma is the positive class: sensitivity = melanomas called
melanoma, specificity = nevi called nevus, balanced accuracy = their mean. ``argmax_mel_nv`` is
the share of images whose 7-class arg-max is ``mel`` or ``nv`` (the others are decided by the
renormalisation alone). Rows as Table 10: one per model, mean ± std over its fold
models (``np.std``, ddof = 0), then its fold ensemble (mean probabilities of the folds): one
value, and a percentile **cluster bootstrap** interval drawing the set's lesions (the split
table's ``group``: PH² has one image per lesion, so lesion = image), :func:`binary_table`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.ensemble import ensembles_by_model
from selcn.grid import DATASET_LABELS, data_key
from selcn.metrics import SEGMENTATION_METRICS
from selcn.paths import parse_result_path
from selcn.predictions import class_names, probabilities, read_predictions
from selcn.report.stats import (
    accuracy_weighted,
    auroc_weighted,
    bootstrap_interval,
    read_groups,
)
from selcn.report.tables import ESTIMATE_ENSEMBLE, ESTIMATE_FOLDS, summarise

__all__ = ["BINARY_METRICS", "BINARY_INTERVALS", "BINARY_SHOWN", "BINARY_LABELS",
           "DEFAULT_INTERVALS", "binary_scores", "binary_table", "EXTERNAL_SEGMENTATION_METRICS",
           "EXTERNAL_SEGMENTATION_LABELS", "external_segmentation_table", "POSITIVE", "NEGATIVE"]

#: the positive and the negative class of the binary task (HAM10000's names)
POSITIVE, NEGATIVE = "mel", "nv"
#: Table 10 (PH²)'s metrics (the CSV's ``<m>_mean`` / ``<m>_std``)
BINARY_METRICS: tuple[str, ...] = ("auroc", "sensitivity", "specificity", "accuracy",
                                   "balanced_accuracy", "argmax_mel_nv")
#: the metrics with a bootstrap interval on the ensemble rows (``<m>_ci_low``, ``<m>_ci_high``)
BINARY_INTERVALS: tuple[str, ...] = ("auroc", "sensitivity", "specificity",
                                     "balanced_accuracy")
#: Table 10 (PH²)'s columns: each metric, its interval beside it
BINARY_SHOWN: tuple[str, ...] = tuple(
    c for m in BINARY_METRICS
    for c in ((m, f"{m}_ci_low", f"{m}_ci_high") if m in BINARY_INTERVALS else (m,)))
#: Table 10 (PH²)'s headers
BINARY_LABELS: dict[str, str] = {
    "auroc": "AUROC of P(mel)", "sensitivity": "Sensitivity (melanoma)",
    "specificity": "Specificity (nevus)", "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "argmax_mel_nv": "Arg-max mel or nv (share of images)",
    **{f"{m}_ci_{end}": f"CI {end}" for m in BINARY_INTERVALS for end in ("low", "high")}}
#: the bootstrap of :func:`binary_table` when none is given (config ``report.bootstrap``,
#: ``report.confidence``, ``seed``: the rule passes the config's)
DEFAULT_INTERVALS: Mapping[str, float] = {"n_boot": 1000, "confidence": 0.95, "seed": 0}


def _binary_parts(frame: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """``(positive bool (n,), called melanoma bool (n,), P(mel) (n,), arg-max mel or nv bool
    (n,))`` of a prediction frame of HAM10000's classes on a mel / nv set."""
    names = class_names(frame)
    for c in (POSITIVE, NEGATIVE):
        if c not in names:
            raise ValueError(f"{source}: no 'prob_{c}' column (classes {names}): melanoma vs "
                             "nevus needs HAM10000's classes")
    mel, nv = names.index(POSITIVE), names.index(NEGATIVE)
    labels = np.asarray(names)[frame["target"].to_numpy()]
    if not set(labels) <= {POSITIVE, NEGATIVE}:
        raise ValueError(f"{source}: targets {sorted(set(labels) - {POSITIVE, NEGATIVE})} are "
                         "neither melanoma nor nevus")
    probs = probabilities(frame)
    argmax = probs.argmax(axis=1)
    return (labels == POSITIVE, probs[:, mel] > probs[:, nv], probs[:, mel],
            (argmax == mel) | (argmax == nv))


def _weighted(positive: np.ndarray, called: np.ndarray, score: np.ndarray,
              mel_nv: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`BINARY_METRICS` of each weighted replicate (``weights``
    ``(R, n)``) -> ``(R,)`` each."""
    pos, neg = positive.astype(np.float64), (~positive).astype(np.float64)
    hit = (called == positive).astype(np.float64)
    n_pos, n_neg = weights @ pos, weights @ neg
    sensitivity = np.divide(weights @ (pos * hit), n_pos, out=np.full(len(n_pos), np.nan),
                            where=n_pos > 0)
    specificity = np.divide(weights @ (neg * hit), n_neg, out=np.full(len(n_neg), np.nan),
                            where=n_neg > 0)
    return {"auroc": auroc_weighted(positive, score, weights), "sensitivity": sensitivity,
            "specificity": specificity,
            "accuracy": accuracy_weighted(positive, called, weights),
            "balanced_accuracy": (sensitivity + specificity) / 2.0,
            "argmax_mel_nv": (weights @ mel_nv.astype(np.float64)) / weights.sum(axis=1)}


def binary_scores(frame: pd.DataFrame, source: str = "predictions") -> dict[str, float]:
    """The metrics of :data:`BINARY_METRICS` of one prediction frame (see the module
    docstring; NaN where undefined, e.g. the AUROC without a melanoma)."""
    parts = _binary_parts(frame, source)
    values = _weighted(*parts, np.ones((1, len(frame))))
    return {m: float(values[m][0]) for m in BINARY_METRICS}


def _intervals(frame: pd.DataFrame, groups: Mapping[str, str] | None,
               settings: Mapping) -> dict[str, float]:
    """``<m>_ci_low`` / ``<m>_ci_high`` of :data:`BINARY_INTERVALS` for the fold ensemble
    ``frame``: one cluster bootstrap (the lesions of ``groups``; an image not in it is its own
    lesion) shared by the metrics."""
    parts = _binary_parts(frame, "fold ensemble")
    ids = frame["image_id"].astype(str)
    lesion = [groups.get(i, i) if groups else i for i in ids]
    out = {}
    for m in BINARY_INTERVALS:
        ci = bootstrap_interval(lambda w, m=m: _weighted(*parts, w)[m], len(frame), lesion,
                                n_boot=int(settings["n_boot"]),
                                confidence=float(settings["confidence"]),
                                seed=int(settings["seed"]))
        out[f"{m}_ci_low"], out[f"{m}_ci_high"] = ci["ci_low"], ci["ci_high"]
    return out


def binary_table(paths: Iterable[str | Path], *,
                 intervals: Mapping | None = None) -> pd.DataFrame:
    """Table 10 (PH²): melanoma vs nevus (module docstring) of the lesion models' predictions of a
    mel / nv external set.

    Args:
        paths: the fold prediction files ``results/lesion/<dataset>/<model>/fold<k>/
            predictions_<set>.csv`` (one set) and, optionally, the set's split table
            (``results/splits/<set>.csv``: its ``group`` is the lesion the bootstrap draws).
        intervals: ``{"n_boot", "confidence", "seed"}`` of the bootstrap
            (:data:`DEFAULT_INTERVALS` when None).

    Returns:
        one row per model, thesis order: ``model, classifier_mask, symmetry_mask, estimate
        (folds), n_folds, n_images`` and ``<m>_mean`` / ``<m>_std`` (over folds); then per model
        its fold ensemble (``estimate`` ensemble, ``<m>_mean`` its value, ``<m>_std`` empty,
        ``<m>_ci_low_mean`` / ``<m>_ci_high_mean`` the interval of :data:`BINARY_INTERVALS`).
    """
    paths = [str(p) for p in paths]
    split_tables = [p for p in paths if Path(p).parent.name == "splits"]
    predictions = [p for p in paths if p not in split_tables]
    if len(split_tables) > 1:
        raise ValueError(f"binary_table: one split table expected, got {split_tables}")
    groups = read_groups(split_tables[0]) if split_tables else None
    settings = {**DEFAULT_INTERVALS, **(intervals or {})}
    rows, keys = [], {}
    for path in predictions:
        k = parse_result_path(path)
        if k["stage"] != "lesion" or "fold" not in k:
            raise ValueError(f"{path}: not a lesion fold prediction file")
        keys[k["model"]] = k
        frame = read_predictions(path)
        rows.append({"model": k["model"], "classifier_mask": k["classifier_mask"],
                     "symmetry_mask": k["symmetry_mask"], "split": k.get("split"),
                     "n_images": len(frame), **binary_scores(frame, path)})
    if not rows:
        raise ValueError("binary_table: no prediction files given")
    per = pd.DataFrame(rows)
    if per["split"].nunique() > 1:
        raise ValueError(f"binary_table: files of several sets {sorted(per['split'].unique())}")
    keys_cols = ["model", "classifier_mask", "symmetry_mask"]
    folds = summarise(per, keys_cols, BINARY_METRICS)
    folds = folds.merge(per.groupby("model")["n_images"].first().reset_index(), on="model")
    folds.insert(3, "estimate", ESTIMATE_FOLDS)
    ensembles = []
    for number, frame in ensembles_by_model(predictions).items():
        k = keys[number]
        row = {"model": number, "classifier_mask": k["classifier_mask"],
               "symmetry_mask": k["symmetry_mask"], "estimate": ESTIMATE_ENSEMBLE,
               "n_folds": int((per["model"] == number).sum()), "n_images": len(frame)}
        values = {**binary_scores(frame, f"model {number}'s fold ensemble"),
                  **_intervals(frame, groups, settings)}
        for m, v in values.items():
            row[f"{m}_mean"], row[f"{m}_std"] = v, np.nan
        ensembles.append(row)
    table = pd.concat([folds.sort_values("model", kind="stable"), pd.DataFrame(ensembles)],
                      ignore_index=True)
    table["model"] = table["model"].astype(int)
    columns = keys_cols + ["estimate", "n_folds", "n_images"] + [
        f"{m}_{s}" for m in BINARY_SHOWN for s in ("mean", "std")]
    return table.reindex(columns=columns)


#: Table 5 (external)'s metrics: Table 5's (pixels pooled), the per-image means of Dice, Jaccard
EXTERNAL_SEGMENTATION_METRICS: tuple[str, ...] = (*SEGMENTATION_METRICS, "dice_image_mean",
                                                  "jaccard_image_mean")
#: Table 5 (external)'s headers beyond :data:`selcn.report.tables.METRIC_LABELS`
EXTERNAL_SEGMENTATION_LABELS: dict[str, str] = {
    "dice": "Dice (pixels pooled)", "jaccard": "Jaccard (pixels pooled)",
    "dice_image_mean": "Dice, mean over images", "jaccard_image_mean": "Jaccard, mean over images"}


def external_segmentation_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Table 5 (external): one row per external set with ground-truth masks, from its score file
    ``results/segmentation/external_<set>.csv`` (:func:`selcn.external.score_external_masks`):
    ``dataset`` (the data's name, e.g. PH²), ``arch``, ``n_images`` and
    :data:`EXTERNAL_SEGMENTATION_METRICS`."""
    frames = []
    for path in paths:
        df = pd.read_csv(path)
        for col in ("dataset", "arch", "n_images", *EXTERNAL_SEGMENTATION_METRICS):
            if col not in df.columns:
                raise ValueError(f"{path}: missing column '{col}' "
                                 f"(have: {', '.join(df.columns)})")
        if len(df) != 1:
            raise ValueError(f"{path}: expected one row, found {len(df)}")
        frames.append(df)
    if not frames:
        raise ValueError("external_segmentation_table: no score files given")
    table = pd.concat(frames, ignore_index=True)
    table["dataset"] = [DATASET_LABELS[data_key(d)] for d in table["dataset"]]
    return table[["dataset", "arch", "n_images", *EXTERNAL_SEGMENTATION_METRICS]]
