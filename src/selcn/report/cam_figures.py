"""Input / CAM figures: a generic overlay and panel grid, and Figure 9 of the thesis.

Figure 9: Grad-CAM++ of the symmetry network (best fold of each masking strategy) on a few
SymDerm test images — per strategy the input as the network sees it (masked) and the CAM
overlaid on it, titled with the predicted and the true symmetry class.

:func:`overlay` and :func:`panel_grid` are generic (any CAM, any grid of panels) and serve
other CAM figures too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from selcn.atomic import save_figure
from selcn.grid import MASK_LABELS

__all__ = ["overlay", "panel_grid", "pick_rows", "figure9", "figure9_from_files"]


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """uint8 ``(S, S', 3)`` image blended with the colour map of ``cam``.

    ``cam`` ``(h, w)`` in [0, 1] may have any size: it is resized bilinearly to the image.
    """
    from selcn.cams import resize_cams

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay: image must be (H, W, 3), got {image.shape}")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise ValueError(f"overlay: cam must be (h, w), got {cam.shape}")
    if cam.shape != image.shape[:2]:
        cam = resize_cams(cam, image.shape[:2], normalize=False)
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


def pick_rows(splits, n_per_class: int = 2, split: str = "test") -> list[int]:
    """Cache rows of Figure 9: the first ``n_per_class`` images (by image id) of each class
    of the ``split`` part, classes in target order."""
    part = splits[splits["split"] == split].sort_values("image_id", kind="stable")
    if part.empty:
        raise ValueError(f"figure 9: no image in split {split!r}")
    rows = []
    for target in sorted(part["target"].unique()):
        rows += part.loc[part["target"] == target, "row"].head(n_per_class).astype(int).tolist()
    return rows


def figure9(images: Sequence[np.ndarray], truths: Sequence[str],
            strategies: Sequence[Mapping], out_path: str | Path, *,
            image_ids: Sequence[str] | None = None, dpi: int = 150) -> Path:
    """Draw Figure 9.

    Args:
        images: uint8 ``(S, S, 3)`` unmasked images, one per row.
        truths: true class name per image.
        strategies: per masking strategy a dict with ``mask`` (none | seg | lae), ``variant``,
            ``shown`` (the masked images, one per row), ``cams`` (``(h, w)`` in [0, 1] per row)
            and ``preds`` (predicted class name per row).
    """
    if not strategies:
        raise ValueError("figure 9: no symmetry model to draw")
    rows = []
    for i, _image in enumerate(images):
        row = []
        for s in strategies:
            row.append({"image": s["shown"][i], "title": "input"})
            ok = "✓" if s["preds"][i] == truths[i] else "✗"
            row.append({"image": s["shown"][i], "cam": s["cams"][i],
                        "title": f"pred. {s['preds'][i]} {ok}"})
        rows.append(row)
    col_titles = []
    for s in strategies:
        col_titles += [f"{MASK_LABELS[s['mask']]} ({s['variant']})", ""]
    row_titles = [f"{image_ids[i] if image_ids is not None else i}\ntrue: {truths[i]}"
                  for i in range(len(images))]
    return panel_grid(rows, out_path, col_titles=col_titles, row_titles=row_titles,
                      title="Grad-CAM++ of the symmetry network (target: predicted class)",
                      dpi=dpi)


def figure9_from_files(models: Sequence[Mapping], *, images_npy: str | Path,
                       index_csv: str | Path, splits_csv: str | Path, out_path: str | Path,
                       masks_npy: str | Path | None = None, n_per_class: int = 2,
                       device: str = "auto") -> Path:
    """Figure 9 from the symmetry models' files.

    Args:
        models: per masking strategy ``mask``, ``variant``, ``best_json`` (its
            ``best_fold.json``) and ``model_pts`` (the fold ``model.pt`` paths).
        images_npy, index_csv, splits_csv: the SymDerm cache and split table.
        masks_npy: SymDerm's predicted lesion masks (needed for seg / lae).
        n_per_class: test images per symmetry class (rows of the figure).
    """
    from selcn.masks import apply_mask
    from selcn.symmetry import best_model_path, load_symmetry_model, read_tables, symmetry_cams
    from selcn.training import resolve_device

    dev = resolve_device(device)
    index, splits = read_tables(index_csv, splits_csv)
    images = np.load(images_npy, mmap_mode="r")
    masks = np.load(masks_npy, mmap_mode="r") if masks_npy else None
    rows = pick_rows(splits, n_per_class)
    plain = [np.asarray(images[r]) for r in rows]
    ids = index["image_id"].astype(str).to_numpy()[rows].tolist()
    labels = index["label"].astype(str).to_numpy()[rows].tolist()
    strategies = []
    for m in models:
        model, meta = load_symmetry_model(best_model_path(m["best_json"], m["model_pts"]), dev)
        if meta["mask"] != m["mask"]:
            raise ValueError(f"{m['best_json']}: the best model uses mask {meta['mask']!r}, "
                             f"expected {m['mask']!r}")
        cams, preds = symmetry_cams(model, images, np.asarray(rows), input_size=meta["input_size"],
                                    arch=meta["arch"], mask=meta["mask"], masks=masks,
                                    out_size=images.shape[1], device=dev)
        shown = [apply_mask(p, np.asarray(masks[r]) if masks is not None else None, meta["mask"])
                 for p, r in zip(plain, rows)]
        strategies.append({"mask": meta["mask"], "variant": m["variant"], "shown": shown,
                           "cams": list(cams),
                           "preds": [meta["class_names"][k] for k in preds]})
    return figure9(plain, labels, strategies, out_path, image_ids=ids)
