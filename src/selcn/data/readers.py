"""Readers of the datasets as published -> one table per dataset.

Every reader returns a :class:`pandas.DataFrame` with one row per usable image:
``image_id, label, target, group, source, path, mask_path`` (``mask_path`` empty when the
dataset has no masks; ``group`` = lesion_id where known, else image_id) plus
dataset-specific columns (``lesion_id``; SymDerm ``ham_image_id``, ``symmetry_label``;
ISIC 2016 ``official_split``; PH² ``diagnosis``, ``asymmetry``, ``symderm_label``).
What they check, each failure one :class:`DataFormatError`
naming the file and the field: missing file / image / mask, missing or misspelled CSV
column, a column named twice, unknown label, duplicate image id, empty dataset. Image
*content* (unreadable or truncated files, bit depth, EXIF orientation, mask values, size) is
checked where it is decoded, by the loader of :mod:`selcn.data.preprocess`.
"""

from __future__ import annotations

import csv
import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.data.labels import (
    HAM_CLASSES,
    ISIC2016_CLASSES,
    ISIC2016_TEST_LABELS,
    ISIC2019_COLUMNS,
    ISIC2019_DROPPED,
    ISIC2019_TO_HAM,
    PH2_ASYMMETRY_TO_SYMMETRY,
    PH2_DIAGNOSIS_COLUMNS,
    PH2_TO_HAM,
    SYMDERM_TO_SYMMETRY,
    classes,
    target_of,
)

__all__ = ["DataFormatError", "read_ham10000", "read_symderm", "read_isic2019",
           "read_isic2016", "read_ph2", "read_ph2_sheet", "PH2_VIEWS", "read_dataset",
           "ham10000_image_ids", "duplicated_column", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("image_id", "label", "target", "group", "source", "path", "mask_path")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class DataFormatError(ValueError):
    """A dataset file is missing or does not follow its published format."""


# ---------------------------------------------------------------------------- helpers
def _need_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found ({what})")
    return path


def _need_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DataFormatError(f"{path}: directory not found ({what})")
    return path


def duplicated_column(path: str | Path) -> str:
    """``"column 'a' (fields 2 and 5)"`` when the header line of the CSV ``path`` names a column
    twice (pandas would silently read the second as ``a.1``), else ``""``. Names are compared
    after stripping spaces, as the readers do."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        names = next(csv.reader(fh), [])
    first: dict[str, int] = {}
    for i, name in enumerate(n.strip() for n in names):
        if name in first:
            return f"column {name!r} (fields {first[name] + 1} and {i + 1})"
        first[name] = i
    return ""


def _read_csv(path: Path, columns: Sequence[str], what: str, header: bool = True) -> pd.DataFrame:
    try:
        if header:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            twice = duplicated_column(path)
            if twice:
                raise DataFormatError(f"{path}: duplicated {twice} in the header ({what})")
        else:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, header=None)
            if table.shape[1] != len(columns):
                raise DataFormatError(f"{path}: expected {len(columns)} fields per row "
                                      f"({', '.join(columns)}), found {table.shape[1]} ({what})")
            table.columns = list(columns)
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{path}: empty file, no rows ({what})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: not a readable CSV ({what}): {err}") from None
    table.columns = [c.strip() for c in table.columns]
    for col in columns:
        if col not in table.columns:
            close = difflib.get_close_matches(col, table.columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataFormatError(f"{path}: missing column {col!r} (found: "
                                  f"{', '.join(map(str, table.columns))}){hint}")
    if table.empty:
        raise DataFormatError(f"{path}: no rows (empty dataset, {what})")
    for col in columns:
        table[col] = table[col].str.strip()
    return table


def _no_duplicates(table: pd.DataFrame, col: str, path: Path) -> None:
    dup = table[col].duplicated(keep=False)
    if dup.any():
        value = table.loc[dup, col].iloc[0]
        rows = (np.nonzero((table[col] == value).to_numpy())[0] + 2).tolist()   # 1 = header
        raise DataFormatError(f"{path}: duplicate image id {value!r} in field {col!r} "
                              f"(lines {', '.join(map(str, rows))})")


def _unknown_label(path: Path, field: str, table: pd.DataFrame, bad: pd.Series,
                   allowed: Iterable, header: bool = True) -> DataFormatError:
    i = int(np.nonzero(bad.to_numpy())[0][0])
    value = table[field].iloc[i]
    line = i + (2 if header else 1)
    return DataFormatError(f"{path}: field {field!r} has unknown label {value!r} (line {line}); "
                           f"expected one of {', '.join(map(str, allowed))}")


def _index_dirs(dirs: Sequence[str | Path], what: str) -> dict[str, Path]:
    """``stem -> path`` of every image file in ``dirs`` (one listing per directory)."""
    found: dict[str, Path] = {}
    for d in dirs:
        d = _need_dir(d, what)
        with os.scandir(d) as it:
            for entry in it:
                stem, ext = os.path.splitext(entry.name)
                if ext.lower() in IMAGE_EXTENSIONS and entry.is_file():
                    found.setdefault(stem, Path(entry.path))
    return found


def _missing(message: str, missing: list[str] | None) -> None:
    """Raise ``message`` as a :class:`DataFormatError`, or collect it when ``missing`` is a list
    (the lenient mode of :func:`selcn.data.check.check_data`)."""
    if missing is None:
        raise DataFormatError(message)
    missing.append(message)


@dataclass(frozen=True)
class _Files:
    """The files of one kind (images or masks) a reader looks its ids up in.

    Attributes:
        found: ``stem -> path`` of every file in ``dirs`` (:func:`_index_dirs`).
        dirs: the directories listed, named in the message for a missing file.
        what: what a file is, for that message (``"image"``, ``"mask"``).
        suffix: what a file's stem adds to the image id (``"_segmentation"`` for the
            HAM10000 masks; ``""``: the stem is the id).
    """

    found: Mapping[str, Path]
    dirs: Sequence[str | Path]
    what: str
    suffix: str = ""


def _locate(ids: Iterable[str], files: _Files, source: Path, field: str,
            lines: Sequence[int] | None = None, missing: list[str] | None = None) -> list[str]:
    """Path of every id of the CSV ``source``'s column ``field`` in ``files`` (``""`` for a
    missing one when ``missing`` collects the problems). ``lines``: the CSV line of each id,
    named in the message (default: 2, 3, ... after a header)."""
    paths = []
    for i, image_id in enumerate(ids):
        p = files.found.get(image_id + files.suffix)
        if p is None:
            where = ", ".join(map(str, files.dirs))
            line = lines[i] if lines is not None else i + 2
            _missing(f"{source}: {files.what} of {field} {image_id!r} (line {line}) not found in "
                     f"{where}", missing)
        paths.append(str(p) if p is not None else "")
    return paths


def _drop_missing(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose image (and mask, where the dataset has masks) were found."""
    keep = table["path"] != ""
    if "mask_path" in table and (table["mask_path"] != "").any():
        keep &= table["mask_path"] != ""
    return table[keep]


def _finish(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    table["target"] = [target_of(dataset, lab) for lab in table["label"]]
    table["target"] = table["target"].astype(np.int64)
    rest = [c for c in table.columns if c not in TABLE_COLUMNS]
    return table[list(TABLE_COLUMNS) + rest].reset_index(drop=True)


# ---------------------------------------------------------------------------- readers
def read_ham10000(metadata: str | Path, image_dirs: Sequence[str | Path],
                  mask_dir: str | Path | None = None,
                  missing: list[str] | None = None) -> pd.DataFrame:
    """HAM10000: ``HAM10000_metadata.csv`` (``lesion_id,image_id,dx,...``), the JPEGs in
    ``image_dirs`` (``HAM10000_images_part1/2``) and, when given, the Tschandl et al.
    masks ``<image_id>_segmentation.png`` in ``mask_dir``. ``group`` = ``lesion_id``.

    Every reader raises on the first missing image or mask; with ``missing`` (a list) it
    appends one message per missing file instead and leaves those rows out."""
    path = _need_file(metadata, "HAM10000 metadata")
    t = _read_csv(path, ("lesion_id", "image_id", "dx"), "HAM10000 metadata")
    _no_duplicates(t, "image_id", path)
    bad = ~t["dx"].isin(HAM_CLASSES)
    if bad.any():
        raise _unknown_label(path, "dx", t, bad, HAM_CLASSES)
    if (t["lesion_id"] == "").any():
        i = int(np.nonzero((t["lesion_id"] == "").to_numpy())[0][0])
        raise DataFormatError(f"{path}: field 'lesion_id' is empty (line {i + 2})")
    dirs = [Path(d) for d in ([image_dirs] if isinstance(image_dirs, (str, Path)) else image_dirs)]
    found = _index_dirs(dirs, "HAM10000 images")
    out = pd.DataFrame({
        "image_id": t["image_id"], "label": t["dx"], "group": t["lesion_id"],
        "source": t["dataset"] if "dataset" in t.columns else "HAM10000",
        "path": _locate(t["image_id"], _Files(found, dirs, "image"), path, "image_id",
                        missing=missing),
        "lesion_id": t["lesion_id"],
    })
    if mask_dir:
        masks = _Files(_index_dirs([mask_dir], "HAM10000 masks"), [mask_dir], "mask",
                       suffix="_segmentation")
        out["mask_path"] = _locate(t["image_id"], masks, path, "image_id", missing=missing)
    else:
        out["mask_path"] = ""
    return _finish(_drop_missing(out), "ham10000")


def read_symderm(csv: str | Path, image_dir: str | Path, mask_dir: str | Path | None = None,
                 ham_metadata: str | Path | None = None,
                 missing: list[str] | None = None) -> pd.DataFrame:
    """SymDerm v2.0: CSV ``File,Mask,Dataset,labels_symmetry`` (labels 0/1/2 -> asymmetric /
    symmetric), images in ``image_dir``, masks (the ``Mask`` column) in ``mask_dir``.

    ``ham_image_id`` = the image id for rows of ``Dataset == HAM10000``, else empty. With
    ``ham_metadata`` (HAM10000's CSV) their ``group`` is the HAM ``lesion_id``, so that
    splits can keep a lesion on one side; other rows are grouped by image id."""
    path = _need_file(csv, "SymDerm CSV")
    t = _read_csv(path, ("File", "Mask", "Dataset", "labels_symmetry"), "SymDerm v2.0")
    _no_duplicates(t, "File", path)
    raw = pd.to_numeric(t["labels_symmetry"], errors="coerce")
    bad = ~raw.isin(list(SYMDERM_TO_SYMMETRY))
    if bad.any():
        raise _unknown_label(path, "labels_symmetry", t, bad, list(SYMDERM_TO_SYMMETRY))
    image_id = t["File"].map(lambda f: os.path.splitext(os.path.basename(f))[0])
    _no_duplicates(pd.DataFrame({"image_id": image_id}), "image_id", path)
    image_dir = _need_dir(image_dir, "SymDerm images")
    paths = []
    for i, f in enumerate(t["File"]):
        p = image_dir / f
        if not p.is_file():
            _missing(f"{path}: image of field 'File' {f!r} (line {i + 2}) not found in "
                     f"{image_dir}", missing)
        paths.append(str(p) if p.is_file() else "")
    is_ham = t["Dataset"].str.upper().str.replace(" ", "") == "HAM10000"
    out = pd.DataFrame({
        "image_id": image_id, "label": raw.astype(int).map(SYMDERM_TO_SYMMETRY),
        "group": image_id, "source": t["Dataset"], "path": paths,
        "ham_image_id": image_id.where(is_ham, ""), "symmetry_label": raw.astype(int),
    })
    if mask_dir:
        mask_dir = _need_dir(mask_dir, "SymDerm masks")
        masks = []
        for i, m in enumerate(t["Mask"]):
            ok = m != "" and (mask_dir / m).is_file()
            if not ok:
                _missing(f"{path}: mask of field 'Mask' {m!r} (line {i + 2}) not found in "
                         f"{mask_dir}", missing)
            masks.append(str(mask_dir / m) if ok else "")
        out["mask_path"] = masks
    else:
        out["mask_path"] = ""
    if ham_metadata:
        ham_path = _need_file(ham_metadata, "HAM10000 metadata")
        ham = _read_csv(ham_path, ("lesion_id", "image_id"), "HAM10000 metadata")
        lesion_of = dict(zip(ham["image_id"], ham["lesion_id"]))
        known = out["ham_image_id"].map(lambda i: lesion_of.get(i, ""))
        out["group"] = known.where(known != "", out["image_id"])
    return _finish(_drop_missing(out), "symderm")


def read_isic2019(ground_truth: str | Path, metadata: str | Path | None,
                  image_dir: str | Path, exclude_ids: Iterable[str] = (),
                  missing: list[str] | None = None) -> pd.DataFrame:
    """ISIC 2019: one-hot ``ISIC_2019_Training_GroundTruth.csv``
    (``image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK``), metadata CSV
    (``image,...,lesion_id,...``; optional) and ``<image>.jpg`` in ``image_dir``.

    Rows of ``SCC`` and ``UNK`` are dropped, and so is every image id in ``exclude_ids``
    (pass HAM10000's ids: the external test set must not contain training images).
    Both drops are counted in ``DataFrame.attrs["dropped"]``."""
    path = _need_file(ground_truth, "ISIC 2019 ground truth")
    t = _read_csv(path, ("image",) + ISIC2019_COLUMNS, "ISIC 2019 ground truth")
    _no_duplicates(t, "image", path)
    onehot = t[list(ISIC2019_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    valid = onehot.isin([0.0, 1.0]).all(axis=1) & (onehot.sum(axis=1) == 1)
    if not valid.all():
        i = int(np.nonzero((~valid).to_numpy())[0][0])
        raise DataFormatError(f"{path}: line {i + 2} (image {t['image'].iloc[i]!r}) is not one-hot "
                              f"over the fields {', '.join(ISIC2019_COLUMNS)}")
    column = onehot.idxmax(axis=1)
    dropped_class = column.isin(ISIC2019_DROPPED)
    exclude = set(exclude_ids)
    dropped_ham = t["image"].isin(exclude) & ~dropped_class
    keep = ~dropped_class & ~dropped_ham
    if not keep.any():
        raise DataFormatError(f"{path}: no rows left after dropping {', '.join(ISIC2019_DROPPED)} "
                              f"and HAM10000 images (empty dataset)")
    lines = (np.nonzero(keep.to_numpy())[0] + 2).tolist()            # CSV line numbers
    t, column = t[keep].reset_index(drop=True), column[keep].reset_index(drop=True)
    lesion = pd.Series([""] * len(t))
    if metadata:
        mpath = _need_file(metadata, "ISIC 2019 metadata")
        meta = _read_csv(mpath, ("image", "lesion_id"), "ISIC 2019 metadata")
        _no_duplicates(meta, "image", mpath)
        lesion = t["image"].map(dict(zip(meta["image"], meta["lesion_id"]))).fillna("")
    image_dir = _need_dir(image_dir, "ISIC 2019 images")
    found = _index_dirs([image_dir], "ISIC 2019 images")
    out = pd.DataFrame({
        "image_id": t["image"], "label": column.map(ISIC2019_TO_HAM),
        "group": lesion.where(lesion != "", t["image"]), "source": "ISIC2019",
        "path": _locate(t["image"], _Files(found, [image_dir], "image"), path, "image",
                        lines=lines, missing=missing),
        "mask_path": "", "lesion_id": lesion,
    })
    out = _finish(_drop_missing(out), "isic2019")
    out.attrs["dropped"] = {"SCC/UNK": int(dropped_class.sum()),
                            "in HAM10000": int(dropped_ham.sum())}
    return out


def read_isic2016(train_ground_truth: str | Path, test_ground_truth: str | Path,
                  train_image_dir: str | Path, test_image_dir: str | Path,
                  missing: list[str] | None = None) -> pd.DataFrame:
    """ISIC 2016 part 3: header-less ``image,benign|malignant`` (training) and
    ``image,0.0|1.0`` (test) CSVs, ``<image>.jpg`` in the two image directories.
    ``official_split`` = ``train`` / ``test``; ``source`` = ``ISIC2016_train`` / ``_test``."""
    parts = []
    for split, gt, img_dir in (("train", train_ground_truth, train_image_dir),
                               ("test", test_ground_truth, test_image_dir)):
        path = _need_file(gt, f"ISIC 2016 {split} ground truth")
        t = _read_csv(path, ("image", "label"), f"ISIC 2016 {split} ground truth", header=False)
        if split == "train":
            bad = ~t["label"].isin(ISIC2016_CLASSES)
            if bad.any():
                raise _unknown_label(path, "label", t, bad, ISIC2016_CLASSES, header=False)
            label = t["label"]
        else:
            num = pd.to_numeric(t["label"], errors="coerce")
            bad = ~num.isin(list(ISIC2016_TEST_LABELS))
            if bad.any():
                raise _unknown_label(path, "label", t, bad, ["0.0", "1.0"], header=False)
            label = num.map(ISIC2016_TEST_LABELS)
        _no_duplicates(t, "image", path)
        img_dir = _need_dir(img_dir, f"ISIC 2016 {split} images")
        found = _index_dirs([img_dir], f"ISIC 2016 {split} images")
        locs = []
        for i, image_id in enumerate(t["image"]):
            if image_id not in found:
                _missing(f"{path}: image of field 'image' {image_id!r} (line {i + 1}) not found "
                         f"in {img_dir}", missing)
            locs.append(str(found[image_id]) if image_id in found else "")
        parts.append(pd.DataFrame({"image_id": t["image"], "label": label, "group": t["image"],
                                   "source": f"ISIC2016_{split}", "path": locs, "mask_path": "",
                                   "official_split": split}))
    out = _drop_missing(pd.concat(parts, ignore_index=True)).reset_index(drop=True)
    dup = out["image_id"].duplicated(keep=False)
    if dup.any():
        raise DataFormatError(f"{test_ground_truth}: image id {out.loc[dup, 'image_id'].iloc[0]!r} "
                              f"is in both the training and the test ground truth")
    return _finish(out, "isic2016")


#: the PH² datasets (one per label set, :mod:`selcn.data.labels`) -> the label of a row
PH2_VIEWS: Mapping[str, str] = {"ph2": "diagnosis", "ph2_symmetry": "symmetry", "ph2_ham": "ham"}
#: the published sub-folders of one PH² case ``IMDxxx`` under ``PH2 Dataset images/``
_PH2_IMAGE = "{0}/{0}_Dermoscopic_Image/{0}.bmp"
_PH2_MASK = "{0}/{0}_lesion/{0}_lesion.bmp"


def _ph2_header(cell: object) -> str:
    """A header cell of the PH² sheet as a name: its first line, stripped (``"Asymmetry\n
    (0/1/2)"`` -> ``"Asymmetry"``)."""
    return str(cell).strip().splitlines()[0].strip() if cell is not None and str(cell).strip() \
        else ""


def read_ph2_sheet(xlsx: str | Path) -> pd.DataFrame:
    """The case rows of PH²'s official spreadsheet ``PH2_dataset.xlsx``: ``image_id``,
    ``diagnosis`` (one of :data:`selcn.data.labels.PH2_CLASSES`), ``asymmetry`` (0/1/2) and
    ``line`` (the sheet's row number).

    The sheet has a block of legends on top, then a two-row header (``Clinical Diagnosis`` over
    the three diagnosis columns; the row naming ``Image Name``, ``Common Nevus``, ``Atypical
    Nevus``, ``Melanoma``, ``Asymmetry (0/1/2)``, ...), then one row per case until the first
    empty ``Image Name``. Raises :class:`DataFormatError` naming the file and the row: no
    ``Image Name`` header, a missing column, a diagnosis that is not an ``X`` in exactly one of
    the three columns, an asymmetry other than 0/1/2, a duplicate image name, no case.
    """
    path = _need_file(xlsx, "PH2 spreadsheet")
    try:
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # zipfile / openpyxl raise many types for a broken file
        raise DataFormatError(f"{path}: not a readable xlsx file (PH2 spreadsheet): "
                              f"{type(err).__name__}: {err}") from None
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    header_at = next((i for i, r in enumerate(rows) if r and _ph2_header(r[0]) == "Image Name"),
                     None)
    if header_at is None:
        raise DataFormatError(f"{path}: no header row with 'Image Name' in its first column "
                              "(PH2 spreadsheet)")
    names = [_ph2_header(c) for c in rows[header_at]]
    wanted = ["Image Name", *PH2_DIAGNOSIS_COLUMNS, "Asymmetry"]
    col = {}
    for name in wanted:
        if name not in names:
            close = difflib.get_close_matches(name, [n for n in names if n], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataFormatError(f"{path}: row {header_at + 1}: missing column {name!r} "
                                  f"(PH2 spreadsheet){hint}")
        col[name] = names.index(name)
    out = []
    for i in range(header_at + 1, len(rows)):
        row, line = rows[i], i + 1
        values = {name: row[j] if j < len(row) else None for name, j in col.items()}
        cell = values.get
        image_id = str(cell("Image Name") or "").strip()
        if not image_id:
            break
        marked = [cls for name, cls in PH2_DIAGNOSIS_COLUMNS.items()
                  if str(cell(name) or "").strip().upper() == "X"]
        if len(marked) != 1:
            raise DataFormatError(
                f"{path}: row {line} (image {image_id!r}): the clinical diagnosis must be an 'X' "
                f"in exactly one of the columns {', '.join(PH2_DIAGNOSIS_COLUMNS)}, found "
                f"{len(marked)}")
        raw = cell("Asymmetry")
        try:
            asymmetry = int(float(str(raw).strip()))
            if float(str(raw).strip()) != asymmetry:
                raise ValueError
        except (TypeError, ValueError):
            asymmetry = -1
        if asymmetry not in PH2_ASYMMETRY_TO_SYMMETRY:
            raise DataFormatError(f"{path}: row {line} (image {image_id!r}): field 'Asymmetry' "
                                  f"has unknown value {raw!r}; expected 0, 1 or 2")
        out.append({"image_id": image_id, "diagnosis": marked[0], "asymmetry": asymmetry,
                    "line": line})
    if not out:
        raise DataFormatError(f"{path}: no case rows below the header (empty dataset, PH2 "
                              "spreadsheet)")
    table = pd.DataFrame(out)
    dup = table["image_id"].duplicated(keep=False)
    if dup.any():
        lines = table.loc[table["image_id"] == table.loc[dup, "image_id"].iloc[0], "line"]
        raise DataFormatError(f"{path}: duplicate image id {table.loc[dup, 'image_id'].iloc[0]!r}"
                              f" in field 'Image Name' (rows {', '.join(map(str, lines))})")
    return table


def read_ph2(xlsx: str | Path, images_root: str | Path, dataset: str = "ph2",
             missing: list[str] | None = None) -> pd.DataFrame:
    """PH² as distributed: the official ``PH2_dataset.xlsx`` (:func:`read_ph2_sheet`) and,
    under ``images_root`` (``PH2 Dataset images/``), ``IMDxxx/IMDxxx_Dermoscopic_Image/
    IMDxxx.bmp`` and the expert lesion mask ``IMDxxx/IMDxxx_lesion/IMDxxx_lesion.bmp`` (1-bit).

    One image per lesion (``group`` = image id). ``label`` follows ``dataset``
    (:data:`PH2_VIEWS`): ``ph2`` the clinical diagnosis, ``ph2_symmetry`` the asymmetry as a
    symmetry class, ``ph2_ham`` the diagnosis in HAM10000's classes. Extra columns:
    ``diagnosis``, ``asymmetry`` (0/1/2), ``symderm_label`` (SymDerm's ``labels_symmetry`` of
    the image, ``2 - asymmetry``). ``missing`` as in :func:`read_ham10000`."""
    if dataset not in PH2_VIEWS:
        raise ValueError(f"read_ph2: unknown PH2 dataset {dataset!r} (one of "
                         f"{', '.join(PH2_VIEWS)})")
    path = Path(xlsx)
    t = read_ph2_sheet(path)
    root = _need_dir(images_root, "PH2 images")
    paths, masks = [], []
    for image_id, line in zip(t["image_id"], t["line"]):
        found = []
        for what, pattern in (("image", _PH2_IMAGE), ("mask", _PH2_MASK)):
            p = root / pattern.format(image_id)
            if not p.is_file():
                _missing(f"{path}: {what} of field 'Image Name' {image_id!r} (row {line}) not "
                         f"found: {p}", missing)
            found.append(str(p) if p.is_file() else "")
        paths.append(found[0])
        masks.append(found[1])
    view = PH2_VIEWS[dataset]
    label = (t["diagnosis"] if view == "diagnosis" else
             t["asymmetry"].map(PH2_ASYMMETRY_TO_SYMMETRY) if view == "symmetry" else
             t["diagnosis"].map(PH2_TO_HAM))
    out = pd.DataFrame({
        "image_id": t["image_id"], "label": label, "group": t["image_id"], "source": "PH2",
        "path": paths, "mask_path": masks, "diagnosis": t["diagnosis"],
        "asymmetry": t["asymmetry"], "symderm_label": 2 - t["asymmetry"],
    })
    return _finish(_drop_missing(out), dataset)


def ham10000_image_ids(metadata: str | Path) -> list[str]:
    """Every ``image_id`` of ``HAM10000_metadata.csv`` (what ISIC 2019 must not contain)."""
    path = _need_file(metadata, "HAM10000 metadata")
    return _read_csv(path, ("image_id",), "HAM10000 metadata")["image_id"].tolist()


def read_dataset(dataset: str, paths: Mapping, ham_metadata: str | Path | None = None,
                 exclude_ids: Iterable[str] = (), missing: list[str] | None = None) -> pd.DataFrame:
    """Read ``dataset`` from its config block ``data.<dataset>`` (or :func:`dataset_paths`;
    the PH² datasets of :data:`PH2_VIEWS` from ``data.ph2``).
    ``missing``: collect missing images / masks instead of raising (see :func:`read_ham10000`)."""
    p = paths
    if dataset == "ham10000":
        return read_ham10000(p["metadata"], p["image_dirs"], p.get("mask_dir"), missing=missing)
    if dataset == "symderm":
        return read_symderm(p["csv"], p["image_dir"], p.get("mask_dir"), ham_metadata=ham_metadata,
                            missing=missing)
    if dataset == "isic2019":
        return read_isic2019(p["ground_truth"], p.get("metadata"), p["image_dir"],
                             exclude_ids=exclude_ids, missing=missing)
    if dataset == "isic2016":
        return read_isic2016(p["train_ground_truth"], p["test_ground_truth"],
                             p["train_image_dir"], p["test_image_dir"], missing=missing)
    if dataset in PH2_VIEWS:
        return read_ph2(p["xlsx"], p["images_root"], dataset, missing=missing)
    classes(dataset)                                        # raises for an unknown name
    raise AssertionError(dataset)
