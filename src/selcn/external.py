"""Further external test sets of the lesion models, after training (``rules/external.smk``).

A lesion dataset's models predict the first external test set of ``roles.external`` inside
their training job (:func:`selcn.lesion.train`: ISIC 2019 for HAM10000); every further set
(:attr:`selcn.grid.Grid.external_later`, e.g. PH² as ``ph2_ham``) is predicted by one job per
model x fold x set that reads the fold's ``model.pt`` (:func:`predict_external`), so adding a
set retrains nothing. Both write the same contract file,
``results/lesion/<dataset>/<model>/fold<k>/predictions_<set>.csv``.

An external set with ground-truth lesion masks (PH²) also scores the selected segmentation
network: its masks of the set (rule ``predict_masks``) against the ground truth
(:func:`score_external_masks`, Table 5 (external)).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from selcn.atomic import write_csv
from selcn.data.inputs import StageInputs, read_split_rows
from selcn.metrics import SEGMENTATION_METRICS, segmentation_metrics

if TYPE_CHECKING:                       # torch is imported by the prediction only
    import torch

__all__ = ["predict_external", "score_masks", "score_external_masks", "SCORE_COLUMNS",
           "IMAGE_MEAN_METRICS"]

#: the per-image means scored beside the pooled metrics (the ISIC challenges' Jaccard is a
#: mean over images; Table 5 pools the pixels)
IMAGE_MEAN_METRICS: tuple[str, ...] = ("dice_image_mean", "jaccard_image_mean")
#: the columns of a score file (:func:`score_external_masks`)
SCORE_COLUMNS: tuple[str, ...] = ("dataset", "arch", "n_images", *SEGMENTATION_METRICS,
                                  *IMAGE_MEAN_METRICS)


def predict_external(model_path: str | Path, inputs: StageInputs, out_csv: str | Path, *,
                     device: str | torch.device = "cpu",
                     batch_size: int = 32) -> pd.DataFrame:
    """Predict the ``test`` split of an external set with one fold's lesion ``model.pt`` and
    write ``out_csv`` (``image_id,target,pred,prob_<class>...``, the model's classes).

    Args:
        model_path: the fold's ``model.pt`` (:func:`selcn.lesion.open_model`).
        inputs: the set's cache (``images``, ``index``, ``splits``) and, as the model needs
            them, its predicted masks and symmetry CAMs.
        out_csv: ``predictions_<set>.csv`` beside the model.
        device: the job's device (:func:`selcn.device.job_device`) or its name.
        batch_size: images per forward pass.

    Returns the prediction frame. ValueError when a mask or CAM file the model needs is not
    given, or the set's labels are not the model's classes.
    """
    from selcn import engine, lesion

    saved = lesion.open_model(model_path, device)
    view = saved.view
    data = inputs.only(masks=view.needs_masks, cams=view.takes_cam).open()
    table = engine.predict_split(saved, data, "test", out_csv, batch_size)
    accuracy = float((table["pred"] == table["target"]).mean())
    print(f"[external] {model_path}: {len(table)} images, accuracy {accuracy:.4f} -> {out_csv}",
          flush=True)
    return table


def score_masks(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Dice, Jaccard, pixel sensitivity / specificity / accuracy of binary masks ``(N, S, S)``
    (non-zero = lesion), pixels pooled over the images as Table 5
    (:func:`selcn.metrics.segmentation_metrics`), and the per-image means of Dice and Jaccard
    (:data:`IMAGE_MEAN_METRICS`)."""
    pooled = segmentation_metrics(pred, gt)
    per_image = segmentation_metrics(pred, gt, per_image=True)
    return {**{m: float(pooled[m]) for m in SEGMENTATION_METRICS},
            "dice_image_mean": float(np.mean(per_image["dice"])),
            "jaccard_image_mean": float(np.mean(per_image["jaccard"]))}


def score_external_masks(masks_npy: str | Path, gt_npy: str | Path, index_csv: str | Path,
                         splits_csv: str | Path, selected_json: str | Path, dataset: str,
                         out_csv: str | Path) -> pd.DataFrame:
    """Score the selected segmentation network's masks of external set ``dataset`` against its
    ground truth on the set's ``test`` rows (every image of an external set) and write the one
    row (:data:`SCORE_COLUMNS`) to ``out_csv``.

    Args:
        masks_npy: the predicted masks, uint8 ``(N, S, S)`` in {0, 1}, rows as the cache.
        gt_npy: the ground-truth masks, same shape.
        index_csv, splits_csv: the set's cache index and split table.
        selected_json: ``results/segmentation/selected.json`` (its ``arch`` names the row).
    """
    pred = np.load(masks_npy, mmap_mode="r")
    gt = np.load(gt_npy, mmap_mode="r")
    if pred.shape != gt.shape:
        raise ValueError(f"{masks_npy}: predicted masks {pred.shape} and ground truth "
                         f"{gt.shape} ({gt_npy}) differ")
    split = read_split_rows(index_csv, splits_csv)
    rows = np.sort(split.loc[split["split"] == "test", "row"].to_numpy(np.int64))
    if not len(rows):
        raise ValueError(f"{splits_csv}: no row with split == 'test'")
    arch = json.loads(Path(selected_json).read_text())["arch"]
    scores = score_masks(np.asarray(pred[rows]), np.asarray(gt[rows]))
    frame = pd.DataFrame([{"dataset": dataset, "arch": arch, "n_images": len(rows), **scores}],
                         columns=list(SCORE_COLUMNS))
    write_csv(frame, out_csv)
    print(f"[external] {dataset}: {arch} masks of {len(rows)} images: "
          + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    return frame
