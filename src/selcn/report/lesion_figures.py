"""Figure 10 of the thesis: the lesion network's Grad-CAM++ of one image across every model.

One row per lesion-classifier masking strategy (none, seg, lae), one column per symmetry-CAM
input (off = the baseline, none, seg, lae); a first column shows the input image with the
ground-truth lesion outline. Each panel overlays the model's own Grad-CAM++ (target: its
predicted class; target layer: the E-Layer output, or the encoder's last feature layer for the
baselines) on the image as that model sees it (masked by its classifier mask).

The lesion stage computes what the figure shows (:func:`selcn.lesion.figure10_data`, the
``lesion_figure_cams`` job); this module only reads that file and draws it (no network, no
torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selcn.draw import panel_grid
from selcn.grid import CAM_SOURCES, MASK_LABELS, MASKS, Model

__all__ = ["figure10"]


def figure10(data_npz: str | Path, out_path: str | Path, dpi: int = 150) -> Path:
    """Draw Figure 10 from the arrays of :func:`selcn.lesion.figure10_data` (an ``.npz``)."""
    with np.load(data_npz, allow_pickle=False) as npz:
        d = {k: npz[k] for k in npz.files}
    models = [Model.parse(str(name)) for name in d["models"]]
    if not models:
        raise ValueError(f"{data_npz}: figure 10 has no model to draw")
    rows = [cm for cm in MASKS if any(m.classifier_mask == cm for m in models)]
    cols = [cs for cs in CAM_SOURCES if any(m.cam_source == cs for m in models)]
    grid: list[list[dict | None]] = [
        [{"image": d["image"], "outline": d["gt_mask"], "title": "input + ground truth"}]
        + [None] * len(cols) for _ in rows]
    for m in models:
        grid[rows.index(m.classifier_mask)][cols.index(m.cam_source) + 1] = {
            "image": d[f"shown_{m.name}"], "cam": d[f"cam_{m.name}"],
            "title": f"model {m.number}: pred. {d[f'pred_{m.name}']}"}
    return panel_grid(grid, out_path,
                      col_titles=[""] + [f"CAM: {MASK_LABELS[cs]}" for cs in cols],
                      row_titles=[f"classifier: {MASK_LABELS[cm]}" for cm in rows],
                      title=f"{d['image_id']} (true class: {d['label']})", dpi=dpi)
