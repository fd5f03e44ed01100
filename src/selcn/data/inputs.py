"""The inputs of a stage job: which cache files it reads (:class:`StageInputs`), the arrays and
tables they hold once opened (:class:`StageData`), and a fold's parts of the split table.

A job of the symmetry, lesion or segmentation stage reads one dataset's cache
(``docs/contracts.md``): ``images.npy`` (uint8 ``(N, S, S, 3)``), ``index.csv``, and as it needs
the split table, the predicted lesion masks ``(N, S, S)``, the symmetry CAMs ``(N, R, R)`` and
the ground-truth masks ``(N, S, S)``. :class:`StageInputs` names those files (as a rule hands
them over: ``StageInputs.named(snakemake.input)``), :meth:`StageInputs.open` reads and checks
them once. numpy and pandas only: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.data.cache import load_cache_array, load_cache_images
from selcn.data.tables import read_csv, read_index, read_splits
from selcn.grid import Fold

__all__ = ["StageInputs", "StageData", "read_split_rows", "fold_parts", "plain_table"]

#: the kinds of file a stage job reads, in the order of :meth:`StageInputs.files`
_KINDS = ("images", "index", "splits", "masks", "cams", "gt_masks")


@dataclass(frozen=True)
class StageInputs:
    """The cache files of one dataset a stage job reads (None = not read).

    Attributes:
        images: ``images.npy``, uint8 ``(N, S, S, 3)``.
        index: ``index.csv`` (``row,image_id,label,target,...``).
        splits: the split table (``image_id,...,split[,group]``).
        masks: the predicted lesion masks ``(N, S, S)`` in {0, 1} (masked inputs).
        cams: the symmetry CAMs ``(N, R, R)`` in [0, 1] (models with an E-Layer).
        gt_masks: the ground-truth lesion masks ``(N, S, S)`` (segmentation, localisation).
    """

    images: str
    index: str
    splits: str | None = None
    masks: str | None = None
    cams: str | None = None
    gt_masks: str | None = None

    @classmethod
    def named(cls, named: Mapping, prefix: str = "") -> StageInputs:
        """From a job's named inputs ``<prefix>images``, ``<prefix>index``, ... (absent = None);
        e.g. ``StageInputs.named(snakemake.input, "ext_")`` for the external test set."""
        def get(kind: str) -> str | None:
            value = named.get(prefix + kind) if hasattr(named, "get") else None
            return str(value) if value else None

        images, index = get("images"), get("index")
        if images is None or index is None:
            raise ValueError(f"stage inputs: '{prefix}images' and '{prefix}index' are required "
                             f"(given: {', '.join(sorted(map(str, named.keys()))) or 'none'})")
        return cls(images, index, *(get(k) for k in _KINDS[2:]))

    def only(self, *, masks: bool, cams: bool) -> StageInputs:
        """These inputs without the predicted masks (``masks=False``) / CAMs (``cams=False``)
        a model does not read; raises ValueError when one it needs is missing."""
        if masks and self.masks is None:
            raise ValueError(f"{self.images}: a masked input needs the predicted lesion masks "
                             "(results/masks/<dataset>.npy)")
        if cams and self.cams is None:
            raise ValueError(f"{self.images}: symmetry CAMs must be given when the model takes a "
                             "CAM (E-Layer; results/cams/<mask>/<dataset>.npy)")
        return replace(self, masks=self.masks if masks else None,
                       cams=self.cams if cams else None)

    def files(self) -> list[str]:
        """The files named, in a fixed order (a resume key's input identity)."""
        return [getattr(self, f.name) for f in fields(self) if getattr(self, f.name)]

    def open(self) -> StageData:
        """Read and check every file named: the index numbers its rows ``0..N-1``, the split
        table names images of the index only, the arrays have ``N`` rows and the masks the
        images' side. Errors name the file and what is wrong."""
        index = read_index(self.index)
        splits = read_splits(self.splits, index) if self.splits else None
        images = load_cache_images(self.images, len(index))
        side = images.shape[1:3]
        return StageData(
            inputs=self, index=index, splits=splits, images=images,
            masks=load_cache_array(self.masks, "predicted masks", len(index), side),
            cams=load_cache_array(self.cams, "symmetry CAMs", len(index)),
            gt_masks=load_cache_array(self.gt_masks, "ground-truth masks", len(index), side))


@dataclass
class StageData:
    """One dataset's cache as a stage reads it (arrays are memory maps; rows = cache rows).

    Attributes:
        inputs: the files it was read from.
        index: the cache index ``row,image_id,label,target,...`` (:func:`read_index`).
        splits: the split table joined with the cache rows (``row,image_id,target,label,split
            [,group]``, :func:`read_splits`), or None when not read.
        images: uint8 ``(N, S, S, 3)``.
        masks: uint8 ``(N, S, S)`` predicted lesion masks, or None.
        cams: float ``(N, R, R)`` symmetry CAMs in [0, 1], or None.
        gt_masks: uint8 ``(N, S, S)`` ground-truth lesion masks, or None.
    """

    inputs: StageInputs
    index: pd.DataFrame
    splits: pd.DataFrame | None
    images: np.ndarray
    masks: np.ndarray | None = None
    cams: np.ndarray | None = None
    gt_masks: np.ndarray | None = None

    @property
    def image_ids(self) -> np.ndarray:
        """``image_id`` of every cache row, as strings."""
        return self.index["image_id"].astype(str).to_numpy()

    def rows_of(self, split: str | None) -> np.ndarray:
        """Sorted cache rows of ``split`` in the split table (None: every cache row)."""
        if split is None:
            return np.arange(len(self.index))
        rows = np.sort(self.splits.loc[self.splits["split"] == split, "row"].to_numpy(np.int64))
        if not len(rows):
            raise ValueError(f"{self.inputs.splits}: no row with split == {split!r}")
        return rows


def read_split_rows(index_csv: str | Path, splits_csv: str | Path,
                    columns: Sequence[str] = ()) -> pd.DataFrame:
    """The split table, in its own order, with the cache ``row`` of every image (int64).

    Needs only ``row,image_id`` in the index (the segmentation stage and the search split read
    no labels) and ``image_id,split`` plus ``columns`` in the split table; ``group`` is read as
    text. Raises ``ValueError`` for an image missing from the index or a ``split`` value other
    than ``test``, ``fold<k>``, ``excluded``.
    """
    index = read_csv(index_csv, ("row", "image_id"), "cache index")
    splits = read_csv(splits_csv, ("image_id", "split", *columns), "split table")
    row_of = dict(zip(index["image_id"], index["row"].astype(np.int64)))
    unknown = [i for i in splits["image_id"] if i not in row_of]
    if unknown:
        raise ValueError(f"{splits_csv}: image_id {unknown[0]!r} (and {len(unknown) - 1} more) "
                         f"not in the cache index {index_csv}")
    split = splits["split"].astype(str)
    bad = sorted(s for s in set(split) if s not in ("test", "excluded") and not Fold.is_name(s))
    if bad:
        raise ValueError(f"{splits_csv}: field 'split' has unknown value(s) {bad} "
                         "(expected test, fold<k>, excluded)")
    out = splits.assign(split=split, row=splits["image_id"].map(row_of).astype(np.int64))
    if "group" in out.columns:
        out["group"] = out["group"].astype(str)
    return out


def fold_parts(splits: pd.DataFrame, fold: Fold) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """``(folds, parts)``: the sorted fold names of ``splits`` and the rows of ``fold``'s
    ``train`` (every other fold), ``val`` (the fold) and ``test`` parts.

    Rows marked ``excluded`` are in no part. Raises ``ValueError`` when the fold is missing or
    a part is empty.
    """
    split = splits["split"].astype(str)
    is_fold = split.map(Fold.is_name).astype(bool)
    folds = sorted(split[is_fold].unique(), key=lambda s: Fold.parse(s).index)
    if fold.name not in folds:
        raise ValueError(f"split table: fold {fold.name!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")
    parts = {"train": splits[is_fold & (split != fold.name)], "val": splits[split == fold.name],
             "test": splits[split == "test"]}
    for part, rows in parts.items():
        if rows.empty:
            raise ValueError(f"split table: the {part} part of {fold.name} is empty")
    return folds, parts


def plain_table(rows: Sequence[int] | pd.DataFrame,
                targets: Sequence[int] | None = None) -> pd.DataFrame:
    """A table ``row,transform,target`` without augmentation (transform 0).

    ``rows`` is a frame with ``row`` and ``target`` columns, or cache rows (targets 0 unless
    ``targets`` is given).
    """
    if isinstance(rows, pd.DataFrame):
        rows, targets = rows["row"], rows["target"]
    rows = np.asarray(rows, dtype=np.int64)
    targets = (np.zeros(len(rows), np.int64) if targets is None
               else np.asarray(targets, dtype=np.int64))
    return pd.DataFrame({"row": rows, "transform": np.zeros(len(rows), np.int64),
                         "target": targets})
