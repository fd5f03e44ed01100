"""The per-row arrays of a dataset cache (``docs/contracts.md``): images, masks and CAMs,
memory-mapped and checked against the cache index.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["load_cache_array", "load_cache_images"]


def load_cache_array(path: str | Path | None, what: str, n_rows: int,
                     side: Sequence[int] | None = None) -> np.ndarray | None:
    """A memory-mapped ``(N, H, W)`` ``.npy`` (masks, CAMs) whose first axis must be the cache's
    ``n_rows`` (and ``(H, W)`` = ``side`` when given); ``None`` passes through.

    Raises ``FileNotFoundError`` (``<what> not found: <path>``) or ``ValueError`` naming the
    file, ``what`` and the shapes.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    array = np.load(path, mmap_mode="r")
    if (array.ndim != 3 or array.shape[0] != n_rows
            or (side is not None and tuple(array.shape[1:]) != tuple(side))):
        want = f"(N={n_rows}, {side[0]}, {side[1]})" if side is not None else f"(N={n_rows}, S, S)"
        raise ValueError(f"{path}: {what} must have shape {want}, got {array.shape}")
    return array


def load_cache_images(images_npy: str | Path, n_rows: int) -> np.ndarray:
    """The memory-mapped image cache, uint8 ``(N, S, S, 3)`` with ``N = n_rows``."""
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[0] != n_rows or images.shape[3] != 3:
        raise ValueError(f"{images_npy}: expected uint8 (N={n_rows}, S, S, 3), got "
                         f"{images.dtype} {images.shape}")
    return images
