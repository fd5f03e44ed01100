"""Figure 3 of the thesis: an input image, its segmentation-masked and its LAE-masked version.

The segmentation stage picks the images and their predicted masks
(:func:`selcn.segmentation.figure3_data`, the ``segmentation_figure_masks`` job); this module
only reads that file and draws it (no network, no torch).
"""

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

__all__ = ["PANELS", "masking_strategies_figure", "figure3"]

#: (masking strategy, column title) of the three panels
PANELS: tuple[tuple[str, str], ...] = tuple(zip(
    MASKS, ("(a) Input image", "(b) Segmentation mask", "(c) LAE mask"), strict=True))


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


def figure3(data_npz: str | Path, out_path: str | Path) -> Path:
    """Draw Figure 3 from the arrays of :func:`selcn.segmentation.figure3_data` (an ``.npz``):
    the images labelled by image id."""
    with np.load(data_npz, allow_pickle=False) as d:
        return masking_strategies_figure(d["images"], d["masks"], out_path,
                                         labels=[str(i) for i in d["image_ids"]])
