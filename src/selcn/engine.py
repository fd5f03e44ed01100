"""The stage engine: one fold of any classifier network — train it, predict a split with it,
export its Grad-CAM++ maps, localise them — whatever the network.

A network is described by a **spec** (:class:`NetworkSpec`): the symmetry network
(:class:`selcn.symmetry.SymmetryNetwork`) and the lesion network of a grid cell
(:class:`selcn.lesion.LesionNetwork`) are specs; a new network is one more spec module. A spec
says how to build the network, how it sees an image (:class:`selcn.data.datasets.View`: input
mask, input side, whether it takes a symmetry CAM), the fold's training tables, its classes,
what its ``model.pt`` records, its resume key. Its **kind** (:class:`NetworkKind`) says what is
common to every network of that type: the config section, the validation metric of the best
fold, and how a ``model.pt`` is read back (:class:`SavedClassifier`) for prediction, CAM export
and localisation.

- training: :class:`Training` (the config and the resolved hyper-parameters of one job),
  :func:`fit_network` (the training core on a fold's tables), :func:`train_fold` (fit ->
  ``model.pt`` + validation / test predictions -> resume state removed);
- prediction: :func:`predict_probabilities`, :func:`predict_split`;
- Grad-CAM++: :func:`grad_cams`, :func:`export_cams` (one model, several datasets);
- localisation: :func:`localise` (per image, every layer of the saved model),
  :func:`localise_best_fold` (pick the fold on the protocol's selection split, localise it).

Files: ``docs/contracts.md`` (symmetry and lesion stages). The segmentation stage uses the same
pieces (:class:`Training`, :func:`job_key`) with its own loss and metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn.atomic import write_csv, write_json, write_npy
from selcn.checkpoints import save_model_file
from selcn.data.datasets import View
from selcn.data.inputs import StageData, StageInputs, plain_table
from selcn.grid import Fold
from selcn.predictions import write_predictions
from selcn.resume import clear_resume_state, file_identity
from selcn.selection import FoldCriterion, select_best_fold

__all__ = ["OWN_LAYER", "NetworkKind", "NetworkSpec", "SavedClassifier", "Training",
           "weighted_loss", "accuracy_metrics", "job_key", "fit_network", "train_fold",
           "predict_probabilities", "predict_split", "grad_cams", "export_cams", "localise",
           "FoldFiles", "localise_best_fold", "region_inputs"]

#: the name of a saved model's own Grad-CAM++ target layer (the first of its layers)
OWN_LAYER = "own"


# ---- what the engine needs to know about a network -----------------------------------------
@dataclass
class SavedClassifier:
    """A classifier read back from its ``model.pt`` (by its kind's ``open``).

    Attributes:
        model: the network, in eval mode, on ``device``.
        meta: the file's fields but the state dict (``input_size``, ``class_names``, ...).
        view: how it sees an image (input mask, input side, whether it takes a CAM).
        layers: the layers Grad-CAM++ explains, by name, :data:`OWN_LAYER` first (the
            model's own target layer; the lesion network adds ``encoder``).
        path: the file it was read from.
        device: where the network is.
    """

    model: nn.Module
    meta: dict
    view: View
    layers: Mapping[str, nn.Module]
    path: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def layer(self, name: str = OWN_LAYER) -> nn.Module:
        """The target layer named ``name``."""
        if name not in self.layers:
            raise ValueError(f"{self.path}: no CAM layer {name!r} (has: {', '.join(self.layers)})")
        return self.layers[name]


@dataclass(frozen=True)
class NetworkKind:
    """What every network of one type shares (a module-level constant of its spec module,
    e.g. :data:`selcn.lesion.KIND`).

    Attributes:
        stage: the config section (``symmetry``, ``lesion``) and the log tag.
        fold_metric: the validation metric its best fold is chosen on (where the protocol
            selects on validation).
        open: ``open(path, device)`` -> the ``model.pt`` read back as a :class:`SavedClassifier`.
    """

    stage: str
    fold_metric: str
    open: Callable[[str | Path, torch.device], SavedClassifier]


class NetworkSpec(Protocol):
    """One network to train: a frozen object built from the config and the job's wildcards."""

    kind: NetworkKind
    #: how it sees an image; ``view.takes_cam``: the symmetry CAM is its second input
    view: View
    #: the log prefix, e.g. ``[lesion] seg-lae`` (the fold follows)
    tag: str

    def build(self, num_classes: int) -> nn.Module:
        """The network (called after the config's seed is set)."""

    def class_names(self, index: pd.DataFrame, source: str) -> list[str]:
        """Its classes in target order, checked against the cache index (read from
        ``source``, named in errors)."""

    def tables(self, splits: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
        """``train`` / ``val`` / ``test`` tables ``row,transform,target`` of ``fold``."""

    def record(self) -> dict:
        """What its ``model.pt`` records besides ``class_names``, ``fold``, ``best_epoch``."""

    def key(self) -> dict:
        """The job's wildcards and settings in its resume key (beyond the stage config)."""


@dataclass(frozen=True)
class Training:
    """How one job trains: the validated config (``seed``, ``device``, ``protocol``, the
    stage's section), the resolved hyper-parameters (:func:`selcn.config.train_params`:
    the stage's ``train`` block, searched values from ``hpo_best`` on top) and the GPUs its
    rule declares (``gpus``: ``snakemake.resources.gpu``; with ``device: auto`` a declared GPU
    must work, :func:`selcn.device.job_device`)."""

    cfg: Mapping
    params: Mapping
    hpo_best: str | None = None
    progress: bool = False
    gpus: int = 0

    @classmethod
    def of(cls, cfg: Mapping, stage: str, hpo_best: str | None = None,
           progress: bool = False, gpus: int | None = 0) -> Training:
        """The training of a ``stage`` job; chooses and logs its device
        (:func:`selcn.device.job_device`: one ``[device]`` line), failing at once with
        :class:`selcn.device.DeviceError` when it needs CUDA (``device: cuda``, or ``gpus`` > 0)
        and CUDA is unavailable."""
        from selcn.config import train_params
        from selcn.device import job_device

        gpus = int(gpus or 0)
        job_device(cfg, gpus, job=f"this {stage} training")
        return cls(cfg, train_params(cfg, stage, hpo_best), hpo_best or None, progress, gpus)

    @property
    def device(self) -> torch.device:
        """The job's device (:func:`selcn.device.job_device`, not logged again)."""
        from selcn.device import job_device

        return job_device(self.cfg, self.gpus, quiet=True)

    @property
    def batch_size(self) -> int:
        return int(self.params["batch_size"])

    @property
    def num_workers(self) -> int:
        return int(self.params.get("num_workers", 0))

    def fit_config(self):
        """The :class:`selcn.training.FitConfig`: hyper-parameters, the config's seed, AMP on
        CUDA, channels-last on every device."""
        from selcn.training import FitConfig

        p = self.params
        return FitConfig(max_epochs=p["max_epochs"], patience=p["patience"], lr=p["lr"],
                         momentum=p["momentum"], weight_decay=p["weight_decay"],
                         seed=self.cfg["seed"], device=str(self.device),
                         amp=self.device.type == "cuda", channels_last=True,
                         max_train_batches=p.get("max_train_batches"), progress=self.progress)


# ---- training -------------------------------------------------------------------------------
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


def job_key(training: Training, stage: str, wildcards: Mapping, inputs: Sequence) -> dict:
    """The resume key of one training job (``job_key`` of :func:`selcn.training.fit`).

    A JSON-able dict of the stage's whole resolved config section (``cfg[stage]``, its
    ``resources`` left out: raising a timed-out job's runtime must not throw its state away),
    the ``seed``, the ``protocol``, the ``weights`` block (where pretrained weights come from),
    the job's ``wildcards`` (and settings a spec adds), the resolved training parameters and
    :func:`selcn.resume.file_identity` of its input files (None entries skipped). A resume
    state written under another key is not resumed.
    """
    from selcn.config import SCHEDULING_KEYS

    cfg = training.cfg
    section = {k: v for k, v in cfg[stage].items() if k not in SCHEDULING_KEYS}
    wildcards = dict(wildcards)
    extra = {k: wildcards.pop(k) for k in ("balance",) if k in wildcards}
    key = {"stage": stage, "config": section, "seed": cfg["seed"],
           "protocol": cfg["protocol"], "weights": cfg.get("weights"),
           "wildcards": wildcards, "inputs": file_identity([*inputs, training.hpo_best]),
           "params": dict(training.params), **extra}
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def _dataset(data: StageData, table: pd.DataFrame, view: View):
    """The :class:`selcn.data.datasets.CachedImageDataset` of a table ``row[,transform],target``
    as ``view`` sees the images (masked, resized, with the CAMs when it takes them)."""
    from selcn.data.datasets import CachedImageDataset

    return CachedImageDataset(
        data.images, table["row"].to_numpy(np.int64), table["target"].to_numpy(np.int64),
        transforms=table["transform"].to_numpy(np.int64) if "transform" in table else None,
        masks=data.masks if view.needs_masks else None, view=view,
        cams=data.cams if view.takes_cam else None)


def fit_network(spec: NetworkSpec, data: StageData, parts: Mapping[str, pd.DataFrame],
                out_dir: str | Path, training: Training, key: Mapping | None = None):
    """Train ``spec``'s network on ``parts["train"]``, early-stopping on ``parts["val"]``
    (tables ``row,transform,target`` of ``data``'s rows), with the shared training core.

    ``out_dir`` receives ``history.csv`` and the resume state (keyed by ``key``). Returns the
    core's ``FitResult`` (weights of the best epoch).
    """
    from selcn.data.datasets import make_loader
    from selcn.training import fit, set_seed

    seed = training.cfg["seed"]
    set_seed(seed)
    names = spec.class_names(data.index, data.inputs.index)
    model = spec.build(len(names))
    bs, workers = training.batch_size, training.num_workers
    train_ds = _dataset(data, parts["train"], spec.view)
    val_ds = _dataset(data, parts["val"], spec.view)
    train_loader = make_loader(train_ds, bs, shuffle=True, num_workers=workers, seed=seed,
                               drop_last=len(train_ds) > bs)
    val_loader = make_loader(val_ds, bs, shuffle=False, num_workers=workers, seed=seed)
    loss = weighted_loss(parts["train"]["target"].to_numpy(), len(names),
                         training.params["weighted_loss"])
    return fit(model, train_loader, val_loader, loss, out_dir, training.fit_config(),
               metrics_fn=accuracy_metrics, job_key=key)


def train_fold(spec: NetworkSpec, inputs: StageInputs, fold: Fold, out_dir: str | Path,
               training: Training) -> tuple[dict, nn.Module]:
    """One fold's job: fit, write ``predictions_val.csv`` / ``predictions_test.csv`` and
    ``model.pt`` into ``out_dir``, then remove the resume state.

    ``inputs`` are the dataset's cache files (the predicted masks and CAMs are read only when
    the spec's view needs them). Returns ``(summary, trained model)``; the summary holds
    ``best_epoch, seconds, n_train, {val,test}_accuracy, {val,test}_balanced_accuracy``.
    """
    from selcn.metrics import classification_metrics

    out_dir = Path(out_dir)
    view = spec.view
    inputs = inputs.only(masks=view.needs_masks, cams=view.takes_cam)
    data = inputs.open()
    names = spec.class_names(data.index, data.inputs.index)
    parts = spec.tables(data.splits, fold)
    key = job_key(training, spec.kind.stage, {**spec.key(), "fold": fold.index}, inputs.files())
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = np.bincount(parts["train"]["target"], minlength=len(names)).tolist()
    tag = f"{spec.tag} {fold}"
    print(f"{tag}: train {len(parts['train'])} (per class {counts}), val "
          f"{len(parts['val'])}, test {len(parts['test'])}; params {dict(training.params)}",
          flush=True)

    started = time.perf_counter()
    result = fit_network(spec, data, parts, out_dir, training, key)
    seconds = time.perf_counter() - started
    summary = {"best_epoch": int(result.best_epoch), "seconds": round(seconds, 1),
               "n_train": len(parts["train"])}
    for part in ("val", "test"):
        table = parts[part]
        probs = predict_probabilities(result.model, data, table, view,
                                      training.batch_size, training.num_workers)
        frame = write_predictions(out_dir / f"predictions_{part}.csv",
                                  data.image_ids[table["row"].to_numpy()], table["target"], probs,
                                  names)
        scores = classification_metrics(frame["target"], frame["pred"], average="weighted",
                                        labels=list(range(len(names))))
        summary[f"{part}_accuracy"] = scores["accuracy"]
        summary[f"{part}_balanced_accuracy"] = scores["balanced_accuracy"]
    save_model_file(out_dir / "model.pt", result.model,
                    **{**spec.record(), "class_names": list(names), "num_classes": len(names),
                       "fold": fold.index, "best_epoch": int(result.best_epoch)})
    clear_resume_state(out_dir)
    print(f"{tag}: {seconds:.1f} s, best epoch {result.best_epoch}, "
          f"val accuracy {summary['val_accuracy']:.4f} "
          f"(balanced {summary['val_balanced_accuracy']:.4f}), "
          f"test accuracy {summary['test_accuracy']:.4f} "
          f"(balanced {summary['test_balanced_accuracy']:.4f})", flush=True)
    return summary, result.model


# ---- prediction ---------------------------------------------------------------------------
@torch.no_grad()
def predict_probabilities(model: nn.Module, data: StageData, table: pd.DataFrame, view: View,
                          batch_size: int = 32, num_workers: int = 0) -> np.ndarray:
    """Softmax probabilities ``(len(table), C)`` of the rows of ``table`` (its order kept), the
    images as ``view`` sees them (``num_workers`` loader processes), on the device of the
    model's parameters."""
    from selcn.data.datasets import make_loader
    from selcn.training import predict_proba

    if view.takes_cam and data.cams is None:
        raise ValueError("predict_probabilities: the model has an E-Layer but no CAMs were read")
    loader = make_loader(_dataset(data, table, view), batch_size, shuffle=False,
                         num_workers=num_workers, seed=0)
    return predict_proba(model, loader, table["row"].to_numpy())


def predict_split(saved: SavedClassifier, data: StageData, split: str, out_csv: str | Path,
                  batch_size: int = 32) -> pd.DataFrame:
    """Predict the ``split`` rows of ``data`` with a saved model and write ``out_csv``
    (:mod:`selcn.predictions`).

    The dataset's targets must use the model's classes; its labels are checked against the
    model's class names. Returns the prediction frame.
    """
    part = data.splits[data.splits["split"] == split]
    if part.empty:
        raise ValueError(f"{data.inputs.splits}: no row with split == {split!r}")
    names = saved.class_names
    bad = part[(part["target"] < 0) | (part["target"] >= len(names))]
    if len(bad):
        raise ValueError(f"{data.inputs.index}: target {int(bad['target'].iloc[0])} outside the "
                         f"model's {len(names)} classes")
    wrong = part[part["label"].astype(str).to_numpy() != np.asarray(names)[part["target"]]]
    if len(wrong):
        raise ValueError(f"{data.inputs.index}: label {wrong['label'].iloc[0]!r} of target "
                         f"{int(wrong['target'].iloc[0])} differs from the model's class "
                         f"{names[int(wrong['target'].iloc[0])]!r}")
    table = plain_table(part)
    probs = predict_probabilities(saved.model, data, table, saved.view, batch_size)
    return write_predictions(out_csv, part["image_id"].to_numpy(), table["target"], probs, names)


# ---- Grad-CAM++ ---------------------------------------------------------------------------
def grad_cams(saved: SavedClassifier, data: StageData, rows: Sequence[int], *,
              layer: str = OWN_LAYER, out_size: int | None = None, batch_size: int = 64,
              num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ of ``saved``'s layer ``layer`` (target: the predicted class) for the cache rows
    ``rows`` as the model sees them (masked, resized, with the symmetry CAM as second input when
    it has an E-Layer).

    Each CAM is resized (bilinear) from the feature map to ``out_size`` (default: the cache
    side ``S``) and min-max normalised per image (:func:`selcn.cams.resize_cams`).

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    from selcn.cams import gradcam_plus_plus, resize_cams
    from selcn.data.datasets import make_loader

    view = saved.view
    if view.takes_cam and data.cams is None:
        raise ValueError(f"{saved.path}: the model has an E-Layer but no CAMs were read")
    out_size = out_size or data.images.shape[1]
    target = saved.layer(layer)
    model = saved.model.eval()
    loader = make_loader(_dataset(data, plain_table(rows), view), batch_size, shuffle=False,
                         num_workers=num_workers, seed=0)
    maps, preds = [], []
    for batch in loader:
        image = batch["image"].to(saved.device, non_blocking=True)
        cam_in = batch["cam"].to(saved.device) if view.takes_cam else None
        heat, logits = gradcam_plus_plus(model, image, target, targets=None, cam=cam_in,
                                         return_logits=True)
        maps.append(resize_cams(heat, out_size, normalize=True).cpu().numpy())
        preds.append(logits.argmax(1).cpu().numpy())
    if not maps:
        return np.zeros((0, out_size, out_size), np.float32), np.zeros(0, np.int64)
    return np.concatenate(maps).astype(np.float32), np.concatenate(preds).astype(np.int64)


def export_cams(saved: SavedClassifier, targets: Sequence[tuple[StageInputs, str | Path]], *,
                cam_size: int, batch_size: int = 64, num_workers: int = 0) -> list[dict]:
    """Write the Grad-CAM++ of ``saved`` for every cache row of each dataset of ``targets``
    (``(inputs, out_npy)`` pairs): float16 ``(N, R, R)``, ``R = cam_size``, rows as the cache
    index; one model, read once, for several datasets in one job.

    Returns per dataset ``{"n", "seconds", "images_per_second", "predicted": {class: count}}``.
    """
    if not targets:
        raise ValueError("export_cams: no dataset given")
    summaries = []
    for inputs, out_npy in targets:
        data = inputs.only(masks=saved.view.needs_masks, cams=saved.view.takes_cam).open()
        n = len(data.index)
        started = time.perf_counter()
        cams, preds = grad_cams(saved, data, np.arange(n), out_size=cam_size,
                                batch_size=batch_size, num_workers=num_workers)
        seconds = time.perf_counter() - started
        write_npy(cams.astype(np.float16), out_npy)
        counts = np.bincount(preds, minlength=len(saved.class_names))
        summary = {"n": n, "seconds": round(seconds, 2),
                   "images_per_second": round(n / max(seconds, 1e-9), 1),
                   "predicted": dict(zip(saved.class_names, counts.tolist()))}
        print(f"[cams] Grad-CAM++ of {saved.path} ({saved.view.mask} mask) -> {out_npy}: "
              f"{summary}", flush=True)
        summaries.append(summary)
    return summaries


# ---- localisation ---------------------------------------------------------------------------
def localise(saved: SavedClassifier, data: StageData, split: str | None,
             cams_cfg: Mapping, max_images: int | None = None) -> pd.DataFrame:
    """Per-image localisation of a saved model's Grad-CAM++:
    ``image_id,split,iou,overlap,pointing[,pointing_dilated],<baselines>`` and, per further
    layer ``L`` of ``saved.layers``, ``iou_L,overlap_L,pointing_L[,pointing_dilated_L]``.

    The images are the ``split`` rows of the split table (None: every cache row; at most
    ``max_images``); column ``split`` is each image's split. Each layer is explained in one
    batched pass with :func:`grad_cams` (a layer that is the same module as an earlier one is
    not recomputed), each CAM resized to the image side and scored against ``data.gt_masks``
    with :func:`selcn.cams.localisation_table` (``cams_cfg`` = the config's ``cams`` block),
    and placed in the image's regions (``argmax_region``, ``mass_<region>`` per layer,
    ``area_<region>`` once: :func:`region_inputs`).
    """
    from selcn.cams import (
        BASELINE_COLUMNS,
        REGION_AREA_COLUMNS,
        REGION_COLUMNS,
        localisation_table,
    )

    if data.gt_masks is None:
        raise ValueError(f"{data.inputs.images}: localisation needs the ground-truth masks")
    rows = data.rows_of(split)
    if max_images is not None:
        rows = rows[:max_images]
    split_of = dict(zip(data.splits["row"].to_numpy(np.int64), data.splits["split"].astype(str)))
    regions = region_inputs(saved.view, data, rows)
    done: list[tuple[nn.Module, pd.DataFrame]] = []
    tables: list[pd.DataFrame] = []
    for name, layer in saved.layers.items():
        table = next((t for module, t in done if module is layer), None)
        if table is None:
            heat, _ = grad_cams(saved, data, rows, layer=name, out_size=data.gt_masks.shape[1],
                                batch_size=cams_cfg.get("batch_size", 64),
                                num_workers=cams_cfg.get("num_workers", 0))
            table = localisation_table(heat, data.gt_masks, rows, data.image_ids, cams_cfg,
                                       regions)
            done.append((layer, table))
        tables.append(table)
    out = tables[0].copy()
    out.insert(1, "split", [split_of.get(int(r), "") for r in rows])
    for name, table in zip(list(saved.layers)[1:], tables[1:]):
        scores = [c for c in table.columns
                  if c not in ("image_id", *BASELINE_COLUMNS, *REGION_AREA_COLUMNS)]
        # the layer's regions first, its scores last (the localisation file's layout)
        scores = ([c for c in scores if c in REGION_COLUMNS]
                  + [c for c in scores if c not in REGION_COLUMNS])
        out = pd.concat([out, table[scores].add_suffix(f"_{name}")], axis=1)
    return out


def region_inputs(view: View, data: StageData, rows: Sequence[int]):
    """The regions of the cache rows ``rows`` a CAM can fall in
    (:class:`selcn.cams.RegionInputs`): per image the network's input keep-mask
    (:meth:`View.keep <selcn.data.datasets.View.keep>` with the row's predicted mask; None when
    it sees the whole image) and the image's dark vignette (:func:`selcn.masks.vignette_mask`),
    at the cache side."""
    from selcn.cams import RegionInputs
    from selcn.masks import vignette_mask

    if view.needs_masks and data.masks is None:
        raise ValueError(f"{data.inputs.images}: the model masks its input ({view.mask}) but "
                         "no predicted masks were read")
    keeps, vignettes = [], []
    for row in rows:
        image = np.asarray(data.images[int(row)])
        mask = np.asarray(data.masks[int(row)]) if view.needs_masks else None
        keeps.append(view.keep(image, mask) if view.masks_input else None)
        vignettes.append(vignette_mask(image))
    return RegionInputs(keeps, vignettes)


@dataclass(frozen=True)
class FoldFiles:
    """A model's folds: per fold its ``model.pt`` and its prediction file of the selection
    split (``predictions_val.csv``; ``predictions_test.csv`` where the protocol selects on the
    test split)."""

    models: Mapping[int, str]
    predictions: Mapping[int, str]

    @classmethod
    def of(cls, folds: Sequence[int], models: Sequence[str],
           predictions: Sequence[str] = ()) -> FoldFiles:
        """From parallel lists, fold ``folds[i]`` -> ``models[i]`` / ``predictions[i]``."""
        return cls(dict(zip(map(int, folds), map(str, models), strict=True)),
                   dict(zip(map(int, folds), map(str, predictions))))

    def best(self, criterion: FoldCriterion) -> tuple[dict, str]:
        """``(best_fold.json content, the best fold's model.pt)``
        (:func:`selcn.selection.select_best_fold`)."""
        best = select_best_fold(self.predictions, criterion)
        if best["fold"] not in self.models:
            raise ValueError(f"no model.pt for the best fold {best['fold']} "
                             f"(folds {sorted(self.models)})")
        return best, self.models[best["fold"]]


def localise_best_fold(kind: NetworkKind, folds: FoldFiles, data: StageData,
                       cfg: Mapping, outputs: tuple[str | Path, str | Path]) -> dict:
    """Pick the best fold of a model (the protocol's selection split and :attr:`fold_metric
    <NetworkKind.fold_metric>`), localise its Grad-CAM++ (:func:`localise` on the protocol's
    localisation split, ``cfg["cams"]``) and write ``outputs`` = ``(localisation.csv,
    best_fold.json)``.

    ``best_fold.json`` also says what was localised: ``localised_on``, ``n_localised`` (images)
    and ``cam_layers`` (the layers scored). Returns its content.
    """
    from selcn.protocol import policy
    from selcn.selection import best_fold_criterion
    from selcn.training import resolve_device

    protocol = policy(cfg["protocol"])
    criterion = best_fold_criterion(protocol, kind.fold_metric)
    best, model_pt = folds.best(criterion)
    started = time.perf_counter()
    saved = kind.open(model_pt, resolve_device(cfg["device"]))
    table = localise(saved, data, protocol.localisation_split, cfg["cams"])
    best.update(localised_on=protocol.localised_on, n_localised=len(table),
                cam_layers=list(saved.layers))
    write_csv(table, outputs[0])
    write_json(best, outputs[1])
    scored = [c for c in table.columns if c.split("_")[0] in ("iou", "overlap", "pointing")]
    print(f"[{kind.stage}] localisation of fold {best['fold']} ({criterion.name} "
          f"{best['value']:.4f}) on {len(table)} images ({best['localised_on']}) in "
          f"{time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{c}={table[c].mean():.3f}" for c in scored), flush=True)
    return best
