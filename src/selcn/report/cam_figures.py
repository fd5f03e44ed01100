"""Figure 9 of the thesis: Grad-CAM++ of the symmetry network (best fold of each masking
strategy) on a few SymDerm test images — per strategy the input as the network sees it (masked)
and the CAM overlaid on it, titled with the predicted and the true symmetry class.

The symmetry stage computes what the figure shows (:func:`selcn.symmetry.figure9_data`, the
``symmetry_figure_cams`` job); this module only reads that file and draws it with
:mod:`selcn.draw` (no network, no torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selcn.draw import panel_grid
from selcn.grid import MASK_LABELS

__all__ = ["figure9"]


def figure9(data_npz: str | Path, out_path: str | Path, dpi: int = 150) -> Path:
    """Draw Figure 9 from the arrays of :func:`selcn.symmetry.figure9_data` (an ``.npz``):
    per test image (rows) and masking strategy (column pairs) the input as the network sees it
    and its Grad-CAM++ overlaid, titled with the prediction (✓ / ✗ against the truth)."""
    with np.load(data_npz, allow_pickle=False) as npz:
        d = {k: npz[k] for k in npz.files}
    masks, variants, truths = list(d["masks"]), list(d["variants"]), list(d["truths"])
    if not masks:
        raise ValueError(f"{data_npz}: figure 9 has no symmetry model to draw")
    rows = []
    for i in range(len(d["images"])):
        row = []
        for m in masks:
            pred = str(d[f"preds_{m}"][i])
            row.append({"image": d[f"shown_{m}"][i], "title": "input"})
            row.append({"image": d[f"shown_{m}"][i], "cam": d[f"cams_{m}"][i],
                        "title": f"pred. {pred} {'✓' if pred == truths[i] else '✗'}"})
        rows.append(row)
    col_titles = []
    for m, variant in zip(masks, variants):
        col_titles += [f"{MASK_LABELS[str(m)]} ({variant})", ""]
    row_titles = [f"{d['image_ids'][i]}\ntrue: {truths[i]}" for i in range(len(d["images"]))]
    return panel_grid(rows, out_path, col_titles=col_titles, row_titles=row_titles,
                      title="Grad-CAM++ of the symmetry network (target: predicted class)",
                      dpi=dpi)
