"""The symmetry stage: train one variant x fold, predict, pick the best fold, export its CAMs,
localise them (thesis 4.1.2, 5.2 experiment 2, 5.3.2; Tables 6a/6b/7, Figure 9).

A **variant** is a Table 6 row ``{pretrained|scratch}-{mask}``: ImageNet weights from the local
cache or random initialisation, and the masking strategy (none | seg | lae) applied to the input
with the segmentation stage's predicted masks. The architecture comparison trains
``squeezenet1_0``, ``resnet34``, ``efficientnet_b0`` and ``shufflenet_v2_x1_0`` without a mask.

Files (``docs/contracts.md``, symmetry stage), per fold ``k`` under
``results/symmetry/{variant}/fold{k}/`` (or ``results/symmetry_arch/{arch}/fold{k}/``):

- ``model.pt`` — ``{"arch", "num_classes", "input_size", "mask", "pretrained", "class_names",
  "fold", "best_epoch", "state_dict"}`` (:func:`save_symmetry_model` / :func:`load_symmetry_model`);
- ``history.csv`` — the training core's per-epoch history;
- ``predictions_val.csv``, ``predictions_test.csv`` — ``image_id,target,pred,prob_asymmetric,
  prob_symmetric`` (:mod:`selcn.predictions`).

Per variant: ``best_fold.json`` (:func:`select_best_fold`: validation balanced accuracy; test
accuracy under ``protocol: thesis``, which is selection on the test set),
``results/cams/{mask}/{dataset}.npy`` (:func:`export_cams`: Grad-CAM++ of the best fold for
every cache row, target = predicted class, float16 ``(N, R, R)``) and
``localisation_ham10000.csv`` (:func:`localise_symmetry`: the CAMs of the HAM10000 test split
against its ground-truth masks).

Training data (SymDerm split table): fold ``k`` validates, the other folds train, ``test`` is
held out and rows marked ``excluded`` (SymDerm images of HAM10000 test lesions) are never used.
SymDerm is not balanced by augmentation (the thesis does not); the class imbalance is handled
by the weighted cross-entropy ``w_i = N / (n_i * C)`` of the training part (eq. 5).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn.cams import gradcam_plus_plus, localisation_table, resize_cams
from selcn.atomic import write_csv, write_json, write_npy
from selcn.checkpoints import load_model_file, save_model_file
from selcn.config import train_params
from selcn.data.cache import load_cache_array, load_cache_images
from selcn.models.symmetry import cam_target_layer, create_symmetry_model
from selcn.predictions import read_predictions, write_predictions

__all__ = ["MASKS", "parse_variant", "class_names", "read_tables", "fold_tables",
           "symmetry_loss", "fit_symmetry", "predict_probabilities", "save_symmetry_model",
           "load_symmetry_model", "train_symmetry_fold", "best_fold_criterion",
           "select_best_fold", "symmetry_cams", "export_cams", "localise_symmetry",
           "best_model_path", "write_localisation", "write_best_fold"]

MASKS: tuple[str, ...] = ("none", "seg", "lae")


# ---- small helpers --------------------------------------------------------------------------
def _device(device: str | torch.device) -> torch.device:
    from selcn.training import resolve_device

    return resolve_device(device)


def parse_variant(variant: str) -> tuple[bool, str]:
    """``"pretrained-seg"`` -> ``(True, "seg")``; ``"scratch-none"`` -> ``(False, "none")``."""
    head, _, mask = variant.partition("-")
    if head not in ("pretrained", "scratch") or mask not in MASKS:
        raise ValueError(f"unknown symmetry variant {variant!r} "
                         "(expected pretrained|scratch-none|seg|lae)")
    return head == "pretrained", mask


def class_names() -> list[str]:
    """The symmetry classes in target order: ``asymmetric`` (0), ``symmetric`` (1)."""
    from selcn.data.labels import classes

    return list(classes("symderm"))


def _check_mask_inputs(mask: str, masks) -> None:
    if mask not in MASKS:
        raise ValueError(f"unknown symmetry mask {mask!r} (one of {', '.join(MASKS)})")
    if mask != "none" and masks is None:
        raise ValueError(f"symmetry mask {mask!r} needs the predicted lesion masks "
                         "(results/masks/<dataset>.npy)")


# ---- tables ---------------------------------------------------------------------------------
def read_tables(index_csv: str | Path, splits_csv: str | Path | None = None):
    """``(index, splits)``: the cache index and, when given, the split table joined with the
    cache rows (``row,image_id,target,label,split``); see :func:`selcn.data.tables.read_splits`."""
    from selcn.data.tables import read_index, read_splits

    index = read_index(index_csv)
    return index, (read_splits(splits_csv, index) if splits_csv is not None else None)


def fold_tables(splits: pd.DataFrame, fold: int) -> dict[str, pd.DataFrame]:
    """The ``train`` / ``val`` / ``test`` tables ``row,transform,target`` of fold ``fold``.

    ``val`` = split ``fold<k>``, ``train`` = every other ``fold<j>``, ``test`` = ``test``;
    ``excluded`` rows are in none of them; no augmentation (transform 0).
    """
    split = splits["split"].astype(str)
    folds = sorted({s for s in split if s.startswith("fold")}, key=lambda s: int(s[4:]))
    name = f"fold{fold}"
    if name not in folds:
        raise ValueError(f"split table: fold {name!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")
    parts = {"train": splits[split.str.startswith("fold") & (split != name)],
             "val": splits[split == name], "test": splits[split == "test"]}
    out = {}
    for part, rows in parts.items():
        if rows.empty:
            raise ValueError(f"split table: the {part} part of {name} is empty")
        out[part] = pd.DataFrame({"row": rows["row"].to_numpy(np.int64),
                                  "transform": np.zeros(len(rows), np.int64),
                                  "target": rows["target"].to_numpy(np.int64)})
    return out


# ---- training -------------------------------------------------------------------------------
def symmetry_loss(train_targets: Sequence[int], num_classes: int = 2,
                  weighted: bool = True) -> nn.Module:
    """Cross-entropy, weighted by ``w_i = N / (n_i * C)`` of the training targets (eq. 5)."""
    if not weighted:
        return nn.CrossEntropyLoss()
    from selcn.data.datasets import class_weights

    weights = torch.as_tensor(np.asarray(class_weights(train_targets, num_classes)),
                              dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weights)


def _dataset(images: np.ndarray, table: pd.DataFrame, *, mask: str, masks, size: int):
    from selcn.data.datasets import CachedImageDataset

    return CachedImageDataset(images, table["row"].to_numpy(np.int64),
                              table["target"].to_numpy(np.int64),
                              transforms=table["transform"].to_numpy(np.int64)
                              if "transform" in table else None,
                              masks=masks if mask != "none" else None, mask_strategy=mask,
                              size=size)


def _val_metrics(outputs, targets) -> dict[str, float]:
    """History columns: accuracy and balanced accuracy of the validation logits."""
    pred = torch.as_tensor(outputs).argmax(1).cpu().numpy()
    true = torch.as_tensor(targets).cpu().numpy()
    recalls = [float((pred[true == c] == c).mean()) for c in np.unique(true)]
    return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(np.mean(recalls))}


def fit_symmetry(images: np.ndarray, train: pd.DataFrame, val: pd.DataFrame,
                 out_dir: str | Path, cfg: Mapping, params: Mapping, *, arch: str | None = None,
                 mask: str = "none", pretrained: bool | None = None,
                 masks: np.ndarray | None = None, num_classes: int = 2, progress: bool = True):
    """Train one symmetry classifier with the shared training core.

    Args:
        images: uint8 ``(N, S, S, 3)`` RGB cache (a memory map is fine).
        train, val: tables ``row,transform,target`` (:func:`fold_tables`).
        out_dir: where the core writes ``history.csv`` and its resume state.
        cfg: validated config (``seed``, ``device``, ``symmetry``, ``weights``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        arch: default ``symmetry.architecture``.
        mask: input masking strategy (none | seg | lae) with ``masks``.
        pretrained: ImageNet weights from ``weights.cache_dir`` (default ``symmetry.pretrained``).
        masks: uint8 ``(N, S, S)`` predicted lesion masks.

    Returns:
        the core's ``FitResult(model, best_epoch, history)`` (weights of the best epoch).
    """
    from selcn.data.datasets import make_loader
    from selcn.training import FitConfig, fit, set_seed
    from selcn.weights import pretrained_cache

    sym = cfg["symmetry"]
    arch = arch or sym["architecture"]
    _check_mask_inputs(mask, masks)
    cache = pretrained_cache(cfg, "symmetry", pretrained)
    set_seed(cfg["seed"])
    device = _device(cfg["device"])
    model = create_symmetry_model(arch, num_classes, pretrained_cache=cache)
    kw = dict(mask=mask, masks=masks, size=sym["input_size"])
    train_ds, val_ds = _dataset(images, train, **kw), _dataset(images, val, **kw)
    bs, workers = params["batch_size"], params.get("num_workers", 0)
    train_loader = make_loader(train_ds, bs, shuffle=True, num_workers=workers, seed=cfg["seed"],
                               drop_last=len(train_ds) > bs)
    val_loader = make_loader(val_ds, bs, shuffle=False, num_workers=workers, seed=cfg["seed"])
    loss = symmetry_loss(train["target"].to_numpy(), num_classes, params["weighted_loss"])
    cuda = device.type == "cuda"
    fit_cfg = FitConfig(max_epochs=params["max_epochs"], patience=params["patience"],
                        lr=params["lr"], momentum=params["momentum"],
                        weight_decay=params["weight_decay"], seed=cfg["seed"],
                        device=str(device), amp=cuda, channels_last=cuda,
                        max_train_batches=params.get("max_train_batches"), progress=progress)
    return fit(model, train_loader, val_loader, loss, out_dir, fit_cfg, metrics_fn=_val_metrics)


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: np.ndarray, table: pd.DataFrame, *,
                          input_size: int, mask: str = "none", masks: np.ndarray | None = None,
                          batch_size: int = 32, num_workers: int = 0,
                          device: str | torch.device | None = None) -> np.ndarray:
    """Softmax probabilities ``(len(table), C)`` of the rows of ``table`` (its order kept)."""
    from selcn.data.datasets import make_loader
    from selcn.training import predict_proba

    dataset = _dataset(images, table, mask=mask, masks=masks, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers, seed=0)
    return predict_proba(model, loader, table["row"].to_numpy(), device=device)


def save_symmetry_model(model: nn.Module, path: str | Path, **meta) -> None:
    """Write ``model.pt``: the state dict and ``meta`` (arch, input_size, mask, classes, ...)."""
    if "class_names" in meta:
        meta["class_names"] = list(meta["class_names"])
        meta["num_classes"] = len(meta["class_names"])
    save_model_file(path, model, required=("arch", "input_size", "mask", "pretrained",
                                           "class_names"), **meta)


def load_symmetry_model(path: str | Path,
                        device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model written by :func:`save_symmetry_model`: ``(model in eval mode, meta)``."""
    blob = load_model_file(path, what="symmetry model",
                           required=("arch", "num_classes", "input_size", "mask", "class_names"))
    model = create_symmetry_model(blob["arch"], blob["num_classes"])
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return model.to(device).eval(), meta


def train_symmetry_fold(*, images_npy: str | Path, index_csv: str | Path,
                        splits_csv: str | Path, out_dir: str | Path, cfg: Mapping, fold: int,
                        mask: str = "none", pretrained: bool | None = None,
                        arch: str | None = None, masks_npy: str | Path | None = None,
                        hpo_best: str | Path | None = None, progress: bool = True) -> dict:
    """Train fold ``fold`` of a variant (or architecture) on the SymDerm cache and write
    ``model.pt``, ``history.csv``, ``predictions_val.csv`` and ``predictions_test.csv`` into
    ``out_dir``.

    Returns ``{"best_epoch", "seconds", "n_train", "val_accuracy", "val_balanced_accuracy",
    "test_accuracy", "test_balanced_accuracy"}``.
    """
    from selcn.metrics import classification_metrics

    out_dir = Path(out_dir)
    sym = cfg["symmetry"]
    arch = arch or sym["architecture"]
    pretrained = sym["pretrained"] if pretrained is None else pretrained
    from selcn.data.tables import class_names_of

    index, splits = read_tables(index_csv, splits_csv)
    names = class_names_of(index, source=str(index_csv), dataset="symderm")
    images = load_cache_images(images_npy, len(index))
    masks = load_cache_array(masks_npy if mask != "none" else None, "predicted masks", len(index),
                             images.shape[1:3])
    _check_mask_inputs(mask, masks)
    parts = fold_tables(splits, fold)
    params = train_params(cfg, "symmetry", hpo_best)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"[symmetry] {arch} {'pretrained' if pretrained else 'scratch'}-{mask} fold{fold}"
    counts = np.bincount(parts["train"]["target"], minlength=len(names)).tolist()
    print(f"{tag}: train {len(parts['train'])} (per class {counts}), val {len(parts['val'])}, "
          f"test {len(parts['test'])}; params {params}", flush=True)

    started = time.perf_counter()
    result = fit_symmetry(images, parts["train"], parts["val"], out_dir, cfg, params, arch=arch,
                          mask=mask, pretrained=pretrained, masks=masks,
                          num_classes=len(names), progress=progress)
    seconds = time.perf_counter() - started
    device = _device(cfg["device"])
    summary = {"best_epoch": int(result.best_epoch), "seconds": round(seconds, 1),
               "n_train": len(parts["train"])}
    image_id = index["image_id"].astype(str).to_numpy()
    for part in ("val", "test"):
        table = parts[part]
        probs = predict_probabilities(result.model, images, table, input_size=sym["input_size"],
                                      mask=mask, masks=masks, batch_size=params["batch_size"],
                                      num_workers=params.get("num_workers", 0), device=device)
        frame = write_predictions(out_dir / f"predictions_{part}.csv",
                                  image_id[table["row"].to_numpy()], table["target"], probs, names)
        scores = classification_metrics(frame["target"], frame["pred"], average="weighted",
                                        labels=list(range(len(names))))
        summary[f"{part}_accuracy"] = scores["accuracy"]
        summary[f"{part}_balanced_accuracy"] = scores["balanced_accuracy"]
    save_symmetry_model(result.model, out_dir / "model.pt", arch=arch,
                        input_size=sym["input_size"], mask=mask, pretrained=bool(pretrained),
                        class_names=names, fold=int(fold), best_epoch=int(result.best_epoch))
    print(f"{tag}: {seconds:.1f} s, best epoch {result.best_epoch}, "
          f"val balanced accuracy {summary['val_balanced_accuracy']:.4f}, "
          f"test balanced accuracy {summary['test_balanced_accuracy']:.4f}", flush=True)
    return summary


# ---- best fold ------------------------------------------------------------------------------
def best_fold_criterion(protocol: str) -> tuple[str, str, str]:
    """``(split, metric, criterion)`` the best fold is chosen on: validation balanced accuracy,
    or test accuracy under ``protocol: thesis`` (the thesis' own choice, test-set selection)."""
    if protocol == "thesis":
        return "test", "accuracy", "test_accuracy"
    if protocol == "leakage_free":
        return "val", "balanced_accuracy", "val_balanced_accuracy"
    raise ValueError(f"unknown protocol {protocol!r} (leakage_free, thesis)")


def select_best_fold(prediction_csvs: Mapping[int, str | Path], *,
                     protocol: str = "leakage_free") -> dict:
    """The fold whose prediction file scores best (lowest fold wins a tie).

    Args:
        prediction_csvs: fold -> ``predictions_val.csv`` (``predictions_test.csv`` under
            ``protocol: thesis``).

    Returns:
        ``{"fold", "criterion", "value", "values": {fold: value}}`` (``best_fold.json``).
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    if not prediction_csvs:
        raise ValueError("select_best_fold: no prediction file given")
    _, metric, criterion = best_fold_criterion(protocol)
    score = balanced_accuracy_score if metric == "balanced_accuracy" else accuracy_score
    values = {}
    for fold, path in sorted(prediction_csvs.items()):
        table = read_predictions(path)
        if table.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        values[int(fold)] = float(score(table["target"], table["pred"]))
    best = max(values, key=lambda k: (values[k], -k))
    return {"fold": best, "criterion": criterion, "value": values[best],
            "values": {str(k): v for k, v in values.items()}}


def best_model_path(best_json: str | Path, model_pts: Mapping[int, str | Path] | Sequence) -> Path:
    """The ``model.pt`` of the fold named in ``best_fold.json`` (``model_pts``: fold -> path, or
    a list of ``.../fold<k>/model.pt`` paths)."""
    best = json.loads(Path(best_json).read_text())
    if "fold" not in best:
        raise ValueError(f"{best_json}: missing field 'fold'")
    if not isinstance(model_pts, Mapping):
        model_pts = {int(Path(p).parent.name.removeprefix("fold")): p for p in model_pts}
    fold = int(best["fold"])
    if fold not in model_pts:
        raise ValueError(f"{best_json}: fold {fold} has no model.pt among the inputs "
                         f"(folds {sorted(model_pts)})")
    return Path(model_pts[fold])


# ---- Grad-CAM++ -----------------------------------------------------------------------------
def symmetry_cams(model: nn.Module, images: np.ndarray, rows: np.ndarray, *, input_size: int,
                  arch: str, mask: str = "none", masks: np.ndarray | None = None,
                  out_size: int | None = None, batch_size: int = 64, num_workers: int = 0,
                  device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ (target: the predicted class) of ``images[rows]`` as the model sees them
    (masked by ``mask``, resized to ``input_size``).

    Each CAM is resized (bilinear) from the feature map to ``out_size`` (default: the cache
    side ``S``) and min-max normalised per image.

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    from selcn.data.datasets import make_loader

    _check_mask_inputs(mask, masks)
    device = torch.device(device)
    model = model.to(device).eval()
    rows = np.asarray(rows, dtype=np.int64)
    out_size = out_size or images.shape[1]
    table = pd.DataFrame({"row": rows, "transform": np.zeros(len(rows), np.int64),
                          "target": np.zeros(len(rows), np.int64)})
    loader = make_loader(_dataset(images, table, mask=mask, masks=masks, size=input_size),
                         batch_size, shuffle=False, num_workers=num_workers, seed=0)
    layer = cam_target_layer(model, arch)
    maps, preds = [], []
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        heat, logits = gradcam_plus_plus(model, image, layer, return_logits=True)
        maps.append(resize_cams(heat, out_size).cpu().numpy())
        preds.append(logits.argmax(1).cpu().numpy())
    if not maps:
        return (np.zeros((0, out_size, out_size), np.float32), np.zeros(0, np.int64))
    return np.concatenate(maps).astype(np.float32), np.concatenate(preds).astype(np.int64)


def export_cams(model_pt: str | Path, *, images_npy: str | Path, index_csv: str | Path,
                out_npy: str | Path, cam_size: int, masks_npy: str | Path | None = None,
                batch_size: int = 64, num_workers: int = 0,
                device: str | torch.device = "auto") -> dict:
    """Write ``results/cams/{mask}/{dataset}.npy``: float16 ``(N, R, R)``, ``R = cam_size``,
    the Grad-CAM++ of ``model_pt`` for every cache row (rows as the cache index).

    The model's own mask (``meta["mask"]``) is applied with ``masks_npy``. Returns a summary
    ``{"n", "seconds", "images_per_second", "predicted": {class: count}}``.
    """
    device = _device(device) if isinstance(device, str) else device
    model, meta = load_symmetry_model(model_pt, device)
    index, _ = read_tables(index_csv)
    images = load_cache_images(images_npy, len(index))
    masks = load_cache_array(masks_npy if meta["mask"] != "none" else None, "predicted masks",
                             len(index), images.shape[1:3])
    started = time.perf_counter()
    cams, preds = symmetry_cams(model, images, np.arange(len(index)),
                                input_size=meta["input_size"], arch=meta["arch"],
                                mask=meta["mask"], masks=masks, out_size=cam_size,
                                batch_size=batch_size, num_workers=num_workers, device=device)
    seconds = time.perf_counter() - started
    write_npy(cams.astype(np.float16), out_npy)
    counts = np.bincount(preds, minlength=len(meta["class_names"]))
    summary = {"n": len(index), "seconds": round(seconds, 2),
               "images_per_second": round(len(index) / max(seconds, 1e-9), 1),
               "predicted": dict(zip(meta["class_names"], counts.tolist()))}
    print(f"[symmetry] CAMs of {model_pt} ({meta['mask']} mask) -> {out_npy}: {summary}",
          flush=True)
    return summary


def localise_symmetry(model_pt: str | Path, *, images_npy: str | Path, index_csv: str | Path,
                      splits_csv: str | Path, gt_masks_npy: str | Path, cams_cfg: Mapping,
                      masks_npy: str | Path | None = None, split: str | None = "test",
                      num_workers: int = 0, device: str | torch.device = "auto",
                      max_images: int | None = None) -> pd.DataFrame:
    """Table 7 rows of one symmetry model: ``image_id,iou,overlap,pointing`` per image.

    The images are the ``split`` rows of the split table (the HAM10000 test split, the images
    the lesion stage localises too; ``None`` = every row). Each CAM is computed at the feature
    map, resized to the image side ``S`` and scored against the ground-truth mask with
    :func:`selcn.cams.localisation_metrics` (``cams_cfg`` = the config's ``cams`` block).
    """
    device = _device(device) if isinstance(device, str) else device
    model, meta = load_symmetry_model(model_pt, device)
    index, splits = read_tables(index_csv, splits_csv)
    images = load_cache_images(images_npy, len(index))
    gt = load_cache_array(gt_masks_npy, "ground-truth masks", len(index), images.shape[1:3])
    masks = load_cache_array(masks_npy if meta["mask"] != "none" else None, "predicted masks",
                             len(index), images.shape[1:3])
    rows = np.sort(splits.loc[splits["split"] == split, "row"].to_numpy(np.int64)) \
        if split is not None else np.arange(len(index))
    if not len(rows):
        raise ValueError(f"{splits_csv}: no row with split == {split!r}")
    if max_images is not None:
        rows = rows[:max_images]
    heat, _ = symmetry_cams(model, images, rows, input_size=meta["input_size"],
                            arch=meta["arch"], mask=meta["mask"], masks=masks,
                            out_size=images.shape[1], batch_size=cams_cfg.get("batch_size", 64),
                            num_workers=num_workers, device=device)
    return localisation_table(heat, gt, rows, index["image_id"].astype(str).to_numpy(),
                              cams_cfg)


def write_localisation(table: pd.DataFrame, path: str | Path) -> None:
    """Write a per-image localisation table atomically."""
    write_csv(table, path)


def write_best_fold(best: Mapping, path: str | Path) -> None:
    """Write ``best_fold.json`` atomically."""
    write_json(best, path)
