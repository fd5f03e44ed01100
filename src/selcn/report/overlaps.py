"""The report's "Overlaps" table: per pair (test set, training set) of the config, how many test
images were found in the training set, by id and by content, and what the protocol did with
them — built from ``check_splits``' summary (:func:`selcn.data.overlap.summarise`,
``<results>/splits/overlap_summary.csv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from selcn.grid import DATASET_LABELS

__all__ = ["OVERLAP_TABLE_COLUMNS", "overlaps_table"]

#: the columns of the table (its keys: text cells, counts as whole numbers)
OVERLAP_TABLE_COLUMNS = ("Test set", "Training set (folds)", "Action", "Found by id",
                         "Found by content", "of which exact pixels", "Image pairs")
_NEEDED = ("test_set", "test_part", "training_set", "trains", "outcome", "found_by_id",
           "found_by_content", "by_pixels", "count")


def overlaps_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The table from the one summary file in ``paths``: one row per pair and outcome, in the
    summary's order; "Found by content" counts matches by pixels or perceptual hash (a match
    may be found both by id and by content). ValueError naming the file and the missing
    column(s)."""
    paths = list(paths)
    if len(paths) != 1:
        raise ValueError(f"overlaps_table: expected the one overlap summary, got {len(paths)} "
                         "file(s)")
    summary = pd.read_csv(paths[0], keep_default_na=False)
    missing = [c for c in _NEEDED if c not in summary.columns]
    if missing:
        raise ValueError(f"{paths[0]}: missing column(s) {missing}")

    def label(dataset: str) -> str:
        return DATASET_LABELS.get(dataset, dataset)

    rows = [(f"{label(r.test_set)} ({r.test_part})",
             f"{label(r.training_set)} ({r.trains})" if r.trains else label(r.training_set),
             str(r.outcome), str(int(r.found_by_id)), str(int(r.found_by_content)),
             str(int(r.by_pixels)), str(int(r["count"])))
            for _, r in summary.iterrows()]
    return pd.DataFrame(rows, columns=list(OVERLAP_TABLE_COLUMNS))
