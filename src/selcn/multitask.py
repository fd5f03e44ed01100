"""Model 13 as a stage of the workflow: one end-to-end symmetry-enhanced network
(:mod:`selcn.models.multitask`) trained with partial labels, reported beside the 12 grid models.

The thesis names as its second limitation that SE-LCN is three networks trained separately and
proposes "a symmetry-enhanced end-to-end classification model" (7.2 (2)); docs/multitask.md
gives the design and the cost. This module is its spec: :func:`network` resolves the config
for a lesion dataset into a :class:`MultitaskSpec`, :func:`train` trains one fold, :data:`KIND`
reads a ``model.pt`` back for the engine (prediction, Grad-CAM++ and localisation:
:func:`selcn.engine.localise_best_fold`), and :func:`measure_cost` counts what it saves.

**Data, partial labels** (:func:`fold_samples`). A sample is a cache row of the lesion dataset
(source 0: class, lesion mask where the dataset has ground-truth masks) or of the symmetry
dataset (source 1, ``roles.symmetry``: symmetry label and mask, no class). A lesion image that
is also in the symmetry dataset (the same ``image_id``: SymDerm's 2,000 HAM10000 images) carries
the symmetry label too, unless the symmetry split holds that copy out (``test``: a symmetry
test image's label is never trained on; ``excluded``). Every other symmetry image is a
symmetry-only sample. Labels a sample lacks are :data:`selcn.losses.MISSING` and its loss
terms skip it (:class:`selcn.losses.MultitaskLoss`).

**Splits, the grid's**: the lesion samples of fold ``k`` are exactly the grid's
(:func:`selcn.lesion.fold_tables`: the grouped test split, the folds, the balancing rule of
the protocol); the symmetry-only samples keep their split's ``test`` and ``excluded`` (SymDerm
images of HAM10000 test lesions are ``excluded`` there, so never trained on) and their training
rows are cut into the same number of folds, stratified by symmetry and grouped by lesion where
the protocol groups (a SymDerm row of a HAM10000 lesion follows that lesion's fold). A lesion
test image never trains any head. The validation part (fold ``k`` of both) early-stops the
training (the summed loss, as every network of the workflow) and picks the best fold
(:data:`KIND`'s metric, the lesion network's: validation accuracy).

**Files** (``docs/contracts.md``), per fold ``k`` under ``results/lesion/<dataset>/multitask/``
``fold<k>/``: ``model.pt``, ``history.csv`` (``accuracy``, ``balanced_accuracy``,
``symmetry_balanced_accuracy``, ``dice`` of the validation part), ``predictions_val.csv`` /
``predictions_test.csv`` (the lesion contract: Tables 8, 13, 14), ``predictions_<external>.csv``
(Table 10), ``predictions_symmetry_val.csv`` / ``predictions_symmetry_test.csv`` (the symmetry
classes; Table 6) and ``metrics_test.csv`` (Table 5's columns at the cache resolution, ``arch``
:data:`SEGMENTATION_ARCH`; test: the lesion dataset's test images, or the symmetry dataset's
where the lesion dataset has no masks). Per dataset: ``best_fold.json``, ``localisation.csv``
(Table 9) and ``cost.csv`` (:func:`measure_cost`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from selcn.data.datasets import CachedImageDataset, View
from selcn.data.inputs import StageData, StageInputs
from selcn.engine import OWN_LAYER, NetworkKind, SavedClassifier, Training
from selcn.grid import MULTITASK, Fold
from selcn.losses import MISSING
from selcn.models.multitask import (
    LogitsOnly,
    MultitaskNetwork,
    MultitaskSettings,
    create_multitask_model,
    multitask_cam_layers,
)
from selcn.protocol import Protocol, policy
from selcn.selection import FOLD_METRICS, SEGMENTATION_METRICS, VAL_PREFIX

__all__ = ["KIND", "STAGE", "SEGMENTATION_ARCH", "TARGET_KEYS", "SYMMETRY_PREDICTIONS",
           "MultitaskSpec", "network", "training_of", "MultitaskInputs", "MultitaskData",
           "fold_samples", "MultitaskDataset", "MultitaskMetrics", "load_multitask_model",
           "open_model", "fit_multitask", "train", "CostSettings", "measure_cost",
           "planned_hours", "cost_table"]

#: the config section and log tag of model 13
STAGE = "multitask"
#: the ``arch`` of model 13's row in Table 5 (``metrics_test.csv``)
SEGMENTATION_ARCH = "one network (model 13)"
#: the batch keys model 13's loss reads (:attr:`selcn.training.FitConfig.targets`)
TARGET_KEYS: tuple[str, ...] = ("target", "symmetry", "mask", "has_mask")
#: the symmetry prediction files of a fold, per split (Table 6)
SYMMETRY_PREDICTIONS = "predictions_symmetry_{split}.csv"
#: ``model.pt`` fields a model 13 file must hold
_REQUIRED = ("arch", "num_classes", "input_size", "decoder_channels", "class_names",
             "symmetry_class_names", "threshold")
#: sample sources (column ``source`` of the sample tables)
LESION_SOURCE, SYMMETRY_SOURCE = 0, 1


# ---- the spec -------------------------------------------------------------------------------
def training_of(cfg: Mapping, hpo_best: str | None = None, gpus: int | None = 0) -> Training:
    """The :class:`selcn.engine.Training` of a model 13 job: ``multitask.train`` (the
    hyper-parameters; no search of its own), the job's device chosen and logged
    (:func:`selcn.device.job_device`; a declared GPU must work)."""
    from selcn.device import job_device

    if hpo_best:
        raise ValueError("model 13 has no hyper-parameter search of its own (multitask.train)")
    gpus = int(gpus or 0)
    job_device(cfg, gpus, job=f"this {STAGE} training")
    return Training(cfg, dict(cfg[STAGE]["train"]), None, False, gpus)


@dataclass(frozen=True)
class MultitaskSpec:
    """Model 13 on one lesion dataset, as the config resolves it (:func:`network`).

    Attributes:
        dataset: the lesion dataset (its classes, folds, test split).
        symmetry_dataset: the symmetry labels' dataset (``roles.symmetry``).
        settings: the network (:class:`selcn.models.multitask.MultitaskSettings`).
        input_size: the input side in px (``lesion.input_size``).
        pretrained_cache: the folder of the encoder's ImageNet weights, or None.
        balance: the lesion training part's balancing (as the grid's), or None.
        protocol: the evaluation protocol's policy.
        seed: the config's seed.
        weights: the loss weights ``{"mask", "symmetry", "lesion"}``.
        mask_loss: ``segmentation.loss`` (``rank_weight``, ``rank_k``, ``rank_margin``).
        threshold: the lesion probability of a mask pixel (``segmentation.threshold``).
    """

    dataset: str
    symmetry_dataset: str
    settings: MultitaskSettings
    input_size: int
    pretrained_cache: str | None
    balance: Mapping | None
    protocol: Protocol
    seed: int
    weights: Mapping[str, float]
    mask_loss: Mapping[str, float]
    threshold: float = 0.5

    kind: ClassVar[NetworkKind]

    @property
    def view(self) -> View:
        """How it sees an image: the whole image (no input mask, no CAM file) at its size."""
        return View(size=self.input_size)

    @property
    def tag(self) -> str:
        return f"[{STAGE}] model {MULTITASK.number} {self.dataset}"

    def build(self, num_classes: int) -> MultitaskNetwork:
        return create_multitask_model(self.settings, num_classes, self.pretrained_cache)

    def class_names(self, index: pd.DataFrame, source: str) -> list[str]:
        from selcn.data.tables import class_names_of

        return class_names_of(index, source=source, dataset=self.dataset)

    def symmetry_names(self, index: pd.DataFrame, source: str) -> list[str]:
        from selcn.data.tables import class_names_of

        return class_names_of(index, source=source, dataset=self.symmetry_dataset)

    def tables(self, splits: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
        """The grid's ``train`` / ``val`` / ``test`` tables of the lesion dataset
        (:func:`selcn.lesion.fold_tables`)."""
        from selcn.lesion import fold_tables

        return fold_tables(splits, fold, self.protocol, self.balance, self.seed)

    def record(self) -> dict:
        return {"model_number": MULTITASK.number, "dataset": self.dataset,
                "input_size": self.input_size, "threshold": self.threshold,
                "classifier_mask": MULTITASK.classifier_mask,
                "symmetry_mask": MULTITASK.cam_source, **self.settings.record()}

    def key(self) -> dict:
        return {"dataset": self.dataset, "symmetry_dataset": self.symmetry_dataset,
                "balance": self.balance, "settings": self.settings.record(),
                "input_size": self.input_size, "mask_loss": dict(self.mask_loss)}


def network(cfg: Mapping, dataset: str) -> MultitaskSpec:
    """Model 13 on the lesion ``dataset`` under a validated config (read once, here): the
    lesion network's encoder, input side, output stride and ImageNet weights, the
    segmentation stage's mask loss and threshold, ``multitask``'s own settings."""
    from selcn.config import balance_of
    from selcn.data.splits import balance_settings
    from selcn.grid import grid
    from selcn.weights import pretrained_cache

    les, mt = cfg["lesion"], cfg[STAGE]
    protocol = policy(cfg["protocol"])
    settings = MultitaskSettings(
        arch=les["architecture"], output_stride=int(les.get("output_stride", 32)),
        decoder_channels=tuple(int(c) for c in mt["decoder_channels"]),
        gate_with_mask=bool(mt["gate_with_mask"]), dropout=float(mt["dropout"]))
    return MultitaskSpec(
        dataset=dataset, symmetry_dataset=grid(cfg).symmetry_dataset, settings=settings,
        input_size=int(les["input_size"]), pretrained_cache=pretrained_cache(cfg, "lesion"),
        balance=balance_settings(balance_of(cfg, dataset), protocol), protocol=protocol,
        seed=int(cfg["seed"]), weights=dict(mt["weights"]),
        mask_loss=dict(cfg["segmentation"]["loss"]),
        threshold=float(cfg["segmentation"]["threshold"]))


# ---- reading a model back -------------------------------------------------------------------
def load_multitask_model(path: str | Path,
                         device: str | torch.device = "cpu") -> tuple[MultitaskNetwork, dict]:
    """Rebuild a model 13 ``model.pt``: ``(network in eval mode on device, meta)``."""
    from selcn.checkpoints import load_model_file

    blob = load_model_file(path, what="model 13 (multitask)", required=_REQUIRED)
    settings = MultitaskSettings(
        arch=blob["arch"], output_stride=int(blob.get("output_stride", 32)),
        decoder_channels=tuple(int(c) for c in blob["decoder_channels"]),
        gate_with_mask=bool(blob.get("gate_with_mask", False)),
        dropout=float(blob.get("dropout", 0.2)),
        symmetry_classes=len(blob["symmetry_class_names"]))
    model = create_multitask_model(settings, int(blob["num_classes"]))
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return model.to(device).eval(), meta


def open_model(path: str | Path, device: str | torch.device = "cpu") -> SavedClassifier:
    """A model 13 ``model.pt`` as a classifier of the engine: ``model(image) -> logits``
    (:class:`selcn.models.multitask.LogitsOnly`), the whole image at its input side, the
    Grad-CAM++ layers ``own`` (the lesion head's input) and ``encoder`` (``bn2``)."""
    device = torch.device(device)
    network_, meta = load_multitask_model(path, device)
    layers = multitask_cam_layers(network_)
    return SavedClassifier(LogitsOnly(network_).eval(), meta, View(size=int(meta["input_size"])),
                           {OWN_LAYER: layers["own"], "encoder": layers["encoder"]},
                           Path(path), device)


#: model 13's kind: its config section, best-fold metric (the lesion network's) and reader
KIND = NetworkKind(STAGE, FOLD_METRICS["lesion"], open_model)
MultitaskSpec.kind = KIND


# ---- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MultitaskInputs:
    """The cache files model 13 reads: the lesion dataset's (``images``, ``index``,
    ``splits``, ``gt_masks`` where it has them) and the symmetry dataset's (the same, named
    ``sym_*`` in a rule's inputs)."""

    lesion: StageInputs
    symmetry: StageInputs

    @classmethod
    def named(cls, named: Mapping) -> MultitaskInputs:
        """From a job's named inputs ``images, index, splits[, gt_masks]`` and ``sym_images,
        sym_index, sym_splits, sym_gt_masks``."""
        return cls(StageInputs.named(named), StageInputs.named(named, "sym_"))

    def files(self) -> list[str]:
        return [*self.lesion.files(), *self.symmetry.files()]

    def open(self) -> MultitaskData:
        """Read and check both datasets (split tables required; the caches' sides equal)."""
        for name, inputs in (("lesion", self.lesion), ("symmetry", self.symmetry)):
            if inputs.splits is None:
                raise ValueError(f"{inputs.index}: model 13 needs the {name} dataset's split "
                                 "table")
        lesion, symmetry = self.lesion.open(), self.symmetry.open()
        if lesion.images.shape[1:] != symmetry.images.shape[1:]:
            raise ValueError(f"{self.symmetry.images}: cache side {symmetry.images.shape[1:3]} "
                             f"differs from {self.lesion.images}'s {lesion.images.shape[1:3]}")
        if symmetry.gt_masks is None:
            raise ValueError(f"{self.symmetry.images}: model 13 needs the symmetry dataset's "
                             "ground-truth masks (gt_masks.npy)")
        return MultitaskData(lesion, symmetry)


@dataclass
class MultitaskData:
    """Both datasets' caches as model 13 reads them (:meth:`MultitaskInputs.open`)."""

    lesion: StageData
    symmetry: StageData

    def source(self, source: int) -> StageData:
        return self.lesion if source == LESION_SOURCE else self.symmetry

    def image_ids(self, table: pd.DataFrame) -> np.ndarray:
        """``image_id`` of every sample of a sample table (its ``source`` and ``row``)."""
        out = np.empty(len(table), dtype=object)
        for source in (LESION_SOURCE, SYMMETRY_SOURCE):
            at = (table["source"] == source).to_numpy()
            out[at] = self.source(source).image_ids[table["row"].to_numpy()[at]]
        return out.astype(str)


_SAMPLE_COLUMNS = ("source", "row", "transform", "target", "symmetry")


def _samples(source: int, rows: Sequence[int], transforms: Sequence[int] | None = None,
             targets: Sequence[int] | None = None,
             symmetry: Sequence[int] | None = None) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame({
        "source": np.full(n, source, np.int64), "row": np.asarray(rows, np.int64),
        "transform": np.zeros(n, np.int64) if transforms is None else np.asarray(transforms,
                                                                                 np.int64),
        "target": np.full(n, MISSING, np.int64) if targets is None else np.asarray(targets,
                                                                                   np.int64),
        "symmetry": np.full(n, MISSING, np.int64) if symmetry is None else np.asarray(
            symmetry, np.int64)})


def _symmetry_only_folds(rows: pd.DataFrame, lesion_splits: pd.DataFrame, folds: Sequence[str],
                         protocol: Protocol, seed: int) -> np.ndarray:
    """The model 13 fold (a name of ``folds``) of each symmetry-only training row: the fold of
    its lesion where the lesion dataset has that group in a fold, else stratified by symmetry
    (and grouped by ``group`` where the protocol groups) over ``len(folds)`` folds."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    out = np.empty(len(rows), dtype=object)
    groups = rows["group"].astype(str).to_numpy() if "group" in rows else \
        rows["image_id"].astype(str).to_numpy()
    in_fold = lesion_splits[lesion_splits["split"].isin(folds)]
    fold_of_group = ({} if "group" not in in_fold else
                     dict(zip(in_fold["group"].astype(str), in_fold["split"].astype(str))))
    known = np.array([g in fold_of_group for g in groups], bool)
    out[known] = [fold_of_group[g] for g in groups[known]]
    rest = np.flatnonzero(~known)
    if not len(rest):
        return out
    y = rows["target"].to_numpy()[rest]
    k = len(folds)
    unique = list(dict.fromkeys(groups[rest]))
    if len(unique) < k or np.bincount(y).max() < k:    # too few to stratify: round robin
        at = {g: folds[i % k] for i, g in enumerate(unique)}   # over groups (lesions)
        out[rest] = [at[g] for g in groups[rest]]
        return out
    cv = (StratifiedGroupKFold(k, shuffle=True, random_state=seed) if protocol.grouped
          else StratifiedKFold(k, shuffle=True, random_state=seed))
    for j, (_, at) in enumerate(cv.split(np.zeros(len(rest)), y, groups[rest])):
        out[rest[at]] = folds[j]
    return out


def fold_samples(spec: MultitaskSpec, data: MultitaskData, fold: Fold) -> dict[str, pd.DataFrame]:
    """The sample tables ``source,row,transform,target,symmetry`` of fold ``fold`` (the module
    docstring): ``train``, ``val`` (the lesion parts of :meth:`MultitaskSpec.tables` with the
    symmetry labels of their images, plus the symmetry-only samples of the other folds / of
    this fold), ``test`` (the lesion test split; classes, masks) and ``symmetry_test`` (the
    symmetry split's ``test`` rows)."""
    from selcn.data.inputs import fold_parts

    lesion, sym = data.lesion, data.symmetry
    parts = spec.tables(lesion.splits, fold)
    folds, _ = fold_parts(lesion.splits, fold)
    sym_split = sym.splits.assign(image_id=sym.splits["image_id"].astype(str))
    usable = sym_split[~sym_split["split"].isin(["test", "excluded"])]
    label_of = dict(zip(usable["image_id"], usable["target"].astype(np.int64)))
    lesion_ids = set(lesion.image_ids)
    out = {}
    for part in ("train", "val"):
        table = parts[part]
        ids = lesion.image_ids[table["row"].to_numpy()]
        labels = [label_of.get(i, MISSING) for i in ids]
        out[part] = _samples(LESION_SOURCE, table["row"], table["transform"], table["target"],
                             labels)
    only = usable[~usable["image_id"].isin(lesion_ids)].reset_index(drop=True)
    assigned = _symmetry_only_folds(only, lesion.splits, folds, spec.protocol, spec.seed)
    mine = assigned == fold.name
    for part, rows in (("train", only[~mine]), ("val", only[mine])):
        extra = _samples(SYMMETRY_SOURCE, rows["row"], symmetry=rows["target"])
        out[part] = pd.concat([out[part], extra], ignore_index=True)
    test = parts["test"]
    out["test"] = _samples(LESION_SOURCE, test["row"], targets=test["target"])
    sym_test = sym_split[sym_split["split"] == "test"]
    out["symmetry_test"] = _samples(SYMMETRY_SOURCE, sym_test["row"], symmetry=sym_test["target"])
    for part, table in out.items():
        if table.empty:
            raise ValueError(f"model 13, {fold}: the {part} part is empty")
    return out


class MultitaskDataset(Dataset):
    """Items of a sample table over both caches: ``image`` ``(3, S', S')`` (the network's
    side, augmented by the row's transform), ``row`` (the sample's position in the table),
    ``target`` (class or :data:`selcn.losses.MISSING`), ``symmetry`` (0 / 1 or MISSING),
    ``mask`` float ``(1, S', S')`` in {0, 1} (zeros without one) and ``has_mask`` (bool)."""

    def __init__(self, data: MultitaskData, table: pd.DataFrame, size: int) -> None:
        missing = [c for c in _SAMPLE_COLUMNS if c not in table]
        if missing:
            raise ValueError(f"MultitaskDataset: the sample table lacks {missing}")
        self.table = table.reset_index(drop=True)
        self.size = int(size)
        self.parts: dict[int, CachedImageDataset] = {}
        self.position = np.zeros(len(self.table), np.int64)
        for source in (LESION_SOURCE, SYMMETRY_SOURCE):
            at = np.flatnonzero(self.table["source"].to_numpy() == source)
            if not len(at):
                continue
            cache = data.source(source)
            self.parts[source] = CachedImageDataset(
                cache.images, self.table["row"].to_numpy()[at], view=View(size=self.size),
                transforms=self.table["transform"].to_numpy()[at], target_masks=cache.gt_masks)
            self.position[at] = np.arange(len(at))
        self.source = self.table["source"].to_numpy()
        self.target = self.table["target"].to_numpy(np.int64)
        self.symmetry = self.table["symmetry"].to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        base = self.parts[int(self.source[index])][int(self.position[index])]
        has_mask = "target" in base
        mask = base["target"] if has_mask else torch.zeros(1, self.size, self.size)
        return {"image": base["image"], "row": torch.tensor(index, dtype=torch.int64),
                "target": torch.tensor(self.target[index]),
                "symmetry": torch.tensor(self.symmetry[index]), "mask": mask,
                "has_mask": torch.tensor(has_mask)}


# ---- validation metrics ---------------------------------------------------------------------
def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 1.0        # selcn.metrics' zero_division=1


def _balanced(confusion: np.ndarray) -> float:
    """Balanced accuracy of a confusion matrix (mean recall over the classes present)."""
    support = confusion.sum(1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present])) if present.any() \
        else float("nan")


class MultitaskMetrics:
    """The validation history columns of model 13, batch by batch
    (:class:`selcn.training.BatchMetrics`): ``accuracy`` and ``balanced_accuracy`` of the
    lesion classes, ``symmetry_balanced_accuracy`` and ``dice`` (pooled, the mask logits
    thresholded at 0, at the network's side) over the samples carrying each label."""

    def __init__(self, num_classes: int, symmetry_classes: int = 2) -> None:
        self.sizes = (int(num_classes), int(symmetry_classes))
        self.reset()

    def reset(self) -> None:
        self.lesion = np.zeros((self.sizes[0],) * 2, np.int64)
        self.symmetry = np.zeros((self.sizes[1],) * 2, np.int64)
        self.pixels = np.zeros(3, np.int64)           # tp, predicted, true

    @staticmethod
    def _confusion(matrix: np.ndarray, logits: torch.Tensor, labels: torch.Tensor) -> None:
        known = labels != MISSING
        pred = logits[known].argmax(1).cpu().numpy()
        true = labels[known].cpu().numpy()
        np.add.at(matrix, (true, pred), 1)

    def update(self, outputs: Mapping[str, torch.Tensor],
               targets: Mapping[str, torch.Tensor]) -> None:
        self._confusion(self.lesion, outputs["logits"], targets["target"])
        self._confusion(self.symmetry, outputs["symmetry"], targets["symmetry"])
        has = targets["has_mask"].bool()
        if bool(has.any()):
            pred = outputs["mask"][has] > 0
            true = targets["mask"][has] > 0.5
            self.pixels += np.array([int((pred & true).sum()), int(pred.sum()), int(true.sum())])

    def compute(self) -> dict[str, float]:
        tp, predicted, true = self.pixels.tolist()
        return {"accuracy": _ratio(np.trace(self.lesion), self.lesion.sum()),
                "balanced_accuracy": _balanced(self.lesion),
                "symmetry_balanced_accuracy": _balanced(self.symmetry),
                "dice": _ratio(2 * tp, predicted + true)}


# ---- training -------------------------------------------------------------------------------
def _loader(data: MultitaskData, table: pd.DataFrame, spec: MultitaskSpec, training: Training,
            shuffle: bool):
    from selcn.data.datasets import make_loader

    dataset = MultitaskDataset(data, table, spec.input_size)
    bs = training.batch_size
    return make_loader(dataset, bs, shuffle=shuffle, num_workers=training.num_workers,
                       seed=training.cfg["seed"], drop_last=shuffle and len(dataset) > bs)


def _loss(spec: MultitaskSpec, train: pd.DataFrame, sizes: tuple[int, int], weighted: bool):
    """:class:`selcn.losses.MultitaskLoss` with the thesis' class weights (eq. 5) of the
    training part's labels of each task."""
    from selcn.data.datasets import class_weights
    from selcn.losses import HybridLoss, MultitaskLoss

    weights = {}
    for task, column, n in (("lesion", "target", sizes[0]), ("symmetry", "symmetry", sizes[1])):
        labels = train[column].to_numpy()
        labels = labels[labels != MISSING]
        weights[task] = class_weights(labels, n) if weighted and len(labels) else None
    mask = HybridLoss(rank_weight=spec.mask_loss["rank_weight"], k=spec.mask_loss["rank_k"],
                      margin=spec.mask_loss["rank_margin"])
    return MultitaskLoss(spec.weights, mask, weights)


def fit_multitask(spec: MultitaskSpec, data: MultitaskData, parts: Mapping[str, pd.DataFrame],
                  out_dir: str | Path, training: Training, key: Mapping | None = None):
    """Train model 13 on ``parts["train"]``, early-stopping on ``parts["val"]`` (sample
    tables, :func:`fold_samples`) with the shared training core (resumable; ``history.csv``
    in ``out_dir``). Returns the core's ``FitResult``."""
    from selcn.training import fit, set_seed

    set_seed(training.cfg["seed"])
    names = spec.class_names(data.lesion.index, data.lesion.inputs.index)
    sym_names = spec.symmetry_names(data.symmetry.index, data.symmetry.inputs.index)
    model = spec.build(len(names))
    train_loader = _loader(data, parts["train"], spec, training, shuffle=True)
    val_loader = _loader(data, parts["val"], spec, training, shuffle=False)
    loss = _loss(spec, parts["train"], (len(names), len(sym_names)),
                 bool(training.params["weighted_loss"]))
    cfg = replace(training.fit_config(), targets=TARGET_KEYS, extra_inputs=())
    return fit(model, train_loader, val_loader, loss, out_dir, cfg,
               metrics_fn=MultitaskMetrics(len(names), len(sym_names)), job_key=key)


@dataclass
class _Predicted:
    """What one pass over a sample table gives: softmax of both heads and, for the samples with
    a ground-truth mask, the pooled pixel counts at the cache side."""

    lesion: np.ndarray
    symmetry: np.ndarray
    counts: np.ndarray          # tp, fp, fn, tn (pooled)


@torch.no_grad()
def _predict(model: MultitaskNetwork, data: MultitaskData, table: pd.DataFrame,
             spec: MultitaskSpec, training: Training) -> _Predicted:
    """One forward per batch (eval mode, the model's device): both heads' probabilities in
    table order, and the predicted masks upsampled (bilinear, on the logits) to the cache side
    and thresholded as the segmentation stage does, scored against the cached ground truth."""
    device = next(model.parameters()).device
    model.eval()
    side = data.lesion.images.shape[1]
    logit_threshold = float(torch.logit(torch.tensor(spec.threshold).clamp(1e-6, 1 - 1e-6)))
    lesion, symmetry = [], []
    counts = np.zeros(4, np.int64)
    for batch in _loader(data, table, spec, training, shuffle=False):
        image = batch["image"].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(image)
        lesion.append(torch.softmax(out["logits"].float(), 1).cpu())
        symmetry.append(torch.softmax(out["symmetry"].float(), 1).cpu())
        has = batch["has_mask"].bool()
        if bool(has.any()):
            rows = batch["row"][has].numpy()
            logits = F.interpolate(out["mask"][has.to(device)].float(), size=(side, side),
                                   mode="bilinear", align_corners=False)[:, 0]
            pred = (logits > logit_threshold).cpu().numpy()
            sources = table["source"].to_numpy()[rows]
            cache_rows = table["row"].to_numpy()[rows]
            true = np.stack([np.asarray(data.source(int(s)).gt_masks[int(r)]) != 0
                             for s, r in zip(sources, cache_rows)])
            tp = int((pred & true).sum())
            fp, fn = int((pred & ~true).sum()), int((~pred & true).sum())
            counts += np.array([tp, fp, fn, pred.size - tp - fp - fn])
    return _Predicted(torch.cat(lesion).numpy(), torch.cat(symmetry).numpy(), counts)


def _segmentation_scores(counts: np.ndarray) -> dict[str, float]:
    """Table 5's pooled pixel metrics of ``tp, fp, fn, tn`` (:func:`selcn.metrics.
    segmentation_metrics`' formulas)."""
    tp, fp, fn, tn = (int(c) for c in counts)
    return {"dice": _ratio(2 * tp, 2 * tp + fp + fn), "jaccard": _ratio(tp, tp + fp + fn),
            "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "accuracy": _ratio(tp + tn, tp + fp + fn + tn)}


@dataclass(frozen=True)
class _FoldJob:
    """One fold's job: the spec, its data and sample tables, where it writes, how it trains."""

    spec: MultitaskSpec
    data: MultitaskData
    parts: Mapping[str, pd.DataFrame]
    out_dir: Path
    training: Training


def _write_outputs(job: _FoldJob, model: MultitaskNetwork, names: Sequence[str],
                   sym_names: Sequence[str]) -> dict:
    """The fold's prediction files and ``metrics_test.csv``; returns the summary's scores."""
    from selcn.atomic import write_csv
    from selcn.predictions import write_predictions

    spec, data, parts, out = job.spec, job.data, job.parts, job.out_dir
    seg = {}
    summary = {}
    for part in ("val", "test"):
        table = parts[part]
        got = _predict(model, data, table, spec, job.training)
        lesion = (table["source"] == LESION_SOURCE).to_numpy()
        frame = write_predictions(out / f"predictions_{part}.csv",
                                  data.image_ids(table)[lesion], table["target"][lesion],
                                  got.lesion[lesion], names)
        summary[f"{part}_accuracy"] = float((frame["pred"] == frame["target"]).mean())
        seg[part] = got.counts
        if part == "val":
            labelled = (table["symmetry"] != MISSING).to_numpy()
            frame = write_predictions(out / SYMMETRY_PREDICTIONS.format(split="val"),
                                      data.image_ids(table)[labelled],
                                      table["symmetry"][labelled], got.symmetry[labelled],
                                      sym_names)
    sym_test = parts["symmetry_test"]
    got = _predict(model, data, sym_test, spec, job.training)
    frame = write_predictions(out / SYMMETRY_PREDICTIONS.format(split="test"),
                              data.image_ids(sym_test), sym_test["symmetry"], got.symmetry,
                              sym_names)
    summary["symmetry_test_accuracy"] = float((frame["pred"] == frame["target"]).mean())
    if data.lesion.gt_masks is None:            # no lesion masks: the symmetry test images'
        seg["test"] = got.counts
    test, val = _segmentation_scores(seg["test"]), _segmentation_scores(seg["val"])
    write_csv(pd.DataFrame([{"arch": SEGMENTATION_ARCH, **test,
                             **{f"{VAL_PREFIX}{k}": v for k, v in val.items()}}])
              [["arch", *SEGMENTATION_METRICS, *(VAL_PREFIX + m for m in SEGMENTATION_METRICS)]],
              out / "metrics_test.csv")
    summary["test_dice"] = test["dice"]
    return summary


def train(spec: MultitaskSpec, inputs: MultitaskInputs, fold: Fold, out_dir: str | Path,
          training: Training, external: tuple[str, StageInputs] | None = None) -> dict:
    """One fold of model 13: fit (resumable), then its files (the module docstring) and
    ``model.pt``, then the resume state removed. With ``external`` = ``(name, inputs)``
    (HAM10000: ISIC 2019) the saved model also predicts that set's ``test`` split
    (``predictions_<name>.csv``). Returns the fold's summary."""
    from selcn.checkpoints import save_model_file
    from selcn.engine import job_key, predict_split
    from selcn.resume import clear_resume_state

    out_dir = Path(out_dir)
    if external is not None:
        external = (external[0], external[1].only(masks=False, cams=False))
    data = inputs.open()
    names = spec.class_names(data.lesion.index, data.lesion.inputs.index)
    sym_names = spec.symmetry_names(data.symmetry.index, data.symmetry.inputs.index)
    parts = fold_samples(spec, data, fold)
    key = job_key(training, STAGE, {**spec.key(), "fold": fold.index}, inputs.files())
    out_dir.mkdir(parents=True, exist_ok=True)
    train_part = parts["train"]
    tag = f"{spec.tag} {fold}"
    print(f"{tag}: train {len(train_part)} samples ({int((train_part['target'] >= 0).sum())} "
          f"with a class, {int((train_part['symmetry'] >= 0).sum())} with a symmetry label, "
          f"{int((train_part['source'] == SYMMETRY_SOURCE).sum())} symmetry-only), val "
          f"{len(parts['val'])}, test {len(parts['test'])} + symmetry test "
          f"{len(parts['symmetry_test'])}; params {dict(training.params)}", flush=True)
    started = time.perf_counter()
    result = fit_multitask(spec, data, parts, out_dir, training, key)
    seconds = time.perf_counter() - started
    summary = {"best_epoch": int(result.best_epoch), "seconds": round(seconds, 1),
               "n_train": len(train_part)}
    summary.update(_write_outputs(_FoldJob(spec, data, parts, out_dir, training), result.model,
                                  names, sym_names))
    save_model_file(out_dir / "model.pt", result.model,
                    **{**spec.record(), "class_names": list(names),
                       "symmetry_class_names": list(sym_names), "num_classes": len(names),
                       "fold": fold.index, "best_epoch": int(result.best_epoch)})
    if external is not None:
        name, ext = external
        saved = open_model(out_dir / "model.pt", training.device)
        table = predict_split(saved, ext.open(), "test", out_dir / f"predictions_{name}.csv",
                              training.batch_size)
        summary[f"{name}_accuracy"] = float((table["pred"] == table["target"]).mean())
    clear_resume_state(out_dir)
    print(f"{tag}: {seconds:.1f} s, best epoch {result.best_epoch}, "
          + ", ".join(f"{k} {v:.4f}" for k, v in summary.items() if k.endswith(("accuracy",
                                                                                "dice"))),
          flush=True)
    return summary


# ---- the cost -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostSettings:
    """How :func:`measure_cost` measures.

    Attributes:
        input_size: the one input side (px) of every network (the same for the cascade and
            model 13: "at the same input size").
        batch_size: images per call when timing.
        repeats: timed calls per system (after one warm-up call), the median kept.
        threads: torch threads (the CPU's cores used).
        segmentation_arch: the cascade's segmenter; None: ``segmentation.architectures[0]``
            (DeepLabV3+ in the thesis' order and config/paper.yaml).
    """

    input_size: int
    batch_size: int = 4
    repeats: int = 5
    threads: int = 1
    segmentation_arch: str | None = None

    def __post_init__(self) -> None:
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"cost: input_size must be a multiple of 32 (the segmenters' "
                             f"output stride), got {self.input_size}")
        if self.batch_size < 1 or self.repeats < 1 or self.threads < 1:
            raise ValueError("cost: batch_size, repeats and threads must be >= 1")


def _macs(fn, images: torch.Tensor) -> int:
    """Multiply-accumulates of ``fn(images)`` (:class:`torch.utils.flop_counter.
    FlopCounterMode`: FLOPs / 2; the backward of Grad-CAM++ counted too)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(images)
    return int(counter.get_total_flops() // 2)


def _parameters(modules: Sequence[nn.Module]) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _cascade_networks(cfg: Mapping, num_classes: int, settings: CostSettings) -> dict:
    """The cascade's three networks as the config builds them (random weights: the cost does
    not depend on them): segmenter, symmetry network, lesion network with the E-Layer."""
    from selcn.models.lesion import create_lesion_model
    from selcn.models.segmentation import create_segmentation_model
    from selcn.models.symmetry import create_symmetry_model

    les, sym = cfg["lesion"], cfg["symmetry"]
    seg_arch = settings.segmentation_arch or cfg["segmentation"]["architectures"][0]
    return {
        "segmentation": create_segmentation_model(seg_arch,
                                                  cfg["segmentation"]["encoder"]).eval(),
        "symmetry": create_symmetry_model(sym["architecture"], 2).eval(),
        "lesion": create_lesion_model(les["architecture"], num_classes, use_cam=True,
                                      output_stride=int(les.get("output_stride", 32))).eval(),
    }


def _cascade_step(nets: Mapping[str, nn.Module], arch: str, images: torch.Tensor,
                  cam_size: int) -> torch.Tensor:
    """The cascade on a batch, as ``selcn predict`` runs it: mask -> masked symmetry input ->
    symmetry prediction and Grad-CAM++ -> CAM resized to ``cam_size`` -> lesion network."""
    from selcn.cams import gradcam_plus_plus, resize_cams
    from selcn.models.symmetry import cam_target_layer

    with torch.inference_mode():
        mask = (nets["segmentation"](images) > 0).to(images.dtype)
    heat = gradcam_plus_plus(nets["symmetry"], images * mask,
                             cam_target_layer(nets["symmetry"], arch))
    cam = resize_cams(heat, cam_size)[:, None]
    with torch.inference_mode():
        return nets["lesion"](images, cam)


def measure_cost(cfg: Mapping, settings: CostSettings, num_classes: int = 7) -> pd.DataFrame:
    """The cost of the cascade and of model 13 under a validated config, at one input side:
    one row per system ``system, parameters, macs_per_image, images_per_s, input_size,
    batch_size, threads, device`` (``device`` = cpu; images/s the median of
    ``settings.repeats`` calls, the systems timed alternately in the same process so that their
    ratios hold on a shared machine), rows ``cascade``, ``lesion network`` (the cascade's last
    network alone: what any network on its encoder at this side costs at least), ``model 13``,
    then ``ratio`` (cascade / model 13 for parameters and MACs, model 13 / cascade for
    images/s).

    The cascade for one image (``selcn predict``'s): the segmenter, the symmetry network on
    the masked image, its Grad-CAM++ (a forward from the target layer on and a backward to it),
    the lesion network with the E-Layer. Model 13: one forward of the network.
    """
    torch.set_num_threads(int(settings.threads))
    torch.manual_seed(0)
    size, les = int(settings.input_size), cfg["lesion"]
    nets = _cascade_networks(cfg, num_classes, settings)
    spec = network({**cfg, "weights": {**cfg["weights"], "cache_dir": None},
                    "lesion": {**les, "pretrained": False}}, cfg["lesion"]["datasets"][0])
    model13 = spec.build(num_classes).eval()
    images = torch.randn(int(settings.batch_size), 3, size, size)
    one = images[:1]
    arch, cam_size = cfg["symmetry"]["architecture"], int(cfg["symmetry"]["cam_size"])

    def cascade(x):
        return _cascade_step(nets, arch, x, cam_size)

    def lesion(x):
        with torch.inference_mode():
            return nets["lesion"](x, torch.zeros(len(x), 1, cam_size, cam_size))

    def multitask(x):
        with torch.inference_mode():
            return model13(x)

    systems = {"cascade": cascade, "lesion network": lesion, "model 13": multitask}
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for fn in systems.values():                     # warm-up (allocations, oneDNN plans)
        fn(images)
    for _ in range(int(settings.repeats)):          # alternate: a busy moment hits both
        for name, fn in systems.items():
            started = time.perf_counter()
            fn(images)
            rates[name].append(len(images) / (time.perf_counter() - started))
    modules = {"cascade": list(nets.values()), "lesion network": [nets["lesion"]],
               "model 13": [model13]}
    table = pd.DataFrame([{"system": name, "parameters": _parameters(modules[name]),
                           "macs_per_image": _macs(fn, one),
                           "images_per_s": float(np.median(rates[name]))}
                          for name, fn in systems.items()]).set_index("system", drop=False)
    a, b = table.loc["cascade"], table.loc["model 13"]
    ratio = {"system": "ratio", "parameters": a["parameters"] / b["parameters"],
             "macs_per_image": a["macs_per_image"] / b["macs_per_image"],
             "images_per_s": b["images_per_s"] / a["images_per_s"]}
    table = pd.concat([table, pd.DataFrame([ratio])], ignore_index=True)
    return table.assign(input_size=size, batch_size=int(settings.batch_size),
                        threads=int(settings.threads), device="cpu")


def planned_hours(cfg: Mapping, dataset: str, macs_ratio: float) -> dict:
    """Training GPU-hours from the plan's throughput model (:class:`selcn.plan.Estimator`,
    ``plan.throughput``; the jobs' images at most, no early stopping) of

    - the cascade behind **one** CAM model of ``dataset``: one segmentation network
      (``segmentation.architectures[0]``), the masks of the symmetry and the lesion dataset,
      one symmetry variant's folds, its Grad-CAM++ of the datasets the lesion stage sees and
      the lesion network's folds;
    - model 13's folds: per epoch the lesion network's balanced epoch plus the symmetry
      dataset's training share (an upper bound: its images that are lesion images are not
      extra samples), at the rate of ``plan.throughput``'s ``multitask-<arch>`` entry, else at
      the lesion network's rate divided by ``macs_ratio`` (model 13's MACs per image / the lesion
      network's: "scaled by MACs").

    Returns ``{"cascade": h, "model 13": h, "rate": "<source>"}``; None for a total whose rate
    the plan lacks."""
    from selcn.grid import grid as grid_of
    from selcn.plan import Estimator, PlannedJob

    est, g = Estimator.of(cfg), grid_of(cfg)
    les, mt = cfg["lesion"], cfg[STAGE]

    def hours(rule: str, wildcards: dict[str, str]) -> float | None:
        return est.hours(PlannedJob(rule, wildcards=wildcards, resources={"gpu": 1}))

    variant = str(g.cam_variant(g.symmetry_input_masks[-1]))
    parts = [hours("train_segmentation", {"arch": g.seg_archs[0]}),
             hours("predict_masks", {"dataset": g.symmetry_dataset}),
             hours("predict_masks", {"dataset": dataset}),
             *[hours("train_symmetry", {"variant": variant})] * len(g.symmetry_folds),
             hours("symmetry_cams", {}),
             *[hours(f"train_lesion_{dataset}", {"lesion_dataset": dataset})]
             * len(g.lesion_folds)]
    cascade = None if any(h is None for h in parts) else float(sum(parts))
    size, arch = int(les["input_size"]), les["architecture"]
    rate = est.rate(f"{STAGE}-{arch}", size)
    source = f"plan.throughput {STAGE}-{arch}"
    if rate is None and est.rate(arch, size) is not None:
        rate, source = est.rate(arch, size) / float(macs_ratio), f"{arch}'s rate scaled by MACs"
    model13 = None
    if rate is not None:
        n, t, k = est.images[dataset], cfg["data"]["test_fraction"], len(g.lesion_folds)
        lesion_job = est.work(PlannedJob(f"train_lesion_{dataset}",
                                         wildcards={"lesion_dataset": dataset}))
        train = lesion_job.train_images / les["train"]["max_epochs"]     # its balanced epoch
        train += est.images.get(g.symmetry_dataset, 0) * (1 - t) * (k - 1) / k
        val, test = n * (1 - t) / k, n * t
        external = g.external_of.get(dataset)
        infer = (val * mt["train"]["max_epochs"] + test
                 + (est.images.get(external, 0) if external else 0))
        seconds = (est.overhead_s + train * mt["train"]["max_epochs"] / rate
                   + infer / (rate * est.inference_speedup))
        model13 = k * seconds / 3600.0
    return {"cascade": cascade, "model 13": model13, "rate": source if rate else None}


def cost_table(cfg: Mapping, settings: CostSettings, dataset: str) -> pd.DataFrame:
    """The report's cost table (``cost.csv``): :func:`measure_cost` of the config's networks
    at ``settings.input_size`` with the column ``training_gpu_hours`` (:func:`planned_hours`;
    the ``ratio`` row: cascade / model 13; none for the lesion network alone) and
    ``gpu_hours_source``."""
    from selcn.data.labels import classes

    table = measure_cost(cfg, settings, len(classes(dataset)))
    macs = dict(zip(table["system"], table["macs_per_image"]))
    plan = planned_hours(cfg, dataset, macs["model 13"] / macs["lesion network"])
    cascade, model13 = plan["cascade"], plan["model 13"]
    hours = {"cascade": cascade, "model 13": model13,
             "ratio": cascade / model13 if cascade and model13 else None}
    table.insert(3, "training_gpu_hours", [hours.get(s) for s in table["system"]])
    table["gpu_hours_source"] = plan["rate"]
    return table
