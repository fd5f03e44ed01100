"""Classification and segmentation metrics (scikit-learn where it has them).

Classification: accuracy, balanced accuracy, Cohen's kappa and averaged precision / recall / F1
(Tables 6, 8, 10, 13-15), per-class precision / recall / F1 / support (Tables 11, 12).
Segmentation (Table 5): Dice, Jaccard, pixel-wise sensitivity, specificity and accuracy from the
pixel confusion counts, pooled over all pixels of all images (or per image).

From the class probabilities (beyond the thesis; the metrics the ISIC challenges rank by),
:func:`probability_metrics`: one-vs-rest AUROC per class and their macro mean (ISIC 2018 / 2019
break ties by it), the expected calibration error (:func:`expected_calibration_error`, binned
as :func:`reliability_bins` says) and, for a binary task (ISIC 2016), the average precision of
the positive class (the 2016 challenge's ranking metric). The **balanced multiclass accuracy**
(ISIC 2018 / 2019's ranking metric) is ``balanced_accuracy`` of
:func:`classification_metrics`: the mean per-class recall, i.e. the macro ``recall`` whenever
every predicted class also occurs among the targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["classification_metrics", "per_class_report", "segmentation_metrics",
           "SEGMENTATION_METRICS", "probability_metrics", "expected_calibration_error",
           "reliability_bins", "ECE_BINS", "PROBABILITY_METRICS"]

#: keys of :func:`segmentation_metrics`
SEGMENTATION_METRICS: tuple[str, ...] = ("dice", "jaccard", "sensitivity", "specificity",
                                         "accuracy")


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], *,
                           average: str = "macro",
                           labels: Sequence[int] | None = None) -> dict[str, float]:
    """Accuracy, balanced accuracy, Cohen's kappa and ``average``-d precision / recall / F1.

    Args:
        y_true, y_pred: ``(N,)`` integer class indices.
        average: scikit-learn's ``average`` for precision / recall / F1 (``macro`` in the thesis).
        labels: the classes to average over (default: those present in either array); pass
            ``range(C)`` to count classes absent from a small test set (their scores are 0).

    Returns:
        ``{"accuracy", "balanced_accuracy", "kappa", "precision", "recall", "f1"}`` (floats).
        Undefined precision / recall (no predictions / samples of a class) count as 0, like
        ``zero_division=0``; kappa is NaN when undefined (one single class in both arrays).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        cohen_kappa_score,
        precision_recall_fscore_support,
    )

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"classification_metrics: y_true {y_true.shape} and y_pred "
                         f"{y_pred.shape} must be 1-D of equal length")
    if not len(y_true):
        raise ValueError("classification_metrics: no samples")
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average=average, labels=labels, zero_division=0)
    kappa = cohen_kappa_score(y_true, y_pred, labels=labels)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "kappa": float(kappa),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


#: equal-width bins of the top-label confidence of the expected calibration error (Guo et al.
#: 2017, "On calibration of modern neural networks": 15 bins ``((b - 1) / 15, b / 15]``)
ECE_BINS = 15
#: the keys of :func:`probability_metrics` every task has (plus ``auroc_<class>`` per class
#: and, binary tasks only, ``average_precision``)
PROBABILITY_METRICS: tuple[str, ...] = ("auroc", "ece")


def _check_probs(y_true: Sequence[int], probs: np.ndarray, what: str) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(y):
        raise ValueError(f"{what}: probabilities of shape {p.shape}, expected ({len(y)}, C) "
                         "(samples, classes)")
    if not len(y):
        raise ValueError(f"{what}: no samples")
    if (y < 0).any() or (y >= p.shape[1]).any():
        raise ValueError(f"{what}: targets must be class indices in [0, {p.shape[1]})")
    return y, p


def reliability_bins(y_true: Sequence[int], probs: np.ndarray, *,
                     n_bins: int = ECE_BINS) -> pd.DataFrame:
    """The reliability diagram's bins of the top-label confidence.

    Args:
        y_true: ``(N,)`` class indices.
        probs: ``(N, C)`` class probabilities; the prediction is the arg-max (first class wins a
            tie), its confidence the maximum.
        n_bins: equal-width bins ``(lower, upper]`` of [0, 1] (the first also holds 0).

    Returns:
        One row per bin: ``lower, upper, n`` (samples), ``confidence`` (their mean confidence)
        and ``accuracy`` (the share of them predicted right); both NaN in an empty bin.
    """
    y, p = _check_probs(y_true, probs, "reliability_bins")
    if n_bins < 1:
        raise ValueError(f"reliability_bins: n_bins must be >= 1, got {n_bins}")
    conf = p.max(axis=1)
    right = p.argmax(axis=1) == y
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=n_bins) / n
        acc = np.bincount(b, weights=right.astype(float), minlength=n_bins) / n
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "n": n.astype(np.int64),
                         "confidence": mean_conf, "accuracy": acc})


def expected_calibration_error(y_true: Sequence[int], probs: np.ndarray, *,
                               n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top-label confidence:
    ``sum_b (n_b / N) * |accuracy_b - confidence_b|`` over the :func:`reliability_bins`
    (``n_bins`` equal-width bins, empty bins count 0). A fraction in [0, 1]."""
    bins = reliability_bins(y_true, probs, n_bins=n_bins)
    full = bins[bins["n"] > 0]
    gap = (full["accuracy"] - full["confidence"]).abs()
    return float((full["n"] * gap).sum() / bins["n"].sum())


def probability_metrics(y_true: Sequence[int], probs: np.ndarray,
                        class_names: Sequence[str] | None = None, *,
                        n_bins: int = ECE_BINS) -> dict[str, float]:
    """Metrics of the class probabilities.

    Args:
        y_true: ``(N,)`` class indices.
        probs: ``(N, C)`` class probabilities (rows sum to 1).
        class_names: the names of the C classes (default ``0 .. C-1``), for the per-class keys.
        n_bins: the bins of the expected calibration error.

    Returns:
        ``auroc_<class>``: one-vs-rest ROC AUC of each class (``sklearn.metrics.roc_auc_score``
        of ``y == c`` against ``probs[:, c]``; NaN where the targets lack the class or hold
        nothing else); ``auroc``: their macro mean over the classes where it is defined (equal
        to ``roc_auc_score(y, probs, multi_class="ovr", average="macro")`` when every class
        occurs; for two classes, the AUROC of class 1); ``ece``: the
        :func:`expected_calibration_error`; for two classes also ``average_precision``: the
        average precision of class 1 (``sklearn.metrics.average_precision_score``; NaN without
        a positive).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _check_probs(y_true, probs, "probability_metrics")
    n_classes = p.shape[1]
    names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    if len(names) != n_classes:
        raise ValueError(f"probability_metrics: {len(names)} class names for {n_classes} "
                         "probability columns")
    out: dict[str, float] = {}
    per_class = []
    for c, name in enumerate(names):
        positive = y == c
        value = (float(roc_auc_score(positive, p[:, c])) if 0 < positive.sum() < len(y)
                 else float("nan"))
        out[f"auroc_{name}"] = value
        per_class.append(value)
    defined = [v for v in per_class if not np.isnan(v)]
    if n_classes == 2:
        out["auroc"] = per_class[1]
    else:
        out["auroc"] = float(np.mean(defined)) if defined else float("nan")
    out["ece"] = expected_calibration_error(y, p, n_bins=n_bins)
    if n_classes == 2:
        out["average_precision"] = (float(average_precision_score(y == 1, p[:, 1]))
                                    if (y == 1).any() else float("nan"))
    return out


def per_class_report(y_true: Sequence[int], y_pred: Sequence[int],
                     class_names: Sequence[str]) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support.

    Args:
        y_true, y_pred: ``(N,)`` class indices in ``0 .. len(class_names) - 1``.
        class_names: names in label order.

    Returns:
        DataFrame indexed by class name (index name ``class``) with columns
        ``precision, recall, f1, support`` (support = true samples of the class).
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(y_true), np.asarray(y_pred), labels=labels, average=None, zero_division=0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(np.int64)},
                        index=pd.Index(list(class_names), name="class"))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 / 0 = 1 (nothing to find and nothing found is perfect)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)


def segmentation_metrics(pred: np.ndarray, gt: np.ndarray, *,
                         per_image: bool = False) -> dict[str, float | np.ndarray]:
    """Pixel-wise segmentation metrics of binary masks.

    Args:
        pred: ``(N, H, W)`` (or ``(H, W)``) predicted masks, bool or 0/1 (non-zero = lesion);
            numpy arrays or tensors.
        gt: ground truth of the same shape.
        per_image: False pools the confusion counts over every pixel of every image (one number
            per metric); True computes each metric per image.

    Returns:
        ``{"dice", "jaccard", "sensitivity", "specificity", "accuracy"}`` — floats, or float64
        arrays ``(N,)`` with ``per_image``. A ratio whose denominator is 0 (e.g. Dice of an
        image with neither predicted nor true lesion) is 1.0, as scikit-learn's
        ``zero_division=1``.
    """
    pred, gt = np.asarray(pred) != 0, np.asarray(gt) != 0
    if pred.shape != gt.shape:
        raise ValueError(f"segmentation_metrics: pred {pred.shape} and gt {gt.shape} differ")
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    if pred.ndim != 3:
        raise ValueError(f"segmentation_metrics: expected (N, H, W) masks, got {pred.shape}")
    axes = (1, 2) if per_image else None
    tp = np.count_nonzero(pred & gt, axis=axes)
    fp = np.count_nonzero(pred & ~gt, axis=axes)
    fn = np.count_nonzero(~pred & gt, axis=axes)
    total = pred.shape[1] * pred.shape[2] * (1 if per_image else pred.shape[0])
    tn = total - tp - fp - fn
    scores = {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": _ratio(tp, tp + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "accuracy": _ratio(tp + tn, total),
    }
    if per_image:
        return scores
    return {name: float(value) for name, value in scores.items()}
