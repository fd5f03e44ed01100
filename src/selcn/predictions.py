"""Prediction files of every classifier (``docs/contracts.md``, prediction files).

One CSV per model x fold x split::

    image_id,target,pred,prob_<class0>,prob_<class1>,...

``target`` and ``pred`` are integer class indices, ``pred`` = arg-max of the probabilities,
the ``prob_<class>`` columns hold softmax probabilities, one per class in label order (so the
class names travel with the file). Every table of the report is recomputable from these files.

:func:`write_predictions` writes atomically (temporary name, then rename);
:func:`read_predictions` checks the columns and values and raises one ``ValueError`` naming
the file and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.atomic import write_csv

__all__ = ["REQUIRED_COLUMNS", "PROB_PREFIX", "prediction_frame", "write_predictions",
           "read_predictions", "class_names", "probabilities"]

REQUIRED_COLUMNS: tuple[str, ...] = ("image_id", "target", "pred")
PROB_PREFIX = "prob_"
#: float32 softmax may round a hair outside [0, 1]
_PROB_TOL = 1e-5


def prediction_frame(image_ids: Sequence[str], targets: Sequence[int], probs: np.ndarray,
                     class_names: Sequence[str]) -> pd.DataFrame:
    """The prediction table of ``probs`` ``(N, C)`` (softmax, rows aligned with ``image_ids``).

    ``pred`` is the arg-max of each row (the first class wins a tie).
    """
    probs = np.asarray(probs, dtype=np.float64)
    names = [str(c) for c in class_names]
    if probs.ndim != 2 or probs.shape != (len(image_ids), len(names)):
        raise ValueError(f"prediction_frame: probabilities of shape {probs.shape}, expected "
                         f"({len(image_ids)}, {len(names)}) (images, classes)")
    if len(set(names)) != len(names):
        raise ValueError(f"prediction_frame: class names must be unique, got {names}")
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if len(targets) != len(image_ids):
        raise ValueError(f"prediction_frame: {len(targets)} targets for {len(image_ids)} images")
    frame = pd.DataFrame({"image_id": [str(i) for i in image_ids], "target": targets,
                          "pred": probs.argmax(1).astype(np.int64) if len(probs) else
                          np.zeros(0, np.int64)})
    for c, name in enumerate(names):
        frame[PROB_PREFIX + name] = probs[:, c]
    return frame


def write_predictions(path: str | Path, image_ids: Sequence[str], targets: Sequence[int],
                      probs: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Write a prediction CSV atomically (parent directories created); return the table."""
    frame = prediction_frame(image_ids, targets, probs, class_names)
    write_csv(frame, path)
    return frame


def class_names(predictions: pd.DataFrame) -> list[str]:
    """Class names in label order, from the ``prob_<class>`` columns."""
    return [c[len(PROB_PREFIX):] for c in predictions.columns if str(c).startswith(PROB_PREFIX)]


def probabilities(predictions: pd.DataFrame) -> np.ndarray:
    """float64 ``(N, C)`` of the ``prob_<class>`` columns, in label order."""
    cols = [c for c in predictions.columns if str(c).startswith(PROB_PREFIX)]
    return predictions[cols].to_numpy(np.float64)


def read_predictions(path: str | Path, expected_classes: Sequence[str] | None = None,
                     require_probs: bool = True) -> pd.DataFrame:
    """Read and check a prediction CSV.

    Checks: the columns ``image_id,target,pred`` (and at least one ``prob_<class>`` unless
    ``require_probs`` is false), integer ``target`` / ``pred`` within ``[0, C)``, numeric
    probabilities in ``[0, 1]``, and the class names when ``expected_classes`` is given.
    ``image_id`` is read as a string (ids like ``0001`` keep their zeros).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and the offending field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"image_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read prediction file ({err})") from None
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' "
                             f"(have: {', '.join(map(str, df.columns))})")
    names = class_names(df)
    if require_probs and not names:
        raise ValueError(f"{path}: no '{PROB_PREFIX}<class>' column (one per class expected)")
    if expected_classes is not None and names and names != [str(c) for c in expected_classes]:
        raise ValueError(f"{path}: classes {names} in the '{PROB_PREFIX}' columns, expected "
                         f"{list(expected_classes)}")
    n_classes = len(names) or (len(expected_classes) if expected_classes is not None else None)
    for col in ("target", "pred"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values % 1 != 0)
        if n_classes is not None:
            bad |= (values < 0) | (values >= n_classes)
        else:
            bad |= values < 0
        if bad.any():
            raise ValueError(f"{path}: column '{col}' must hold integer class indices"
                             + (f" in [0, {n_classes})" if n_classes is not None else "")
                             + f" (found {df.loc[bad, col].iloc[0]!r})")
        df[col] = values.astype(np.int64)
    for name in names:
        col = PROB_PREFIX + name
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < -_PROB_TOL) | (values > 1 + _PROB_TOL)
        if bad.any():
            raise ValueError(f"{path}: column '{col}' must hold probabilities in [0, 1] "
                             f"(found {df.loc[bad, col].iloc[0]!r})")
        df[col] = values.astype(np.float64)
    if df["image_id"].isna().any():
        raise ValueError(f"{path}: column 'image_id' has empty values")
    return df
