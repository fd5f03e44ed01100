"""Statistics beyond the thesis: each lesion model against a baseline, **by lesion**.

Two comparisons (``against``):

* ``group``: the baseline of a model is the model with the same classifier mask and no CAM
  transfer (``symmetry_mask = off``: models 1, 5, 9) — the effect of the CAM transfer alone;
* ``model1``: every model against model 1 (no mask, no CAM; the thesis' baseline) — the
  effect of everything a model adds.

On the test split (the same images in every fold) we report, per model:

* per metric (accuracy, macro F1), the difference model - baseline averaged over folds, with
  a percentile **cluster bootstrap** confidence interval: each replicate draws the test
  split's **lesions** (the split table's ``group``: HAM10000's ``lesion_id``; an image whose
  lesion is unknown is its own group) with replacement, every image of a drawn lesion counts
  once per draw (**one draw of lesions shared by all folds**), the difference is computed in
  every fold on the replicate and averaged over folds; the two-sided bootstrap p-value that
  inverts this interval (``2 * (min(#(d <= 0), #(d >= 0)) + 1) / (B + 1)`` over B replicates,
  never 0) and its Holm adjustment over the comparisons of the table;
* a **clustered exact McNemar test** on the **fold ensembles**
  (:func:`selcn.ensemble.fold_ensemble`: mean class probability over the K fold models -> one
  prediction per image) of model and baseline: per lesion ``k``, ``d_k = c_k - b_k`` (images
  the model's ensemble gets right and the baseline's wrong, minus the converse); under the null
  hypothesis the two classifiers are exchangeable within each lesion, so every ``d_k`` is as
  likely as ``-d_k``, independently across lesions; the p-value is the exact two-sided
  probability of ``|sum_k ±d_k| >= |sum_k d_k|`` over the ``2^K`` sign flips
  (:func:`signflip_pvalue`, by convolution, no sampling); Holm-adjusted over the comparisons.

Why this test: it is the exact (permutation) version of the clustered McNemar test of
Durkalski et al. (2003, *Stat Med* 22:2417), whose statistic ``(sum d_k)^2 / sum d_k^2`` is
this sum standardised by its sign-flip variance (``sum d_k^2``) and read against chi-square(1):
exact, it needs no large-sample approximation (the demo's and ISIC 2016's test splits are
small, and few lesions are discordant), and with one image per lesion it **is** the exact
McNemar test (``binomtest(b, b + c, 1/2)``, the image-level test of the former definition),
so the two levels differ only where lesions hold several images. Obuchowski's (1998)
estimator is the ratio-estimator variant of the same statistic.

Beside the lesion-level values the tables keep the **image-level** exact McNemar p-value
(``mcnemar_p_image``, ``mcnemar_p_image_holm``: every image one pair, as if images were
independent) for comparison with the former report; the intervals and the primary p-values
are lesion-level. Without a split table (``groups=None``) every image is its own lesion and
all values are image-level (``unit = image``).

The per-fold McNemar p-values (each fold alone, lesion-level, uncorrected) are shown too.
Concatenating the K folds' predictions on the same images counts every image K times and
makes the p-values far too small; it is not done here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from selcn.ensemble import fold_ensemble
from selcn.grid import CAM_OFF, Model, lesion_model
from selcn.paths import parse_result_path
from selcn.predictions import PROB_PREFIX, read_predictions

__all__ = ["mcnemar_exact", "mcnemar_clustered", "signflip_pvalue", "holm",
           "accuracy_samples", "macro_f1_samples", "accuracy_weighted", "macro_f1_weighted",
           "balanced_accuracy_weighted", "auroc_weighted", "resample_weights",
           "bootstrap_difference", "bootstrap_interval", "baseline_comparison",
           "baseline_comparison_from_files", "comparisons", "load_predictions", "read_groups",
           "STAT_METRICS", "AGAINST", "UNIT_LESION", "UNIT_IMAGE"]

#: metrics with a bootstrap interval
STAT_METRICS = ("accuracy", "f1")
#: the comparisons of :func:`baseline_comparison`: the group's baseline (1, 5, 9) or model 1
AGAINST = ("group", "model1")
#: the unit the bootstrap resamples and the paired test pairs (the ``unit`` column)
UNIT_LESION, UNIT_IMAGE = "lesion", "image"


def mcnemar_exact(correct_base: np.ndarray, correct_model: np.ndarray) -> dict:
    """Exact (binomial) McNemar test of two paired classifiers, one pair per item.

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


def signflip_pvalue(d: Sequence[int]) -> float:
    """Exact two-sided p-value of ``D = sum_k d_k`` under independent sign flips of the
    integers ``d_k``: ``P(|sum_k s_k |d_k|| >= |D|)`` with ``s_k = ±1`` equally likely.

    Computed by convolution over the attainable sums (``O(K * sum |d_k|)``); 1 when every
    ``d_k`` is 0. With ``d_k`` in {-1, 0, 1} it equals the exact McNemar p-value
    ``binomtest(b, b + c, 1/2)`` (b = number of -1, c = number of +1).
    """
    values = np.asarray(d)
    if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
        raise ValueError("signflip_pvalue: the d_k must be integers")
    a = np.abs(values.astype(np.int64))
    a = a[a > 0]
    total = int(a.sum())
    if total == 0:
        return 1.0
    dist = np.zeros(total + 1)            # dist[s] = P(sum of the |d_k| flipped to + is s)
    dist[0] = 1.0
    for x in a:
        shifted = np.zeros_like(dist)
        shifted[x:] = dist[:-x]
        dist = 0.5 * (dist + shifted)
    observed = abs(int(values.astype(np.int64).sum()))
    s = np.arange(total + 1)
    return float(min(1.0, dist[np.abs(2 * s - total) >= observed].sum()))


def mcnemar_clustered(correct_base: np.ndarray, correct_model: np.ndarray,
                      groups: Sequence | None = None) -> dict:
    """Clustered exact McNemar test: one paired difference per lesion (see the module doc).

    Args:
        correct_base, correct_model: bool ``(n,)``, each classifier is right on image i.
        groups: ``(n,)`` the lesion of each image; None = every image its own lesion (then
            the result equals :func:`mcnemar_exact`).

    Returns:
        ``{"b", "c"}`` (discordant images, as :func:`mcnemar_exact`), ``"lesions"`` (groups),
        ``"discordant_lesions"`` (lesions with ``d_k != 0``), ``"p_value"``
        (:func:`signflip_pvalue` of the ``d_k = c_k - b_k``).
    """
    a = np.asarray(correct_base, dtype=bool)
    m = np.asarray(correct_model, dtype=bool)
    if a.shape != m.shape or a.ndim != 1:
        raise ValueError(f"mcnemar_clustered: shapes {a.shape} and {m.shape} must be equal (n,)")
    codes, n_groups = _codes(groups, len(a))
    diff = (~a & m).astype(np.int64) - (a & ~m).astype(np.int64)      # +1: c, -1: b
    d = np.bincount(codes, weights=diff, minlength=n_groups).round().astype(np.int64)
    return {"b": int(np.sum(a & ~m)), "c": int(np.sum(~a & m)), "lesions": int(n_groups),
            "discordant_lesions": int(np.count_nonzero(d)), "p_value": signflip_pvalue(d)}


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


# ---- resampling -----------------------------------------------------------------------------
def _codes(groups: Sequence | None, n: int) -> tuple[np.ndarray, int]:
    """Integer codes ``(n,)`` of the groups and their number (None: one group per item)."""
    if groups is None:
        return np.arange(n), n
    codes, uniques = pd.factorize(pd.Series(list(groups), dtype=object).astype(str))
    if len(codes) != n:
        raise ValueError(f"{len(codes)} groups for {n} items")
    return codes.astype(np.int64), len(uniques)


def resample_weights(groups: Sequence | None, n: int, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
    """The multiplicity of each item in each bootstrap replicate, float64 ``(n_boot, n)``.

    Each replicate draws as many groups as there are, with replacement, uniformly; an item
    counts once per draw of its group (a cluster bootstrap). ``groups=None``: every item is
    its own group (the ordinary bootstrap of items)."""
    codes, n_groups = _codes(groups, n)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    flat = (draws + n_groups * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_groups).reshape(n_boot, n_groups)
    return counts[:, codes].astype(np.float64)


def _index_counts(idx: np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    flat = (idx + n * np.arange(idx.shape[0])[:, None]).ravel()
    return np.bincount(flat, minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(float)


def accuracy_weighted(y_true: np.ndarray, y_pred: np.ndarray,
                      weights: np.ndarray) -> np.ndarray:
    """Accuracy of each weighted replicate: ``weights`` ``(R, n)`` multiplicities -> ``(R,)``."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    return (weights @ correct) / weights.sum(axis=1)


def _class_counts(y_true, y_pred, weights, labels):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    for c in labels:
        t, p = y_true == c, y_pred == c
        yield (weights @ (t & p).astype(float), weights @ (~t & p).astype(float),
               weights @ (t & ~p).astype(float))


def macro_f1_weighted(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray,
                      labels: Sequence[int] | None = None) -> np.ndarray:
    """Macro F1 of each weighted replicate (``weights`` ``(R, n)``) -> ``(R,)``: per class
    ``2 tp / (2 tp + fp + fn)`` of the weighted counts (0 where undefined), averaged over
    ``labels`` (default: the classes in ``y_true`` or ``y_pred``), as
    ``sklearn.metrics.f1_score(average="macro", zero_division=0)`` on the resample."""
    f1 = []
    for tp, fp, fn in _class_counts(y_true, y_pred, weights, labels):
        denom = 2 * tp + fp + fn
        f1.append(np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0))
    return np.mean(f1, axis=0)


def balanced_accuracy_weighted(y_true: np.ndarray, y_pred: np.ndarray,
                               weights: np.ndarray) -> np.ndarray:
    """Balanced (multiclass) accuracy of each weighted replicate -> ``(R,)``: the mean recall
    over the classes present in the replicate's targets (``balanced_accuracy_score``)."""
    labels = np.unique(np.asarray(y_true))
    recalls, present = [], []
    for tp, _, fn in _class_counts(y_true, y_pred, weights, labels):
        support = tp + fn
        recalls.append(np.divide(tp, support, out=np.zeros(len(tp)), where=support > 0))
        present.append(support > 0)
    return np.sum(recalls, axis=0) / np.maximum(np.sum(present, axis=0), 1)


def auroc_weighted(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of each weighted replicate -> ``(R,)``: the weighted probability that a positive
    scores above a negative (ties count one half), as ``roc_auc_score(positive, score,
    sample_weight=w)``; NaN where a replicate has no positive or no negative.

    Args:
        positive: bool ``(n,)``; score: ``(n,)``; weights: ``(R, n)`` multiplicities.
    """
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score, kind="stable")
    s, pos, w = score[order], positive[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])          # blocks of tied scores
    pos_w = np.add.reduceat(w * pos, starts, axis=1)
    neg_w = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(neg_w, axis=1) - neg_w
    pairs = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    wins = (pos_w * (below + 0.5 * neg_w)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(pairs), np.nan), where=pairs > 0)


def accuracy_samples(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Accuracy of each resample: ``idx`` int ``(R, n)`` rows of indices -> ``(R,)``."""
    return accuracy_weighted(y_true, y_pred, _index_counts(idx, len(np.asarray(y_true))))


def macro_f1_samples(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray,
                     labels: Sequence[int] | None = None) -> np.ndarray:
    """Macro F1 of each resample (``idx`` int ``(R, n)``) -> ``(R,)``; see
    :func:`macro_f1_weighted` (``labels`` default: the classes of ``y_true`` or ``y_pred``)."""
    return macro_f1_weighted(y_true, y_pred, _index_counts(idx, len(np.asarray(y_true))),
                             labels)


_SAMPLERS: dict[str, Callable] = {"accuracy": accuracy_weighted, "f1": macro_f1_weighted}


def _p_from_replicates(boot: np.ndarray) -> float:
    # (k + 1) / (B + 1): a p-value from B replicates is never 0 (Davison & Hinkley 1997, 4.2)
    tail = min(int(np.sum(boot <= 0)), int(np.sum(boot >= 0)))
    return min(1.0, 2.0 * (tail + 1) / (len(boot) + 1))


def bootstrap_difference(folds: Sequence[pd.DataFrame], metric: str = "accuracy", *,
                         n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                         shared_resample: bool | None = None) -> dict:
    """Difference model - baseline of ``metric`` averaged over folds, with a bootstrap CI.

    Args:
        folds: one frame per fold with columns ``image_id, target, pred_base, pred_model``
            (the two classifiers' predictions on the same images) and optionally ``group``
            (the lesion of each image): with it the replicates draw lesions
            (:func:`resample_weights`), without it images.
        metric: ``accuracy`` or ``f1`` (macro).
        n_boot: bootstrap replicates; ``confidence``: e.g. 0.95 for a 95 % interval.
        shared_resample: apply one draw to every fold; ``None`` = when all folds hold the same
            image ids.

    Returns:
        ``{"diff", "ci_low", "ci_high", "p_value"}``; ``p_value`` = two-sided bootstrap
        p-value ``min(1, 2 * (min(#(d <= 0), #(d >= 0)) + 1) / (B + 1))`` over the B
        replicates (the smallest level at which the percentile interval excludes 0; 1 when
        every replicate is 0).
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

    def groups_of(frame: pd.DataFrame):
        return frame["group"].to_numpy() if "group" in frame.columns else None

    labels_all = np.union1d(np.concatenate([f["target"] for f in folds]),
                            np.concatenate([f[c] for f in folds
                                            for c in ("pred_base", "pred_model")]))
    kwargs = {"labels": labels_all} if metric == "f1" else {}
    shared = (resample_weights(groups_of(folds[0]), len(folds[0]), n_boot, rng)
              if shared_resample else None)
    point, boot = [], []
    for f in folds:
        weights = shared if shared_resample else resample_weights(groups_of(f), len(f),
                                                                  n_boot, rng)
        full = np.ones((1, len(f)))
        y = f["target"].to_numpy()
        model, base = f["pred_model"].to_numpy(), f["pred_base"].to_numpy()
        point.append((sampler(y, model, full, **kwargs) - sampler(y, base, full, **kwargs))[0])
        boot.append(sampler(y, model, weights, **kwargs) - sampler(y, base, weights, **kwargs))
    boot_mean = np.mean(boot, axis=0)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot_mean, [alpha, 1.0 - alpha])
    return {"diff": float(np.mean(point)), "ci_low": float(lo), "ci_high": float(hi),
            "p_value": _p_from_replicates(boot_mean)}


def bootstrap_interval(statistic: Callable[[np.ndarray], np.ndarray], n: int,
                       groups: Sequence | None = None, *, n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> dict:
    """Point value and percentile interval of a statistic of ``n`` items.

    Args:
        statistic: ``statistic(weights)`` -> ``(R,)`` for multiplicities ``weights``
            ``(R, n)`` (e.g. ``lambda w: accuracy_weighted(y, p, w)``).
        groups: the lesion of each item (a cluster bootstrap), or None (items).

    Returns:
        ``{"value", "ci_low", "ci_high"}`` (the value on all items, weights 1).
    """
    weights = resample_weights(groups, n, n_boot, np.random.default_rng(seed))
    boot = np.asarray(statistic(weights), dtype=np.float64)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha])
    return {"value": float(np.asarray(statistic(np.ones((1, n))))[0]), "ci_low": float(lo),
            "ci_high": float(hi)}


# ---- the comparisons ------------------------------------------------------------------------
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


def _with_groups(frame: pd.DataFrame, groups: Mapping[str, str] | None,
                 what: str) -> pd.DataFrame:
    """``frame`` with a ``group`` column (the lesion of each image), or unchanged (None)."""
    if groups is None:
        return frame
    ids = frame["image_id"].astype(str)
    missing = ids[~ids.isin(list(groups))] if len(ids) else ids
    if len(missing):
        raise ValueError(f"{what}: image {missing.iloc[0]} is not in the split table "
                         "(no lesion group to resample)")
    return frame.assign(group=ids.map(groups).astype(str).to_numpy())


def _baseline_of(model: Model, against: str) -> int:
    return 1 if against == "model1" else Model(model.classifier_mask, CAM_OFF).number


def _compare(base: pd.DataFrame, mine: pd.DataFrame, folds: Sequence[int], numbers: tuple,
             settings: dict) -> dict:
    """One row of :func:`baseline_comparison`: ``numbers = (model, baseline)``."""
    number, base_no = numbers
    groups = settings["groups"]
    what = f"model {number} vs {base_no}"
    paired = [_with_groups(_paired(base[base["fold"] == k], mine[mine["fold"] == k],
                                   f"{what}, fold {k}"), groups, f"{what}, fold {k}")
              for k in folds]
    ens = _with_groups(_paired(_ensemble(base, folds, f"model {base_no}"),
                               _ensemble(mine, folds, f"model {number}"), f"{what}, ensembles"),
                       groups, f"{what}, ensembles")
    lesions = ens["group"].to_numpy() if groups is not None else None
    row = {"n_folds": len(folds), "n_images": len(ens),
           "n_lesions": _codes(lesions, len(ens))[1]}
    for metric in settings["metrics"]:
        res = bootstrap_difference(paired, metric, n_boot=settings["n_boot"],
                                   confidence=settings["confidence"], seed=settings["seed"],
                                   shared_resample=True)
        row.update({f"{metric}_diff": res["diff"], f"{metric}_ci_low": res["ci_low"],
                    f"{metric}_ci_high": res["ci_high"], f"{metric}_p": res["p_value"]})
    right_base = (ens["pred_base"] == ens["target"]).to_numpy()
    right_model = (ens["pred_model"] == ens["target"]).to_numpy()
    test = mcnemar_clustered(right_base, right_model, lesions)
    row.update({"ensemble_accuracy_base": float(right_base.mean()),
                "ensemble_accuracy_model": float(right_model.mean()),
                "mcnemar_b": test["b"], "mcnemar_c": test["c"],
                "mcnemar_discordant_lesions": test["discordant_lesions"],
                "mcnemar_p": test["p_value"],
                "mcnemar_p_image": mcnemar_exact(right_base, right_model)["p_value"]})
    for k, p in zip(folds, paired):
        row[f"mcnemar_p_fold{k}"] = mcnemar_clustered(
            (p["pred_base"] == p["target"]).to_numpy(),
            (p["pred_model"] == p["target"]).to_numpy(),
            p["group"].to_numpy() if groups is not None else None)["p_value"]
    return row


def baseline_comparison(predictions: pd.DataFrame, *, metrics: Sequence[str] = STAT_METRICS,
                        n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                        groups: Mapping[str, str] | None = None,
                        against: str = "group") -> pd.DataFrame:
    """Every model against its baseline (see the module doc).

    Args:
        predictions: long frame ``model, classifier_mask, symmetry_mask, fold, image_id,
            target, pred, prob_<class>...`` (all models and folds of one dataset and split;
            the folds of a model predict the same images, as on a test split).
        groups: image id -> lesion (the split table's ``group``, :func:`read_groups`): the
            bootstrap draws lesions and the McNemar test pairs lesions; None: images.
        against: ``group`` (models with CAM transfer against 1, 5, 9) or ``model1`` (every
            other model against model 1).

    Returns:
        One row per compared model (thesis order): ``model, classifier_mask, symmetry_mask,
        baseline, unit`` (``lesion`` / ``image``), ``n_folds, n_images, n_lesions``; per
        metric ``<m>_diff, <m>_ci_low, <m>_ci_high, <m>_p, <m>_p_holm`` (bootstrap); the fold
        ensembles' ``ensemble_accuracy_base, ensemble_accuracy_model``; their clustered exact
        McNemar test ``mcnemar_b, mcnemar_c`` (discordant images),
        ``mcnemar_discordant_lesions, mcnemar_p, mcnemar_p_holm``; the image-level exact
        McNemar ``mcnemar_p_image, mcnemar_p_image_holm``; and per fold ``k`` (the union of
        the folds present) ``mcnemar_p_fold<k>``. ``*_holm`` are Holm-adjusted over the rows
        of the returned table (per column). Both models use the folds they share.
    """
    if against not in AGAINST:
        raise ValueError(f"baseline_comparison: against must be one of {AGAINST}, "
                         f"got {against!r}")
    settings = {"metrics": tuple(metrics), "n_boot": n_boot, "confidence": confidence,
                "seed": seed, "groups": groups}
    rows = []
    all_folds = sorted(set(predictions["fold"]))
    models = predictions[["model", "classifier_mask", "symmetry_mask"]].drop_duplicates()
    for _, m in models.sort_values("model").iterrows():
        model = lesion_model(int(m["model"]))       # a grid model, or model 13
        base_no = _baseline_of(model, against)
        if (against == "group" and not model.takes_cam) or base_no == model.number:
            continue
        base = predictions[predictions["model"] == base_no]
        if base.empty:
            continue
        mine = predictions[predictions["model"] == m["model"]]
        folds = sorted(set(mine["fold"]) & set(base["fold"]))
        if not folds:
            continue
        row = {"model": int(m["model"]), "classifier_mask": m["classifier_mask"],
               "symmetry_mask": m["symmetry_mask"], "baseline": base_no,
               "unit": UNIT_IMAGE if groups is None else UNIT_LESION}
        row.update(_compare(base, mine, folds, (model.number, base_no), settings))
        rows.append(row)
    columns = ["model", "classifier_mask", "symmetry_mask", "baseline", "unit", "n_folds",
               "n_images", "n_lesions"]
    columns += [f"{m}_{k}" for m in metrics for k in ("diff", "ci_low", "ci_high", "p", "p_holm")]
    columns += ["ensemble_accuracy_base", "ensemble_accuracy_model", "mcnemar_b", "mcnemar_c",
                "mcnemar_discordant_lesions", "mcnemar_p", "mcnemar_p_holm", "mcnemar_p_image",
                "mcnemar_p_image_holm"]
    columns += [f"mcnemar_p_fold{k}" for k in all_folds]
    table = pd.DataFrame(rows, columns=columns)
    for col in [f"{m}_p" for m in metrics] + ["mcnemar_p", "mcnemar_p_image"]:
        table[f"{col}_holm"] = holm(table[col].to_numpy(np.float64)) if len(table) else []
    return table


def comparisons(predictions: pd.DataFrame, *, n_boot: int = 1000, confidence: float = 0.95,
                seed: int = 0, groups: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Both comparisons of :func:`baseline_comparison` in one table: a first column
    ``against`` (``model1`` rows, then ``group`` rows), each part Holm-adjusted over its own
    rows (a family per comparison)."""
    parts = [baseline_comparison(predictions, n_boot=n_boot, confidence=confidence, seed=seed,
                                 groups=groups, against=against).assign(against=against)
             for against in ("model1", "group")]
    table = pd.concat(parts, ignore_index=True)
    return table[["against"] + [c for c in table.columns if c != "against"]]


def read_groups(path: str | Path) -> dict[str, str]:
    """Image id -> lesion group of a split table (``results/splits/<dataset>.csv``: columns
    ``image_id`` and ``group``). Raises ``ValueError`` naming the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split table not found: {path}")
    table = pd.read_csv(path, dtype={"image_id": str, "group": str})
    for col in ("image_id", "group"):
        if col not in table.columns:
            raise ValueError(f"{path}: missing column '{col}' (have: {', '.join(table.columns)})")
    if table["image_id"].isna().any() or table["group"].isna().any():
        col = "image_id" if table["image_id"].isna().any() else "group"
        raise ValueError(f"{path}: column '{col}' has empty values")
    if table["image_id"].duplicated().any():
        raise ValueError(f"{path}: column 'image_id' lists "
                         f"{table.loc[table['image_id'].duplicated(), 'image_id'].iloc[0]} twice")
    return dict(zip(table["image_id"], table["group"]))


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
