"""The lesion stage: train one grid cell x fold, predict, pick the best fold, localise its CAMs.

A grid cell is ``(dataset, classifier_mask, symmetry_mask)``: ``classifier_mask`` (none | seg |
lae) masks the lesion network's input with the predicted lesion masks, ``symmetry_mask``
(off | none | seg | lae) selects the symmetry CAMs fed to the E-Layer (``off`` = baseline).

Files (``docs/contracts.md``, lesion stage), per fold ``k`` under
``results/lesion/{dataset}/{classifier_mask}-{symmetry_mask}/fold{k}/``:

- ``model.pt`` — ``{"arch", "num_classes", "use_cam", "input_size", "classifier_mask",
  "symmetry_mask", "class_names", "fold", "best_epoch", "state_dict"}``
  (:func:`save_lesion_model` / :func:`load_lesion_model`);
- ``history.csv`` — the training core's per-epoch history;
- ``predictions_val.csv``, ``predictions_test.csv`` (and, for HAM10000 models,
  ``predictions_isic2019.csv``) — ``image_id,target,pred,prob_<class>...``.

Per cell: ``best_fold.json`` (:func:`select_best_fold`) and ``localisation.csv``
(``image_id,iou,overlap,pointing``, :func:`localise_model`): Grad-CAM++ of the best fold's
own target layer (E-Layer output, or the encoder's last feature layer for baselines), target =
predicted class, against the ground-truth masks of the **HAM10000 test split**. ISIC 2016 has no
ground-truth masks; its models are localised on the same HAM10000 test images (as the thesis'
Table 15 does), fed with the HAM10000 symmetry CAMs and masks.

Protocols (``config.protocol``):

- ``leakage_free`` — the split table's folds are grouped by lesion; the training part (every
  other fold) is balanced **inside** the fold; validation = the fold's own images, unaugmented;
  the best fold is chosen on validation accuracy.
- ``thesis`` — the pooled training + validation images are balanced first and the balanced table
  (augmented copies included) is cut into stratified folds, so copies of one image may land on
  both sides; the best fold is chosen on test accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn.atomic import write_csv, write_json
from selcn.checkpoints import load_model_file, save_model_file
from selcn.config import train_params
from selcn.data.cache import load_cache_array
from selcn.data.tables import class_names_of, read_csv, read_index, read_splits
from selcn.models.lesion import LesionClassifier, cam_target_layer, create_lesion_model
from selcn.predictions import prediction_frame, write_predictions

__all__ = [
    "PROTOCOLS", "fold_tables", "lesion_loss",
    "fit_lesion", "predict_probabilities", "prediction_frame", "write_predictions",
    "save_lesion_model", "load_lesion_model", "train_lesion_fold", "predict_split",
    "select_best_fold", "best_fold_criterion", "lesion_cams", "localise_model",
    "localise_best_fold", "test_rows",
]

PROTOCOLS = ("leakage_free", "thesis")


# ---- tables ---------------------------------------------------------------------------------
def fold_tables(splits: pd.DataFrame, fold: int, *, protocol: str = "leakage_free",
                target_per_class: int = 2000, max_copies: int = 3,
                seed: int = 0) -> dict[str, pd.DataFrame]:
    """The ``train``, ``val`` and ``test`` tables of one fold: ``row,transform,target``.

    ``train`` is balanced with :func:`selcn.data.splits.balance` (transform 0 identity,
    1 h-flip, 2 v-flip, 3 rot90); ``val``/``test`` are unaugmented (transform 0) except under
    ``protocol: thesis`` (see the module docstring). Rows marked ``excluded`` are never used.
    """
    from selcn.data.splits import balance

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    is_fold = splits["split"].str.startswith("fold")
    folds = sorted(splits.loc[is_fold, "split"].unique(), key=lambda s: int(s[4:]))
    name = f"fold{fold}"
    if name not in folds:
        raise ValueError(f"split table: fold {name!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")

    def plain(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"row": part["row"].to_numpy(np.int64),
                             "transform": np.zeros(len(part), np.int64),
                             "target": part["target"].to_numpy(np.int64)})

    def balanced(part: pd.DataFrame) -> pd.DataFrame:
        table = balance(part.reset_index(drop=True), target_per_class, max_copies, seed)
        target_of = dict(zip(part["row"], part["target"]))
        return pd.DataFrame({"row": table["row"].to_numpy(np.int64),
                             "transform": table["transform"].to_numpy(np.int64),
                             "target": table["row"].map(target_of).to_numpy(np.int64)})

    test = plain(splits[splits["split"] == "test"])
    if protocol == "leakage_free":
        train = balanced(splits[is_fold & (splits["split"] != name)])
        val = plain(splits[splits["split"] == name])
    else:
        from sklearn.model_selection import StratifiedKFold

        pool = balanced(splits[is_fold])
        cv = StratifiedKFold(n_splits=len(folds), shuffle=True, random_state=seed)
        train_idx, val_idx = list(cv.split(np.zeros(len(pool)), pool["target"]))[folds.index(name)]
        train, val = pool.iloc[train_idx], pool.iloc[val_idx]
    parts = {"train": train.reset_index(drop=True), "val": val.reset_index(drop=True),
             "test": test}
    for part, table in parts.items():
        if table.empty:
            raise ValueError(f"split table: the {part} part of {name} is empty")
    return parts


def test_rows(splits: pd.DataFrame) -> np.ndarray:
    """Sorted cache rows of the ``test`` split."""
    return np.sort(splits.loc[splits["split"] == "test", "row"].to_numpy(np.int64))


# ---- datasets and training ------------------------------------------------------------------
def _dataset(images: np.ndarray, table: pd.DataFrame, *, masks: np.ndarray | None,
             classifier_mask: str, cams: np.ndarray | None, size: int):
    from selcn.data.datasets import CachedImageDataset

    return CachedImageDataset(
        images, table["row"].to_numpy(np.int64), table["target"].to_numpy(np.int64),
        transforms=table["transform"].to_numpy(np.int64) if "transform" in table else None,
        masks=masks if classifier_mask != "none" else None,
        mask_strategy=classifier_mask, cams=cams, size=size)


def _check_inputs(classifier_mask: str, symmetry_mask: str, masks, cams) -> None:
    if classifier_mask not in ("none", "seg", "lae"):
        raise ValueError(f"unknown classifier_mask {classifier_mask!r} (none, seg, lae)")
    if symmetry_mask not in ("off", "none", "seg", "lae"):
        raise ValueError(f"unknown symmetry_mask {symmetry_mask!r} (off, none, seg, lae)")
    if classifier_mask != "none" and masks is None:
        raise ValueError(f"classifier_mask={classifier_mask!r} needs the predicted lesion masks")
    if (symmetry_mask != "off") != (cams is not None):
        raise ValueError(f"symmetry_mask={symmetry_mask!r}: symmetry CAMs must be given exactly "
                         "when symmetry_mask != off")


def lesion_loss(train_targets: np.ndarray, num_classes: int, weighted: bool) -> nn.Module:
    """Cross-entropy, weighted by ``w_i = N / (n_i * C)`` of the training targets when asked."""
    if not weighted:
        return nn.CrossEntropyLoss()
    from selcn.data.datasets import class_weights

    weights = torch.as_tensor(np.asarray(class_weights(train_targets, num_classes)),
                              dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weights)


def _accuracy_metrics(outputs, targets) -> dict[str, float]:
    """Validation metrics for the history: accuracy and balanced accuracy of the logits."""
    pred = torch.as_tensor(outputs).argmax(1).cpu().numpy()
    true = torch.as_tensor(targets).cpu().numpy()
    recalls = [float((pred[true == c] == c).mean()) for c in np.unique(true)]
    return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(np.mean(recalls))}


def _fit_config(cfg: Mapping, params: Mapping, device: torch.device, progress: bool):
    from selcn.training import FitConfig

    cuda = device.type == "cuda"
    return FitConfig(max_epochs=params["max_epochs"], patience=params["patience"], lr=params["lr"],
                     momentum=params["momentum"], weight_decay=params["weight_decay"],
                     seed=cfg["seed"], device=str(device), amp=cuda, channels_last=cuda,
                     max_train_batches=params.get("max_train_batches"), progress=progress)


def fit_lesion(images: np.ndarray, train: pd.DataFrame, val: pd.DataFrame, out_dir: str | Path,
               cfg: Mapping, params: Mapping, *, num_classes: int, classifier_mask: str = "none",
               symmetry_mask: str = "off", masks: np.ndarray | None = None,
               cams: np.ndarray | None = None, progress: bool = True):
    """Train one lesion model with the shared training core.

    Args:
        images: uint8 ``(N, S, S, 3)`` RGB cache (a memory map is fine).
        train, val: tables ``row,transform,target`` (:func:`fold_tables`).
        out_dir: where the core writes ``history.csv`` and its resume state.
        cfg: validated config (``seed``, ``device``, ``lesion``, ``weights``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        num_classes: 7 (HAM10000) or 2 (ISIC 2016).
        masks: uint8 ``(N, S, S)`` predicted lesion masks (``classifier_mask != none``).
        cams: float ``(N, R, R)`` symmetry CAMs in [0, 1] (``symmetry_mask != off``).

    Returns:
        the core's ``FitResult(model, best_epoch, history)`` (weights of the best epoch).
    """
    from selcn.data.datasets import make_loader
    from selcn.training import fit, resolve_device, set_seed
    from selcn.weights import pretrained_cache

    _check_inputs(classifier_mask, symmetry_mask, masks, cams)
    les = cfg["lesion"]
    set_seed(cfg["seed"])
    device = resolve_device(cfg["device"])
    cache = pretrained_cache(cfg, "lesion")
    model = create_lesion_model(les["architecture"], num_classes, use_cam=symmetry_mask != "off",
                                pretrained_cache=cache)
    kw = dict(masks=masks, classifier_mask=classifier_mask, cams=cams, size=les["input_size"])
    train_ds, val_ds = _dataset(images, train, **kw), _dataset(images, val, **kw)
    bs, workers = params["batch_size"], params.get("num_workers", 0)
    train_loader = make_loader(train_ds, bs, shuffle=True, num_workers=workers, seed=cfg["seed"],
                               drop_last=len(train_ds) > bs)
    val_loader = make_loader(val_ds, bs, shuffle=False, num_workers=workers, seed=cfg["seed"])
    loss = lesion_loss(train["target"].to_numpy(), num_classes, params["weighted_loss"])
    return fit(model, train_loader, val_loader, loss, out_dir,
               _fit_config(cfg, params, device, progress), metrics_fn=_accuracy_metrics)


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: np.ndarray, table: pd.DataFrame, *,
                          input_size: int, classifier_mask: str = "none",
                          masks: np.ndarray | None = None, cams: np.ndarray | None = None,
                          batch_size: int = 32, num_workers: int = 0,
                          device: str | torch.device | None = None) -> np.ndarray:
    """Softmax probabilities ``(len(table), C)`` of the rows of ``table`` (its order kept)."""
    from selcn.data.datasets import make_loader
    from selcn.training import predict_proba

    use_cam = getattr(model, "use_cam", cams is not None)
    if use_cam and cams is None:
        raise ValueError("predict_probabilities: the model has an E-Layer but no cams were given")
    dataset = _dataset(images, table, masks=masks, classifier_mask=classifier_mask,
                       cams=cams if use_cam else None, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers, seed=0)
    return predict_proba(model, loader, table["row"].to_numpy(), device=device)


# ---- model files ----------------------------------------------------------------------------
def save_lesion_model(model: LesionClassifier, path: str | Path, **meta) -> None:
    """Write ``model.pt``: the state dict and ``meta`` (arch, input_size, masks, classes, ...)."""
    if "class_names" in meta:
        meta["class_names"] = list(meta["class_names"])
    meta.update(num_classes=int(model.num_classes), use_cam=bool(model.use_cam))
    save_model_file(path, model, required=("arch", "input_size", "classifier_mask",
                                           "symmetry_mask", "class_names"), **meta)


def load_lesion_model(path: str | Path,
                      device: str | torch.device = "cpu") -> tuple[LesionClassifier, dict]:
    """Rebuild a model written by :func:`save_lesion_model`: ``(model in eval mode, meta)``."""
    blob = load_model_file(path, what="lesion model",
                           required=("arch", "num_classes", "use_cam", "input_size",
                                     "classifier_mask", "symmetry_mask", "class_names"))
    model = create_lesion_model(blob["arch"], blob["num_classes"], use_cam=blob["use_cam"])
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return model.to(device).eval(), meta


# ---- one grid cell x fold -------------------------------------------------------------------
def train_lesion_fold(*, images_npy: str | Path, index_csv: str | Path, splits_csv: str | Path,
                      out_dir: str | Path, cfg: Mapping, classifier_mask: str,
                      symmetry_mask: str, fold: int, masks_npy: str | Path | None = None,
                      cams_npy: str | Path | None = None, hpo_best: str | Path | None = None,
                      dataset: str | None = None, num_classes: int | None = None,
                      progress: bool = True) -> dict:
    """Train fold ``fold`` of a grid cell and write ``model.pt``, ``history.csv``,
    ``predictions_val.csv`` and ``predictions_test.csv`` into ``out_dir``.

    ``dataset`` (``ham10000`` | ``isic2016``) names the classes from :mod:`selcn.data.labels`;
    without it they are read from the index. Returns ``{"best_epoch", "seconds",
    "val_accuracy", "test_accuracy", "n_train"}``.
    """
    out_dir = Path(out_dir)
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    names = class_names_of(index, num_classes, source=str(index_csv), dataset=dataset)
    images = np.load(images_npy, mmap_mode="r")
    if images.ndim != 4 or images.shape[0] != len(index) or images.shape[3] != 3:
        raise ValueError(f"{images_npy}: expected uint8 (N={len(index)}, S, S, 3), "
                         f"got {images.shape}")
    masks = load_cache_array(masks_npy if classifier_mask != "none" else None, "predicted masks",
                             len(index))
    cams = load_cache_array(cams_npy if symmetry_mask != "off" else None, "symmetry CAMs",
                            len(index))
    _check_inputs(classifier_mask, symmetry_mask, masks, cams)
    bal = cfg["data"]["balance"]
    parts = fold_tables(splits, fold, protocol=cfg["protocol"],
                        target_per_class=bal["target_per_class"], max_copies=bal["max_copies"],
                        seed=cfg["seed"])   # one seed: thesis folds cut one balanced pool
    params = train_params(cfg, "lesion", hpo_best)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"[lesion] {classifier_mask}-{symmetry_mask} fold{fold}"
    print(f"{tag}: train {len(parts['train'])} (balanced), val {len(parts['val'])}, "
          f"test {len(parts['test'])}; params {params}", flush=True)

    started = time.perf_counter()
    result = fit_lesion(images, parts["train"], parts["val"], out_dir, cfg, params,
                        num_classes=len(names), classifier_mask=classifier_mask,
                        symmetry_mask=symmetry_mask, masks=masks, cams=cams, progress=progress)
    seconds = time.perf_counter() - started
    from selcn.training import resolve_device

    device = resolve_device(cfg["device"])
    summary = {"best_epoch": int(result.best_epoch), "seconds": round(seconds, 1),
               "n_train": len(parts["train"])}
    image_id = index["image_id"].to_numpy()
    for part in ("val", "test"):
        table = parts[part]
        probs = predict_probabilities(
            result.model, images, table, input_size=cfg["lesion"]["input_size"],
            classifier_mask=classifier_mask, masks=masks, cams=cams,
            batch_size=params["batch_size"], num_workers=params.get("num_workers", 0),
            device=device)
        frame = write_predictions(out_dir / f"predictions_{part}.csv",
                                  image_id[table["row"].to_numpy()], table["target"], probs, names)
        summary[f"{part}_accuracy"] = float((frame["pred"] == frame["target"]).mean())
    save_lesion_model(result.model, out_dir / "model.pt", arch=cfg["lesion"]["architecture"],
                      input_size=cfg["lesion"]["input_size"], classifier_mask=classifier_mask,
                      symmetry_mask=symmetry_mask, class_names=names, fold=int(fold),
                      best_epoch=int(result.best_epoch))
    print(f"{tag}: {seconds:.1f} s, best epoch {result.best_epoch}, "
          f"val accuracy {summary['val_accuracy']:.4f}, "
          f"test accuracy {summary['test_accuracy']:.4f}", flush=True)
    return summary


def predict_split(model_pt: str | Path, *, images_npy: str | Path, index_csv: str | Path,
                  splits_csv: str | Path, out_csv: str | Path, split: str = "test",
                  masks_npy: str | Path | None = None, cams_npy: str | Path | None = None,
                  batch_size: int = 32, num_workers: int = 0,
                  device: str | torch.device = "auto") -> pd.DataFrame:
    """Predict the ``split`` rows of another dataset (ISIC 2019) with a saved model.

    The dataset's targets must use the model's classes (ISIC 2019 uses the HAM10000 order);
    its labels are checked against the model's class names.
    """
    from selcn.training import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    model, meta = load_lesion_model(model_pt, device)
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    part = splits[splits["split"] == split]
    if part.empty:
        raise ValueError(f"{splits_csv}: no row with split == {split!r}")
    names = list(meta["class_names"])
    bad = part[(part["target"] < 0) | (part["target"] >= len(names))]
    if len(bad):
        raise ValueError(f"{index_csv}: target {int(bad['target'].iloc[0])} outside the model's "
                         f"{len(names)} classes")
    wrong = part[part["label"].astype(str).to_numpy() != np.asarray(names)[part["target"]]]
    if len(wrong):
        raise ValueError(f"{index_csv}: label {wrong['label'].iloc[0]!r} of target "
                         f"{int(wrong['target'].iloc[0])} differs from the model's class "
                         f"{names[int(wrong['target'].iloc[0])]!r}")
    images = np.load(images_npy, mmap_mode="r")
    masks = load_cache_array(masks_npy if meta["classifier_mask"] != "none" else None,
                             "predicted masks", len(index))
    cams = load_cache_array(cams_npy if meta["use_cam"] else None, "symmetry CAMs", len(index))
    _check_inputs(meta["classifier_mask"], meta["symmetry_mask"], masks, cams)
    table = pd.DataFrame({"row": part["row"].to_numpy(np.int64),
                          "transform": np.zeros(len(part), np.int64),
                          "target": part["target"].to_numpy(np.int64)})
    probs = predict_probabilities(model, images, table, input_size=meta["input_size"],
                                  classifier_mask=meta["classifier_mask"], masks=masks, cams=cams,
                                  batch_size=batch_size, num_workers=num_workers, device=device)
    return write_predictions(out_csv, part["image_id"].to_numpy(), table["target"], probs, names)


# ---- best fold ------------------------------------------------------------------------------
def select_best_fold(prediction_csvs: Mapping[int, str | Path], criterion: str) -> dict:
    """The fold with the highest accuracy of its prediction file (lowest fold wins a tie).

    Args:
        prediction_csvs: fold -> ``predictions_val.csv`` (leakage_free) or
            ``predictions_test.csv`` (thesis protocol).
        criterion: a name stored in the result, e.g. ``val_accuracy``.

    Returns:
        ``{"fold", "criterion", "value", "values": {fold: accuracy}}`` (``best_fold.json``).
    """
    if not prediction_csvs:
        raise ValueError("select_best_fold: no prediction file given")
    values = {}
    for fold, path in sorted(prediction_csvs.items()):
        table = read_csv(path, ("target", "pred"), "prediction file")
        if table.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        values[int(fold)] = float((table["target"] == table["pred"]).mean())
    best = max(values, key=lambda k: (values[k], -k))
    return {"fold": best, "criterion": criterion, "value": values[best],
            "values": {str(k): v for k, v in values.items()}}


def best_fold_criterion(protocol: str) -> tuple[str, str]:
    """``(split, criterion)`` the best fold is chosen on: validation, or test under ``thesis``."""
    return ("test", "test_accuracy") if protocol == "thesis" else ("val", "val_accuracy")


# ---- Grad-CAM++ of the lesion network -------------------------------------------------------
def lesion_cams(model: LesionClassifier, images: np.ndarray, rows: np.ndarray, *,
                input_size: int, classifier_mask: str = "none", masks: np.ndarray | None = None,
                cams: np.ndarray | None = None, out_size: int | None = None,
                batch_size: int = 16, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ of the lesion network for ``images[rows]`` (target: the predicted class).

    :func:`selcn.cams.gradcam_plus_plus` on :func:`selcn.models.lesion.cam_target_layer`
    (E-Layer output, or the encoder's last feature layer), the symmetry CAM passed as the
    model's second input; each CAM is resized (bilinear) to ``out_size`` (default: the cache
    side ``S``) and min-max normalised per image.

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    from selcn.cams import gradcam_plus_plus, resize_cams
    from selcn.data.datasets import make_loader

    device = torch.device(device)
    model = model.to(device).eval()
    rows = np.asarray(rows, dtype=np.int64)
    out_size = out_size or images.shape[1]
    table = pd.DataFrame({"row": rows, "transform": np.zeros(len(rows), np.int64),
                          "target": np.zeros(len(rows), np.int64)})
    dataset = _dataset(images, table, masks=masks, classifier_mask=classifier_mask,
                       cams=cams if model.use_cam else None, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=0, seed=0)
    layer = cam_target_layer(model)
    maps, preds = [], []
    for batch in loader:
        image = batch["image"].to(device)
        cam_in = batch["cam"].to(device) if model.use_cam else None
        heat, logits = gradcam_plus_plus(model, image, layer, targets=None, cam=cam_in,
                                         return_logits=True)
        maps.append(resize_cams(heat, out_size, normalize=True).cpu().numpy())
        preds.append(logits.argmax(1).cpu().numpy())
    return np.concatenate(maps).astype(np.float32), np.concatenate(preds).astype(np.int64)


def localise_model(model_pt: str | Path, *, images_npy: str | Path, index_csv: str | Path,
                   splits_csv: str | Path, gt_masks_npy: str | Path, cams_cfg: Mapping,
                   masks_npy: str | Path | None = None, cams_npy: str | Path | None = None,
                   device: str | torch.device = "auto", max_images: int | None = None) -> pd.DataFrame:
    """Table 9 / 15 rows of one model: ``image_id,iou,overlap,pointing`` per test image.

    ``images_npy`` etc. are the HAM10000 cache (the dataset with ground-truth masks); the test
    split's images are explained with :func:`lesion_cams` and scored against ``gt_masks`` with
    :func:`selcn.cams.localisation_metrics` (``cams_cfg`` = the config's ``cams`` block:
    threshold, dilation_fraction, dilation_iterations, pointing_dilated, batch_size).
    """
    from selcn.cams import localisation_table
    from selcn.training import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    model, meta = load_lesion_model(model_pt, device)
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index)
    images = np.load(images_npy, mmap_mode="r")
    gt = load_cache_array(gt_masks_npy, "ground-truth masks", len(index))
    masks = load_cache_array(masks_npy if meta["classifier_mask"] != "none" else None,
                             "predicted masks", len(index))
    cams = load_cache_array(cams_npy if meta["use_cam"] else None, "symmetry CAMs", len(index))
    _check_inputs(meta["classifier_mask"], meta["symmetry_mask"], masks, cams)
    rows = test_rows(splits)
    if max_images is not None:
        rows = rows[:max_images]
    heat, _ = lesion_cams(model, images, rows, input_size=meta["input_size"],
                          classifier_mask=meta["classifier_mask"], masks=masks, cams=cams,
                          out_size=gt.shape[1], batch_size=cams_cfg.get("batch_size", 16),
                          device=device)
    return localisation_table(heat, gt, rows, index["image_id"].astype(str).to_numpy(),
                              cams_cfg)


def localise_best_fold(model_pts: Mapping[int, str | Path],
                       prediction_csvs: Mapping[int, str | Path], *, protocol: str,
                       out_csv: str | Path, best_json: str | Path, **inputs) -> dict:
    """Pick a cell's best fold, write ``best_fold.json`` and its ``localisation.csv``.

    Args:
        model_pts: fold -> ``model.pt``.
        prediction_csvs: fold -> prediction file of the selection split
            (:func:`best_fold_criterion`).
        inputs: the keyword arguments of :func:`localise_model` (HAM10000 cache, masks, CAMs).

    Returns:
        the content of ``best_fold.json``.
    """
    _, criterion = best_fold_criterion(protocol)
    best = select_best_fold(prediction_csvs, criterion)
    if best["fold"] not in model_pts:
        raise ValueError(f"localise_best_fold: no model.pt for the best fold {best['fold']}")
    started = time.perf_counter()
    table = localise_model(model_pts[best["fold"]], **inputs)
    write_csv(table, out_csv)
    write_json(best, best_json)
    print(f"[lesion] localisation of fold {best['fold']} ({criterion} {best['value']:.4f}) on "
          f"{len(table)} images in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{c}={table[c].mean():.3f}" for c in ("iou", "overlap", "pointing")),
          flush=True)
    return best
