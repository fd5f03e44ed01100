"""Know the data before spending GPU hours: every configured dataset's label file read, every
image and mask looked up and checked with the cache's own loader
(:mod:`selcn.data.preprocess`).

Two depths:

* **header-only** (default, ``snakemake --cores 1 check_data``, seconds): each image's and
  mask's header is read, no pixel is decoded: sizes, the pixel limit (``data.max_pixels``), bit
  depth, EXIF orientation and whether each mask has its image's size. What only decoding finds
  is skipped and the output says so (:data:`SKIPPED_BY_HEADERS`).
* **deep** (``snakemake --cores 1 check_data_deep``): every image and mask is decoded exactly as
  the cache job will decode it, which adds truncated or corrupt pixel data, the value set of
  the masks (0/1, 0/255, 1-bit ...) and masks that are all empty or all full.

The same readers (:mod:`selcn.data.readers`) as the cache jobs, in their lenient mode: a missing
image or mask is counted and named instead of ending the check, so one run lists every problem.
A label file that cannot be read (missing, misspelled column, unknown label) is a problem of
its dataset and the other datasets are still checked. What the loader handles correctly
(16-bit samples scaled, EXIF orientation applied, 0/1 masks) is reported as a note, not a
problem.

``check_data(cfg)`` returns a :class:`DataCheck`; ``str(check)`` is the table printed by the
rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from selcn.data.preprocess import (
    Decoded,
    ImageHeader,
    ImageTooLargeError,
    LoaderSettings,
    decode_image,
    decode_mask,
    mask_set_problem,
    read_header,
    size_mismatch,
)
from selcn.data.readers import DataFormatError, ham10000_image_ids, read_dataset
from selcn.grid import DATASETS

__all__ = ["DatasetCheck", "DataCheck", "CheckOptions", "check_dataset", "check_data",
           "image_size", "SKIPPED_BY_HEADERS"]

#: how many problems each dataset names (the count is always complete)
MAX_NAMED = 10
#: what the header-only check cannot see (said in its output)
SKIPPED_BY_HEADERS = ("truncated or corrupt pixel data", "mask values (0/1, 0/255 ...)",
                      "masks that are all empty or all full")


@dataclass(frozen=True)
class CheckOptions:
    """How deep :func:`check_data` looks.

    Attributes:
        deep: decode every image and mask (else headers only).
        loader: the loader's settings (pixel limit, mask resizing), as the cache jobs use them.
        threads: files inspected at once.
    """

    deep: bool = False
    loader: LoaderSettings = LoaderSettings()
    threads: int = 1


@dataclass
class DatasetCheck:
    """What the check found for one dataset.

    Attributes:
        dataset: ``ham10000`` | ``symderm`` | ``isic2019`` | ``isic2016``.
        rows: label-file rows whose image (and mask, where configured) were found.
        missing: one message per missing image or mask (file and line named).
        error: the label file's own problem (the dataset could not be read), else ``""``.
        per_class: images found per class label.
        sizes: ``{(width, height): count}`` of the found images (as displayed).
        unreadable: images or masks that could not be read (header, or pixels when deep).
        masks: masks found (0 where the dataset has none configured).
        invalid: content problems: over the pixel limit, a mask of another size than its
            image, every mask empty or every one full.
        depths: ``{"16-bit": n, ...}``: images not of 8 bits per sample (scaled by the loader).
        rotated: images with an EXIF orientation (applied by the loader).
        resized_masks: masks of another size than their image, resized (``resize_masks``).
        mask_values: ``{values: count}`` of the decoded masks (deep only).
        empty_masks, full_masks: decoded masks without / with only lesion pixels (deep only).
        deep: whether the pixels were decoded.
        missing_by_source: SymDerm: the label-file rows whose image or mask is missing, by
            their ``Dataset`` value (:func:`selcn.data.symderm.left_out_by_source`).
        skip_missing: ``data.symderm.missing: skip``: the missing rows are left out by the
            cache (counted by source), not a problem of the check.
    """

    dataset: str
    rows: int = 0
    missing: list[str] = field(default_factory=list)
    error: str = ""
    per_class: dict[str, int] = field(default_factory=dict)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    masks: int = 0
    invalid: list[str] = field(default_factory=list)
    depths: dict[str, int] = field(default_factory=dict)
    rotated: int = 0
    resized_masks: int = 0
    mask_values: dict[str, int] = field(default_factory=dict)
    empty_masks: int = 0
    full_masks: int = 0
    deep: bool = False
    missing_by_source: dict[str, int] = field(default_factory=dict)
    skip_missing: bool = False

    @property
    def ok(self) -> bool:
        missing = self.missing and not self.skip_missing
        return not (self.error or missing or self.unreadable or self.invalid)

    def problems(self) -> list[str]:
        """Every problem, the label file's first (missing files left out by
        ``data.symderm.missing: skip`` are none)."""
        missing = [] if self.skip_missing else self.missing
        return ([self.error] if self.error else []) + missing + self.unreadable + self.invalid

    def notes(self) -> str:
        """What the loader handles, in a few words (``16-bit 3; EXIF-rotated 2; masks 0/1
        (40)``)."""
        parts = [f"{k} {v}" for k, v in sorted(self.depths.items())]
        if self.rotated:
            parts.append(f"EXIF-rotated {self.rotated}")
        if self.resized_masks:
            parts.append(f"masks resized {self.resized_masks}")
        if self.mask_values:
            common = sorted(self.mask_values.items(), key=lambda kv: -kv[1])
            parts.append("masks " + ", ".join(f"{v} ({n})" for v, n in common[:3])
                         + (f", +{len(common) - 3} more" if len(common) > 3 else ""))
        if self.empty_masks:
            parts.append(f"empty masks {self.empty_masks}")
        if self.full_masks:
            parts.append(f"full masks {self.full_masks}")
        return "; ".join(parts)


@dataclass
class DataCheck:
    """The check of every configured dataset (``datasets`` in config order)."""

    datasets: list[DatasetCheck]
    deep: bool = False

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.datasets)

    def table(self) -> pd.DataFrame:
        """One row per dataset: found / missing / unreadable / invalid counts, classes, image
        sizes, notes."""
        rows = []
        for d in self.datasets:
            sizes = sorted(d.sizes.items(), key=lambda kv: -kv[1])
            size_text = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes[:3])
            if len(sizes) > 3:
                size_text += f", +{len(sizes) - 3} more sizes"
            rows.append({"dataset": d.dataset, "images found": d.rows, "masks found": d.masks,
                         "missing": len(d.missing), "unreadable": len(d.unreadable),
                         "invalid": len(d.invalid),
                         "status": "ok" if d.ok else ("label file problem" if d.error
                                                      else "problems"),
                         "per class": ", ".join(f"{k} {v}" for k, v in d.per_class.items()),
                         "image sizes": size_text, "notes": d.notes(),
                         "missing rows by source": _by_source_text(d)})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [self.table().to_string(index=False)]
        for d in self.datasets:
            if d.skip_missing and d.missing:
                lines.append(f"\n{d.dataset}: {len(d.missing)} missing image(s) / mask(s) left "
                             f"out (data.{d.dataset}.missing: skip); rows by source: "
                             f"{_by_source_text(d)}")
            problems = d.problems()
            if problems:
                lines.append(f"\n{d.dataset}: {len(problems)} problem(s), the first "
                             f"{min(len(problems), MAX_NAMED)}:")
                lines += [f"  {p}" for p in problems[:MAX_NAMED]]
        if self.deep:
            lines.append("\ndeep check: every image and mask decoded as the cache jobs decode "
                         "them")
        else:
            lines.append("\nheader-only check (no pixel decoded); skipped: "
                         + ", ".join(SKIPPED_BY_HEADERS)
                         + ". `snakemake --cores 1 check_data_deep` decodes every file.")
        lines.append("all configured data found" if self.ok else
                     "problems found: fix the files or the data.* paths of the config")
        return "\n".join(lines)


def _by_source_text(d: DatasetCheck) -> str:
    """``dermquest 134, EDRA 77`` (``""`` for none)."""
    return ", ".join(f"{k} {v}" for k, v in d.missing_by_source.items())


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image as displayed, from its header (no pixel data read)."""
    return read_header(path, max_pixels=2**62).size


@dataclass
class _Found:
    """What inspecting one image (and its mask) found."""

    image: ImageHeader | None = None
    unreadable: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    resized: bool = False
    mask: tuple | None = None            # (values, empty, full) when decoded


def _inspect(image_id: str, path: str, mask_path: str, options: CheckOptions) -> _Found:
    """Read (or decode) one image and its mask (``mask_path`` ``""``: none) and sort what
    goes wrong into unreadable / invalid."""
    out = _Found()
    limit = options.loader.max_pixels
    decoders = {"image": decode_image, "mask": decode_mask}
    headers: dict[str, ImageHeader] = {}
    for what, file in (("image", path), ("mask", mask_path)):
        if not file:
            continue
        try:
            got = decoders[what](file, limit) if options.deep else read_header(file, what, limit)
        except ImageTooLargeError as err:
            out.invalid.append(f"{err} ({what} of {image_id!r})")
            continue
        except DataFormatError as err:
            out.unreadable.append(f"{err} ({what} of {image_id!r})")
            continue
        except Exception as err:  # PIL raises many types for a broken file
            out.unreadable.append(f"{file}: {what} of {image_id!r} unreadable "
                                  f"({type(err).__name__}: {err})")
            continue
        headers[what] = got.header if isinstance(got, Decoded) else got
        if what == "mask" and isinstance(got, Decoded):
            out.mask = (got.values, not got.pixels.any(), bool(got.pixels.all()))
    out.image = headers.get("image")
    if "image" in headers and "mask" in headers and \
            headers["image"].size != headers["mask"].size:
        if options.loader.resize_masks:
            out.resized = True
        else:
            out.invalid.append(size_mismatch(headers["image"], headers["mask"]))
    return out


def check_dataset(dataset: str, paths: Mapping, *, ham_metadata: str | Path | None = None,
                  exclude_ids: Sequence[str] = (),
                  options: CheckOptions | None = None) -> DatasetCheck:
    """Check one dataset from its config block ``data.<dataset>`` (see :func:`check_data`)."""
    options = options or CheckOptions()
    out = DatasetCheck(dataset, deep=options.deep, skip_missing=paths.get("missing") == "skip")
    try:
        table = read_dataset(dataset, paths, ham_metadata=ham_metadata,
                             exclude_ids=exclude_ids, missing=out.missing)
    except DataFormatError as err:
        out.error = str(err)
        return out
    if dataset == "symderm" and out.missing:
        from selcn.data.symderm import left_out_by_source

        out.missing_by_source = left_out_by_source(paths["csv"], table["image_id"])
    out.rows = len(table)
    out.per_class = {str(k): int(v) for k, v in Counter(table["label"]).most_common()}
    out.masks = int((table["mask_path"] != "").sum())
    rows = list(zip(table["image_id"], table["path"], table["mask_path"]))
    with ThreadPoolExecutor(max_workers=max(1, int(options.threads))) as pool:
        found = list(pool.map(lambda r: _inspect(*r, options), rows))
    sizes: Counter = Counter()
    depths: Counter = Counter()
    masks: list[tuple] = []
    for f in found:
        out.unreadable += f.unreadable
        out.invalid += f.invalid
        out.resized_masks += f.resized
        if f.image is not None:
            sizes[f.image.size] += 1
            out.rotated += f.image.rotated
            if f.image.bits != 8:
                depths[f"{f.image.bits}-bit"] += 1
        if f.mask is not None:
            masks.append(f.mask)
    out.sizes, out.depths = dict(sizes), dict(depths)
    if masks:
        out.mask_values = dict(Counter(v for v, _, _ in masks))
        out.empty_masks = sum(e for _, e, _ in masks)
        out.full_masks = sum(f for _, _, f in masks)
        problem = mask_set_problem(masks, f"{dataset} masks")
        if problem and len(masks) == out.masks:
            out.invalid.append(problem)
    return out


def check_data(cfg: Mapping, datasets: Sequence[str] | None = None,
               options: CheckOptions | None = None) -> DataCheck:
    """Check every configured dataset of ``cfg["data"]`` (or those named in ``datasets``),
    header-only or deep as ``options`` say (default: header-only, the loader's settings of
    ``cfg["data"]``: ``max_pixels``, ``resize_masks``). SymDerm's missing rows are counted by
    source, and with ``data.symderm.missing: skip`` they are left out, not a problem.

    A dataset is configured when its block ``data.<dataset>`` is present and not null. The
    HAM10000 metadata (when configured and readable) gives SymDerm its lesion groups and
    ISIC 2019 the image ids to exclude, as in the cache jobs.
    """
    data = cfg["data"]
    names = [d for d in (datasets or DATASETS)
             if data.get(d)]
    ham_metadata = data["ham10000"]["metadata"] if data.get("ham10000") else None
    ham_ids: list[str] = []
    if ham_metadata and Path(ham_metadata).is_file():
        try:
            ham_ids = ham10000_image_ids(ham_metadata)
        except DataFormatError:
            ham_ids = []                    # reported by the HAM10000 check itself
    else:
        ham_metadata = None
    options = options or CheckOptions(loader=LoaderSettings.of(data))
    checks = [check_dataset(d, data[d], ham_metadata=ham_metadata,
                            exclude_ids=ham_ids if d == "isic2019" else (), options=options)
              for d in names]
    return DataCheck(checks, deep=options.deep)
