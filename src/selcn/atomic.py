"""Atomic file writers: write to a hidden temporary name next to the target, then rename, so a
half-written file never looks finished (a crash leaves the old file or none, never a partial
one). Parent directories are created.

Every atomic write of the package goes through :func:`atomic_path` (directly, for writers such
as ``torch.save``, ``cv2.imwrite`` or a memory map, or through :func:`write_csv`,
:func:`write_json`, :func:`write_npy`, :func:`write_text` and :func:`save_figure`); a directory
of files through :func:`atomic_dir`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:                       # imported where used: `import selcn.atomic` stays light
    import numpy as np
    import pandas as pd

__all__ = ["atomic_path", "atomic_dir", "save_figure", "write_csv", "write_json", "write_npy",
           "write_npz", "write_text"]


@contextmanager
def atomic_path(path: str | Path, *, unique: bool = False) -> Iterator[Path]:
    """Yield the temporary path ``<dir>/.<name>.tmp`` to write; on success it replaces ``path``,
    on an exception it is removed.

    ``unique=True`` makes the temporary name ``<dir>/.<name>.<pid>.<random>.tmp``, for targets
    that several processes may write at the same time (a shared cache such as the ImageNet
    weights): each writes its own file and the last rename wins, never a mix of two writes.
    The temporary file is not created here (the writer creates it, with the usual permissions).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if unique:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    else:
        tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new, empty temporary directory ``<parent>/.<name>.tmp`` to fill; on success it
    replaces the directory ``path`` (an existing one is removed first), on an exception it is
    removed. For outputs that are a set of files, such as a model bundle: a reader sees the old
    set, none or the new one; only the removal of an old ``path`` and the rename are not one
    step (a crash between them leaves no directory)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as CSV without the index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON (trailing newline)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_text(text: str, path: str | Path, *, encoding: str = "utf-8") -> None:
    """Write ``text`` as it is (no newline added)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_npy(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as ``.npy`` (exactly at ``path``: no ``.npy`` suffix is appended)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def write_npz(arrays: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write named arrays as one uncompressed ``.npz`` (plain dtypes: read back with
    ``np.load(path, allow_pickle=False)``)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def save_figure(fig, path: str | Path, *, dpi: int = 100, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **savefig_kwargs)
    plt.close(fig)
    return Path(path)
