"""Atomic file writers: write to a hidden temporary name next to the target, then rename, so a
half-written file never looks finished (a crash leaves the old file or none, never a partial
one). Parent directories are created.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

__all__ = ["atomic_path", "save_figure", "write_csv", "write_json", "write_npy"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield the temporary path ``<dir>/.<name>.tmp`` to write; on success it replaces ``path``,
    on an exception it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as CSV without the index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON (trailing newline)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_npy(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as ``.npy`` (exactly at ``path``: no ``.npy`` suffix is appended)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def save_figure(fig, path: str | Path, *, dpi: int = 100, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **savefig_kwargs)
    plt.close(fig)
    return Path(path)
