"""Figure 3 of the thesis: an input image, its segmentation-masked and its LAE-masked version."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from selcn.atomic import save_figure
from selcn.grid import MASKS
from selcn.masks import apply_mask

__all__ = ["PANELS", "pick_examples", "masking_strategies_figure"]

#: (masking strategy, column title) of the three panels
PANELS: tuple[tuple[str, str], ...] = tuple(zip(
    MASKS, ("(a) Input image", "(b) Segmentation mask", "(c) LAE mask"), strict=True))


def pick_examples(masks: np.ndarray, rows: Sequence[int], n: int = 3) -> list[int]:
    """Up to ``n`` rows, evenly spread over ``rows``, whose mask is not empty."""
    rows = [int(r) for r in rows if masks[int(r)].any()]
    if not rows:
        raise ValueError("no image with a non-empty lesion mask to show")
    picks = np.linspace(0, len(rows) - 1, num=min(n, len(rows))).round().astype(int)
    return [rows[i] for i in dict.fromkeys(picks.tolist())]


def masking_strategies_figure(images: np.ndarray, masks: np.ndarray, out_path: str | Path,
                              labels: Sequence[str] | None = None, dpi: int = 150) -> Path:
    """Draw one row per example: image | image x mask | LAE box of the mask.

    Args:
        images: uint8 ``(n, S, S, 3)`` RGB.
        masks: ``(n, S, S)`` in {0, 1} (the predicted lesion masks).
        out_path: PNG to write (atomically).
        labels: a label per row (e.g. the image id), shown at the left.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"masking_strategies_figure: images {images.shape} and masks "
                         f"{masks.shape} must be (n, S, S, 3) and (n, S, S)")
    n = len(images)
    fig, axes = plt.subplots(n, len(PANELS), figsize=(3.0 * len(PANELS), 3.0 * n), squeeze=False)
    for i in range(n):
        for j, (strategy, title) in enumerate(PANELS):
            ax = axes[i, j]
            shown = apply_mask(images[i], masks[i], strategy)
            ax.imshow(np.asarray(shown, dtype=np.uint8))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title)
            if j == 0 and labels is not None:
                ax.set_ylabel(str(labels[i]))
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)


def figure3_from_files(images_npy: str | Path, masks_npy: str | Path, index_csv: str | Path,
                       splits_csv: str | Path, out_path: str | Path, n: int = 3) -> Path:
    """Figure 3 from the cache (``images.npy``, ``index.csv``), the predicted masks and the split:
    ``n`` test images with a non-empty predicted mask, labelled by image id."""
    import pandas as pd

    from selcn.segmentation import split_rows

    images = np.load(images_npy, mmap_mode="r")
    masks = np.load(masks_npy, mmap_mode="r")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"{masks_npy}: shape {masks.shape} does not match {images_npy} "
                         f"{images.shape[:3]}")
    test = split_rows(index_csv, splits_csv)["test"]
    rows = pick_examples(masks, test, n)
    ids = pd.read_csv(index_csv, dtype={"image_id": str}).set_index("row")["image_id"]
    return masking_strategies_figure(images[rows], masks[rows], out_path,
                                     labels=[ids[r] for r in rows])
