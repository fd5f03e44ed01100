"""Statistics beyond the thesis: each lesion model against the baseline of its group.

The baseline of a model is the model with the same classifier mask and no CAM transfer
(``symmetry_mask = off``: models 1, 5, 9). On the test split (the same images in every fold)
we report, per model, with **one observation per test image** in every test:

* per metric (accuracy, macro F1), the difference model - baseline averaged over folds, with
  a percentile bootstrap confidence interval over test images: each replicate resamples the
  test images with replacement (**one resample of image ids shared by all folds**), computes
  the difference in every fold on the resample and averages over folds; the two-sided
  bootstrap p-value that inverts this interval
  (``2 * (min(#(d <= 0), #(d >= 0)) + 1) / (B + 1)`` over B replicates, never 0; the
  smallest level at which the interval excludes 0) and its Holm adjustment over the
  comparisons of the table (the 9 non-baseline models of a full grid);
* the exact McNemar test on the **fold ensembles** (:func:`selcn.ensemble.fold_ensemble`:
  mean class probability over the K fold models -> one prediction per image) of model and
  baseline: ``b`` = images the baseline's ensemble classifies correctly and the model's does
  not, ``c`` = the converse, ``p = binomtest(b, b + c, 0.5)`` two-sided; Holm-adjusted over
  the comparisons of the table;
* the same exact McNemar p-value in each fold on its own (shown, not corrected).

Concatenating the K folds' predictions on the same images (the former definition) counts
every image K times and makes the p-values far too small; it is not done here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from selcn.ensemble import fold_ensemble
from selcn.grid import CAM_OFF, Model
from selcn.paths import parse_result_path
from selcn.predictions import PROB_PREFIX, read_predictions

__all__ = ["mcnemar_exact", "holm", "accuracy_samples", "macro_f1_samples",
           "bootstrap_difference", "baseline_comparison", "baseline_comparison_from_files",
           "load_predictions", "STAT_METRICS"]

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


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of ``m`` p-values (family-wise error rate).

    With the p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of the
    i-th smallest is ``max_{j <= i} min(1, (m - j + 1) * p_(j))``, returned in the input
    order. ``NaN`` entries (no test) stay ``NaN`` and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return out
    if (p[valid] < 0).any() or (p[valid] > 1).any():
        raise ValueError(f"holm: p-values must lie in [0, 1], got {p[valid].tolist()}")
    m = valid.size
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


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
        ``{"diff", "ci_low", "ci_high", "p_value"}``; ``p_value`` = two-sided bootstrap
        p-value ``min(1, 2 * (min(#(d <= 0), #(d >= 0)) + 1) / (B + 1))`` over the B replicates (the
        smallest level at which the percentile interval excludes 0; 1 when every replicate
        is 0).
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
    # (k + 1) / (B + 1): a p-value from B replicates is never 0 (Davison & Hinkley 1997, 4.2)
    n_rep = len(boot_mean)
    tail = min(int(np.sum(boot_mean <= 0)), int(np.sum(boot_mean >= 0)))
    p = min(1.0, 2.0 * (tail + 1) / (n_rep + 1))
    return {"diff": float(np.mean(point)), "ci_low": float(lo), "ci_high": float(hi),
            "p_value": p}


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


def _ensemble(frame: pd.DataFrame, folds: Sequence[int], what: str) -> pd.DataFrame:
    prob_cols = [c for c in frame.columns if str(c).startswith(PROB_PREFIX)]
    if not prob_cols:
        raise ValueError(f"{what}: the fold ensemble needs the prob_<class> columns")
    cols = ["image_id", "target", "pred", *prob_cols]
    return fold_ensemble([frame.loc[frame["fold"] == k, cols].dropna(axis=1, how="all")
                          for k in folds], names=[f"{what}, fold {k}" for k in folds])


def baseline_comparison(predictions: pd.DataFrame, *, metrics: Sequence[str] = STAT_METRICS,
                        n_boot: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> pd.DataFrame:
    """Every non-baseline model against the baseline of its group (see the module doc).

    Args:
        predictions: long frame ``model, classifier_mask, symmetry_mask, fold, image_id,
            target, pred, prob_<class>...`` (all models and folds of one dataset and split;
            the folds of a model predict the same images, as on a test split).

    Returns:
        One row per model with a baseline in ``predictions`` (thesis order):
        ``model, classifier_mask, symmetry_mask, baseline, n_folds, n_images``; per metric
        ``<m>_diff, <m>_ci_low, <m>_ci_high, <m>_p, <m>_p_holm`` (bootstrap); the fold
        ensembles' ``ensemble_accuracy_base, ensemble_accuracy_model``; their exact McNemar
        test ``mcnemar_b, mcnemar_c, mcnemar_p, mcnemar_p_holm``; and per fold ``k`` (the
        union of the folds present) ``mcnemar_p_fold<k>``. ``*_holm`` are Holm-adjusted over
        the rows of the returned table (per column). Both models use the folds they share.
    """
    rows = []
    all_folds = sorted(set(predictions["fold"]))
    models = predictions[["model", "classifier_mask", "symmetry_mask"]].drop_duplicates()
    for _, m in models.sort_values("model").iterrows():
        if m["symmetry_mask"] == CAM_OFF:
            continue
        base_no = Model(m["classifier_mask"], CAM_OFF).number
        base = predictions[predictions["model"] == base_no]
        if base.empty:
            continue
        mine = predictions[predictions["model"] == m["model"]]
        folds = sorted(set(mine["fold"]) & set(base["fold"]))
        if not folds:
            continue
        what = f"model {m['model']} vs {base_no}"
        paired = [_paired(base[base["fold"] == k], mine[mine["fold"] == k], f"{what}, fold {k}")
                  for k in folds]
        ens_pair = _paired(_ensemble(base, folds, f"model {base_no}"),
                           _ensemble(mine, folds, f"model {m['model']}"), f"{what}, ensembles")
        row = {"model": int(m["model"]), "classifier_mask": m["classifier_mask"],
               "symmetry_mask": m["symmetry_mask"], "baseline": base_no,
               "n_folds": len(folds), "n_images": len(ens_pair)}
        for metric in metrics:
            res = bootstrap_difference(paired, metric, n_boot=n_boot, confidence=confidence,
                                       seed=seed, shared_resample=True)
            row.update({f"{metric}_diff": res["diff"], f"{metric}_ci_low": res["ci_low"],
                        f"{metric}_ci_high": res["ci_high"], f"{metric}_p": res["p_value"]})
        right_base = ens_pair["pred_base"] == ens_pair["target"]
        right_model = ens_pair["pred_model"] == ens_pair["target"]
        test = mcnemar_exact(right_base.to_numpy(), right_model.to_numpy())
        row.update({"ensemble_accuracy_base": float(right_base.mean()),
                    "ensemble_accuracy_model": float(right_model.mean()),
                    "mcnemar_b": test["b"], "mcnemar_c": test["c"],
                    "mcnemar_p": test["p_value"]})
        for k, p in zip(folds, paired):
            row[f"mcnemar_p_fold{k}"] = mcnemar_exact(
                (p["pred_base"] == p["target"]).to_numpy(),
                (p["pred_model"] == p["target"]).to_numpy())["p_value"]
        rows.append(row)
    columns = ["model", "classifier_mask", "symmetry_mask", "baseline", "n_folds", "n_images"]
    columns += [f"{m}_{k}" for m in metrics for k in ("diff", "ci_low", "ci_high", "p", "p_holm")]
    columns += ["ensemble_accuracy_base", "ensemble_accuracy_model",
                "mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_p_holm"]
    columns += [f"mcnemar_p_fold{k}" for k in all_folds]
    table = pd.DataFrame(rows, columns=columns)
    for col in [f"{m}_p" for m in metrics] + ["mcnemar_p"]:
        table[f"{col}_holm"] = holm(table[col].to_numpy(np.float64)) if len(table) else []
    return table


def load_predictions(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Long frame of lesion prediction files with their model / fold keys: ``model,
    classifier_mask, symmetry_mask, fold, image_id, target, pred, prob_<class>...``."""
    frames = []
    for path in paths:
        keys = parse_result_path(path)
        if keys["stage"] != "lesion" or "fold" not in keys:
            raise ValueError(f"{path}: not a lesion fold prediction file")
        df = read_predictions(path)
        for k in ("model", "classifier_mask", "symmetry_mask", "fold"):
            df[k] = keys[k]
        frames.append(df)
    if not frames:
        raise ValueError("load_predictions: no prediction files given")
    return pd.concat(frames, ignore_index=True)


def baseline_comparison_from_files(paths: Iterable[str | Path], **kwargs) -> pd.DataFrame:
    """:func:`baseline_comparison` of lesion prediction files (contract paths)."""
    return baseline_comparison(load_predictions(paths), **kwargs)
