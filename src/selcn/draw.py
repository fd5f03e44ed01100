"""Generic drawing shared by the report and ``selcn predict``: a CAM overlay and a panel grid.

matplotlib, numpy and OpenCV only (no torch, no stage module), so that both the report, which
only reads, and the predict side can use it. :func:`overlay` blends a CAM's colour map over an
image; :func:`panel_grid` draws a grid of such panels into a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from selcn.atomic import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen

__all__ = ["overlay", "panel_grid"]


def _resize_cam(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 ``(h, w)`` -> ``shape`` ``(H, W)``, bilinear with half-pixel centres."""
    return cv2.resize(np.ascontiguousarray(cam, dtype=np.float32), (int(shape[1]), int(shape[0])),
                      interpolation=cv2.INTER_LINEAR)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """uint8 ``(S, S', 3)`` image blended with the colour map of ``cam``.

    ``cam`` ``(h, w)`` in [0, 1] may have any size: it is resized bilinearly to the image
    (``cv2.resize`` ``INTER_LINEAR``: half-pixel centres, the sampling of
    :func:`selcn.cams.resize_cams`, i.e. torch's ``align_corners=False``).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay: image must be (H, W, 3), got {image.shape}")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise ValueError(f"overlay: cam must be (h, w), got {cam.shape}")
    if cam.shape != image.shape[:2]:
        cam = _resize_cam(cam, image.shape[:2])
    colours = plt.get_cmap(cmap)(np.clip(cam, 0, 1))[..., :3]
    blend = (1 - alpha) * image.astype(np.float64) / 255.0 + alpha * colours
    return (np.clip(blend, 0, 1) * 255).round().astype(np.uint8)


def panel_grid(rows: Sequence[Sequence[Mapping | None]], out_path: str | Path, *,
               col_titles: Sequence[str] | None = None,
               row_titles: Sequence[str] | None = None, title: str | None = None,
               panel_size: float = 2.2, dpi: int = 150) -> Path:
    """Draw a grid of image panels and write it as a PNG (atomically).

    Args:
        rows: per row, per column a dict with ``image`` (uint8 ``(H, W, 3)``), optionally
            ``cam`` (``(h, w)`` in [0, 1], overlaid with :func:`overlay`), ``outline`` (an
            ``(H, W)`` mask drawn as a green contour) and ``title``; None = empty panel.
        col_titles, row_titles: headers of the columns / rows.
    """
    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    if not n_rows or not n_cols:
        raise ValueError("panel_grid: nothing to draw")
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(panel_size * n_cols, (panel_size + 0.35) * n_rows))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            panel = row[j] if j < len(row) else None
            if panel is None:
                ax.axis("off")
                continue
            shown = panel["image"] if panel.get("cam") is None else overlay(panel["image"],
                                                                             panel["cam"])
            ax.imshow(shown)
            if panel.get("outline") is not None:
                ax.contour(np.asarray(panel["outline"]) > 0, levels=[0.5], colors="lime",
                           linewidths=0.8)
            if panel.get("title"):
                ax.set_title(panel["title"], fontsize=7)
            if j == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[i], fontsize=7)
    if col_titles is not None:
        for j, text in enumerate(col_titles):
            axes[0, j].annotate(text, xy=(0.5, 1.25), xycoords="axes fraction", ha="center",
                                va="bottom", fontsize=8, fontweight="bold")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)
