"""What the workflow chooses, and on which split: the best fold of a symmetry / lesion model
(:func:`select_best_fold`) and the segmentation architecture (:func:`select_architecture`).

Under ``protocol: leakage_free`` both read validation results only; under ``protocol: thesis``
they reproduce the thesis' choice on the test split. This module reads prediction and metric
files only (pandas, numpy): the selection jobs start without loading torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from selcn.data.tables import read_csv
from selcn.grid import Fold
from selcn.predictions import read_predictions
from selcn.protocol import Protocol

__all__ = ["FOLD_METRICS", "FoldCriterion", "best_fold_criterion", "select_best_fold",
           "best_model_path", "SEGMENTATION_METRICS", "VAL_PREFIX", "select_architecture"]

#: the metrics of ``metrics_test.csv`` (Table 5's columns), any of which the segmentation
#: architecture may be chosen on; the one definition (selcn.report.tables imports it)
SEGMENTATION_METRICS: tuple[str, ...] = ("dice", "jaccard", "sensitivity", "specificity",
                                         "accuracy")
#: the validation metric each stage's best fold is chosen on (``protocol: leakage_free``)
FOLD_METRICS: dict[str, str] = {"symmetry": "balanced_accuracy", "lesion": "accuracy"}
#: prefix of the validation columns of ``metrics_test.csv`` (``val_dice``, ...)
VAL_PREFIX = "val_"


# ---- best fold ----------------------------------------------------------------------------
class FoldCriterion(NamedTuple):
    """What a stage's best fold is chosen on: ``metric`` of the ``split`` predictions;
    ``name`` (``<split>_<metric>``) is stored in ``best_fold.json``."""

    split: str
    metric: str
    name: str


def best_fold_criterion(protocol: Protocol, val_metric: str = "accuracy") -> FoldCriterion:
    """The criterion of the best fold: ``val_metric`` of the validation predictions, or test
    accuracy where the protocol selects on the test split (``protocol: thesis``, the thesis'
    own choice)."""
    split = protocol.selection_split
    metric = "accuracy" if protocol.selects_on_test else val_metric
    return FoldCriterion(split, metric, f"{split}_{metric}")


def select_best_fold(prediction_csvs: Mapping[int, str | Path], criterion: FoldCriterion) -> dict:
    """The fold whose prediction file scores best on ``criterion`` (lowest fold wins a tie).

    Args:
        prediction_csvs: fold -> prediction file of the criterion's split
            (``predictions_val.csv``, or ``predictions_test.csv`` under ``protocol: thesis``).

    Returns:
        ``{"fold", "criterion", "value", "values": {fold: value}}`` (``best_fold.json``).
    """
    from sklearn.metrics import balanced_accuracy_score

    if criterion.metric not in ("accuracy", "balanced_accuracy"):
        raise ValueError(f"select_best_fold: unknown metric {criterion.metric!r}")
    if not prediction_csvs:
        raise ValueError("select_best_fold: no prediction file given")
    values = {}
    for fold, path in sorted(prediction_csvs.items()):
        table = read_predictions(path, require_probs=False)
        if table.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        if criterion.metric == "balanced_accuracy":
            values[int(fold)] = float(balanced_accuracy_score(table["target"], table["pred"]))
        else:
            values[int(fold)] = float((table["target"] == table["pred"]).mean())
    best = max(values, key=lambda k: (values[k], -k))
    return {"fold": best, "criterion": criterion.name, "value": values[best],
            "values": {str(k): v for k, v in values.items()}}


def best_model_path(best_json: str | Path, model_pts: Mapping[int, str | Path] | Sequence) -> Path:
    """The ``model.pt`` of the fold named in ``best_fold.json`` (``model_pts``: fold -> path, or
    a list of ``.../fold<k>/model.pt`` paths)."""
    best = json.loads(Path(best_json).read_text())
    if "fold" not in best:
        raise ValueError(f"{best_json}: missing field 'fold'")
    if not isinstance(model_pts, Mapping):
        model_pts = {Fold.parse(Path(p).parent.name).index: p for p in model_pts}
    fold = int(best["fold"])
    if fold not in model_pts:
        raise ValueError(f"{best_json}: fold {fold} has no model.pt among the inputs "
                         f"(folds {sorted(model_pts)})")
    return Path(model_pts[fold])


# ---- segmentation architecture -----------------------------------------------------------
def select_architecture(metrics_csvs: Sequence[str | Path], protocol: Protocol,
                        metric: str = "dice") -> dict:
    """The architecture with the highest ``metric`` on the protocol's selection split (first
    listed wins a tie).

    Selecting on validation (``leakage_free``), only the ``val_<metric>`` column of each
    ``metrics_test.csv`` is read (its test columns are never looked at); on the test split
    (``thesis``) the test column ``<metric>``.

    Returns ``{"arch", "metric", "value", "split"}`` (the content of ``selected.json``).
    """
    if metric not in SEGMENTATION_METRICS:
        raise ValueError(f"unknown selection metric {metric!r} "
                         f"(one of {', '.join(SEGMENTATION_METRICS)})")
    if not metrics_csvs:
        raise ValueError("select_architecture: no metrics file given")
    split = protocol.selection_split
    column = metric if protocol.selects_on_test else f"{VAL_PREFIX}{metric}"
    best = None
    for path in metrics_csvs:
        table = read_csv(path, ("arch", column), f"{split} metrics")[["arch", column]]
        if len(table) != 1:
            raise ValueError(f"{path}: expected one row, found {len(table)}")
        arch, value = str(table["arch"].iloc[0]), float(table[column].iloc[0])
        if not np.isfinite(value):
            raise ValueError(f"{path}: field '{column}' is not a number ({value})")
        if best is None or value > best["value"]:
            best = {"arch": arch, "metric": metric, "value": value, "split": split}
    return best
