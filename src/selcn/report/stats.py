"""Statistics beyond the thesis: each lesion model against the baseline of its group.

The baseline of a model is the model with the same classifier mask and no CAM transfer
(``symmetry_mask = off``: models 1, 5, 9). On the test split (the same images in every fold)
we report, per metric,

* the difference model - baseline, averaged over folds;
* a percentile bootstrap confidence interval over test images: each replicate resamples the
  test images with replacement, computes the difference in every fold on the resample, and
  averages over folds. The test images are the same in every fold, so one resample of image
  ids is applied to every fold (``shared_resample``); if the folds' image sets differ (e.g.
  validation folds), each fold is resampled on its own;
* McNemar's exact test on the predictions pooled over folds: ``b`` = pairs the baseline
  classifies correctly and the model does not, ``c`` = the converse,
  ``p = binomtest(b, b + c, 0.5)`` two-sided.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from selcn.config import model_number
from selcn.predictions import read_predictions
from selcn.report.tables import parse_result_path

__all__ = ["mcnemar_exact", "accuracy_samples", "macro_f1_samples", "bootstrap_difference",
           "baseline_comparison", "baseline_comparison_from_files", "STAT_METRICS"]

#: metrics with a bootstrap interval: name -> vectorised function over resamples
STAT_METRICS = ("accuracy", "f1")


def mcnemar_exact(correct_base: np.ndarray, correct_model: np.ndarray) -> dict:
    """Exact (binomial) McNemar test of two paired classifiers.

    Args:
        correct_base: bool ``(n,)``, the baseline's prediction is right.
        correct_model: bool ``(n,)``, the model's prediction is right (same items).

    Returns:
        ``{"b": baseline right & model wrong, "c": baseline wrong & model right,
        "p_value": two-sided exact p}`` (``p_value = 1`` when ``b + c = 0``).
    """
    a = np.asarray(correct_base, dtype=bool)
    m = np.asarray(correct_model, dtype=bool)
    if a.shape != m.shape or a.ndim != 1:
        raise ValueError(f"mcnemar_exact: shapes {a.shape} and {m.shape} must be equal (n,)")
    b = int(np.sum(a & ~m))
    c = int(np.sum(~a & m))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {"b": b, "c": c, "p_value": min(p, 1.0)}


def accuracy_samples(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Accuracy of each resample: ``idx`` int ``(R, n)`` rows of indices -> ``(R,)``."""
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return correct[idx].mean(axis=1)


def macro_f1_samples(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray,
                     labels: Sequence[int] | None = None) -> np.ndarray:
    """Macro F1 of each resample (``idx`` int ``(R, n)``) -> ``(R,)``.

    Same definition as ``sklearn.metrics.f1_score(average="macro", labels=labels,
    zero_division=0)``; ``labels`` default: the classes present in ``y_true`` or ``y_pred``.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    f1 = np.zeros((idx.shape[0], len(labels)))
    for j, c in enumerate(labels):
        t, p = y_true == c, y_pred == c
        tp = (t & p)[idx].sum(axis=1)
        fp = (~t & p)[idx].sum(axis=1)
        fn = (t & ~p)[idx].sum(axis=1)
        denom = 2 * tp + fp + fn
        f1[:, j] = np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    return f1.mean(axis=1)


_SAMPLERS: dict[str, Callable] = {"accuracy": accuracy_samples, "f1": macro_f1_samples}


def bootstrap_difference(folds: Sequence[pd.DataFrame], metric: str = "accuracy", *,
                         n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                         shared_resample: bool | None = None) -> dict:
    """Difference model - baseline of ``metric`` averaged over folds, with a bootstrap CI.

    Args:
        folds: one frame per fold with columns ``image_id, target, pred_base, pred_model``
            (the two classifiers' predictions on the same images).
        metric: ``accuracy`` or ``f1`` (macro).
        n_boot: bootstrap replicates; ``confidence``: e.g. 0.95 for a 95 % interval.
        shared_resample: apply one resample of image ids to every fold; ``None`` = when all
            folds hold the same image ids.

    Returns:
        ``{"diff", "ci_low", "ci_high"}``.
    """
    if metric not in _SAMPLERS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(_SAMPLERS)})")
    if not folds:
        raise ValueError("bootstrap_difference: no folds")
    sampler = _SAMPLERS[metric]
    folds = [f.sort_values("image_id", kind="stable").reset_index(drop=True) for f in folds]
    ids = [tuple(f["image_id"]) for f in folds]
    if shared_resample is None:
        shared_resample = all(i == ids[0] for i in ids)
    elif shared_resample and any(i != ids[0] for i in ids):
        raise ValueError("bootstrap_difference: shared_resample needs the same images per fold")
    rng = np.random.default_rng(seed)
    labels_all = np.union1d(np.concatenate([f["target"] for f in folds]),
                            np.concatenate([f[c] for f in folds
                                            for c in ("pred_base", "pred_model")]))
    point, boot = [], []
    shared_idx = rng.integers(0, len(folds[0]), size=(n_boot, len(folds[0]))) \
        if shared_resample else None
    for f in folds:
        n = len(f)
        full = np.arange(n)[None, :]
        idx = shared_idx if shared_resample else rng.integers(0, n, size=(n_boot, n))
        y = f["target"].to_numpy()
        kwargs = {"labels": labels_all} if metric == "f1" else {}
        d_full = (sampler(y, f["pred_model"].to_numpy(), full, **kwargs)
                  - sampler(y, f["pred_base"].to_numpy(), full, **kwargs))[0]
        d_boot = (sampler(y, f["pred_model"].to_numpy(), idx, **kwargs)
                  - sampler(y, f["pred_base"].to_numpy(), idx, **kwargs))
        point.append(d_full)
        boot.append(d_boot)
    boot_mean = np.mean(boot, axis=0)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot_mean, [alpha, 1.0 - alpha])
    return {"diff": float(np.mean(point)), "ci_low": float(lo), "ci_high": float(hi)}


def _paired(base: pd.DataFrame, model: pd.DataFrame, what: str) -> pd.DataFrame:
    merged = base[["image_id", "target", "pred"]].merge(
        model[["image_id", "target", "pred"]], on="image_id", suffixes=("_base", "_model"),
        validate="one_to_one")
    if len(merged) != len(base) or len(merged) != len(model):
        raise ValueError(f"{what}: model and baseline predictions cover different images")
    if (merged["target_base"] != merged["target_model"]).any():
        bad = merged.loc[merged["target_base"] != merged["target_model"], "image_id"].iloc[0]
        raise ValueError(f"{what}: image {bad} has different targets in model and baseline")
    return merged.rename(columns={"target_base": "target"}).drop(columns="target_model")


def baseline_comparison(predictions: pd.DataFrame, *, metrics: Sequence[str] = STAT_METRICS,
                        n_boot: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> pd.DataFrame:
    """Every non-baseline model against the baseline of its group.

    Args:
        predictions: long frame ``model, classifier_mask, symmetry_mask, fold, image_id,
            target, pred`` (all models and folds of one dataset and split).

    Returns:
        One row per model with a baseline in ``predictions`` (thesis order):
        ``model, classifier_mask, symmetry_mask, baseline, n_folds, n_images``, per metric
        ``<m>_diff, <m>_ci_low, <m>_ci_high``, and ``mcnemar_b, mcnemar_c, mcnemar_p``.
    """
    rows = []
    models = predictions[["model", "classifier_mask", "symmetry_mask"]].drop_duplicates()
    for _, m in models.sort_values("model").iterrows():
        if m["symmetry_mask"] == "off":
            continue
        base_no = model_number(m["classifier_mask"], "off")
        base = predictions[predictions["model"] == base_no]
        if base.empty:
            continue
        mine = predictions[predictions["model"] == m["model"]]
        folds = sorted(set(mine["fold"]) & set(base["fold"]))
        if not folds:
            continue
        paired = [_paired(base[base["fold"] == k], mine[mine["fold"] == k],
                          f"model {m['model']} vs {base_no}, fold {k}") for k in folds]
        row = {"model": int(m["model"]), "classifier_mask": m["classifier_mask"],
               "symmetry_mask": m["symmetry_mask"], "baseline": base_no,
               "n_folds": len(folds), "n_images": int(np.mean([len(p) for p in paired]))}
        for metric in metrics:
            res = bootstrap_difference(paired, metric, n_boot=n_boot, confidence=confidence,
                                       seed=seed)
            row.update({f"{metric}_{k}": v for k, v in res.items()})
        pooled = pd.concat(paired, ignore_index=True)
        test = mcnemar_exact(pooled["pred_base"] == pooled["target"],
                             pooled["pred_model"] == pooled["target"])
        row.update({"mcnemar_b": test["b"], "mcnemar_c": test["c"],
                    "mcnemar_p": test["p_value"]})
        rows.append(row)
    columns = ["model", "classifier_mask", "symmetry_mask", "baseline", "n_folds", "n_images"]
    columns += [f"{m}_{k}" for m in metrics for k in ("diff", "ci_low", "ci_high")]
    columns += ["mcnemar_b", "mcnemar_c", "mcnemar_p"]
    return pd.DataFrame(rows, columns=columns)


def load_predictions(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Long frame of lesion prediction files with their model / fold keys."""
    frames = []
    for path in paths:
        keys = parse_result_path(path)
        if keys["stage"] != "lesion":
            raise ValueError(f"{path}: not a lesion prediction file")
        df = read_predictions(path)[["image_id", "target", "pred"]]
        for k in ("model", "classifier_mask", "symmetry_mask", "fold"):
            df[k] = keys[k]
        frames.append(df)
    if not frames:
        raise ValueError("load_predictions: no prediction files given")
    return pd.concat(frames, ignore_index=True)


def baseline_comparison_from_files(paths: Iterable[str | Path], **kwargs) -> pd.DataFrame:
    """:func:`baseline_comparison` of lesion prediction files (contract paths)."""
    return baseline_comparison(load_predictions(paths), **kwargs)
