"""Fold ensembles: one prediction per image from the K fold models of one lesion model.

Beyond the thesis (which reports only mean ± std over folds): the ensemble of a model is the
**mean class probability** over its K fold models on the same images (the test split, or an
external set such as ISIC 2019), and its prediction the arg-max of that mean (the first class
wins a tie, as :func:`selcn.predictions.prediction_frame`). It is what a user would deploy,
and it gives the one observation per test image that a paired test needs
(:mod:`selcn.report.stats`).

Inputs are prediction frames / files (``image_id,target,pred,prob_<class>...``,
:mod:`selcn.predictions`); every fold must cover the same images with the same targets and
the same classes, otherwise a ``ValueError`` names the fold and the first offending image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.predictions import class_names, prediction_frame, probabilities, read_predictions

__all__ = ["fold_ensemble", "ensemble_from_files", "ensembles_by_model"]


def fold_ensemble(folds: Sequence[pd.DataFrame], *,
                  names: Sequence[str] | None = None) -> pd.DataFrame:
    """The mean-probability ensemble of ``folds`` (prediction frames of one model).

    Args:
        folds: K >= 1 prediction frames on the same images (any row order).
        names: what to call each fold in an error message (default ``fold 0..K-1``).

    Returns:
        A prediction frame ``image_id, target, pred, prob_<class>...`` with one row per
        image, in the first fold's row order: ``prob = mean_k prob_k`` ``(N, C)`` and
        ``pred = argmax(prob)``.

    Raises:
        ValueError: no folds, a fold without probabilities, different classes, images or
            targets between folds, or duplicated image ids.
    """
    if not folds:
        raise ValueError("fold_ensemble: no folds given")
    names = list(names) if names is not None else [f"fold {k}" for k in range(len(folds))]
    first = folds[0]
    classes = class_names(first)
    if not classes:
        raise ValueError(f"fold_ensemble: {names[0]} has no prob_<class> columns")
    if first["image_id"].duplicated().any():
        dup = first.loc[first["image_id"].duplicated(), "image_id"].iloc[0]
        raise ValueError(f"fold_ensemble: {names[0]} lists image {dup} twice")
    ids = first["image_id"].astype(str).to_numpy()
    targets = first["target"].to_numpy(np.int64)
    total = np.zeros((len(first), len(classes)), dtype=np.float64)
    for name, fold in zip(names, folds):
        if class_names(fold) != classes:
            raise ValueError(f"fold_ensemble: {name} has classes {class_names(fold)}, "
                             f"{names[0]} has {classes}")
        fold = fold.set_index(fold["image_id"].astype(str))
        if fold.index.duplicated().any():
            raise ValueError(f"fold_ensemble: {name} lists image "
                             f"{fold.index[fold.index.duplicated()][0]} twice")
        missing = [i for i in ids if i not in fold.index]
        extra = sorted(set(fold.index) - set(ids))
        if missing or extra:
            which = missing[0] if missing else extra[0]
            raise ValueError(f"fold_ensemble: {name} and {names[0]} cover different images "
                             f"(e.g. {which})")
        fold = fold.loc[ids]
        bad = fold["target"].to_numpy(np.int64) != targets
        if bad.any():
            raise ValueError(f"fold_ensemble: image {ids[bad][0]} has target "
                             f"{fold['target'].to_numpy()[bad][0]} in {name} and "
                             f"{targets[bad][0]} in {names[0]}")
        total += probabilities(fold)
    return prediction_frame(ids, targets, total / len(folds), classes)


def ensemble_from_files(paths: Sequence[str | Path]) -> pd.DataFrame:
    """:func:`fold_ensemble` of the prediction files of one model's folds."""
    paths = list(paths)
    return fold_ensemble([read_predictions(p) for p in paths], names=[str(p) for p in paths])


def ensembles_by_model(paths: Iterable[str | Path]) -> Mapping[int, pd.DataFrame]:
    """One fold ensemble per lesion model of the contract paths
    ``results/lesion/{dataset}/{cm}-{sm}/fold{k}/predictions_{split}.csv`` (one dataset and
    split): ``{model number: ensemble frame}``, keyed in thesis order."""
    from selcn.paths import parse_result_path

    groups: dict[int, list[tuple[int, str]]] = {}
    seen: set[tuple] = set()
    for path in paths:
        keys = parse_result_path(path)
        if keys["stage"] != "lesion" or "fold" not in keys:
            raise ValueError(f"{path}: not a lesion fold prediction file")
        seen.add((keys["dataset"], keys.get("split")))
        groups.setdefault(keys["model"], []).append((keys["fold"], str(path)))
    if len(seen) > 1:
        raise ValueError(f"ensembles_by_model: files mix datasets / splits {sorted(seen)}")
    return {model: ensemble_from_files([p for _, p in sorted(files)])
            for model, files in sorted(groups.items())}
