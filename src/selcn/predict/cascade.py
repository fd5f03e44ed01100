"""The SE-LCN cascade on one batch of new images, exactly as in training (no per-image call).

1. decode (JPEG / PNG / BMP, any size; grey -> 3 channels, RGBA -> RGB, alpha dropped),
   hair removal at the original resolution with the bundle's filter (:func:`hair_filter`) and
   resize to the cache side ``S`` (:func:`read_input`,
   :func:`selcn.data.preprocess.preprocess_image`);
2. segmentation -> binary lesion mask at ``S`` (:func:`selcn.segmentation.predict_masks`);
3. the symmetry network's input masked by its mask (none / seg / LAE box, filled and clipped
   as its ``model.pt`` records: :meth:`selcn.data.datasets.View.recorded`;
   :class:`selcn.data.datasets.CachedImageDataset`, the training datasets), its prediction and
   Grad-CAM++ (:func:`selcn.cams.gradcam_plus_plus`) resized to the CAM side ``R`` and stored as
   float16, as the workflow's CAM files are;
4. the lesion network's input masked by the classifier mask, each fold model's softmax with the
   CAM fed to the E-Layer; the prediction is the **mean probability of the K fold models**,
   their disagreement the std (over folds) of the predicted class' probability;
5. the lesion network's Grad-CAM++ for the ensemble's class (mean of the folds' CAMs).

A model 13 bundle (:attr:`selcn.export.Bundle.multitask`) runs **one forward pass per fold
model and batch** instead (:func:`run_multitask`): the mask, the symmetry prediction, its CAM,
the class and the lesion CAM come out of the same pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from selcn.cams import gradcam_plus_plus, resize_cams
from selcn.data.datasets import CachedImageDataset, View
from selcn.data.preprocess import load_image, preprocess_image
from selcn.data.readers import DataFormatError
from selcn.export import Bundle
from selcn.models.lesion import cam_target_layer as lesion_target_layer
from selcn.models.symmetry import cam_target_layer as symmetry_target_layer
from selcn.segmentation import predict_masks

__all__ = ["IMAGE_SUFFIXES", "MIN_SIDE", "CascadeOutput", "InputScan", "scan_inputs",
           "list_inputs", "read_input", "hair_filter", "network_view", "run_cascade",
           "run_multitask"]

#: the file name endings (any case) a folder's images have; other files in a folder are skipped
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
#: images with a side below this (px) are reported, not classified
MIN_SIDE = 32


# ---- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputScan:
    """What :func:`scan_inputs` found.

    Attributes:
        images: the files to predict, in order, each once.
        skipped: files in the folders that are not images (by their ending), in order.
        subfolders: folders met without ``recursive`` that hold sub-folders (not searched).
    """

    images: list[Path]
    skipped: list[Path]
    subfolders: list[Path]


def _visible(path: Path, root: Path) -> bool:
    """No part of ``path`` below ``root`` is hidden (``.name``)."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def scan_inputs(inputs: Iterable[str | Path], *, recursive: bool = False,
                exclude: Iterable[str | Path] = ()) -> InputScan:
    """The files to predict: each file as given (whatever its ending: a file the user names is
    predicted or reported, never skipped; a path that does not exist is kept and reported as
    not found), and each folder's image files (:data:`IMAGE_SUFFIXES`, any case; not hidden;
    sorted by path), with ``recursive`` also those of its sub-folders. Files of a folder with
    another ending are :attr:`InputScan.skipped`. A file given twice (the same real path) is
    predicted once. Folders in ``exclude`` (e.g. the output folder) are never searched."""
    excluded = [Path(p).resolve() for p in exclude]
    images: list[Path] = []
    skipped: list[Path] = []
    subfolders: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            images.append(path)

    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            add(path)
            continue
        found = path.rglob("*") if recursive else path.iterdir()
        files = []
        for p in found:
            if not _visible(p, path) or any(p.resolve().is_relative_to(e) for e in excluded):
                continue
            if p.is_file():
                files.append(p)
            elif p.is_dir() and not recursive and path not in subfolders:
                subfolders.append(path)
        for p in sorted(files):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                add(p)
            elif p not in skipped:
                skipped.append(p)
    skipped = [p for p in skipped if p.resolve() not in seen]    # also named explicitly
    return InputScan(images=images, skipped=skipped, subfolders=subfolders)


def list_inputs(inputs: Iterable[str | Path], *, recursive: bool = False) -> list[Path]:
    """The image files to predict (:attr:`InputScan.images` of :func:`scan_inputs`)."""
    return scan_inputs(inputs, recursive=recursive).images


def hair_filter(preprocessing: dict) -> str:
    """The hair filter a bundle's ``preprocessing`` says its images were cached with:
    ``hair_filter`` (:data:`selcn.data.preprocess.HAIR_METHODS`), or, in a bundle written
    before filters had names, ``thesis`` / ``off`` from ``hair_removal``."""
    if preprocessing.get("hair_filter"):
        return str(preprocessing["hair_filter"])
    return "thesis" if preprocessing.get("hair_removal") else "off"


def read_input(path: str | Path, size: int, hair_removal: bool | str,
               min_side: int = MIN_SIDE) -> np.ndarray:
    """One file -> uint8 ``(size, size, 3)`` RGB, preprocessed as the cache was
    (``hair_removal``: the filter, :func:`hair_filter`; ``True`` / ``False`` = ``thesis`` /
    ``off``).

    Raises:
        DataFormatError: missing, unreadable, truncated or non-image file, or an image with a
            side below ``min_side`` px; the message names the file.
    """
    image = load_image(path)            # grey / palette / RGBA -> RGB (Pillow's convert)
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise DataFormatError(f"{path}: image too small ({w} x {h} px; at least {min_side} px "
                              "per side)")
    return preprocess_image(image, size, hair_removal)


# ---- the cascade on one batch ---------------------------------------------------------------
@dataclass
class CascadeOutput:
    """What the cascade computed for a batch of ``B`` images (numpy, on the CPU).

    Attributes:
        masks: uint8 ``(B, S, S)`` predicted lesion masks.
        symmetry_input, lesion_input: uint8 ``(B, S, S, 3)`` the images as each network saw
            them (masked), before resizing to its input size.
        symmetry_probs: float32 ``(B, 2)`` or None (no symmetry network).
        symmetry_cams: float32 ``(B, R, R)`` in [0, 1], the CAMs fed to the E-Layer, or None.
        fold_probs: float32 ``(K, B, C)`` softmax of each fold model.
        probs: float32 ``(B, C)`` their mean.
        lesion_cams: float32 ``(B, h, w)`` in [0, 1] Grad-CAM++ of the lesion network for the
            ensemble's class (mean over folds), or None when not asked for.
    """

    masks: np.ndarray
    symmetry_input: np.ndarray
    lesion_input: np.ndarray
    symmetry_probs: np.ndarray | None
    symmetry_cams: np.ndarray | None
    fold_probs: np.ndarray
    probs: np.ndarray
    lesion_cams: np.ndarray | None


def network_view(meta: dict, mask: str, size: int) -> View:
    """How a network of a bundle sees an image: its input ``mask`` and ``size`` and the masking
    its ``model.pt`` fields ``meta`` record (fill, LAE clipping, vignette;
    :meth:`View.recorded`: files written before they existed mask as every network did then)."""
    return View(mask=mask, size=int(size), **View.recorded(meta))


def _network_input(images: np.ndarray, masks: np.ndarray, view: View,
                   cams: np.ndarray | None, device: torch.device):
    """Masked, resized, normalised batch exactly as the training datasets build it, and the
    masked images ``(B, S, S, 3)`` before resizing (:meth:`View.shown`)."""
    dataset = CachedImageDataset(images, np.arange(len(images)),
                                 masks=masks if view.needs_masks else None, cams=cams, view=view)
    items = [dataset[i] for i in range(len(dataset))]
    image = torch.stack([it["image"] for it in items]).to(device)
    cam = torch.stack([it["cam"] for it in items]).to(device) if cams is not None else None
    masked = (np.stack([view.shown(im, m if view.needs_masks else None)
                        for im, m in zip(images, masks)]) if view.masks_input else images)
    return image, cam, masked


def _forward(model: torch.nn.Module, image: torch.Tensor, cam: torch.Tensor | None) -> torch.Tensor:
    """Softmax of ``model`` (bfloat16 autocast on CUDA, as the training core predicts)."""
    cuda = image.device.type == "cuda"
    with torch.inference_mode(), torch.autocast(image.device.type, dtype=torch.bfloat16,
                                                enabled=cuda):
        logits = model(image, cam) if cam is not None else model(image)
    return torch.softmax(logits.float(), dim=1)


def run_cascade(bundle: Bundle, images: np.ndarray, *, cams: bool = True) -> CascadeOutput:
    """The cascade on preprocessed images ``uint8 (B, S, S, 3)`` (see the module docstring).

    ``cams``: also compute the lesion network's Grad-CAM++ (for the panels). A model 13 bundle
    runs :func:`run_multitask`.
    """
    if bundle.multitask:
        return run_multitask(bundle, images, cams=cams)
    pre = bundle.preprocessing
    model_cfg = bundle.manifest["model"]
    device = bundle.device
    images = np.ascontiguousarray(images)
    seg_model, seg_meta = bundle.segmentation
    masks = predict_masks(seg_model, images, input_size=seg_meta["input_size"],
                          threshold=seg_meta["threshold"], batch_size=max(1, len(images)),
                          device=device)
    sym_probs = sym_cams = None
    sym_input = images
    if bundle.symmetry is not None:
        sym_model, sym_meta = bundle.symmetry
        x, _, sym_input = _network_input(
            images, masks, network_view(sym_meta, sym_meta["mask"], sym_meta["input_size"]),
            None, device)
        heat, logits = gradcam_plus_plus(sym_model, x, symmetry_target_layer(sym_model,
                                                                             sym_meta["arch"]),
                                         return_logits=True)
        sym_probs = torch.softmax(logits.float(), 1).cpu().numpy()
        # the workflow stores CAMs as float16 (results/cams/*.npy): the E-Layer saw those
        sym_cams = resize_cams(heat, int(pre["cam_size"])).cpu().numpy().astype(np.float16)
    lesion_view = network_view(bundle.lesion[0][1], model_cfg["classifier_mask"],
                               int(pre["lesion_input_size"]))
    x, cam_in, lesion_input = _network_input(images, masks, lesion_view, sym_cams, device)
    fold_probs = torch.stack([_forward(m, x, cam_in) for m, _ in bundle.lesion])
    probs = fold_probs.mean(0)
    lesion_cams = None
    if cams:
        target = probs.argmax(1)
        heats = [gradcam_plus_plus(m, x, lesion_target_layer(m), targets=target, cam=cam_in)
                 for m, _ in bundle.lesion]
        lesion_cams = torch.stack(heats).mean(0)
        lesion_cams = (lesion_cams / lesion_cams.flatten(1).amax(1).clamp_min(1e-7)[:, None, None])
        lesion_cams = lesion_cams.cpu().numpy().astype(np.float32)
    return CascadeOutput(
        masks=masks, symmetry_input=np.asarray(sym_input), lesion_input=np.asarray(lesion_input),
        symmetry_probs=sym_probs,
        symmetry_cams=None if sym_cams is None else sym_cams.astype(np.float32),
        fold_probs=fold_probs.cpu().numpy(), probs=probs.cpu().numpy(), lesion_cams=lesion_cams)



def run_multitask(bundle: Bundle, images: np.ndarray, *, cams: bool = True) -> CascadeOutput:
    """Model 13 on preprocessed images ``uint8 (B, S, S, 3)``: per fold network **one forward
    pass** of the batch (the whole image at its input side) gives the class probabilities, the
    symmetry probabilities, the symmetry head's CAM, the mask logits and the lesion head's input
    features. The folds are averaged (probabilities, CAMs, mask probabilities; the mask is
    thresholded at the bundle's ``segmentation_threshold`` after bilinear upsampling to ``S``).
    With ``cams`` the lesion CAM is the lesion head's class activation map of the ensemble's
    class (mean over the folds; for a pooled linear head Grad-CAM's channel weights are the
    head's own, so no backward pass is needed), scaled to a maximum of 1."""
    import torch.nn.functional as F

    from selcn.models.multitask import class_activation_map

    pre = bundle.preprocessing
    images = np.ascontiguousarray(images)
    x, _, _ = _network_input(images, np.zeros(images.shape[:3], np.uint8),
                             View(size=int(pre["lesion_input_size"])), None, bundle.device)
    outs, features = [], []
    for network, _ in bundle.multitask:
        handle = network.lesion_features.register_forward_hook(
            lambda module, args, output: features.append(output))
        try:
            with torch.inference_mode():
                outs.append(network(x))
        finally:
            handle.remove()
    fold_probs = torch.stack([torch.softmax(o["logits"].float(), 1) for o in outs])
    probs = fold_probs.mean(0)
    side = images.shape[1]
    with torch.inference_mode():
        mask_prob = torch.stack([torch.sigmoid(F.interpolate(
            o["mask"].float(), size=(side, side), mode="bilinear", align_corners=False))
            for o in outs]).mean(0)[:, 0]
        sym_cams = torch.stack([o["cam"].float()[:, 0] for o in outs]).mean(0)
        lesion_cams = None
        if cams:
            target = probs.argmax(1)
            heat = torch.stack([class_activation_map(f.float(), n.head.weight.float(),
                                                     target).clamp_min(0)
                                for f, (n, _) in zip(features, bundle.multitask)]).mean(0)
            heat = heat / heat.flatten(1).amax(1).clamp_min(1e-7)[:, None, None]
            lesion_cams = heat.cpu().numpy().astype(np.float32)
    masks = (mask_prob > float(pre["segmentation_threshold"])).to(torch.uint8).cpu().numpy()
    return CascadeOutput(
        masks=masks, symmetry_input=images, lesion_input=images,
        symmetry_probs=torch.stack([torch.softmax(o["symmetry"].float(), 1)
                                    for o in outs]).mean(0).cpu().numpy(),
        symmetry_cams=resize_cams(sym_cams, side).cpu().numpy().astype(np.float32),
        fold_probs=fold_probs.cpu().numpy(), probs=probs.cpu().numpy(), lesion_cams=lesion_cams)
