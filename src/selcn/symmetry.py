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
``localisation_ham10000.csv`` (:func:`localise_symmetry`: the CAMs of HAM10000 against its
ground-truth masks; the images are :func:`selcn.classifier.localisation_split`: every image
under ``protocol: thesis``, the test split under ``leakage_free``).

Training data (SymDerm split table): fold ``k`` validates, the other folds train, ``test`` is
held out and rows marked ``excluded`` (SymDerm images of HAM10000 test lesions) are never used.
SymDerm is not balanced by augmentation (the thesis does not); the class imbalance is handled
by the weighted cross-entropy ``w_i = N / (n_i * C)`` of the training part (eq. 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn import classifier
from selcn.atomic import write_csv, write_json
from selcn.checkpoints import load_model_file, save_model_file
from selcn.classifier import INPUT_MASKS, SavedClassifier, best_model_path, plain_table
from selcn.config import train_params
from selcn.grid import SymmetryVariant
from selcn.models.symmetry import cam_target_layer, create_symmetry_model
from selcn.selection import FOLD_METRICS

__all__ = ["MASKS", "parse_variant", "class_names", "read_tables", "fold_tables",
           "fit_symmetry", "save_symmetry_model", "load_symmetry_model", "open_model",
           "train_symmetry_fold", "best_fold_criterion", "select_best_fold", "symmetry_cams",
           "export_cams", "export_cams_datasets", "localise_symmetry", "best_model_path",
           "write_localisation", "write_best_fold"]

#: masking strategies of the symmetry network's input (the ``{mask}`` of a variant)
MASKS: tuple[str, ...] = INPUT_MASKS
#: the validation metric the best fold is chosen on (``protocol: leakage_free``)
VAL_METRIC = FOLD_METRICS["symmetry"]


# ---- variants, classes, tables --------------------------------------------------------------
def parse_variant(variant: str) -> tuple[bool, str]:
    """``"pretrained-seg"`` -> ``(True, "seg")``; ``"scratch-none"`` -> ``(False, "none")``
    (:class:`selcn.grid.SymmetryVariant`)."""
    parsed = SymmetryVariant.parse(variant)
    return parsed.pretrained, parsed.mask


def class_names() -> list[str]:
    """The symmetry classes in target order: ``asymmetric`` (0), ``symmetric`` (1)."""
    from selcn.data.labels import classes

    return list(classes("symderm"))


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
    _, parts = classifier.fold_parts(splits, fold)
    return {part: plain_table(rows) for part, rows in parts.items()}


# ---- the network ----------------------------------------------------------------------------
def fit_symmetry(images: np.ndarray, train: pd.DataFrame, val: pd.DataFrame,
                 out_dir: str | Path, cfg: Mapping, params: Mapping, *, arch: str | None = None,
                 mask: str = "none", pretrained: bool | None = None,
                 masks: np.ndarray | None = None, num_classes: int = 2, progress: bool = True,
                 job_key: Mapping | None = None):
    """Train one symmetry classifier (:func:`selcn.classifier.fit_classifier`).

    Args:
        images: uint8 ``(N, S, S, 3)`` RGB cache; ``train``, ``val``: ``row,transform,target``.
        cfg: validated config (``seed``, ``device``, ``symmetry``, ``weights``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        arch: default ``symmetry.architecture``.
        mask: input masking strategy (none | seg | lae) with ``masks``, uint8 ``(N, S, S)``.
        pretrained: ImageNet weights from ``weights.cache_dir`` (default ``symmetry.pretrained``).
        job_key: the resume key (:func:`selcn.classifier.job_key`).
    """
    classifier.check_inputs(mask, masks)
    return classifier.fit_classifier(_builder(cfg, arch, pretrained, num_classes), images, train,
                                     val, out_dir, cfg, params, num_classes=num_classes,
                                     input_size=cfg["symmetry"]["input_size"], mask=mask,
                                     masks=masks, progress=progress, job_key=job_key)


def _builder(cfg: Mapping, arch: str | None, pretrained: bool | None, num_classes: int):
    """The network factory of ``arch`` (default ``symmetry.architecture``), with ImageNet
    weights from the local cache when ``pretrained`` (default ``symmetry.pretrained``)."""
    from selcn.weights import pretrained_cache

    def build() -> nn.Module:
        return create_symmetry_model(arch or cfg["symmetry"]["architecture"], num_classes,
                                     pretrained_cache=pretrained_cache(cfg, "symmetry",
                                                                       pretrained))

    return build


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


def open_model(path: str | Path, device: str | torch.device = "cpu") -> SavedClassifier:
    """A symmetry ``model.pt`` for prediction and Grad-CAM++ (no CAM input; the target layer
    of its architecture, :func:`selcn.models.symmetry.cam_target_layer`)."""
    model, meta = load_symmetry_model(path, device)
    return SavedClassifier(model, meta, mask=meta["mask"], use_cam=False,
                           layer=cam_target_layer(model, meta["arch"]))


# ---- one variant x fold ---------------------------------------------------------------------
def train_symmetry_fold(*, images_npy: str | Path, index_csv: str | Path,
                        splits_csv: str | Path, out_dir: str | Path, cfg: Mapping, fold: int,
                        mask: str = "none", pretrained: bool | None = None,
                        arch: str | None = None, masks_npy: str | Path | None = None,
                        hpo_best: str | Path | None = None, progress: bool = True) -> dict:
    """Train fold ``fold`` of a variant (or architecture) on the SymDerm cache and write
    ``model.pt``, ``history.csv``, ``predictions_val.csv`` and ``predictions_test.csv`` into
    ``out_dir`` (:func:`selcn.classifier.train_fold`). Returns the fold's summary.
    """
    from selcn.data.tables import class_names_of

    sym = cfg["symmetry"]
    arch = arch or sym["architecture"]
    pretrained = sym["pretrained"] if pretrained is None else pretrained
    masks_npy = masks_npy if mask != "none" else None
    data = classifier.open_stage_data(index_csv, images_npy, splits_csv, masks_npy=masks_npy)
    names = class_names_of(data.index, source=str(index_csv), dataset="symderm")
    classifier.check_inputs(mask, data.masks)
    parts = fold_tables(data.splits, fold)
    params = train_params(cfg, "symmetry", hpo_best)
    key = classifier.job_key(
        cfg, "symmetry", params=params,
        wildcards={"arch": arch, "mask": mask, "pretrained": bool(pretrained), "fold": int(fold)},
        inputs=[images_npy, index_csv, splits_csv, masks_npy, hpo_best])

    def save(model: nn.Module, path: Path, best_epoch: int) -> None:
        save_symmetry_model(model, path, arch=arch, input_size=sym["input_size"], mask=mask,
                            pretrained=bool(pretrained), class_names=names, fold=int(fold),
                            best_epoch=best_epoch)

    return classifier.train_fold(
        stage="symmetry", build_model=_builder(cfg, arch, pretrained, len(names)), data=data,
        parts=parts, out_dir=out_dir, cfg=cfg, params=params, class_names=names,
        input_size=sym["input_size"], save_model=save, key=key, mask=mask, progress=progress,
        tag=f"[symmetry] {arch} {'pretrained' if pretrained else 'scratch'}-{mask} fold{fold}")


# ---- best fold ------------------------------------------------------------------------------
def best_fold_criterion(protocol: str) -> classifier.FoldCriterion:
    """``(split, metric, criterion)``: validation balanced accuracy, or test accuracy under
    ``protocol: thesis`` (the thesis' own choice, test-set selection)."""
    return classifier.best_fold_criterion(protocol, VAL_METRIC)


def select_best_fold(prediction_csvs: Mapping[int, str | Path], *,
                     protocol: str = "leakage_free") -> dict:
    """``best_fold.json`` of a variant: fold -> ``predictions_val.csv``
    (``predictions_test.csv`` under ``protocol: thesis``), scored by
    :func:`best_fold_criterion` (:func:`selcn.classifier.select_best_fold`)."""
    return classifier.select_best_fold(prediction_csvs, best_fold_criterion(protocol))


def write_best_fold(best: Mapping, path: str | Path) -> None:
    """Write ``best_fold.json`` atomically."""
    write_json(best, path)


# ---- Grad-CAM++ -----------------------------------------------------------------------------
def symmetry_cams(model: nn.Module, images: np.ndarray, rows: np.ndarray, *, input_size: int,
                  arch: str, mask: str = "none", masks: np.ndarray | None = None,
                  out_size: int | None = None, batch_size: int = 64, num_workers: int = 0,
                  device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ (target: the predicted class) of ``images[rows]`` as the model sees them
    (masked by ``mask``, resized to ``input_size``) on the target layer of ``arch``
    (:func:`selcn.classifier.grad_cams`).

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    classifier.check_inputs(mask, masks)
    return classifier.grad_cams(model, images, rows, layer=cam_target_layer(model, arch),
                                input_size=input_size, mask=mask, masks=masks,
                                out_size=out_size, batch_size=batch_size,
                                num_workers=num_workers, device=device)


def export_cams(model_pt: str | Path, **inputs) -> dict:
    """Write ``results/cams/{mask}/{dataset}.npy``: float16 ``(N, R, R)``, ``R = cam_size``,
    the Grad-CAM++ of ``model_pt`` for every cache row, the model's own mask applied with
    ``masks_npy`` (the keyword arguments of :func:`selcn.classifier.export_cams`)."""
    return classifier.export_cams(open_model, model_pt, **inputs)


def export_cams_datasets(model_pt: str | Path, datasets, **common) -> list[dict]:
    """:func:`export_cams` of one mask's best model for every dataset the lesion stage sees,
    in one job: ``datasets`` = one mapping per dataset (``images_npy``, ``index_csv``,
    ``out_npy``, ``masks_npy`` for a masked variant), ``common`` = ``cam_size``,
    ``batch_size``, ``num_workers``, ``device``
    (:func:`selcn.classifier.export_cams_datasets`)."""
    return classifier.export_cams_datasets(open_model, model_pt, datasets, **common)


def localise_symmetry(model_pt: str | Path, **inputs) -> pd.DataFrame:
    """Table 7 rows of one symmetry model: ``image_id,split,iou,overlap,pointing,...`` per image
    of the ``split`` (default: the HAM10000 test split; ``None`` = every image, the
    ``protocol: thesis`` choice of :func:`selcn.classifier.localisation_split`);
    the keyword arguments of :func:`selcn.classifier.localise_model`."""
    return classifier.localise_model(open_model, model_pt, **inputs)


def write_localisation(table: pd.DataFrame, path: str | Path) -> None:
    """Write a per-image localisation table atomically."""
    write_csv(table, path)
