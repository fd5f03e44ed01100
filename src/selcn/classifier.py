"""What the symmetry and the lesion stage share: one classifier stage, two networks.

Both stages train an image classifier per fold of a split table, on the image cache, with the
input optionally masked by the segmentation stage's predicted lesion masks (``none`` | ``seg``
| ``lae``); the lesion network can also take a symmetry CAM as its second input (E-Layer).
This module holds the common path of such a job; :mod:`selcn.symmetry` and
:mod:`selcn.lesion` keep only what differs (model factory and ``model.pt`` fields, class
names, fold tables, which mask roles apply, whether the model takes a CAM, the best-fold
metric on validation).

- data: :func:`open_stage_data` (cache index, split table, images, predicted masks, CAMs,
  ground-truth masks, each checked against the cache), :func:`read_split_rows` (a split
  table's cache rows without labels: segmentation and the search split), :func:`check_inputs`,
  :func:`fold_parts` / :func:`plain_table` (fold tables without augmentation);
- training: :func:`weighted_loss` (``w_i = N / (n_i * C)``), :func:`accuracy_metrics`
  (history columns), :func:`fit_config` (also used by :mod:`selcn.segmentation`),
  :func:`job_key` (the resume key of a job, :func:`selcn.training.fit`),
  :func:`fit_classifier` and :func:`train_fold` (fit -> predictions of val / test ->
  ``model.pt``, then the resume state is removed);
- prediction: :func:`predict_probabilities`, :func:`predict_split`;
- best fold: :func:`best_fold_criterion` (a :class:`FoldCriterion` for both stages),
  :func:`select_best_fold`, :func:`best_model_path`;
- Grad-CAM++: :func:`grad_cams`, :func:`export_cams` (one dataset),
  :func:`export_cams_datasets` (one model, several datasets, one job), :func:`localise_model`,
  :func:`localise_best_fold`.

A saved model is read back as a :class:`SavedClassifier` by the stage's ``open_model``
(``model.pt`` -> network, its meta, the input mask, whether it takes a CAM, the Grad-CAM++
target layer), so prediction, CAM export and localisation are written once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn.atomic import write_csv, write_json, write_npy
from selcn.data.cache import load_cache_array, load_cache_images
from selcn.data.tables import read_index, read_splits
from selcn.grid import MASKS
from selcn.protocol import PROTOCOLS as GRID_PROTOCOLS
from selcn.predictions import write_predictions

# the best fold is chosen in the torch-free selcn.selection (for the selection jobs); re-exported
from selcn.selection import FoldCriterion, best_fold_criterion, best_model_path, select_best_fold

__all__ = [
    "INPUT_MASKS", "StageData", "open_stage_data", "read_split_rows", "check_inputs",
    "fold_parts", "plain_table", "weighted_loss", "accuracy_metrics", "fit_config", "job_key",
    "classifier_dataset", "fit_classifier", "predict_probabilities", "train_fold",
    "SavedClassifier", "predict_split", "FoldCriterion", "best_fold_criterion",
    "select_best_fold", "best_model_path", "grad_cams", "export_cams", "export_cams_datasets",
    "localisation_split",
    "localise_model", "localise_best_fold", "OWN_LAYER", "LOCALISED_ON",
]

#: masking strategies of a classifier's input image (with the predicted lesion masks)
INPUT_MASKS: tuple[str, ...] = MASKS
#: ``protocol`` values (``config.protocol``)
PROTOCOLS: tuple[str, ...] = GRID_PROTOCOLS
#: the name of a saved model's own Grad-CAM++ target layer (:attr:`SavedClassifier.layer`)
OWN_LAYER = "own"
#: what a localisation scored (``localised_on`` of ``best_fold.json``): the test split, or every
#: cache row of the dataset with ground-truth masks (HAM10000: every image has one)
LOCALISED_ON: dict[str | None, str] = {"test": "test split",
                                       None: "every image with a ground-truth mask"}


# ---- data ---------------------------------------------------------------------------------
@dataclass
class StageData:
    """One dataset's cache as a stage reads it (arrays are memory maps; rows = cache rows).

    Attributes:
        index: the cache index ``row,image_id,label,target,...`` (:func:`read_index`).
        splits: the split table joined with the cache rows (``row,image_id,target,label,split
            [,group]``, :func:`read_splits`), or None when not asked for.
        images: uint8 ``(N, S, S, 3)``.
        masks: uint8 ``(N, S, S)`` predicted lesion masks, or None.
        cams: float ``(N, R, R)`` symmetry CAMs in [0, 1], or None.
        gt_masks: uint8 ``(N, S, S)`` ground-truth lesion masks, or None.
    """

    index: pd.DataFrame
    splits: pd.DataFrame | None
    images: np.ndarray
    masks: np.ndarray | None = None
    cams: np.ndarray | None = None
    gt_masks: np.ndarray | None = None

    @property
    def image_ids(self) -> np.ndarray:
        """``image_id`` of every cache row, as strings."""
        return self.index["image_id"].astype(str).to_numpy()


def open_stage_data(index_csv: str | Path, images_npy: str | Path,
                    splits_csv: str | Path | None = None, *,
                    masks_npy: str | Path | None = None, cams_npy: str | Path | None = None,
                    gt_masks_npy: str | Path | None = None) -> StageData:
    """Read and check a dataset's cache files (None = not read).

    The index must number its rows ``0..N-1``; the split table may only name images of the
    index; ``images`` must be uint8 ``(N, S, S, 3)``, the masks ``(N, S, S)`` and the CAMs
    ``(N, R, R)``. Every error names the file and what is wrong with it.
    """
    index = read_index(index_csv)
    splits = read_splits(splits_csv, index) if splits_csv is not None else None
    images = load_cache_images(images_npy, len(index))
    side = images.shape[1:3]
    return StageData(index=index, splits=splits, images=images,
                     masks=load_cache_array(masks_npy, "predicted masks", len(index), side),
                     cams=load_cache_array(cams_npy, "symmetry CAMs", len(index)),
                     gt_masks=load_cache_array(gt_masks_npy, "ground-truth masks", len(index),
                                               side))


def read_split_rows(index_csv: str | Path, splits_csv: str | Path,
                    columns: Sequence[str] = ()) -> pd.DataFrame:
    """The split table, in its own order, with the cache ``row`` of every image (int64).

    Needs only ``row,image_id`` in the index (the segmentation stage and the search split read
    no labels) and ``image_id,split`` plus ``columns`` in the split table; ``group`` is read as
    text. Raises ``ValueError`` for an image missing from the index or a ``split`` value other
    than ``test``, ``fold<k>``, ``excluded``.
    """
    from selcn.data.tables import read_csv

    index = read_csv(index_csv, ("row", "image_id"), "cache index")
    splits = read_csv(splits_csv, ("image_id", "split", *columns), "split table")
    row_of = dict(zip(index["image_id"], index["row"].astype(np.int64)))
    unknown = [i for i in splits["image_id"] if i not in row_of]
    if unknown:
        raise ValueError(f"{splits_csv}: image_id {unknown[0]!r} (and {len(unknown) - 1} more) "
                         f"not in the cache index {index_csv}")
    split = splits["split"].astype(str)
    bad = sorted(s for s in set(split) if s not in ("test", "excluded")
                 and not (s.startswith("fold") and s[4:].isdigit()))
    if bad:
        raise ValueError(f"{splits_csv}: field 'split' has unknown value(s) {bad} "
                         "(expected test, fold<k>, excluded)")
    out = splits.assign(split=split, row=splits["image_id"].map(row_of).astype(np.int64))
    if "group" in out.columns:
        out["group"] = out["group"].astype(str)
    return out


def check_inputs(mask: str, masks: np.ndarray | None, *, use_cam: bool = False,
                 cams: np.ndarray | None = None, cam_source: str | None = None) -> None:
    """Check that a classifier's inputs match its settings.

    Args:
        mask: the input masking strategy (:data:`INPUT_MASKS`); all but ``none`` need ``masks``.
        use_cam: whether the model takes a symmetry CAM; CAMs must be given exactly then.
        cam_source: the name of the CAM setting in messages (e.g. ``symmetry_mask='seg'``).
    """
    if mask not in INPUT_MASKS:
        raise ValueError(f"unknown input mask {mask!r} (one of {', '.join(INPUT_MASKS)})")
    if mask != "none" and masks is None:
        raise ValueError(f"input mask {mask!r} needs the predicted lesion masks "
                         "(results/masks/<dataset>.npy)")
    if use_cam != (cams is not None):
        raise ValueError(f"{cam_source or ('use_cam=' + str(use_cam))}: symmetry CAMs must be "
                         "given exactly when the model takes a CAM")


def fold_parts(splits: pd.DataFrame, fold: int) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """``(folds, parts)``: the sorted ``fold<k>`` names of ``splits`` and the rows of fold
    ``fold``'s ``train`` (every other fold), ``val`` (the fold) and ``test`` parts.

    Rows marked ``excluded`` are in no part. Raises ``ValueError`` when the fold is missing or
    a part is empty.
    """
    split = splits["split"].astype(str)
    is_fold = split.str.startswith("fold")
    folds = sorted(split[is_fold].unique(), key=lambda s: int(s[4:]))
    name = f"fold{fold}"
    if name not in folds:
        raise ValueError(f"split table: fold {name!r} not in field 'split' "
                         f"(folds: {', '.join(folds) or 'none'})")
    parts = {"train": splits[is_fold & (split != name)], "val": splits[split == name],
             "test": splits[split == "test"]}
    for part, rows in parts.items():
        if rows.empty:
            raise ValueError(f"split table: the {part} part of {name} is empty")
    return folds, parts


def plain_table(rows: Sequence[int] | pd.DataFrame,
                targets: Sequence[int] | None = None) -> pd.DataFrame:
    """A table ``row,transform,target`` without augmentation (transform 0).

    ``rows`` is a frame with ``row`` and ``target`` columns, or cache rows (targets 0 unless
    ``targets`` is given).
    """
    if isinstance(rows, pd.DataFrame):
        rows, targets = rows["row"], rows["target"]
    rows = np.asarray(rows, dtype=np.int64)
    targets = (np.zeros(len(rows), np.int64) if targets is None
               else np.asarray(targets, dtype=np.int64))
    return pd.DataFrame({"row": rows, "transform": np.zeros(len(rows), np.int64),
                         "target": targets})


# ---- training -----------------------------------------------------------------------------
def weighted_loss(train_targets: Sequence[int], num_classes: int, weighted: bool) -> nn.Module:
    """Cross-entropy, weighted by ``w_i = N / (n_i * C)`` of the training targets when asked
    (thesis eq. 5, :func:`selcn.data.datasets.class_weights`)."""
    if not weighted:
        return nn.CrossEntropyLoss()
    from selcn.data.datasets import class_weights

    weights = torch.as_tensor(np.asarray(class_weights(train_targets, num_classes)),
                              dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weights)


def accuracy_metrics(outputs, targets) -> dict[str, float]:
    """History columns of a classifier: accuracy and balanced accuracy of the validation logits
    ``(N, C)`` against the targets ``(N,)``."""
    pred = torch.as_tensor(outputs).argmax(1).cpu().numpy()
    true = torch.as_tensor(targets).cpu().numpy()
    recalls = [float((pred[true == c] == c).mean()) for c in np.unique(true)]
    return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(np.mean(recalls))}


def fit_config(cfg: Mapping, params: Mapping, device: torch.device, progress: bool):
    """The :class:`selcn.training.FitConfig` of a job: the training hyper-parameters
    (:func:`selcn.config.train_params`), the config's seed, AMP on CUDA, channels-last on
    every device."""
    from selcn.training import FitConfig

    cuda = device.type == "cuda"
    return FitConfig(max_epochs=params["max_epochs"], patience=params["patience"], lr=params["lr"],
                     momentum=params["momentum"], weight_decay=params["weight_decay"],
                     seed=cfg["seed"], device=str(device), amp=cuda, channels_last=True,
                     max_train_batches=params.get("max_train_batches"), progress=progress)


def job_key(cfg: Mapping, stage: str, *, wildcards: Mapping, inputs: Iterable,
            **extra) -> dict:
    """The resume key of one training job (``job_key`` of :func:`selcn.training.fit`).

    A JSON-able dict of the stage's whole resolved config section (``cfg[stage]``), the
    ``seed``, the ``protocol``, the ``weights`` block (where pretrained weights come from),
    the job's wildcard values, :func:`selcn.training.file_identity` of its input files (None
    entries skipped) and ``extra`` (e.g. the resolved training parameters, the balancing
    settings). A resume state written under another key is not resumed. The section's
    :data:`selcn.config.SCHEDULING_KEYS` (``resources``) are left out: raising a timed-out
    job's runtime must not throw its state away.
    """
    from selcn.config import SCHEDULING_KEYS
    from selcn.training import file_identity

    section = {k: v for k, v in cfg[stage].items() if k not in SCHEDULING_KEYS}
    key = {"stage": stage, "config": section, "seed": cfg["seed"],
           "protocol": cfg["protocol"], "weights": cfg.get("weights"),
           "wildcards": dict(wildcards), "inputs": file_identity(list(inputs)), **extra}
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def classifier_dataset(images: np.ndarray, table: pd.DataFrame, *, size: int, mask: str = "none",
                       masks: np.ndarray | None = None, cams: np.ndarray | None = None):
    """The :class:`selcn.data.datasets.CachedImageDataset` of a table ``row[,transform],target``:
    images masked by ``mask`` (with ``masks``), resized to ``size``, with ``cams`` if given."""
    from selcn.data.datasets import CachedImageDataset

    return CachedImageDataset(
        images, table["row"].to_numpy(np.int64), table["target"].to_numpy(np.int64),
        transforms=table["transform"].to_numpy(np.int64) if "transform" in table else None,
        masks=masks if mask != "none" else None, mask_strategy=mask, cams=cams, size=size)


def fit_classifier(build_model: Callable[[], nn.Module], images: np.ndarray, train: pd.DataFrame,
                   val: pd.DataFrame, out_dir: str | Path, cfg: Mapping, params: Mapping, *,
                   num_classes: int, input_size: int, mask: str = "none",
                   masks: np.ndarray | None = None, cams: np.ndarray | None = None,
                   progress: bool = True, job_key: Mapping | None = None):
    """Train one classifier with the shared training core.

    Args:
        build_model: makes the network; called after the config's seed is set.
        images: uint8 ``(N, S, S, 3)`` RGB cache (a memory map is fine).
        train, val: tables ``row,transform,target``.
        out_dir: where the core writes ``history.csv`` and its resume state.
        cfg: validated config (``seed``, ``device``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        num_classes: classes of the weighted loss.
        input_size: side the network sees.
        mask, masks: input masking strategy and the predicted lesion masks ``(N, S, S)``.
        cams: float ``(N, R, R)`` symmetry CAMs (the model's second input) or None.
        job_key: the resume key (:func:`job_key`).

    Returns:
        the core's ``FitResult(model, best_epoch, history)`` (weights of the best epoch).
    """
    from selcn.data.datasets import make_loader
    from selcn.training import fit, resolve_device, set_seed

    set_seed(cfg["seed"])
    device = resolve_device(cfg["device"])
    model = build_model()
    kw = dict(mask=mask, masks=masks, cams=cams, size=input_size)
    train_ds = classifier_dataset(images, train, **kw)
    val_ds = classifier_dataset(images, val, **kw)
    bs, workers = params["batch_size"], params.get("num_workers", 0)
    train_loader = make_loader(train_ds, bs, shuffle=True, num_workers=workers, seed=cfg["seed"],
                               drop_last=len(train_ds) > bs)
    val_loader = make_loader(val_ds, bs, shuffle=False, num_workers=workers, seed=cfg["seed"])
    loss = weighted_loss(train["target"].to_numpy(), num_classes, params["weighted_loss"])
    return fit(model, train_loader, val_loader, loss, out_dir,
               fit_config(cfg, params, device, progress), metrics_fn=accuracy_metrics,
               job_key=job_key)


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: np.ndarray, table: pd.DataFrame, *,
                          input_size: int, mask: str = "none", masks: np.ndarray | None = None,
                          cams: np.ndarray | None = None, batch_size: int = 32,
                          num_workers: int = 0,
                          device: str | torch.device | None = None) -> np.ndarray:
    """Softmax probabilities ``(len(table), C)`` of the rows of ``table`` (its order kept).

    ``cams`` are fed to a model with an E-Layer (``model.use_cam``) and ignored otherwise.
    """
    from selcn.data.datasets import make_loader
    from selcn.training import predict_proba

    use_cam = getattr(model, "use_cam", cams is not None)
    if use_cam and cams is None:
        raise ValueError("predict_probabilities: the model has an E-Layer but no cams were given")
    dataset = classifier_dataset(images, table, mask=mask, masks=masks,
                                 cams=cams if use_cam else None, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers, seed=0)
    return predict_proba(model, loader, table["row"].to_numpy(), device=device)


def train_fold(*, stage: str, build_model: Callable[[], nn.Module], data: StageData,
               parts: Mapping[str, pd.DataFrame], out_dir: str | Path, cfg: Mapping,
               params: Mapping, class_names: Sequence[str], input_size: int,
               save_model: Callable[[nn.Module, Path, int], None], key: Mapping,
               mask: str = "none", use_cam: bool = False, tag: str = "",
               progress: bool = True) -> dict:
    """One fold's job: fit, write ``predictions_val.csv`` / ``predictions_test.csv`` and
    ``model.pt`` into ``out_dir``, then remove the resume state.

    Args:
        stage: the config section (``symmetry`` | ``lesion``).
        build_model: the stage's network factory (called after seeding).
        data: the dataset's cache (:func:`open_stage_data`; ``masks`` / ``cams`` as needed).
        parts: the fold's tables ``row,transform,target``: ``train``, ``val``, ``test``.
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        save_model: ``save_model(model, path, best_epoch)`` writes the stage's ``model.pt``.
        key: the job's resume key (:func:`job_key`).
        mask, use_cam: the input mask; whether the model takes ``data.cams``.

    Returns:
        ``{"best_epoch", "seconds", "n_train", "val_accuracy", "val_balanced_accuracy",
        "test_accuracy", "test_balanced_accuracy"}``.
    """
    from selcn.metrics import classification_metrics
    from selcn.training import clear_resume_state, resolve_device

    out_dir = Path(out_dir)
    cams = data.cams if use_cam else None
    check_inputs(mask, data.masks, use_cam=use_cam, cams=cams)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = tag or f"[{stage}]"
    counts = np.bincount(parts["train"]["target"], minlength=len(class_names)).tolist()
    print(f"{tag}: train {len(parts['train'])} (per class {counts}), val {len(parts['val'])}, "
          f"test {len(parts['test'])}; params {dict(params)}", flush=True)

    started = time.perf_counter()
    result = fit_classifier(build_model, data.images, parts["train"], parts["val"], out_dir, cfg,
                            params, num_classes=len(class_names), input_size=input_size,
                            mask=mask, masks=data.masks, cams=cams, progress=progress,
                            job_key=key)
    seconds = time.perf_counter() - started
    device = resolve_device(cfg["device"])
    summary = {"best_epoch": int(result.best_epoch), "seconds": round(seconds, 1),
               "n_train": len(parts["train"])}
    for part in ("val", "test"):
        table = parts[part]
        probs = predict_probabilities(result.model, data.images, table, input_size=input_size,
                                      mask=mask, masks=data.masks, cams=cams,
                                      batch_size=params["batch_size"],
                                      num_workers=params.get("num_workers", 0), device=device)
        frame = write_predictions(out_dir / f"predictions_{part}.csv",
                                  data.image_ids[table["row"].to_numpy()], table["target"], probs,
                                  class_names)
        scores = classification_metrics(frame["target"], frame["pred"], average="weighted",
                                        labels=list(range(len(class_names))))
        summary[f"{part}_accuracy"] = scores["accuracy"]
        summary[f"{part}_balanced_accuracy"] = scores["balanced_accuracy"]
    save_model(result.model, out_dir / "model.pt", int(result.best_epoch))
    clear_resume_state(out_dir)
    print(f"{tag}: {seconds:.1f} s, best epoch {result.best_epoch}, "
          f"val accuracy {summary['val_accuracy']:.4f} "
          f"(balanced {summary['val_balanced_accuracy']:.4f}), "
          f"test accuracy {summary['test_accuracy']:.4f} "
          f"(balanced {summary['test_balanced_accuracy']:.4f})", flush=True)
    return summary


# ---- saved models -------------------------------------------------------------------------
@dataclass
class SavedClassifier:
    """A classifier read back from its ``model.pt`` (a stage's ``open_model``).

    Attributes:
        model: the network, in eval mode, on the device.
        meta: the file's fields but the state dict (``input_size``, ``class_names``, ...).
        mask: the strategy its input images are masked with.
        use_cam: whether it takes a symmetry CAM as second input.
        layer: the layer Grad-CAM++ explains (the model's own, :data:`OWN_LAYER`).
        layers: other named layers a localisation may also explain (e.g. ``{"encoder": ...}``,
            the lesion encoder's last feature layer before the E-Layer).
    """

    model: nn.Module
    meta: dict
    mask: str
    use_cam: bool
    layer: nn.Module
    layers: Mapping[str, nn.Module] = field(default_factory=dict)

    def target_layer(self, name: str) -> nn.Module:
        """The layer named ``name``: :data:`OWN_LAYER` or a key of :attr:`layers`."""
        if name == OWN_LAYER:
            return self.layer
        if name not in self.layers:
            raise ValueError(f"no CAM layer {name!r} in this model (have: "
                             f"{', '.join([OWN_LAYER, *self.layers])})")
        return self.layers[name]


OpenModel = Callable[[str | Path, torch.device], SavedClassifier]


def _open(open_model: OpenModel, model_pt: str | Path,
          device: str | torch.device) -> tuple[SavedClassifier, torch.device]:
    from selcn.training import resolve_device

    device = resolve_device(device)
    return open_model(model_pt, device), device


def _model_data(saved: SavedClassifier, *, images_npy: str | Path, index_csv: str | Path,
                splits_csv: str | Path | None = None, masks_npy: str | Path | None = None,
                cams_npy: str | Path | None = None, gt_masks_npy: str | Path | None = None,
                cam_source: str | None = None) -> StageData:
    """The cache files a saved model needs (masks only for a masked input, CAMs only for a
    model with an E-Layer), checked."""
    data = open_stage_data(index_csv, images_npy, splits_csv,
                           masks_npy=masks_npy if saved.mask != "none" else None,
                           cams_npy=cams_npy if saved.use_cam else None, gt_masks_npy=gt_masks_npy)
    check_inputs(saved.mask, data.masks, use_cam=saved.use_cam, cams=data.cams,
                 cam_source=cam_source)
    return data


def _split_rows(splits: pd.DataFrame, split: str | None, splits_csv, n_rows: int) -> np.ndarray:
    """Sorted cache rows of ``split`` (``None``: every cache row)."""
    if split is None:
        return np.arange(n_rows)
    rows = np.sort(splits.loc[splits["split"] == split, "row"].to_numpy(np.int64))
    if not len(rows):
        raise ValueError(f"{splits_csv}: no row with split == {split!r}")
    return rows


def predict_split(open_model: OpenModel, model_pt: str | Path, *, images_npy: str | Path,
                  index_csv: str | Path, splits_csv: str | Path, out_csv: str | Path,
                  split: str = "test", masks_npy: str | Path | None = None,
                  cams_npy: str | Path | None = None, batch_size: int = 32, num_workers: int = 0,
                  device: str | torch.device = "auto") -> pd.DataFrame:
    """Predict the ``split`` rows of a dataset with a saved model and write ``out_csv``.

    The dataset's targets must use the model's classes; its labels are checked against the
    model's class names. Returns the prediction frame (:mod:`selcn.predictions`).
    """
    saved, device = _open(open_model, model_pt, device)
    data = _model_data(saved, images_npy=images_npy, index_csv=index_csv, splits_csv=splits_csv,
                       masks_npy=masks_npy, cams_npy=cams_npy)
    part = data.splits[data.splits["split"] == split]
    if part.empty:
        raise ValueError(f"{splits_csv}: no row with split == {split!r}")
    names = list(saved.meta["class_names"])
    bad = part[(part["target"] < 0) | (part["target"] >= len(names))]
    if len(bad):
        raise ValueError(f"{index_csv}: target {int(bad['target'].iloc[0])} outside the model's "
                         f"{len(names)} classes")
    wrong = part[part["label"].astype(str).to_numpy() != np.asarray(names)[part["target"]]]
    if len(wrong):
        raise ValueError(f"{index_csv}: label {wrong['label'].iloc[0]!r} of target "
                         f"{int(wrong['target'].iloc[0])} differs from the model's class "
                         f"{names[int(wrong['target'].iloc[0])]!r}")
    table = plain_table(part)
    probs = predict_probabilities(saved.model, data.images, table,
                                  input_size=saved.meta["input_size"], mask=saved.mask,
                                  masks=data.masks, cams=data.cams, batch_size=batch_size,
                                  num_workers=num_workers, device=device)
    return write_predictions(out_csv, part["image_id"].to_numpy(), table["target"], probs, names)


# ---- Grad-CAM++ ---------------------------------------------------------------------------
def grad_cams(model: nn.Module, images: np.ndarray, rows: Sequence[int], *, layer: nn.Module,
              input_size: int, mask: str = "none", masks: np.ndarray | None = None,
              cams: np.ndarray | None = None, out_size: int | None = None, batch_size: int = 64,
              num_workers: int = 0,
              device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ of ``layer`` (target: the predicted class) for ``images[rows]`` as the model
    sees them (masked by ``mask``, resized to ``input_size``, with the symmetry CAM as second
    input when the model has an E-Layer, ``model.use_cam``).

    Each CAM is resized (bilinear) from the feature map to ``out_size`` (default: the cache
    side ``S``) and min-max normalised per image (:func:`selcn.cams.resize_cams`).

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    from selcn.cams import gradcam_plus_plus, resize_cams
    from selcn.data.datasets import make_loader

    use_cam = bool(getattr(model, "use_cam", False))
    if use_cam and cams is None:
        raise ValueError("grad_cams: the model has an E-Layer but no cams were given")
    device = torch.device(device)
    model = model.to(device).eval()
    out_size = out_size or images.shape[1]
    dataset = classifier_dataset(images, plain_table(rows), mask=mask, masks=masks,
                                 cams=cams if use_cam else None, size=input_size)
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers, seed=0)
    maps, preds = [], []
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        cam_in = batch["cam"].to(device) if use_cam else None
        heat, logits = gradcam_plus_plus(model, image, layer, targets=None, cam=cam_in,
                                         return_logits=True)
        maps.append(resize_cams(heat, out_size, normalize=True).cpu().numpy())
        preds.append(logits.argmax(1).cpu().numpy())
    if not maps:
        return np.zeros((0, out_size, out_size), np.float32), np.zeros(0, np.int64)
    return np.concatenate(maps).astype(np.float32), np.concatenate(preds).astype(np.int64)


def _export_loaded_cams(saved: SavedClassifier, device: torch.device, *,
                        images_npy: str | Path, index_csv: str | Path, out_npy: str | Path,
                        cam_size: int, masks_npy: str | Path | None = None,
                        cams_npy: str | Path | None = None, batch_size: int = 64,
                        num_workers: int = 0, tag: str = "") -> dict:
    """:func:`export_cams` of a model already read back (one dataset)."""
    data = _model_data(saved, images_npy=images_npy, index_csv=index_csv, masks_npy=masks_npy,
                       cams_npy=cams_npy)
    n = len(data.index)
    started = time.perf_counter()
    cams, preds = grad_cams(saved.model, data.images, np.arange(n), layer=saved.layer,
                            input_size=saved.meta["input_size"], mask=saved.mask,
                            masks=data.masks, cams=data.cams, out_size=cam_size,
                            batch_size=batch_size, num_workers=num_workers, device=device)
    seconds = time.perf_counter() - started
    write_npy(cams.astype(np.float16), out_npy)
    counts = np.bincount(preds, minlength=len(saved.meta["class_names"]))
    summary = {"n": n, "seconds": round(seconds, 2),
               "images_per_second": round(n / max(seconds, 1e-9), 1),
               "predicted": dict(zip(saved.meta["class_names"], counts.tolist()))}
    print(f"[cams] Grad-CAM++ of {tag} ({saved.mask} mask) -> {out_npy}: {summary}", flush=True)
    return summary


def export_cams(open_model: OpenModel, model_pt: str | Path, *, images_npy: str | Path,
                index_csv: str | Path, out_npy: str | Path, cam_size: int,
                masks_npy: str | Path | None = None, cams_npy: str | Path | None = None,
                batch_size: int = 64, num_workers: int = 0,
                device: str | torch.device = "auto") -> dict:
    """Write the Grad-CAM++ of a saved model for every cache row: float16 ``(N, R, R)``,
    ``R = cam_size``, rows as the cache index.

    Returns a summary ``{"n", "seconds", "images_per_second", "predicted": {class: count}}``.
    """
    saved, device = _open(open_model, model_pt, device)
    return _export_loaded_cams(saved, device, images_npy=images_npy, index_csv=index_csv,
                               out_npy=out_npy, cam_size=cam_size, masks_npy=masks_npy,
                               cams_npy=cams_npy, batch_size=batch_size,
                               num_workers=num_workers, tag=str(model_pt))


def export_cams_datasets(open_model: OpenModel, model_pt: str | Path,
                         datasets: Sequence[Mapping[str, str | Path | None]], *, cam_size: int,
                         batch_size: int = 64, num_workers: int = 0,
                         device: str | torch.device = "auto") -> list[dict]:
    """:func:`export_cams` of one saved model for several datasets in one job (the model is
    read once).

    Args:
        datasets: one mapping per dataset with ``images_npy``, ``index_csv``, ``out_npy`` and,
            as needed, ``masks_npy`` / ``cams_npy`` (the keyword arguments of
            :func:`export_cams`).

    Returns:
        the summary of each dataset, in order.
    """
    if not datasets:
        raise ValueError("export_cams_datasets: no dataset given")
    saved, device = _open(open_model, model_pt, device)
    return [_export_loaded_cams(saved, device, cam_size=cam_size, batch_size=batch_size,
                                num_workers=num_workers, tag=str(model_pt), **dict(d))
            for d in datasets]


def localisation_split(protocol: str) -> str | None:
    """The images a CAM localisation scores (Tables 7, 9, 15): ``None`` = every image of the
    dataset with a ground-truth mask under ``protocol: thesis`` (as the thesis'
    ``evaluate_cam.py`` does), the test split (``"test"``) under ``leakage_free``."""
    if protocol == "thesis":
        return None
    if protocol == "leakage_free":
        return "test"
    raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")


def localise_model(open_model: OpenModel, model_pt: str | Path, *, images_npy: str | Path,
                   index_csv: str | Path, splits_csv: str | Path, gt_masks_npy: str | Path,
                   cams_cfg: Mapping, masks_npy: str | Path | None = None,
                   cams_npy: str | Path | None = None, split: str | None = "test",
                   layers: Sequence[str] = (OWN_LAYER,), num_workers: int = 0,
                   device: str | torch.device = "auto", max_images: int | None = None,
                   cam_source: str | None = None) -> pd.DataFrame:
    """Per-image localisation of a saved model's Grad-CAM++:
    ``image_id,split,iou,overlap,pointing[,pointing_dilated],<baselines>`` and, per further
    layer ``L`` of ``layers``, ``iou_L,overlap_L,pointing_L[,pointing_dilated_L]``.

    The images are the ``split`` rows of the split table (``None``: every cache row,
    :func:`localisation_split`; at most ``max_images``); column ``split`` is each image's
    split. Each layer (``layers[0]`` names the unsuffixed columns, :data:`OWN_LAYER` by
    default; others are keys of :attr:`SavedClassifier.layers`) is explained in one batched
    pass with :func:`grad_cams` (a layer that is the same module as an earlier one is not
    recomputed), each CAM resized to the image side and scored against the ground-truth mask
    with :func:`selcn.cams.localisation_table` (``cams_cfg`` = the config's ``cams`` block:
    threshold, dilation, batch_size, ...).
    """
    from selcn.cams import BASELINE_COLUMNS, localisation_table

    if not layers:
        raise ValueError("localise_model: no layer to explain")
    saved, device = _open(open_model, model_pt, device)
    targets = {name: saved.target_layer(name) for name in layers}
    data = _model_data(saved, images_npy=images_npy, index_csv=index_csv, splits_csv=splits_csv,
                       masks_npy=masks_npy, cams_npy=cams_npy, gt_masks_npy=gt_masks_npy,
                       cam_source=cam_source)
    rows = _split_rows(data.splits, split, splits_csv, len(data.index))
    if max_images is not None:
        rows = rows[:max_images]
    split_of = dict(zip(data.splits["row"].to_numpy(np.int64), data.splits["split"].astype(str)))
    tables: list[pd.DataFrame] = []
    done: list[tuple[nn.Module, pd.DataFrame]] = []
    for layer in targets.values():
        table = next((t for module, t in done if module is layer), None)
        if table is None:
            heat, _ = grad_cams(saved.model, data.images, rows, layer=layer,
                                input_size=saved.meta["input_size"], mask=saved.mask,
                                masks=data.masks, cams=data.cams,
                                out_size=data.gt_masks.shape[1],
                                batch_size=cams_cfg.get("batch_size", 64),
                                num_workers=num_workers, device=device)
            table = localisation_table(heat, data.gt_masks, rows, data.image_ids, cams_cfg)
            done.append((layer, table))
        tables.append(table)
    out = tables[0].copy()
    out.insert(1, "split", [split_of.get(int(r), "") for r in rows])
    for name, table in zip(list(targets)[1:], tables[1:]):
        scores = [c for c in table.columns if c not in ("image_id", *BASELINE_COLUMNS)]
        out = pd.concat([out, table[scores].add_suffix(f"_{name}")], axis=1)
    return out


def localise_best_fold(open_model: OpenModel, model_pts: Mapping[int, str | Path],
                       prediction_csvs: Mapping[int, str | Path], *, criterion: FoldCriterion,
                       out_csv: str | Path, best_json: str | Path, tag: str = "[cams]",
                       **inputs) -> dict:
    """Pick the best fold (:func:`select_best_fold`), write ``best_fold.json`` and the
    localisation table of its model (:func:`localise_model` with ``inputs``) as ``out_csv``.

    ``best_fold.json`` also says what was localised: ``localised_on`` (:data:`LOCALISED_ON`
    of the ``split`` input), ``n_localised`` (images) and ``cam_layers`` (the layers scored).
    Returns its content.
    """
    best = select_best_fold(prediction_csvs, criterion)
    if best["fold"] not in model_pts:
        raise ValueError(f"localise_best_fold: no model.pt for the best fold {best['fold']}")
    started = time.perf_counter()
    table = localise_model(open_model, model_pts[best["fold"]], **inputs)
    split = inputs.get("split", "test")
    best.update(localised_on=LOCALISED_ON.get(split, f"split {split}"),
                n_localised=len(table), cam_layers=list(inputs.get("layers", (OWN_LAYER,))))
    write_csv(table, out_csv)
    write_json(best, best_json)
    scored = [c for c in table.columns if c.split("_")[0] in ("iou", "overlap", "pointing")]
    print(f"{tag} localisation of fold {best['fold']} ({criterion.name} {best['value']:.4f}) on "
          f"{len(table)} images ({best['localised_on']}) in "
          f"{time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{c}={table[c].mean():.3f}" for c in scored), flush=True)
    return best
