"""The cache index and split tables of a dataset (``docs/contracts.md``), read and checked.

* :func:`read_index` - ``results/cache/<dataset>/index.csv``: ``row,image_id,label,target,...``
  with ``row`` = the row of the image cache arrays;
* :func:`read_splits` - ``results/splits/<dataset>.csv`` joined with the cache rows;
* :func:`class_names_of` - the class names in target order.

Every reader raises one clear error naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.data.readers import duplicated_column

__all__ = ["read_csv", "read_index", "read_splits", "class_names_of"]


def read_csv(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A CSV with at least ``columns`` (``image_id``, ``split``, ``label`` read as text).

    Raises ``FileNotFoundError`` (``<what> not found: <path>``) or ``ValueError`` naming the
    file and the missing column(s), or a column the header names twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    table = pd.read_csv(path, dtype={"image_id": str, "split": str, "label": str})
    twice = duplicated_column(path)
    if twice:
        raise ValueError(f"{path}: duplicated {twice} in the header ({what})")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(map(str, table.columns))})")
    return table


def read_index(index_csv: str | Path) -> pd.DataFrame:
    """The cache index ``row,image_id,label,target,...`` with ``row`` = array row."""
    index = read_csv(index_csv, ("row", "image_id", "label", "target"), "cache index")
    if not np.array_equal(index["row"].to_numpy(), np.arange(len(index))):
        raise ValueError(f"{index_csv}: field 'row' must be 0..N-1 in order")
    return index


def read_splits(splits_csv: str | Path, index: pd.DataFrame) -> pd.DataFrame:
    """The split table joined with the cache rows: ``row,image_id,target,label,split``."""
    splits = read_csv(splits_csv, ("image_id", "split"), "split table")
    row_of = dict(zip(index["image_id"], index["row"]))
    unknown = [i for i in splits["image_id"] if i not in row_of]
    if unknown:
        raise ValueError(f"{splits_csv}: image_id {unknown[0]!r} (and {len(unknown) - 1} more) "
                         "not in the cache index")
    bad = sorted(s for s in set(splits["split"]) if s not in ("test", "excluded")
                 and not (s.startswith("fold") and s[4:].isdigit()))
    if bad:
        raise ValueError(f"{splits_csv}: field 'split' has unknown value(s) {bad} "
                         "(expected test, fold<k>, excluded)")
    out = splits[["image_id", "split"]].copy()
    out["row"] = out["image_id"].map(row_of).astype(np.int64)
    out["target"] = index["target"].to_numpy()[out["row"]].astype(np.int64)
    out["label"] = index["label"].to_numpy()[out["row"]]
    if "group" in splits.columns:
        out["group"] = splits["group"].astype(str).to_numpy()
    return out.sort_values("row", kind="stable").reset_index(drop=True)


def class_names_of(index: pd.DataFrame, num_classes: int | None = None,
                   source: str = "cache index", dataset: str | None = None) -> list[str]:
    """Class names in target order.

    With ``dataset`` the contract's list (:func:`selcn.data.labels.classes`), checked against
    the index's ``label``/``target`` pairs; otherwise read from those pairs, where every
    target ``0..C-1`` must occur with exactly one label.
    """
    pairs = index[["target", "label"]].drop_duplicates()
    clash = pairs["target"].duplicated(keep=False)
    if clash.any():
        raise ValueError(f"{source}: target {int(pairs.loc[clash, 'target'].iloc[0])} has "
                         "several labels")
    names = dict(zip(pairs["target"].astype(int), pairs["label"].astype(str)))
    if dataset is not None:
        from selcn.data.labels import classes

        known = list(classes(dataset))
        for target, label in names.items():
            if not 0 <= target < len(known) or known[target] != label:
                raise ValueError(f"{source}: label {label!r} with target {target} does not "
                                 f"match the {dataset} classes {known}")
        return known
    n = num_classes or (max(names) + 1)
    missing = [t for t in range(n) if t not in names]
    if missing:
        raise ValueError(f"{source}: no image of target(s) {missing}; cannot name every class")
    return [names[t] for t in range(n)]
