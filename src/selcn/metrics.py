"""Classification and segmentation metrics (scikit-learn where it has them).

Classification: accuracy, balanced accuracy, Cohen's kappa and averaged precision / recall / F1
(Tables 6, 8, 10, 13-15), per-class precision / recall / F1 / support (Tables 11, 12).
Segmentation (Table 5): Dice, Jaccard, pixel-wise sensitivity, specificity and accuracy from the
pixel confusion counts, pooled over all pixels of all images (or per image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["classification_metrics", "per_class_report", "segmentation_metrics",
           "SEGMENTATION_METRICS"]

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
