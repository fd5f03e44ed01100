"""The segmentation stage: train DeepLabV3+ / U-Net (or any architecture of
``segmentation.architectures``) on HAM10000, evaluate, select, predict masks.

Files (``docs/contracts.md``, segmentation stage):

- ``<out_dir>/model.pt`` — a dict ``{"arch", "encoder", "input_size", "threshold",
  "state_dict"}``, read back by :func:`load_segmentation_model`;
- ``<out_dir>/history.csv`` — the training core's per-epoch history;
- ``<out_dir>/metrics_test.csv`` — one row ``arch,dice,jaccard,sensitivity,specificity,accuracy``
  on the held-out test split, pixels pooled over all test images at the cache resolution,
  followed by the same metrics on the validation part as ``val_dice,val_jaccard,...``;
- ``selected.json`` — ``{"arch", "metric", "value", "split"}``
  (:func:`selcn.selection.select_architecture`): chosen on the validation metrics, or on the
  test metrics where the protocol selects on the test split (``thesis``, the thesis' choice);
  under ``segmentation.mode: axis`` the first architecture (the one of the reported models);
- ``masks/{dataset}.npy`` — uint8 ``(N, S, S)`` in {0, 1}, rows as the cache index
  (:func:`write_predicted_masks`); under ``axis`` one file per architecture,
  ``masks/{arch}/{dataset}.npy``.

Each architecture is built on its own encoder (:func:`selcn.grid.segmenter_encoder`:
``segmentation.encoders``, else ``segmentation.encoder``), recorded in its ``model.pt``.

Training uses the training folds of the HAM10000 split (every row that is neither ``test``
nor ``excluded``); one fold (``fold0`` by default) is the validation set of early stopping and
of the architecture choice: the network never trains on it, and where the protocol groups the
folds by ``lesion_id`` (``leakage_free``) no lesion of it is in training.
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

from selcn.atomic import atomic_path, reserved_memmap, write_csv
from selcn.checkpoints import load_model_file, save_model_file
from selcn.data.datasets import CachedImageDataset, View, make_loader
from selcn.data.inputs import StageData, StageInputs, read_split_rows
from selcn.engine import Training, job_key
from selcn.grid import Fold, segmenter_encoder
from selcn.losses import HybridLoss
from selcn.metrics import segmentation_metrics
from selcn.models.segmentation import create_segmentation_model
from selcn.resume import clear_resume_state
from selcn.selection import SEGMENTATION_METRICS, VAL_PREFIX
from selcn.training import FitResult, fit, set_seed

#: the fold that validates the segmentation training (early stopping, the architecture choice)
VAL_FOLD = Fold(0)

__all__ = ["VAL_FOLD", "split_rows", "segmentation_loss", "fit_segmentation", "predict_masks",
           "evaluate_segmentation", "save_segmentation_model", "load_segmentation_model",
           "train_segmentation", "write_predicted_masks", "pick_examples", "figure3_data"]


# ---- data ------------------------------------------------------------------------------
def split_rows(index_csv: str | Path, splits_csv: str | Path,
               val_fold: Fold = VAL_FOLD) -> dict[str, np.ndarray]:
    """Cache rows of the ``train``, ``val`` and ``test`` parts of a dataset.

    ``index_csv`` is the cache index (``row,image_id,...``), ``splits_csv`` the split table
    (``image_id,...,split``). ``val`` = the rows of ``val_fold``; ``train`` = every other
    fold; ``test`` = ``split == "test"``; rows marked ``excluded`` are dropped. Row arrays are
    sorted int64.
    """
    val_fold = Fold.parse(val_fold)
    splits = read_split_rows(index_csv, splits_csv)
    split = splits["split"]
    is_fold = split.map(Fold.is_name).astype(bool).to_numpy()
    folds = sorted(split[is_fold].unique())
    if val_fold.name not in folds:
        raise ValueError(f"{splits_csv}: validation fold {val_fold.name!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")
    rows = splits["row"].to_numpy(np.int64)
    parts = {
        "train": rows[is_fold & (split != val_fold.name).to_numpy()],
        "val": rows[(split == val_fold.name).to_numpy()],
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


def fit_segmentation(arch: str, data: StageData, parts: Mapping[str, np.ndarray],
                     out_dir: str | Path, training: Training,
                     key: Mapping | None = None) -> FitResult:
    """Train one architecture with the shared training core.

    Args:
        arch: a name of :data:`selcn.grid.SEGMENTERS` (``deeplabv3plus``, ``unet``, ...).
        data: the cache with its ground-truth masks (uint8 ``(N, S, S)`` in {0, 1}).
        parts: cache rows of the ``train`` and ``val`` parts.
        out_dir: where the core writes ``history.csv`` and its resume state.
        training: the config (``seed``, ``device``, ``segmentation``, ``weights``) and the
            resolved hyper-parameters.
        key: the resume key (:func:`selcn.engine.job_key`).
    """
    from selcn.weights import pretrained_cache

    cfg = training.cfg
    seg = cfg["segmentation"]
    set_seed(cfg["seed"])
    model = create_segmentation_model(arch, segmenter_encoder(seg, arch),
                                      pretrained_cache=pretrained_cache(cfg, "segmentation"))
    view = View(size=seg["input_size"])
    bs, workers = training.batch_size, training.num_workers
    train_ds = CachedImageDataset(data.images, parts["train"], target_masks=data.gt_masks,
                                  view=view)
    val_ds = CachedImageDataset(data.images, parts["val"], target_masks=data.gt_masks, view=view)
    train_loader = make_loader(train_ds, bs, shuffle=True, num_workers=workers,
                               seed=cfg["seed"], drop_last=len(train_ds) > bs)
    val_loader = make_loader(val_ds, bs, shuffle=False, num_workers=workers, seed=cfg["seed"])
    return fit(model, train_loader, val_loader, segmentation_loss(cfg), out_dir,
               training.fit_config(), metrics_fn=_dice_of_logits, job_key=key)


# ---- prediction and evaluation ---------------------------------------------------------
@torch.no_grad()
def predict_masks(model: nn.Module, images: np.ndarray, rows: np.ndarray | None = None, *,
                  input_size: int, threshold: float = 0.5, batch_size: int = 32,
                  device: str | torch.device | None = None,
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
    dataset = CachedImageDataset(images, rows, view=View(size=input_size))
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=0, seed=0)
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
    return {name: float(scores[name]) for name in SEGMENTATION_METRICS}


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


def train_segmentation(arch: str, inputs: StageInputs, out_dir: str | Path, training: Training,
                       val_fold: Fold = VAL_FOLD) -> dict[str, float]:
    """Train ``arch`` on a dataset's cache (``images``, ``index``, ``gt_masks``) and split table
    (``splits``), evaluate it on the validation and the test part.

    Writes ``model.pt``, ``history.csv`` and ``metrics_test.csv`` (test metrics, then the
    validation metrics as ``val_<metric>``) into ``out_dir``. Returns the test metrics.
    """
    out_dir = Path(out_dir)
    data = StageInputs(inputs.images, inputs.index, gt_masks=inputs.gt_masks).open()
    parts = split_rows(inputs.index, inputs.splits, val_fold)
    seg = training.cfg["segmentation"]
    key = job_key(training, "segmentation", {"arch": arch, "val_fold": val_fold.name},
                  [inputs.images, inputs.gt_masks, inputs.index, inputs.splits])
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    result = fit_segmentation(arch, data, parts, out_dir, training, key)
    print(f"[segmentation] {arch}: trained in {time.perf_counter() - started:.1f} s, "
          f"best epoch {result.best_epoch}", flush=True)

    scores = {}
    for part in ("test", "val"):
        pred = predict_masks(result.model, data.images, parts[part], input_size=seg["input_size"],
                             threshold=seg["threshold"], batch_size=training.batch_size,
                             device=training.device)
        scores[part] = evaluate_segmentation(pred, data.gt_masks[parts[part]])
        print(f"[segmentation] {arch} {part} ({len(parts[part])} images): "
              + ", ".join(f"{k}={v:.4f}" for k, v in scores[part].items()), flush=True)
    row = {"arch": arch, **scores["test"],
           **{f"{VAL_PREFIX}{k}": v for k, v in scores["val"].items()}}
    write_csv(pd.DataFrame([row]), out_dir / "metrics_test.csv")
    save_segmentation_model(result.model, out_dir / "model.pt", arch=arch,
                            encoder=segmenter_encoder(seg, arch), input_size=seg["input_size"],
                            threshold=seg["threshold"])
    clear_resume_state(out_dir)
    return scores["test"]


# ---- selection and masks for every dataset ---------------------------------------------
def write_predicted_masks(model_path: str | Path, images_npy: str | Path, out_npy: str | Path,
                          *, batch_size: int = 32,
                          device: str | torch.device = "auto") -> np.ndarray:
    """Predict the mask of every cached image and write them as ``out_npy``.

    ``out_npy``: uint8 ``(N, S, S)`` {0, 1}, rows as the cache; written into a memory-mapped
    temporary file batch by batch and renamed when complete. Returns a memory map of it.
    """
    from selcn.training import resolve_device

    out_npy = Path(out_npy)
    device = resolve_device(device) if isinstance(device, str) else device
    model, meta = load_segmentation_model(model_path, device)
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_npy}: expected uint8 (N, S, S, 3), got "
                         f"{images.dtype} {images.shape}")
    with atomic_path(out_npy) as tmp:                 # a memory map, filled batch by batch
        out = reserved_memmap(tmp, images.shape[:3], np.uint8)
        predict_masks(model, images, input_size=meta["input_size"], threshold=meta["threshold"],
                      batch_size=batch_size, device=device, out=out)
        out.flush()
        del out
    return np.load(out_npy, mmap_mode="r")


# ---- Figure 3 ---------------------------------------------------------------------------
def pick_examples(masks: np.ndarray, rows: np.ndarray, n: int = 3) -> list[int]:
    """Up to ``n`` rows, evenly spread over ``rows``, whose mask is not empty."""
    rows = [int(r) for r in rows if masks[int(r)].any()]
    if not rows:
        raise ValueError("figure 3: no image with a non-empty lesion mask to show")
    picks = np.linspace(0, len(rows) - 1, num=min(n, len(rows))).round().astype(int)
    return [rows[i] for i in dict.fromkeys(picks.tolist())]


def figure3_data(data: StageData, n: int = 3) -> dict[str, np.ndarray]:
    """What Figure 3 shows: ``n`` test images with a non-empty predicted mask
    (:func:`pick_examples`), as arrays for ``np.savez``: ``images`` uint8 ``(n, S, S, 3)``,
    ``masks`` uint8 ``(n, S, S)`` (the predicted masks), ``image_ids``."""
    if data.masks is None:
        raise ValueError(f"{data.inputs.images}: figure 3 needs the predicted lesion masks")
    rows = pick_examples(data.masks, data.rows_of("test"), n)
    return {"images": np.stack([np.asarray(data.images[r]) for r in rows]),
            "masks": np.stack([np.asarray(data.masks[r]) for r in rows]),
            "image_ids": data.image_ids[rows].astype(str)}
