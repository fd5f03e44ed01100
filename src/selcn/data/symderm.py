"""SymDerm v2.0's ``images/`` and ``masks/`` from the sources a user has
(``selcn symderm-assemble``), and the label file's rows by source.

SymDerm v2.0 (Talavera-Martínez et al. 2023) is distributed as labels only: a CSV
``File,Mask,Dataset,labels_symmetry`` naming, per row, an image file, a mask file and the source
it comes from (thesis Table 1: dermis, dermquest, EDRA, PH², HAM10000, ISIC 2018). The workflow
reads ``data.symderm``: the label file, ``image_dir`` holding every ``File`` and ``mask_dir``
holding every ``Mask``. :func:`assemble` builds those two folders from the sources it reads
(:data:`READ_SOURCES`):

* **PH²** as distributed (:attr:`Sources.ph2`, the ``PH2Dataset`` folder or its
  ``PH2 Dataset images``): ``IMDxxx.bmp`` is ``IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp``;
  the mask ``IMDxxx.png`` is the 1-bit ``IMDxxx/IMDxxx_lesion/IMDxxx_lesion.bmp`` written as an
  8-bit PNG, 0 / 255 (the one file converted; a mask named ``.bmp`` is linked as it is);
* **HAM10000** (:attr:`Sources.ham10000_images`, :attr:`Sources.ham10000_masks`): the image
  ``<id>.jpg`` from the image folders (``HAM10000_images_part1/2``), the mask ``<id>.png`` =
  Tschandl et al.'s ``<id>_segmentation.png`` (or ``<id>.png``);
* **ISIC 2018** task 1 (:attr:`Sources.isic2018_images`, :attr:`Sources.isic2018_masks`): the
  same naming (``ISIC2018_Task1-2_*_Input/``, ``ISIC2018_Task1_*_GroundTruth/``).

A row's ``Dataset`` value picks its source (:func:`source_key`: ``PH2``, ``PH²``, ``ISIC 2018``
are read as ``ph2``, ``isic2018``). Files are hard-linked, or copied (across file systems, or
with ``copy=True``), through a temporary name, so a file is complete or absent; the sources are
never modified. A file already in place with the same content (the same pixels, for a converted
mask) is kept; one with other content is never overwritten: :func:`assemble` then raises
:class:`AssembleError` listing them, before writing anything. Rows whose source this command does
not read (dermis, dermquest — offline since 2019 —, EDRA — on the CD-ROM of its atlas) or whose
file is not found stay missing and are reported by source (:class:`AssembleReport`);
``data.symderm.missing: skip`` runs the symmetry stage on the rows that exist, and the data
check and the report give the rows left out by source (:func:`left_out_by_source`).
"""

from __future__ import annotations

import errno
import filecmp
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.atomic import atomic_path, write_csv
from selcn.data.readers import DataFormatError

__all__ = ["LABEL_COLUMNS", "READ_SOURCES", "SOURCE_NOTES", "Sources", "Placement",
           "AssembleReport", "AssembleError", "source_key", "read_labels", "plan_assembly",
           "assemble", "left_out_by_source", "MISSING_FILE"]

#: the columns of SymDerm v2.0's label file
LABEL_COLUMNS: tuple[str, ...] = ("File", "Mask", "Dataset", "labels_symmetry")
#: the sources :func:`assemble` reads (:func:`source_key` of a row's ``Dataset``)
READ_SOURCES: tuple[str, ...] = ("ph2", "ham10000", "isic2018")
#: why a source this command does not read has no files (by :func:`source_key`)
SOURCE_NOTES: dict[str, str] = {
    "dermquest": "dermquest.com has been offline since 2019: no download",
    "edra": "EDRA (Interactive Atlas of Dermoscopy) ships on CD-ROM: copy its files by hand",
    "dermis": "DermIS (dermis.net) has no bulk download: save its files by hand",
}
#: the options naming each source read (in the reports of a source not given)
_OPTIONS: dict[str, str] = {"ph2": "--ph2", "ham10000": "--ham10000-images / --ham10000-masks",
                            "isic2018": "--isic2018-images / --isic2018-masks"}
#: the full list of the rows still missing, written into the output folder
MISSING_FILE = "missing_rows.csv"
#: problems named in an error or a summary (the count is always complete)
_NAMED = 10


def source_key(dataset: str) -> str:
    """The source of a label-file row from its ``Dataset`` value: lower case, without spaces,
    ``-`` / ``_``, ``²`` read as ``2`` (``"PH²"`` -> ``"ph2"``, ``"ISIC 2018"`` ->
    ``"isic2018"``, ``"EDRA"`` -> ``"edra"``)."""
    return re.sub(r"[\s_\-]", "", str(dataset)).replace("²", "2").lower()


def read_labels(csv: str | Path) -> pd.DataFrame:
    """SymDerm's label file as text: ``File, Mask, Dataset, labels_symmetry`` and ``line`` (the
    CSV line of each row). :class:`DataFormatError` naming the file for a missing file or
    column or an empty ``File``."""
    path = Path(csv)
    if not path.is_file():
        raise DataFormatError(f"{path}: SymDerm label file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: not a readable CSV ({err})") from None
    missing = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column {missing[0]!r} (found: "
                              f"{', '.join(table.columns)}; SymDerm v2.0 has "
                              f"{', '.join(LABEL_COLUMNS)})")
    table = table[list(LABEL_COLUMNS)].apply(lambda c: c.str.strip())
    empty = table.index[table["File"] == ""]
    if len(empty):
        raise DataFormatError(f"{path}: field 'File' is empty (line {int(empty[0]) + 2})")
    table = table.assign(line=np.arange(len(table)) + 2)
    table.attrs["path"] = str(path)
    return table


def left_out_by_source(csv: str | Path, kept_ids: Iterable[str]) -> dict[str, int]:
    """Rows of the label file ``csv`` whose image id (``File`` without folder and extension) is
    not among ``kept_ids`` (e.g. a cache index's), counted by their ``Dataset`` value as
    written, largest first; ``{}`` when none is left out."""
    table = read_labels(csv)
    ids = table["File"].map(lambda f: os.path.splitext(os.path.basename(f))[0])
    left = table.loc[~ids.isin(set(map(str, kept_ids))), "Dataset"]
    return {str(k): int(v) for k, v in Counter(left).most_common()}


# ---- the sources ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    """The folders a user has, as published (None / ``()`` = not given).

    Attributes:
        ph2: PH²'s ``PH2Dataset`` folder, or its ``PH2 Dataset images`` folder (``IMDxxx/``).
        ham10000_images: HAM10000's image folders (``HAM10000_images_part1``, ``part2``).
        ham10000_masks: the folders of HAM10000's masks (``<id>_segmentation.png``).
        isic2018_images: ISIC 2018 task 1(-2) input folders (``<id>.jpg``).
        isic2018_masks: ISIC 2018 task 1 ground-truth folders (``<id>_segmentation.png``).
    """

    ph2: Path | None = None
    ham10000_images: tuple[Path, ...] = ()
    ham10000_masks: tuple[Path, ...] = ()
    isic2018_images: tuple[Path, ...] = ()
    isic2018_masks: tuple[Path, ...] = ()

    def folders(self) -> list[Path]:
        """Every folder given."""
        return [p for p in (self.ph2, *self.ham10000_images, *self.ham10000_masks,
                            *self.isic2018_images, *self.isic2018_masks) if p is not None]

    def check(self) -> None:
        """:class:`AssembleError` naming the first folder given that is not a folder."""
        for folder in self.folders():
            if not Path(folder).is_dir():
                raise AssembleError(f"{folder}: not a folder")

    def ph2_images_root(self) -> Path | None:
        """The folder holding PH²'s ``IMDxxx/`` case folders."""
        if self.ph2 is None:
            return None
        inner = Path(self.ph2) / "PH2 Dataset images"
        return inner if inner.is_dir() else Path(self.ph2)


class AssembleError(Exception):
    """Nothing was written: a source folder or the label file is unusable, or files in the
    output folder would be overwritten by other content (each named)."""


@dataclass(frozen=True)
class Placement:
    """One file of a label-file row: where it goes and where it comes from.

    Attributes:
        line: the row's CSV line.
        dataset: the row's ``Dataset`` value, as written.
        kind: ``image`` or ``mask``.
        target: its path in the output folder (``images/<File>``, ``masks/<Mask>``).
        origin: the source file, None when not found.
        convert: write the origin (a PH² 1-bit BMP mask) as an 8-bit PNG, 0 / 255.
        state: ``place`` (to write), ``kept`` (already there, same content), ``conflict``
            (already there, other content), ``missing`` (no origin, nothing there).
        reason: why it is missing or in conflict (``""`` otherwise).
    """

    line: int
    dataset: str
    kind: str
    target: Path
    origin: Path | None = None
    convert: bool = False
    state: str = "place"
    reason: str = ""


def _index(folders: Sequence[Path], suffix: str = "") -> dict[str, Path]:
    """``stem -> path`` of the files of ``folders`` (not recursive); with ``suffix`` the stems
    ending in it count without it (``ISIC_0000000_segmentation`` -> ``ISIC_0000000``), and win
    over a file of the bare stem."""
    found: dict[str, Path] = {}
    bare: dict[str, Path] = {}
    for folder in folders:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.is_file():
                continue
            stem = os.path.splitext(entry.name)[0]
            if suffix and stem.endswith(suffix):
                found.setdefault(stem[:-len(suffix)], Path(entry.path))
            else:
                bare.setdefault(stem, Path(entry.path))
    return {**bare, **found}


@dataclass
class _Lookup:
    """The files of the sources given, indexed once."""

    sources: Sources
    images: dict[str, dict[str, Path]] = field(default_factory=dict)
    masks: dict[str, dict[str, Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.sources
        for key, images, masks in (("ham10000", s.ham10000_images, s.ham10000_masks),
                                   ("isic2018", s.isic2018_images, s.isic2018_masks)):
            self.images[key] = _index(images)
            self.masks[key] = _index(masks, "_segmentation")

    def given(self, source: str, kind: str) -> bool:
        """Whether the folders of ``source``'s files of ``kind`` were given."""
        if source == "ph2":
            return self.sources.ph2 is not None
        return bool(getattr(self.sources, f"{source}_{kind}s"))

    def find(self, source: str, kind: str, name: str) -> tuple[Path | None, bool, str]:
        """``(origin, convert, reason)`` of file ``name`` (a ``File`` or ``Mask`` value) of a
        row of ``source``."""
        stem, ext = os.path.splitext(os.path.basename(name))
        if source == "ph2":
            root = self.sources.ph2_images_root()
            case = root / stem / (f"{stem}_Dermoscopic_Image/{stem}.bmp" if kind == "image"
                                  else f"{stem}_lesion/{stem}_lesion.bmp")
            if not case.is_file():
                return None, False, f"not found in {root} ({case.relative_to(root)})"
            return case, kind == "mask" and ext.lower() != ".bmp", ""
        files = (self.images if kind == "image" else self.masks)[source]
        origin = files.get(stem)
        if origin is None:
            folders = getattr(self.sources, f"{source}_{kind}s")
            return None, False, f"not found in {', '.join(map(str, folders))}"
        if origin.suffix.lower() != ext.lower():
            return None, False, (f"found {origin}, but the label file names a {ext or 'file'} "
                                 "(only PH²'s masks are converted)")
        return origin, False, ""


def _converted_mask(origin: Path) -> np.ndarray:
    """A PH² mask as the PNG holds it: uint8 ``(H, W)``, lesion 255, else 0."""
    from selcn.data.preprocess import decode_mask

    return decode_mask(origin).pixels.astype(np.uint8) * 255


def _same(target: Path, origin: Path, convert: bool) -> bool:
    """Whether the file at ``target`` already holds what would be written from ``origin``
    (the same file, the same bytes, or for a converted mask the same lesion pixels)."""
    try:
        if os.path.samefile(target, origin):
            return True
    except OSError:
        return False
    if not convert:
        return filecmp.cmp(target, origin, shallow=False)
    from selcn.data.preprocess import decode_mask

    try:
        have = decode_mask(target).pixels
    except DataFormatError:
        return False
    want = _converted_mask(origin) > 0
    return have.shape == want.shape and bool(np.array_equal(have > 0, want))


def _placement(line: int, dataset: str, kind: str, target: Path, lookup: _Lookup,
               name: str) -> Placement:
    source = source_key(dataset)
    if source in READ_SOURCES and lookup.given(source, kind):
        origin, convert, reason = lookup.find(source, kind, name)
    elif source in READ_SOURCES:
        origin, convert, reason = None, False, f"source not given ({_OPTIONS[source]})"
    else:
        origin, convert = None, False
        reason = SOURCE_NOTES.get(source, "a source this command does not read: place its "
                                          "files by hand")
    if target.is_file():
        if origin is None or _same(target, origin, convert):
            return Placement(line, dataset, kind, target, origin, convert, "kept")
        return Placement(line, dataset, kind, target, origin, convert, "conflict",
                         f"{target} differs from {origin}: not overwritten")
    if origin is None:
        return Placement(line, dataset, kind, target, None, False, "missing", reason)
    return Placement(line, dataset, kind, target, origin, convert)


def plan_assembly(labels: pd.DataFrame, sources: Sources, out: str | Path) -> list[Placement]:
    """Every file of every row of ``labels`` (:func:`read_labels`) into ``out``'s ``images/``
    and ``masks/`` (a row with an empty ``Mask`` has no mask), in label-file order; nothing is
    written. :class:`AssembleError` for a source folder that is not one, or a file name
    leaving its folder."""
    sources.check()
    lookup = _Lookup(sources)
    out = Path(out)
    plan = []
    for row in labels.itertuples(index=False):
        for kind, column, folder in (("image", "File", "images"), ("mask", "Mask", "masks")):
            name = getattr(row, column)
            if not name:
                continue
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise AssembleError(f"{labels.attrs.get('path', 'label file')}: line {row.line}:"
                                    f" field {column!r} {name!r} leaves the {folder}/ folder")
            plan.append(_placement(int(row.line), row.Dataset, kind, out / folder / name,
                                   lookup, name))
    return plan


def _place(item: Placement, copy: bool) -> None:
    """Write ``item.target`` from its origin through a temporary name (hard link, else copy;
    a PH² mask converted to PNG)."""
    with atomic_path(item.target) as tmp:
        if item.convert:
            from PIL import Image

            Image.fromarray(_converted_mask(item.origin), mode="L").save(tmp, format="PNG")
            return
        if not copy:
            try:
                os.link(item.origin, tmp)
                return
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
        shutil.copyfile(item.origin, tmp)


@dataclass
class AssembleReport:
    """What :func:`assemble` did, by source.

    Attributes:
        labels: the label file read.
        out: the output folder (``images/``, ``masks/``).
        plan: every file (:class:`Placement`), after the run: ``place`` = written now.
        dry_run: nothing was written.
    """

    labels: str
    out: Path
    plan: list[Placement]
    dry_run: bool = False

    @property
    def missing(self) -> list[Placement]:
        """The files still missing."""
        return [p for p in self.plan if p.state == "missing"]

    @property
    def missing_rows(self) -> int:
        """Label-file rows with a missing image or mask."""
        return len({p.line for p in self.missing})

    @property
    def complete(self) -> bool:
        return not self.missing

    def table(self) -> pd.DataFrame:
        """One row per source (``Dataset`` as written, in label-file order) and a total:
        ``source, rows, complete, missing rows, files written, files kept, note`` (the note:
        why its files are missing, the first reason)."""
        rows: dict[str, dict] = {}
        lines: dict[str, dict[int, bool]] = {}
        for p in self.plan:
            r = rows.setdefault(p.dataset, {"source": p.dataset, "written": 0, "kept": 0,
                                            "note": ""})
            ok = lines.setdefault(p.dataset, {})
            ok[p.line] = ok.get(p.line, True) and p.state != "missing"
            r["written"] += p.state == "place"
            r["kept"] += p.state == "kept"
            if p.state == "missing" and not r["note"]:
                r["note"] = p.reason
        out = []
        for source, r in rows.items():
            n, done = len(lines[source]), sum(lines[source].values())
            out.append({"source": source, "rows": n, "complete": done, "missing rows": n - done,
                        "files written" if not self.dry_run else "files to write": r["written"],
                        "files kept": r["kept"], "note": r["note"]})
        frame = pd.DataFrame(out)
        if len(frame):
            total = {c: frame[c].sum() for c in frame.columns if frame[c].dtype.kind in "iu"}
            frame = pd.concat([frame, pd.DataFrame([{"source": "total", **total, "note": ""}])],
                              ignore_index=True)
        return frame

    def missing_table(self) -> pd.DataFrame:
        """Every missing file: ``line, Dataset, kind, file, reason``."""
        return pd.DataFrame([{"line": p.line, "Dataset": p.dataset, "kind": p.kind,
                              "file": p.target.name, "reason": p.reason} for p in self.missing],
                            columns=["line", "Dataset", "kind", "file", "reason"])

    def __str__(self) -> str:
        verb = "would be assembled (dry run)" if self.dry_run else "assembled"
        lines = [f"SymDerm v2.0 {verb} from {self.labels} into {self.out}/images and "
                 f"{self.out}/masks:", self.table().to_string(index=False)]
        if self.complete:
            lines.append("every row has its image and mask")
            return "\n".join(lines)
        lines.append(f"\n{len(self.missing)} file(s) of {self.missing_rows} row(s) missing, the "
                     f"first {min(len(self.missing), _NAMED)}:")
        lines += [f"  line {p.line} ({p.dataset}): {p.kind} {p.target.name!r}: {p.reason}"
                  for p in self.missing[:_NAMED]]
        if not self.dry_run:
            lines.append(f"every missing file: {self.out / MISSING_FILE}")
        lines.append(f"{self.missing_rows} row(s) still missing: give their sources and rerun, "
                     "or run the symmetry stage on the rows that exist with "
                     "data.symderm.missing: skip (the data check and the report count them by "
                     "source)")
        return "\n".join(lines)


def assemble(csv: str | Path, sources: Sources, out: str | Path, *, copy: bool = False,
             dry_run: bool = False) -> AssembleReport:
    """Build SymDerm v2.0's ``images/`` and ``masks/`` under ``out`` from ``sources``, naming
    every file as the label file ``csv`` does (see the module docstring).

    Files already in place with the same content are kept; nothing is written when a file
    would overwrite other content (:class:`AssembleError` listing them), a source folder is
    not one or the label file is unusable (:class:`DataFormatError` naming the file). With
    ``dry_run`` nothing is written at all. The missing files are listed in
    ``out/missing_rows.csv`` (:data:`MISSING_FILE`; removed when none is missing).
    Returns the :class:`AssembleReport`.
    """
    labels = read_labels(csv)
    plan = plan_assembly(labels, sources, out)
    conflicts = [p for p in plan if p.state == "conflict"]
    if conflicts:
        named = "\n  ".join(p.reason for p in conflicts[:_NAMED])
        raise AssembleError(f"{len(conflicts)} file(s) in {out} hold other content than their "
                            f"source; nothing was written (move them away or fix the "
                            f"sources), the first {min(len(conflicts), _NAMED)}:\n  {named}")
    report = AssembleReport(str(csv), Path(out), plan, dry_run)
    if dry_run:
        return report
    for item in plan:
        if item.state == "place":
            _place(item, copy)
    listing = Path(out) / MISSING_FILE
    if report.missing:
        write_csv(report.missing_table(), listing)
    else:
        listing.unlink(missing_ok=True)
    return report

