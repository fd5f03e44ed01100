"""Figure 10 of the thesis: the lesion network's Grad-CAM++ of one image across every model.

One row per lesion-classifier masking strategy (none, seg, lae), one column per symmetry-CAM
input (off = the baseline, none, seg, lae); a first column shows the input image with the
ground-truth lesion outline. Each panel overlays the model's own Grad-CAM++ (target: its
predicted class; target layer: the E-Layer output, or the encoder's last feature layer for the
baselines) on the image as that model sees it (masked by its ``classifier_mask``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from selcn.grid import CAM_OFF, CAM_SOURCES, MASK_LABELS, MASKS
from selcn.report.cam_figures import panel_grid

__all__ = ["pick_image", "figure10", "figure10_from_files"]


def pick_image(index, splits, gt_masks: np.ndarray, image_id: str | None = None,
               prefer_label: str = "mel") -> int:
    """Cache row of the figure's image: ``image_id`` when given, else the first test image
    (by image id) of class ``prefer_label`` with a non-empty ground-truth mask, else the first
    test image with one."""
    if image_id is not None:
        hits = index.index[index["image_id"] == image_id]
        if not len(hits):
            raise ValueError(f"figure 10: image_id {image_id!r} not in the cache index")
        return int(index["row"].iloc[hits[0]])
    test = splits[splits["split"] == "test"].sort_values("image_id")
    test = test[[bool(np.asarray(gt_masks[r]).any()) for r in test["row"]]]
    if test.empty:
        raise ValueError("figure 10: no test image with a non-empty ground-truth mask")
    preferred = test[test["label"] == prefer_label]
    return int((preferred if len(preferred) else test)["row"].iloc[0])


def figure10(image: np.ndarray, gt_mask: np.ndarray, panels: Sequence[Mapping],
             out_path: str | Path, title: str | None = None, dpi: int = 150) -> Path:
    """Draw the grid with :func:`selcn.report.cam_figures.panel_grid`.

    Args:
        image: uint8 ``(S, S, 3)`` RGB, unmasked.
        gt_mask: ``(S, S)`` {0, 1} ground truth (outlined in the first column).
        panels: one dict per model with ``number``, ``classifier_mask``, ``symmetry_mask``,
            ``shown`` (uint8 ``(S, S, 3)``, the input as the model sees it), ``cam``
            (``(S, S)`` in [0, 1]) and optionally ``pred`` (a class name).
        out_path: PNG, written atomically.
    """
    if not panels:
        raise ValueError("figure 10: no model to draw")
    rows = [cm for cm in MASKS if any(p["classifier_mask"] == cm for p in panels)]
    cols = [sm for sm in CAM_SOURCES if any(p["symmetry_mask"] == sm for p in panels)]
    grid: list[list[Mapping | None]] = [
        [{"image": np.asarray(image), "outline": gt_mask, "title": "input + ground truth"}]
        + [None] * len(cols) for _ in rows]
    for p in panels:
        text = f"model {p['number']}"
        if p.get("pred") is not None:
            text += f": pred. {p['pred']}"
        grid[rows.index(p["classifier_mask"])][cols.index(p["symmetry_mask"]) + 1] = {
            "image": p["shown"], "cam": p["cam"], "title": text}
    return panel_grid(grid, out_path,
                      col_titles=[""] + [f"CAM: {MASK_LABELS[sm]}" for sm in cols],
                      row_titles=[f"classifier: {MASK_LABELS[cm]}" for cm in rows],
                      title=title, dpi=dpi)


def figure10_from_files(models: Sequence[Mapping], *, images_npy: str | Path,
                        index_csv: str | Path, splits_csv: str | Path,
                        gt_masks_npy: str | Path, out_path: str | Path,
                        masks_npy: str | Path | None = None,
                        cams_npys: Mapping[str, str | Path] | None = None,
                        image_id: str | None = None, device: str = "auto") -> Path:
    """Figure 10 from the lesion models' files.

    Args:
        models: per model ``number``, ``classifier_mask``, ``symmetry_mask``, ``best_json``
            (its ``best_fold.json``) and ``model_pts`` (fold -> ``model.pt``).
        images_npy, index_csv, splits_csv, gt_masks_npy: the HAM10000 cache and split.
        masks_npy: its predicted lesion masks (needed when a model masks its input).
        cams_npys: symmetry mask -> symmetry CAM file of HAM10000.
        image_id: the image to show (default: :func:`pick_image`).
    """
    from selcn.data.tables import read_index, read_splits
    from selcn.lesion import lesion_cams, load_lesion_model
    from selcn.masks import apply_mask
    from selcn.training import resolve_device

    dev = resolve_device(device)
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    images = np.load(images_npy, mmap_mode="r")
    gt = np.load(gt_masks_npy, mmap_mode="r")
    masks = np.load(masks_npy, mmap_mode="r") if masks_npy else None
    cams_npys = dict(cams_npys or {})
    row = pick_image(index, splits, gt, image_id)
    image = np.asarray(images[row])
    panels = []
    for m in models:
        best = json.loads(Path(m["best_json"]).read_text())
        model_pt = m["model_pts"][int(best["fold"])]
        model, meta = load_lesion_model(model_pt, dev)
        cm, sm = meta["classifier_mask"], meta["symmetry_mask"]
        if (cm, sm) != (m["classifier_mask"], m["symmetry_mask"]):
            raise ValueError(f"{model_pt}: model file is {cm}-{sm}, expected "
                             f"{m['classifier_mask']}-{m['symmetry_mask']}")
        if cm != "none" and masks is None:
            raise ValueError(f"figure 10: model {m['number']} masks its input ({cm}) but no "
                             "predicted masks were given")
        cams = None
        if sm != CAM_OFF:
            if sm not in cams_npys:
                raise ValueError(f"figure 10: model {m['number']} needs the '{sm}' symmetry CAMs")
            cams = np.load(cams_npys[sm], mmap_mode="r")
        heat, pred = lesion_cams(model, images, np.array([row]), input_size=meta["input_size"],
                                 classifier_mask=cm, masks=masks, cams=cams,
                                 out_size=image.shape[0], batch_size=1, device=dev)
        shown = image if cm == "none" else np.asarray(apply_mask(image, masks[row], cm))
        panels.append({"number": m["number"], "classifier_mask": cm, "symmetry_mask": sm,
                       "shown": shown.astype(np.uint8), "cam": heat[0],
                       "pred": meta["class_names"][int(pred[0])]})
    label = index["label"].iloc[row]
    return figure10(image, gt[row], panels, out_path,
                    title=f"{index['image_id'].iloc[row]} (true class: {label})")
