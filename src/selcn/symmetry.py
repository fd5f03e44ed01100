"""The symmetry network as a spec of the stage engine (:mod:`selcn.engine`), thesis 4.1.2, 5.2
experiment 2, 5.3.2 (Tables 6a/6b/7, Figure 9).

A **variant** is a Table 6 row ``{pretrained|scratch}-{mask}`` (:class:`selcn.grid
.SymmetryVariant`): ImageNet weights from the local cache or random initialisation, and the
masking strategy (none | seg | lae) applied to the input with the segmentation stage's
predicted masks. The architecture comparison trains ``squeezenet1_0``, ``resnet34``,
``efficientnet_b0`` and ``shufflenet_v2_x1_0`` without a mask. :func:`network` resolves the
config for a variant or a comparison architecture into a :class:`SymmetryNetwork`; the engine
trains it; :data:`KIND` reads a ``model.pt`` back.

Files (``docs/contracts.md``, symmetry stage), per fold ``k`` under
``results/symmetry/{variant}/fold{k}/`` (or ``results/symmetry_arch/{arch}/fold{k}/``):

- ``model.pt`` — ``{"arch", "input_size", "mask", "pretrained", "mask_fill", "lae_clip",
  "mask_vignette", "class_names", "num_classes", "fold", "best_epoch", "state_dict"}``
  (:meth:`SymmetryNetwork.record`, :func:`load_symmetry_model`);
- ``history.csv`` — the training core's per-epoch history;
- ``predictions_val.csv``, ``predictions_test.csv`` — ``image_id,target,pred,prob_asymmetric,
  prob_symmetric`` (:mod:`selcn.predictions`).

Per variant: ``best_fold.json`` (:mod:`selcn.selection`: validation balanced accuracy, or test
accuracy where the protocol selects on the test split), ``results/cams/{mask}/{dataset}.npy``
(:func:`selcn.engine.export_cams` of the best fold: Grad-CAM++ for every cache row, target =
predicted class, float16 ``(N, R, R)``), ``localisation_ham10000.csv`` (:func:`localise`: the
CAMs of HAM10000 against its ground-truth masks on the protocol's localisation split) and
Figure 9's data (:func:`figure9_data`).

Training data (SymDerm split table): fold ``k`` validates, the other folds train, ``test`` is
held out and rows marked ``excluded`` are never used. SymDerm is not balanced by augmentation
(the thesis does not); the class imbalance is handled by the weighted cross-entropy
``w_i = N / (n_i * C)`` of the training part (eq. 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from selcn.checkpoints import load_model_file
from selcn.data.datasets import View
from selcn.data.inputs import StageData, fold_parts, plain_table
from selcn.engine import OWN_LAYER, NetworkKind, SavedClassifier, grad_cams, localise
from selcn.grid import NO_MASK, Fold, SymmetryVariant
from selcn.models.symmetry import cam_target_layer, create_symmetry_model
from selcn.selection import FOLD_METRICS

__all__ = ["KIND", "SymmetryNetwork", "network", "fold_tables", "load_symmetry_model",
           "open_model", "localise_symmetry", "pick_rows", "figure9_data"]

#: ``model.pt`` fields a symmetry model file must hold
_REQUIRED = ("arch", "num_classes", "input_size", "mask", "class_names")


def fold_tables(splits: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
    """The ``train`` / ``val`` / ``test`` tables ``row,transform,target`` of fold ``fold``:
    ``val`` = its rows, ``train`` = every other fold's, ``test`` = ``test``; ``excluded`` rows
    are in none of them; no augmentation (transform 0)."""
    _, parts = fold_parts(splits, fold)
    return {part: plain_table(rows) for part, rows in parts.items()}


# ---- reading a model back -------------------------------------------------------------------
def load_symmetry_model(path: str | Path,
                        device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a symmetry ``model.pt``: ``(model in eval mode on device, meta)``."""
    blob = load_model_file(path, what="symmetry model", required=_REQUIRED)
    model = create_symmetry_model(blob["arch"], blob["num_classes"])
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return model.to(device).eval(), meta


def open_model(path: str | Path, device: str | torch.device = "cpu") -> SavedClassifier:
    """A symmetry ``model.pt`` for prediction and Grad-CAM++ (no CAM input; the target layer of
    its architecture, :func:`selcn.models.symmetry.cam_target_layer`)."""
    device = torch.device(device)
    model, meta = load_symmetry_model(path, device)
    view = View(mask=meta["mask"], size=int(meta["input_size"]), **View.recorded(meta))
    return SavedClassifier(model, meta, view, {OWN_LAYER: cam_target_layer(model, meta["arch"])},
                           Path(path), device)


#: the symmetry network's kind: its config section, best-fold metric and model reader
KIND = NetworkKind("symmetry", FOLD_METRICS["symmetry"], open_model)


# ---- the spec -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SymmetryNetwork:
    """One symmetry network as the config resolves it (:func:`network`).

    Attributes:
        arch: the torchvision architecture (``symmetry.architecture``, or one of the
            comparison's).
        mask: the input masking strategy.
        pretrained: ImageNet-initialised (the weights come from ``pretrained_cache``).
        input_size: the input side in px (``symmetry.input_size``).
        pretrained_cache: the folder of ImageNet weights, or None (random initialisation).
        fill: what the masked-out pixels become (``symmetry.mask_fill``).
        lae_clip: how the LAE box is clipped (``symmetry.lae_clip``; null = the protocol's).
        vignette: the dark vignette is filled too (``symmetry.mask_vignette``).
    """

    arch: str
    mask: str
    pretrained: bool
    input_size: int
    pretrained_cache: str | None
    fill: str = "black"
    lae_clip: str = "centred"
    vignette: bool = False

    kind: ClassVar[NetworkKind] = KIND

    @property
    def view(self) -> View:
        return View(mask=self.mask, size=self.input_size, fill=self.fill,
                    lae_clip=self.lae_clip, vignette=self.vignette)

    @property
    def variant(self) -> SymmetryVariant:
        return SymmetryVariant(self.pretrained, self.mask)

    @property
    def tag(self) -> str:
        return f"[symmetry] {self.arch} {self.variant}"

    def build(self, num_classes: int) -> nn.Module:
        return create_symmetry_model(self.arch, num_classes,
                                     pretrained_cache=self.pretrained_cache)

    def class_names(self, index: pd.DataFrame, source: str) -> list[str]:
        from selcn.data.tables import class_names_of

        return class_names_of(index, source=source, dataset="symderm")

    def tables(self, splits: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
        return fold_tables(splits, fold)

    def record(self) -> dict:
        return {"arch": self.arch, "input_size": self.input_size, "mask": self.mask,
                "pretrained": self.pretrained, **self.view.record()}

    def key(self) -> dict:
        return {"arch": self.arch, "mask": self.mask, "pretrained": self.pretrained}


def network(cfg: Mapping, variant: SymmetryVariant | str | None = None,
            arch: str | None = None) -> SymmetryNetwork:
    """The symmetry network of a Table 6 ``variant`` (``symmetry.architecture``), or of the
    comparison architecture ``arch`` (no mask, ``symmetry.pretrained``), under a validated
    config (read once, here)."""
    from selcn.protocol import policy
    from selcn.weights import pretrained_cache

    sym = cfg["symmetry"]
    if (variant is None) == (arch is None):
        raise ValueError("symmetry network: give a variant or a comparison architecture")
    if variant is not None:
        variant = SymmetryVariant.parse(variant)
        arch = sym["architecture"]
    else:
        variant = SymmetryVariant(bool(sym["pretrained"]), NO_MASK)
    return SymmetryNetwork(arch=arch, mask=variant.mask, pretrained=variant.pretrained,
                           input_size=int(sym["input_size"]),
                           pretrained_cache=pretrained_cache(cfg, "symmetry", variant.pretrained),
                           fill=sym.get("mask_fill") or "black",
                           lae_clip=str(policy(cfg["protocol"]).setting("lae_clip",
                                                                        sym.get("lae_clip"))),
                           vignette=bool(sym.get("mask_vignette", False)))


# ---- Table 7 and Figure 9 -------------------------------------------------------------------
def localise_symmetry(saved: SavedClassifier, data: StageData, split: str | None,
                      cams_cfg: Mapping) -> pd.DataFrame:
    """Table 7 rows of one symmetry model: ``image_id,split,iou,overlap,pointing,...`` per image
    of ``split`` of the HAM10000 split table (None: every image; the protocol's
    ``localisation_split``), :func:`selcn.engine.localise`."""
    return localise(saved, data, split, cams_cfg)


def pick_rows(splits: pd.DataFrame, n_per_class: int = 2, split: str = "test") -> list[int]:
    """Cache rows of Figure 9: the first ``n_per_class`` images (by image id) of each class
    of the ``split`` part, classes in target order."""
    part = splits[splits["split"] == split].sort_values("image_id", kind="stable")
    if part.empty:
        raise ValueError(f"figure 9: no image in split {split!r}")
    rows = []
    for target in sorted(part["target"].unique()):
        rows += part.loc[part["target"] == target, "row"].head(n_per_class).astype(int).tolist()
    return rows


def figure9_data(models: Mapping[str, SavedClassifier], data: StageData,
                 n_per_class: int = 2) -> dict[str, np.ndarray]:
    """What Figure 9 shows: for the first ``n_per_class`` SymDerm test images of each class,
    the input as each masking strategy's best model sees it, its Grad-CAM++ and its prediction.

    Args:
        models: mask -> the best fold's model of that masking strategy (its ``view.mask`` must
            be the mask).
        data: the SymDerm cache with its split table (and predicted masks for seg / lae).

    Returns:
        arrays for ``np.savez`` (no object arrays): ``masks`` (the strategies, in order),
        ``variants`` (their Table 6 rows), ``image_ids``, ``truths`` (class names),
        ``images`` uint8 ``(n, S, S, 3)``; per mask ``m``: ``shown_<m>`` uint8
        ``(n, S, S, 3)``, ``cams_<m>`` float32 ``(n, S, S)`` in [0, 1], ``preds_<m>`` (class
        names).
    """
    rows = pick_rows(data.splits, n_per_class)
    plain = np.stack([np.asarray(data.images[r]) for r in rows])
    variants = [str(SymmetryVariant(bool(saved.meta.get("pretrained", False)), mask))
                for mask, saved in models.items()]
    out = {"masks": np.array(list(models)), "variants": np.array(variants),
           "image_ids": data.image_ids[rows].astype(str),
           "truths": data.index["label"].to_numpy()[rows].astype(str), "images": plain}
    for mask, saved in models.items():
        if saved.view.mask != mask:
            raise ValueError(f"{saved.path}: the best model uses mask {saved.view.mask!r}, "
                             f"expected {mask!r}")
        cams, preds = grad_cams(saved, data, np.asarray(rows), out_size=data.images.shape[1])
        masks = data.masks if saved.view.needs_masks else None
        out[f"shown_{mask}"] = np.stack([    # masked as the network sees it (fill, vignette)
            np.asarray(saved.view.shown(p, None if masks is None else np.asarray(masks[r])))
            for p, r in zip(plain, rows)]).astype(np.uint8)
        out[f"cams_{mask}"] = cams.astype(np.float32)
        out[f"preds_{mask}"] = np.array([saved.class_names[k] for k in preds])
    return out

