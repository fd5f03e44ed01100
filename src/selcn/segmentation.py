"""The segmentation stage: train DeepLabV3+ / U-Net on HAM10000, evaluate, select, predict masks.

Files (``docs/contracts.md``, segmentation stage):

- ``<out_dir>/model.pt`` — a dict ``{"arch", "encoder", "input_size", "threshold",
  "state_dict"}``, read back by :func:`load_segmentation_model`;
- ``<out_dir>/history.csv`` — the training core's per-epoch history;
- ``<out_dir>/metrics_test.csv`` — one row ``arch,dice,jaccard,sensitivity,specificity,accuracy``
  on the held-out test split, pixels pooled over all test images at the cache resolution,
  followed by the same metrics on the validation part as ``val_dice,val_jaccard,...``;
- ``selected.json`` — ``{"arch", "metric", "value", "split"}`` (:func:`select_architecture`):
  chosen on the validation metrics under ``protocol: leakage_free``, on the test metrics only
  under ``protocol: thesis`` (the thesis' own choice);
- ``masks/{dataset}.npy`` — uint8 ``(N, S, S)`` in {0, 1}, rows as the cache index
  (:func:`write_predicted_masks`).

Training uses the training folds of the HAM10000 split (every row that is neither ``test``
nor ``excluded``); one fold (``fold0`` by default) is the validation set of early stopping and
of the architecture choice: the network never trains on it, and under ``protocol:
leakage_free`` the folds are grouped by ``lesion_id``, so no lesion of it is in training.
The network sees the cached images resized to ``segmentation.input_size``; predictions are
upsampled (bilinear, on the logits) back to the cache side ``S`` and thresholded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from selcn.atomic import atomic_path, write_csv
from selcn.checkpoints import load_model_file, save_model_file
from selcn.classifier import fit_config, job_key, open_stage_data, read_split_rows
from selcn.config import train_params
from selcn.data.datasets import CachedImageDataset, make_loader
from selcn.losses import HybridLoss
from selcn.metrics import segmentation_metrics
from selcn.models.segmentation import create_segmentation_model
from selcn.selection import (  # re-exported: selected on validation (torch-free module)
    SEGMENTATION_METRICS,
    VAL_PREFIX,
    select_architecture,
)
from selcn.training import FitResult, clear_resume_state, fit, resolve_device, set_seed
from selcn.weights import pretrained_cache

__all__ = [
    "METRICS", "split_rows", "segmentation_loss", "fit_segmentation", "predict_masks",
    "evaluate_segmentation", "save_segmentation_model", "load_segmentation_model",
    "train_segmentation", "selection_split", "select_architecture", "write_predicted_masks",
    "VAL_PREFIX",
]

#: columns of ``metrics_test.csv`` after ``arch`` (all: higher is better)
METRICS: tuple[str, ...] = SEGMENTATION_METRICS


# ---- data ------------------------------------------------------------------------------
def split_rows(index_csv: str | Path, splits_csv: str | Path,
               val_fold: str = "fold0") -> dict[str, np.ndarray]:
    """Cache rows of the ``train``, ``val`` and ``test`` parts of a dataset.

    ``index_csv`` is the cache index (``row,image_id,...``), ``splits_csv`` the split table
    (``image_id,...,split``). ``val`` = the rows of ``val_fold``; ``train`` = every other
    fold; ``test`` = ``split == "test"``; rows marked ``excluded`` are dropped. Row arrays are
    sorted int64.
    """
    splits = read_split_rows(index_csv, splits_csv)
    split = splits["split"]
    folds = sorted(s for s in split.unique() if s.startswith("fold"))
    if val_fold not in folds:
        raise ValueError(f"{splits_csv}: validation fold {val_fold!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")
    rows = splits["row"].to_numpy(np.int64)
    is_fold = split.str.startswith("fold").to_numpy()
    parts = {
        "train": rows[is_fold & (split != val_fold).to_numpy()],
        "val": rows[(split == val_fold).to_numpy()],
        "test": rows[(split == "test").to_numpy()],
    }
    for name, part in parts.items():
        if not len(part):
            raise ValueError(f"{splits_csv}: the {name} part is empty")
    return {name: np.sort(part) for name, part in parts.items()}


# ---- training --------------------------------------------------------------------------
def segmentation_loss(cfg: Mapping) -> HybridLoss:
    """The hybrid loss of a validated config's ``segmentation.loss`` block."""
    loss = cfg["segmentation"]["loss"]
    return HybridLoss(rank_weight=loss["rank_weight"], k=loss["rank_k"], margin=loss["rank_margin"])


def _dice_of_logits(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Validation metric for the history: pooled Dice of thresholded logits (0 = p 0.5)."""
    pred = torch.as_tensor(outputs) > 0
    gt = torch.as_tensor(targets) > 0.5
    inter = (pred & gt).sum().item()
    total = pred.sum().item() + gt.sum().item()
    return {"dice": 2.0 * inter / total if total else 1.0}


def fit_segmentation(arch: str, images: np.ndarray, gt_masks: np.ndarray,
                     train_rows: np.ndarray, val_rows: np.ndarray, out_dir: str | Path,
                     cfg: Mapping, params: Mapping, *, progress: bool = True,
                     job_key: Mapping | None = None) -> FitResult:
    """Train one architecture with the shared training core.

    Args:
        arch: ``deeplabv3plus`` or ``unet``.
        images: uint8 ``(N, S, S, 3)`` RGB cache (a memory map is fine).
        gt_masks: uint8 ``(N, S, S)`` in {0, 1}.
        train_rows, val_rows: cache rows of the two parts.
        out_dir: where the core writes ``history.csv`` and its resume state.
        cfg: validated config (``seed``, ``device``, ``segmentation``, ``weights``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        job_key: the resume key (:func:`selcn.classifier.job_key`).
    """
    seg = cfg["segmentation"]
    set_seed(cfg["seed"])
    device = resolve_device(cfg["device"])
    cache = pretrained_cache(cfg, "segmentation")
    model = create_segmentation_model(arch, seg["encoder"], pretrained_cache=cache)
    size = seg["input_size"]
    workers = params.get("num_workers", 0)
    train_ds = CachedImageDataset(images, train_rows, target_masks=gt_masks, size=size)
    val_ds = CachedImageDataset(images, val_rows, target_masks=gt_masks, size=size)
    train_loader = make_loader(train_ds, params["batch_size"], shuffle=True, num_workers=workers,
                               seed=cfg["seed"], drop_last=len(train_ds) > params["batch_size"])
    val_loader = make_loader(val_ds, params["batch_size"], shuffle=False, num_workers=workers,
                             seed=cfg["seed"])
    return fit(model, train_loader, val_loader, segmentation_loss(cfg), out_dir,
               fit_config(cfg, params, device, progress), metrics_fn=_dice_of_logits,
               job_key=job_key)


# ---- prediction and evaluation ---------------------------------------------------------
@torch.no_grad()
def predict_masks(model: nn.Module, images: np.ndarray, rows: np.ndarray | None = None, *,
                  input_size: int, threshold: float = 0.5, batch_size: int = 32,
                  num_workers: int = 0, device: str | torch.device | None = None,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Binary lesion masks of ``images[rows]`` at the cache resolution.

    Images are resized to ``input_size``, the logits upsampled (bilinear) to the cache side
    ``S`` and thresholded at ``threshold`` (a probability). Runs batch by batch, so ``images``
    may be a memory map larger than memory; ``out`` (uint8 ``(len(rows), S, S)``, e.g. a
    memory-mapped ``.npy``) receives the masks when given.

    Returns:
        uint8 ``(len(rows), S, S)`` in {0, 1}.
    """
    rows = np.arange(len(images)) if rows is None else np.asarray(rows, dtype=np.int64)
    side = images.shape[1]
    if out is None:
        out = np.zeros((len(rows), side, images.shape[2]), dtype=np.uint8)
    if out.shape != (len(rows), side, images.shape[2]):
        raise ValueError(f"predict_masks: out has shape {out.shape}, expected "
                         f"{(len(rows), side, images.shape[2])}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    cuda = device.type == "cuda"
    dataset = CachedImageDataset(images, rows, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers, seed=0)
    logit_threshold = float(torch.logit(torch.tensor(float(threshold)).clamp(1e-6, 1 - 1e-6)))
    start = 0
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        if cuda:
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(image)
        logits = F.interpolate(logits.float(), size=out.shape[1:], mode="bilinear",
                               align_corners=False)
        stop = start + len(logits)
        if not np.array_equal(batch["row"].numpy(), rows[start:stop]):
            raise RuntimeError("predict_masks: loader returned rows out of order")
        out[start:stop] = (logits[:, 0] > logit_threshold).to(torch.uint8).cpu().numpy()
        start = stop
    return out


def evaluate_segmentation(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Dice, Jaccard, pixel sensitivity / specificity / accuracy, pixels pooled over images."""
    scores = segmentation_metrics(np.asarray(pred), np.asarray(gt), per_image=False)
    return {name: float(scores[name]) for name in METRICS}


def save_segmentation_model(model: nn.Module, path: str | Path, *, arch: str, encoder: str,
                            input_size: int, threshold: float) -> None:
    """Write ``model.pt`` (state dict + what is needed to rebuild the network), atomically."""
    save_model_file(path, model, arch=arch, encoder=encoder, input_size=int(input_size),
                    threshold=float(threshold))


def load_segmentation_model(path: str | Path,
                            device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a network written by :func:`save_segmentation_model`: ``(model, meta)``."""
    blob = load_model_file(path, what="segmentation model",
                           required=("arch", "encoder", "input_size", "threshold"))
    model = create_segmentation_model(blob["arch"], blob["encoder"])
    model.load_state_dict(blob["state_dict"])
    meta = {k: blob[k] for k in ("arch", "encoder", "input_size", "threshold")}
    return model.to(device).eval(), meta


def train_segmentation(arch: str, cache_dir: str | Path, splits_csv: str | Path,
                       out_dir: str | Path, cfg: Mapping, *, hpo_best: str | Path | None = None,
                       val_fold: str = "fold0", progress: bool = True) -> dict[str, float]:
    """Train ``arch`` on a dataset's cache + splits, evaluate it on the validation and the
    test part.

    Reads ``<cache_dir>/images.npy``, ``gt_masks.npy``, ``index.csv``; writes ``model.pt``,
    ``history.csv`` and ``metrics_test.csv`` (test metrics, then the validation metrics as
    ``val_<metric>``) into ``out_dir``. Returns the test metrics.
    """
    cache_dir, out_dir = Path(cache_dir), Path(out_dir)
    inputs = [cache_dir / "images.npy", cache_dir / "gt_masks.npy", cache_dir / "index.csv"]
    data = open_stage_data(inputs[2], inputs[0], gt_masks_npy=inputs[1])
    images, gt_masks = data.images, data.gt_masks
    parts = split_rows(cache_dir / "index.csv", splits_csv, val_fold)
    params = train_params(cfg, "segmentation", hpo_best)
    seg = cfg["segmentation"]
    key = job_key(cfg, "segmentation", params=params,
                  wildcards={"arch": arch, "val_fold": val_fold},
                  inputs=[*inputs, splits_csv, hpo_best])
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    result = fit_segmentation(arch, images, gt_masks, parts["train"], parts["val"], out_dir,
                              cfg, params, progress=progress, job_key=key)
    print(f"[segmentation] {arch}: trained in {time.perf_counter() - started:.1f} s, "
          f"best epoch {result.best_epoch}", flush=True)

    device = resolve_device(cfg["device"])
    scores = {}
    for part in ("test", "val"):
        pred = predict_masks(result.model, images, parts[part], input_size=seg["input_size"],
                             threshold=seg["threshold"], batch_size=params["batch_size"],
                             num_workers=params.get("num_workers", 0), device=device)
        scores[part] = evaluate_segmentation(pred, gt_masks[parts[part]])
        print(f"[segmentation] {arch} {part} ({len(parts[part])} images): "
              + ", ".join(f"{k}={v:.4f}" for k, v in scores[part].items()), flush=True)
    row = {"arch": arch, **scores["test"],
           **{f"{VAL_PREFIX}{k}": v for k, v in scores["val"].items()}}
    write_csv(pd.DataFrame([row]), out_dir / "metrics_test.csv")
    save_segmentation_model(result.model, out_dir / "model.pt", arch=arch, encoder=seg["encoder"],
                            input_size=seg["input_size"], threshold=seg["threshold"])
    clear_resume_state(out_dir)
    return scores["test"]


# ---- selection and masks for every dataset ---------------------------------------------
def write_predicted_masks(model_path: str | Path, images_npy: str | Path, out_npy: str | Path,
                          *, batch_size: int = 32, num_workers: int = 0,
                          device: str | torch.device = "auto") -> np.ndarray:
    """Predict the mask of every cached image and write them as ``out_npy``.

    ``out_npy``: uint8 ``(N, S, S)`` {0, 1}, rows as the cache; written into a memory-mapped
    temporary file batch by batch and renamed when complete. Returns a memory map of it.
    """
    out_npy = Path(out_npy)
    device = resolve_device(device) if isinstance(device, str) else device
    model, meta = load_segmentation_model(model_path, device)
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_npy}: expected uint8 (N, S, S, 3), got "
                         f"{images.dtype} {images.shape}")
    with atomic_path(out_npy) as tmp:                 # a memory map, filled batch by batch
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=images.shape[:3])
        predict_masks(model, images, input_size=meta["input_size"], threshold=meta["threshold"],
                      batch_size=batch_size, num_workers=num_workers, device=device, out=out)
        out.flush()
        del out
    return np.load(out_npy, mmap_mode="r")
