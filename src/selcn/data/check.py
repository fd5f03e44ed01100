"""Know the data before spending GPU hours: every configured dataset's label file read, every
image and mask looked up, image sizes read from the file headers (no pixel is decoded).

The same readers (:mod:`selcn.data.readers`) and the same checks as the cache jobs, in their
lenient mode: a missing image or mask is counted and named instead of ending the check, so one
run lists every problem. A label file that cannot be read (missing, misspelled column, unknown
label) is a problem of its dataset and the other datasets are still checked.

``check_data(cfg)`` returns a :class:`DataCheck`; ``str(check)`` is the table printed by the
``check_data`` rule (``snakemake check_data --configfile config/paper.yaml --cores 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from selcn.data.readers import DataFormatError, ham10000_image_ids, read_dataset
from selcn.grid import DATASETS

__all__ = ["DatasetCheck", "DataCheck", "check_dataset", "check_data", "image_size"]

#: how many problems each dataset names (the count is always complete)
MAX_NAMED = 10


@dataclass
class DatasetCheck:
    """What the check found for one dataset.

    Attributes:
        dataset: ``ham10000`` | ``symderm`` | ``isic2019`` | ``isic2016``.
        rows: label-file rows whose image (and mask, where configured) were found.
        missing: one message per missing image or mask (file and line named).
        error: the label file's own problem (the dataset could not be read), else ``""``.
        per_class: images found per class label.
        sizes: ``{(width, height): count}`` of the found images, from their headers.
        unreadable: images whose header could not be read (name: reason).
        masks: masks found (0 where the dataset has none configured).
    """

    dataset: str
    rows: int = 0
    missing: list[str] = field(default_factory=list)
    error: str = ""
    per_class: dict[str, int] = field(default_factory=dict)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    masks: int = 0

    @property
    def ok(self) -> bool:
        return not (self.error or self.missing or self.unreadable)

    def problems(self) -> list[str]:
        """Every problem, the label file's first."""
        return ([self.error] if self.error else []) + self.missing + self.unreadable


@dataclass
class DataCheck:
    """The check of every configured dataset (``datasets`` in config order)."""

    datasets: list[DatasetCheck]

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.datasets)

    def table(self) -> pd.DataFrame:
        """One row per dataset: found / missing / unreadable counts, classes, image sizes."""
        rows = []
        for d in self.datasets:
            sizes = sorted(d.sizes.items(), key=lambda kv: -kv[1])
            size_text = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes[:3])
            if len(sizes) > 3:
                size_text += f", +{len(sizes) - 3} more sizes"
            rows.append({"dataset": d.dataset, "images found": d.rows, "masks found": d.masks,
                         "missing": len(d.missing), "unreadable": len(d.unreadable),
                         "status": "ok" if d.ok else ("label file problem" if d.error
                                                      else "problems"),
                         "per class": ", ".join(f"{k} {v}" for k, v in d.per_class.items()),
                         "image sizes": size_text})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [self.table().to_string(index=False)]
        for d in self.datasets:
            problems = d.problems()
            if problems:
                lines.append(f"\n{d.dataset}: {len(problems)} problem(s), the first "
                             f"{min(len(problems), MAX_NAMED)}:")
                lines += [f"  {p}" for p in problems[:MAX_NAMED]]
        lines.append("\nall configured data found" if self.ok else
                     "\nproblems found: fix the files or the data.* paths of the config")
        return "\n".join(lines)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image from its header (PIL reads no pixel data here)."""
    from PIL import Image

    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])


def check_dataset(dataset: str, paths: Mapping, *, ham_metadata: str | Path | None = None,
                  exclude_ids: Sequence[str] = ()) -> DatasetCheck:
    """Check one dataset from its config block ``data.<dataset>`` (see :func:`check_data`)."""
    out = DatasetCheck(dataset)
    try:
        table = read_dataset(dataset, paths, ham_metadata=ham_metadata,
                             exclude_ids=exclude_ids, missing=out.missing)
    except DataFormatError as err:
        out.error = str(err)
        return out
    out.rows = len(table)
    out.per_class = {str(k): int(v) for k, v in Counter(table["label"]).most_common()}
    out.masks = int((table["mask_path"] != "").sum())
    sizes: Counter = Counter()
    for image_id, path in zip(table["image_id"], table["path"]):
        try:
            sizes[image_size(path)] += 1
        except Exception as err:  # PIL raises many types for a broken header
            out.unreadable.append(f"{path}: image {image_id!r} unreadable header "
                                  f"({type(err).__name__}: {err})")
    out.sizes = dict(sizes)
    return out


def check_data(cfg: Mapping, datasets: Sequence[str] | None = None) -> DataCheck:
    """Check every configured dataset of ``cfg["data"]`` (or those named in ``datasets``).

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
    checks = [check_dataset(d, data[d], ham_metadata=ham_metadata,
                            exclude_ids=ham_ids if d == "isic2019" else ())
              for d in names]
    return DataCheck(checks)
