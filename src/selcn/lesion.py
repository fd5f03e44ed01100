"""The lesion network as a spec of the stage engine (:mod:`selcn.engine`): EfficientNet (timm)
with, for the CAM models, the E-Layer fed with the symmetry network's Grad-CAM++ maps.

A job is one fold of one grid cell (:class:`selcn.grid.Cell`: a lesion dataset and a
:class:`selcn.grid.Model`, i.e. the classifier's input mask ``none | seg | lae`` and the CAM
source ``off | none | seg | lae``). :func:`network` resolves the config for a cell once into a
:class:`LesionNetwork`; the engine trains it (:func:`selcn.engine.train_fold`); :data:`KIND`
reads a ``model.pt`` back for prediction, Grad-CAM++ and localisation.

Files (``docs/contracts.md``, lesion stage), per fold ``k`` under
``results/lesion/{dataset}/{classifier_mask}-{symmetry_mask}/fold{k}/``:

- ``model.pt`` — ``{"arch", "input_size", "output_stride", "classifier_mask",
  "symmetry_mask", "class_names", "fold", "best_epoch", "num_classes", "use_cam", "dropout",
  "mask_fill", "lae_clip", "mask_vignette", "state_dict"}`` (:meth:`LesionNetwork.record`,
  :func:`load_lesion_model`);
- ``history.csv`` — the training core's per-epoch history;
- ``predictions_val.csv``, ``predictions_test.csv`` (and, for HAM10000 models,
  ``predictions_isic2019.csv``, written by the training job itself: :func:`train`) —
  ``image_id,target,pred,prob_<class>...``.

Per cell: ``best_fold.json`` and ``localisation.csv`` (:func:`selcn.engine.localise_best_fold`):
Grad-CAM++ of the best fold, target = predicted class, at its own target layer (E-Layer
output, or the encoder's last feature layer for baselines) and, like for like, at the encoder's
last feature layer for every model (columns ``<metric>_encoder``), against the HAM10000
ground-truth masks on the protocol's localisation split. ISIC 2016 has no ground-truth masks;
its models are localised on the same HAM10000 images (as the thesis' Table 15 does).

Training tables (:func:`fold_tables`): with the policy's ``balance_in_fold``
(``leakage_free``) the training part (every other fold) is balanced inside the fold and the
validation part is the fold's own images, unaugmented; otherwise (``thesis``) the pooled
training + validation images are balanced first and the balanced table (augmented copies
included) is cut into stratified folds, as the thesis does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from selcn import engine
from selcn.checkpoints import load_model_file
from selcn.data.datasets import View
from selcn.data.inputs import StageData, StageInputs, fold_parts, plain_table
from selcn.engine import OWN_LAYER, NetworkKind, SavedClassifier, Training
from selcn.grid import Cell, Fold, Model
from selcn.models.lesion import LesionClassifier, cam_target_layer, create_lesion_model
from selcn.protocol import Protocol, policy
from selcn.selection import FOLD_METRICS

__all__ = ["KIND", "LesionNetwork", "network", "fold_tables", "balanced_table",
           "load_lesion_model", "open_model", "train", "ENCODER_LAYER", "pick_image",
           "figure10_data"]

#: the second Grad-CAM++ layer of every lesion model: the encoder's last feature layer, before
#: the E-Layer (Tables 9, 15: the like-for-like comparison)
ENCODER_LAYER = "encoder"
#: ``model.pt`` fields a lesion model file must hold
_REQUIRED = ("arch", "num_classes", "use_cam", "input_size", "classifier_mask", "symmetry_mask",
             "class_names")


# ---- training tables ------------------------------------------------------------------------
def balanced_table(part: pd.DataFrame, balance: Mapping, seed: int) -> pd.DataFrame:
    """The balanced epoch ``row,transform,target`` of a training part (``row,target``):
    :func:`selcn.data.splits.balance` with ``balance`` = ``{"target_per_class",
    "max_copies"}`` (originals first, then flipped / rotated copies)."""
    from selcn.data.splits import balance as balance_rows

    table = balance_rows(part.reset_index(drop=True), balance["target_per_class"],
                         balance["max_copies"], seed,
                         sampling=balance.get("sampling") or "keep_originals")
    target_of = dict(zip(part["row"], part["target"]))
    return pd.DataFrame({"row": table["row"].to_numpy(np.int64),
                         "transform": table["transform"].to_numpy(np.int64),
                         "target": table["row"].map(target_of).to_numpy(np.int64)})


def fold_tables(splits: pd.DataFrame, fold: Fold, protocol: Protocol,
                balance: Mapping | None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The ``train``, ``val`` and ``test`` tables ``row,transform,target`` of one fold.

    ``train`` is balanced with :func:`balanced_table` (transform 0 identity, 1 h-flip,
    2 v-flip, 3 rot90; ``balance=None``: not balanced, the original images only);
    ``val``/``test`` are unaugmented (transform 0), except where the protocol balances the
    pooled images before cutting the folds (see the module docstring). Rows marked
    ``excluded`` are never used.
    """
    folds, raw = fold_parts(splits, fold)

    def balanced(part: pd.DataFrame) -> pd.DataFrame:
        return plain_table(part) if balance is None else balanced_table(part, balance, seed)

    if protocol.balance_in_fold:
        train, val = balanced(raw["train"]), plain_table(raw["val"])
    else:
        from sklearn.model_selection import StratifiedKFold

        pool = balanced(splits[splits["split"].astype(str).map(Fold.is_name).astype(bool)])
        cv = StratifiedKFold(n_splits=len(folds), shuffle=True, random_state=seed)
        train_at, val_at = list(cv.split(np.zeros(len(pool)), pool["target"]))[
            folds.index(fold.name)]
        train, val = pool.iloc[train_at], pool.iloc[val_at]
    parts = {"train": train.reset_index(drop=True), "val": val.reset_index(drop=True),
             "test": plain_table(raw["test"])}
    for part, table in parts.items():
        if table.empty:
            raise ValueError(f"split table: the {part} part of {fold.name} is empty")
    return parts


# ---- reading a model back -------------------------------------------------------------------
def _output_stride(meta: Mapping) -> int:
    """The encoder's output stride recorded in a ``model.pt`` (32, timm's default, in files
    written before the key existed)."""
    return int(meta.get("output_stride", 32))


def load_lesion_model(path: str | Path,
                      device: str | torch.device = "cpu") -> tuple[LesionClassifier, dict]:
    """Rebuild a lesion ``model.pt``: ``(model in eval mode on device, meta)``."""
    blob = load_model_file(path, what="lesion model", required=_REQUIRED)
    model = create_lesion_model(blob["arch"], blob["num_classes"], use_cam=blob["use_cam"],
                                output_stride=_output_stride(blob),
                                drop_rate=float(blob.get("dropout", 0.2)))
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta["output_stride"] = _output_stride(blob)
    return model.to(device).eval(), meta


def open_model(path: str | Path, device: str | torch.device = "cpu") -> SavedClassifier:
    """A lesion ``model.pt`` for prediction and Grad-CAM++: its own target layer (the E-Layer
    output, or the encoder's last feature layer of a baseline), then :data:`ENCODER_LAYER`."""
    device = torch.device(device)
    model, meta = load_lesion_model(path, device)
    view = View(mask=meta["classifier_mask"], size=int(meta["input_size"]),
                takes_cam=bool(meta["use_cam"]), **View.recorded(meta))
    layers = {OWN_LAYER: cam_target_layer(model), ENCODER_LAYER: cam_target_layer(model,
                                                                                    "encoder")}
    return SavedClassifier(model, meta, view, layers, Path(path), device)


#: the lesion network's kind: its config section, best-fold metric and model reader
KIND = NetworkKind("lesion", FOLD_METRICS["lesion"], open_model)


# ---- the spec -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LesionNetwork:
    """The lesion network of one grid cell, as the config resolves it (:func:`network`).

    Attributes:
        cell: the lesion dataset and the model (input mask, CAM source).
        arch: the timm encoder (``lesion.architecture``).
        input_size: the input side in px (``lesion.input_size``).
        output_stride: the encoder's output stride (``lesion.output_stride``).
        pretrained_cache: the folder of ImageNet weights, or None (random initialisation).
        balance: the training part's balancing ``{"target_per_class", "max_copies",
            "sampling"}`` of the dataset (:func:`selcn.config.balance_of`, the sampling resolved
            by :func:`selcn.data.splits.balance_settings`), or None (not balanced).
        protocol: the evaluation protocol's policy (how the fold tables are cut).
        seed: the config's seed (balancing and the thesis' fold cut).
        classes: the class names in target order; None (the workflow): the dataset's published
            list (:func:`selcn.data.labels.classes`). Either way the cache index is checked
            against them.
        dropout: the dropout before the head (``lesion.dropout.elayer`` for a model with the
            E-Layer, ``.baseline`` without; null: the protocol's default).
        masking: how the input is masked beyond the cell's mask, as :class:`View` keyword
            arguments ``fill`` / ``lae_clip`` / ``vignette`` (``lesion.mask_fill``,
            ``lesion.lae_clip`` (null: the protocol's), ``lesion.mask_vignette``); empty = black,
            centred, vignette kept.
    """

    cell: Cell
    arch: str
    input_size: int
    output_stride: int
    pretrained_cache: str | None
    balance: Mapping | None
    protocol: Protocol
    seed: int
    classes: tuple[str, ...] | None = None
    dropout: float = 0.2
    masking: Mapping = field(default_factory=dict)

    kind: ClassVar[NetworkKind] = KIND

    @property
    def view(self) -> View:
        model = self.cell.model
        return View(mask=model.classifier_mask, size=self.input_size, takes_cam=model.takes_cam,
                    **self.masking)

    @property
    def tag(self) -> str:
        return f"[lesion] {self.cell.model}"

    def build(self, num_classes: int) -> LesionClassifier:
        return create_lesion_model(self.arch, num_classes, use_cam=self.cell.model.takes_cam,
                                   pretrained_cache=self.pretrained_cache,
                                   output_stride=self.output_stride, drop_rate=self.dropout)

    def class_names(self, index: pd.DataFrame, source: str) -> list[str]:
        from selcn.data.tables import class_names_of

        if self.classes is None:
            return class_names_of(index, source=source, dataset=self.cell.dataset)
        names = class_names_of(index, len(self.classes), source=source)
        if names != list(self.classes):
            raise ValueError(f"{source}: classes {names} differ from the network's "
                             f"{list(self.classes)}")
        return names

    def tables(self, splits: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
        return fold_tables(splits, fold, self.protocol, self.balance, self.seed)

    def record(self) -> dict:
        model = self.cell.model
        return {"arch": self.arch, "input_size": self.input_size,
                "output_stride": self.output_stride, "classifier_mask": model.classifier_mask,
                "symmetry_mask": model.cam_source, "use_cam": model.takes_cam,
                "dropout": self.dropout, **self.view.record()}

    def key(self) -> dict:
        model = self.cell.model
        return {"dataset": self.cell.dataset, "classifier_mask": model.classifier_mask,
                "symmetry_mask": model.cam_source, "balance": self.balance,
                "dropout": self.dropout}


def network(cfg: Mapping, cell: Cell) -> LesionNetwork:
    """The lesion network of ``cell`` under a validated config (read once, here)."""
    from selcn.config import balance_of
    from selcn.data.splits import balance_settings
    from selcn.weights import pretrained_cache

    les = cfg["lesion"]
    protocol = policy(cfg["protocol"])
    head = "elayer" if cell.model.takes_cam else "baseline"
    dropout = protocol.setting(f"dropout_{head}", (les.get("dropout") or {}).get(head))
    return LesionNetwork(cell=cell, arch=les["architecture"], input_size=int(les["input_size"]),
                         output_stride=int(les.get("output_stride", 32)),
                         pretrained_cache=pretrained_cache(cfg, "lesion"),
                         balance=balance_settings(balance_of(cfg, cell.dataset), protocol),
                         protocol=protocol, seed=int(cfg["seed"]), dropout=float(dropout),
                         masking={"fill": les.get("mask_fill") or "black",
                                  "lae_clip": str(protocol.setting("lae_clip",
                                                                   les.get("lae_clip"))),
                                  "vignette": bool(les.get("mask_vignette", False))})


# ---- one grid cell x fold -------------------------------------------------------------------
def train(net: LesionNetwork, inputs: StageInputs, fold: Fold, out_dir: str | Path,
          training: Training, external: tuple[str, StageInputs] | None = None) -> dict:
    """Train fold ``fold`` of a grid cell (:func:`selcn.engine.train_fold`): ``model.pt``,
    ``history.csv``, ``predictions_val.csv`` and ``predictions_test.csv`` in ``out_dir``.

    With ``external`` = ``(name, inputs)`` (HAM10000 models: ``("isic2019", ...)``), the same
    job then predicts that set's ``test`` split with the saved model and writes
    ``predictions_<name>.csv``, so no separate job reloads the model. The external inputs are
    checked before the training starts. Returns the fold's summary (plus
    ``<name>_accuracy``).
    """
    view = net.view
    if external is not None:
        name, ext = external
        external = (name, ext.only(masks=view.needs_masks, cams=view.takes_cam))
    summary, _ = engine.train_fold(net, inputs, fold, out_dir, training)
    if external is not None:
        name, ext = external
        out_csv = Path(out_dir) / f"predictions_{name}.csv"
        saved = open_model(Path(out_dir) / "model.pt", training.device)
        table = engine.predict_split(saved, ext.open(), "test", out_csv, training.batch_size)
        summary[f"{name}_accuracy"] = float((table["pred"] == table["target"]).mean())
        print(f"{net.tag} {fold}: {name} {len(table)} images, accuracy "
              f"{summary[f'{name}_accuracy']:.4f} -> {out_csv}", flush=True)
    return summary


# ---- Figure 10 ------------------------------------------------------------------------------
def pick_image(data: StageData, image_id: str | None = None, prefer_label: str = "mel") -> int:
    """Cache row of Figure 10's image: ``image_id`` when given, else the first test image
    (by image id) of class ``prefer_label`` with a non-empty ground-truth mask, else the first
    test image with one."""
    index, splits = data.index, data.splits
    if image_id is not None:
        hits = index.index[index["image_id"] == image_id]
        if not len(hits):
            raise ValueError(f"figure 10: image_id {image_id!r} not in the cache index")
        return int(index["row"].iloc[hits[0]])
    test = splits[splits["split"] == "test"].sort_values("image_id")
    test = test[[bool(np.asarray(data.gt_masks[r]).any()) for r in test["row"]]]
    if test.empty:
        raise ValueError("figure 10: no test image with a non-empty ground-truth mask")
    preferred = test[test["label"] == prefer_label]
    return int((preferred if len(preferred) else test)["row"].iloc[0])


def figure10_data(models: Mapping[Model, SavedClassifier], data: StageData,
                  cams: Mapping[str, np.ndarray], image_id: str | None = None) -> dict:
    """What Figure 10 shows: one HAM10000 test image (:func:`pick_image`) and, per lesion model,
    the input as it sees it, its own Grad-CAM++ (target: its predicted class) and the
    prediction.

    Args:
        models: model -> its best fold's saved model (the file's masks must be the model's).
        data: the HAM10000 cache, split table, ground-truth masks (and predicted masks when a
            model masks its input).
        cams: CAM source -> the symmetry CAMs ``(N, R, R)`` of HAM10000 (models with an E-Layer).

    Returns:
        arrays for ``np.savez`` (no object arrays): ``models`` (names, thesis order),
        ``numbers``, ``image`` uint8 ``(S, S, 3)``, ``gt_mask`` ``(S, S)``, ``image_id``,
        ``label``; per model name ``n``: ``shown_<n>`` uint8 ``(S, S, 3)``, ``cam_<n>`` float32
        ``(S, S)`` in [0, 1], ``pred_<n>`` (class name).
    """
    from dataclasses import replace

    from selcn.engine import grad_cams

    row = pick_image(data, image_id)
    image = np.asarray(data.images[row])
    ordered = sorted(models, key=lambda m: m.number)
    out = {"models": np.array([m.name for m in ordered]),
           "numbers": np.array([m.number for m in ordered]), "image": image,
           "gt_mask": np.asarray(data.gt_masks[row]), "image_id": np.array(data.image_ids[row]),
           "label": np.array(str(data.index["label"].iloc[row]))}
    for model in ordered:
        saved = models[model]
        got = Model(saved.meta["classifier_mask"], saved.meta["symmetry_mask"])
        if got != model:
            raise ValueError(f"{saved.path}: model file is {got}, expected {model}")
        if model.needs_masks and data.masks is None:
            raise ValueError(f"figure 10: model {model.number} masks its input "
                             f"({model.classifier_mask}) but no predicted masks were given")
        if model.takes_cam and model.cam_source not in cams:
            raise ValueError(f"figure 10: model {model.number} needs the "
                             f"'{model.cam_source}' symmetry CAMs")
        view_data = replace(data, cams=cams[model.cam_source] if model.takes_cam else None)
        heat, pred = grad_cams(saved, view_data, np.array([row]), out_size=image.shape[0],
                               batch_size=1)
        shown = np.asarray(saved.view.shown(      # as the network sees it (fill, vignette)
            image, np.asarray(data.masks[row]) if model.needs_masks else None))
        out[f"shown_{model.name}"] = shown.astype(np.uint8)
        out[f"cam_{model.name}"] = heat[0].astype(np.float32)
        out[f"pred_{model.name}"] = np.array(saved.class_names[int(pred[0])])
    return out
