"""Batched Grad-CAM++ and the CAM localisation metrics (thesis 4.1.2, 5.3.2).

Grad-CAM++ (Chattopadhay et al. 2018, eq. 19), as ``pytorch_grad_cam.GradCAMPlusPlus``
computes it, for a whole batch at once:

- **one forward per batch**; the graph is recorded only from the target layer on (the part
  before it runs under ``no_grad``) and ``torch.autograd.grad`` differentiates the summed
  target scores down to the target layer's output only — no parameter gradients, no backward
  through the encoder;
- everything stays in torch on the model's device (no per-image numpy / OpenCV round trip);
- the CAM of each image is min-max normalised **per image** (never over the batch).

With ``A`` the target layer's output ``(B, K, h, w)`` and ``g = d score_c / d A``::

    alpha = g^2 / (2 g^2 + sum_ij(A) g^3 + eps)       (0 where g == 0)
    w_k   = sum_ij relu(g) * alpha
    cam   = relu(sum_k w_k A_k)  ->  (cam - min) / (max - min + 1e-7)

Localisation (:func:`localisation_metrics`), as the thesis' ``evaluate_cam.py``: activation
``A`` = CAM > 0.5; ``G`` = the lesion mask dilated ``iterations`` times (OpenCV) with a ones
kernel of side ``ceil(0.05 * S)``, ``S`` = the image side; IoU = ``|A ∩ G| / |A ∪ G|`` and
overlap = ``|A ∩ G| / |A|`` on the **dilated** mask; the pointing game (CAM arg-max inside
the lesion) on the **undilated** mask (the thesis calls ``pointing_game(cam, mask)`` before
``increase_segmented_region``). Optionally (``cams.pointing_dilated``), the pointing game on
the dilated mask as an extra column ``pointing_dilated`` (not in the thesis).

Baselines of each image (:func:`localisation_baselines`, not in the thesis), so a table can say
what a CAM that knows nothing scores: ``gt_fraction`` = ``|G| / (H W)`` (the IoU-region's share of
the image: a uniformly random point lands in ``G`` with this probability), ``gt_fraction_undilated``
= ``|M| / (H W)`` (the chance level of the pointing game, which is scored on ``M``) and
``centre_in_gt`` = 1 when the centre pixel ``(H // 2, W // 2)`` lies in ``M`` (the pointing game
of a CAM that always peaks at the image centre).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gradcam_plus_plus", "normalize_cams", "resize_cams", "dilate_mask",
           "localisation_metrics", "localisation_baselines", "localisation_table",
           "LOCALISATION_COLUMNS", "POINTING_DILATED", "BASELINE_COLUMNS"]

#: columns of the per-image localisation files (docs/contracts.md)
LOCALISATION_COLUMNS: tuple[str, ...] = ("image_id", "iou", "overlap", "pointing")
#: the optional extra column (``cams.pointing_dilated: true``): pointing game on the dilated mask
POINTING_DILATED = "pointing_dilated"
#: the per-image baselines that follow (:func:`localisation_baselines`): the chance levels on the
#: dilated and on the undilated mask, and the pointing game of a CAM peaked at the image centre
BASELINE_COLUMNS: tuple[str, ...] = ("gt_fraction", "gt_fraction_undilated", "centre_in_gt")

_NORM_EPS = 1e-7   # pytorch_grad_cam.utils.image.scale_cam_image


def normalize_cams(cams: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of ``cams`` ``(B, h, w)`` into [0, 1] on its own.

    ``(cam - min) / (max - min + 1e-7)`` (the library's formula); a constant map becomes 0.
    """
    flat = cams.reshape(cams.shape[0], -1)
    lo = flat.amin(1).reshape(-1, *([1] * (cams.ndim - 1)))
    shifted = cams - lo
    hi = shifted.reshape(cams.shape[0], -1).amax(1).reshape(lo.shape)
    return shifted / (hi + _NORM_EPS)


def gradcam_plus_plus(model: nn.Module, images: torch.Tensor, target_layer: nn.Module,
                      targets: torch.Tensor | Sequence[int] | None = None,
                      cam: torch.Tensor | None = None, *, eps: float = 1e-6,
                      return_logits: bool = False, **forward_kwargs: Any):
    """Grad-CAM++ of a batch.

    Args:
        model: a classifier returning logits ``(B, C)``; called ``model(images)``, or
            ``model(images, cam)`` when ``cam`` is given, plus ``forward_kwargs``. It is put in
            eval mode for the call (its mode is restored afterwards).
        images: float ``(B, 3, H, W)`` on the model's device.
        target_layer: a sub-module of ``model`` called exactly once per forward; its output
            ``(B, K, h, w)`` is explained. Later in-place operations on that output are safe
            (the model continues with a copy).
        targets: class index per image (``(B,)`` tensor or sequence); None = the predicted class.
        cam: optional second input of the model (e.g. the lesion network's symmetry CAM).
        eps: the ``alpha`` denominator's epsilon (the library's 1e-6).
        return_logits: also return the logits (no second forward needed for predictions).

    Returns:
        float32 ``(B, h, w)`` CAMs at the target layer's resolution, each min-max normalised
        into [0, 1], detached, on the images' device; with ``return_logits`` the tuple
        ``(cams, logits (B, C))``.
    """
    captured: list[torch.Tensor] = []

    def hook(module, args, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise TypeError(f"gradcam_plus_plus: the target layer {type(module).__name__} must "
                            f"output a (B, K, h, w) tensor, got {type(output).__name__}")
        torch.set_grad_enabled(True)          # record the graph from here on only
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()                   # in-place ops downstream must not touch the leaf

    was_training = model.training
    model.eval()
    handle = target_layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(images, cam, **forward_kwargs) if cam is not None else \
                model(images, **forward_kwargs)
    finally:
        handle.remove()
        model.train(was_training)
    if len(captured) != 1:
        raise ValueError(f"gradcam_plus_plus: the target layer ran {len(captured)} times in one "
                         "forward (expected exactly once; is it a sub-module of the model?)")
    activations = captured[0]
    if logits.ndim != 2 or logits.shape[0] != images.shape[0]:
        raise ValueError(f"gradcam_plus_plus: the model must return logits (B, C), got "
                         f"{tuple(logits.shape)}")
    if targets is None:
        target = logits.detach().argmax(1)
    else:
        target = torch.as_tensor(targets, dtype=torch.long, device=logits.device).reshape(-1)
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"gradcam_plus_plus: {target.shape[0]} targets for "
                             f"{logits.shape[0]} images")
    score = logits.gather(1, target[:, None]).sum()
    (grads,) = torch.autograd.grad(score, activations)

    acts = activations.detach().float()
    grads = grads.float()
    g2 = grads * grads
    g3 = g2 * grads
    sum_acts = acts.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + sum_acts * g3 + eps)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    weights = (grads.clamp_min(0) * alpha).sum(dim=(2, 3), keepdim=True)
    cams = (weights * acts).sum(1).clamp_min(0)
    cams = normalize_cams(cams)
    if return_logits:
        return cams, logits.detach()
    return cams


def resize_cams(cams, size: int | tuple[int, int], normalize: bool = True):
    """Bilinear resize of CAMs ``(B, h, w)`` (or one ``(h, w)``) to ``size`` (side or (H, W)).

    ``align_corners=False`` — the sampling of ``cv2.resize(..., INTER_LINEAR)``, which the
    library uses. With ``normalize`` each map is min-max normalised again afterwards (bilinear
    sampling need not hit the original extremes). numpy in -> numpy out (float32), torch in ->
    torch out.
    """
    is_numpy = isinstance(cams, np.ndarray)
    tensor = torch.from_numpy(np.asarray(cams, dtype=np.float32)) if is_numpy else cams
    single = tensor.ndim == 2
    if single:
        tensor = tensor[None]
    if tensor.ndim != 3:
        raise ValueError(f"resize_cams: expected (B, h, w) or (h, w), got {tuple(tensor.shape)}")
    out_hw = (size, size) if isinstance(size, int) else tuple(size)
    out = tensor.float()
    if tuple(out.shape[-2:]) != out_hw:
        out = F.interpolate(out[:, None], size=out_hw, mode="bilinear", align_corners=False)[:, 0]
    if normalize:
        out = normalize_cams(out)
    if single:
        out = out[0]
    return out.cpu().numpy() if is_numpy else out


def dilate_mask(mask: np.ndarray, *, dilation_fraction: float = 0.05,
                iterations: int = 2) -> np.ndarray:
    """uint8 ``(H, W)`` {0, 1}: ``mask > 0`` dilated ``iterations`` times with a ones kernel of
    side ``ceil(dilation_fraction * S)``, ``S = max(H, W)`` (``cv2.dilate``). A kernel side
    below 2 or zero iterations leave the mask as it is."""
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    side = int(math.ceil(dilation_fraction * max(binary.shape)))
    if side < 2 or iterations < 1:
        return binary
    return cv2.dilate(binary, np.ones((side, side), np.uint8), iterations=int(iterations))


def localisation_metrics(cam: np.ndarray, gt_mask: np.ndarray, *, threshold: float = 0.5,
                         dilation_fraction: float = 0.05, iterations: int = 2,
                         pointing_dilated: bool = False) -> dict[str, float]:
    """How well one CAM ``(H, W)`` in [0, 1] points at the lesion ``gt_mask`` ``(H, W)``.

    ``A`` = activation points ``cam > threshold``; ``G`` = :func:`dilate_mask` of the mask;
    ``M`` = the undilated mask ``gt_mask > 0``.

    Returns:
        ``{"iou": |A ∩ G| / |A ∪ G|, "overlap": |A ∩ G| / |A|, "pointing": 1.0 or 0.0}``
        and, with ``pointing_dilated``, ``"pointing_dilated"``: the pointing game on ``G``.
        ``pointing`` = 1 when the CAM's arg-max (first in row-major order on ties) lies in
        ``M`` (the thesis' definition). Conventions for the degenerate cases: an **empty
        activation** (no pixel above the threshold) has overlap 0 (and IoU 0); an empty
        union (no activation, no lesion) has IoU 0; a CAM without any positive value
        scores 0 in the pointing game (nothing to point with).
    """
    cam = np.asarray(cam, dtype=np.float32)
    gt = np.asarray(gt_mask)
    if cam.ndim != 2 or cam.shape != gt.shape:
        raise ValueError(f"localisation_metrics: cam {cam.shape} and gt_mask {gt.shape} must be "
                         "2-D of the same shape (resize the CAM to the image first)")
    active = cam > threshold
    region = dilate_mask(gt, dilation_fraction=dilation_fraction, iterations=iterations) > 0
    inter = int(np.count_nonzero(active & region))
    union = int(np.count_nonzero(active | region))
    n_active = int(np.count_nonzero(active))
    iou = inter / union if union else 0.0
    overlap = inter / n_active if n_active else 0.0
    if float(cam.max()) > 0:
        r, c = np.unravel_index(int(np.argmax(cam)), cam.shape)
        pointing, pointing_dil = float(gt[r, c] > 0), float(bool(region[r, c]))
    else:
        pointing = pointing_dil = 0.0
    out = {"iou": float(iou), "overlap": float(overlap), "pointing": pointing}
    if pointing_dilated:
        out[POINTING_DILATED] = pointing_dil
    return out


def localisation_baselines(gt_mask: np.ndarray, *, dilation_fraction: float = 0.05,
                           iterations: int = 2) -> dict[str, float]:
    """What a CAM that ignores the image scores against the lesion ``gt_mask`` ``(H, W)``.

    ``G`` = :func:`dilate_mask` of the mask (as in :func:`localisation_metrics`), ``M`` =
    ``gt_mask > 0``.

    Returns:
        ``{"gt_fraction": |G| / (H W), "gt_fraction_undilated": |M| / (H W),
        "centre_in_gt": 1.0 or 0.0}``: the fractions of the image the dilated and the
        undilated mask cover (the probability that a uniformly random point lands in them:
        the chance levels of a pointing game on ``G`` and on ``M``), and whether the centre
        pixel ``(H // 2, W // 2)`` (row, column) lies in ``M`` (the pointing game of a CAM that
        always peaks at the image centre).
    """
    gt = np.asarray(gt_mask)
    if gt.ndim != 2 or gt.size == 0:
        raise ValueError(f"localisation_baselines: gt_mask must be a non-empty 2-D mask, "
                         f"got shape {gt.shape}")
    region = dilate_mask(gt, dilation_fraction=dilation_fraction, iterations=iterations)
    h, w = gt.shape
    return {"gt_fraction": float(np.count_nonzero(region)) / gt.size,
            "gt_fraction_undilated": float(np.count_nonzero(gt > 0)) / gt.size,
            "centre_in_gt": float(gt[h // 2, w // 2] > 0)}


def localisation_table(cams: np.ndarray, gt_masks: np.ndarray, rows: Sequence[int],
                       image_ids: Sequence[str], cfg: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`localisation_metrics` of each CAM: the ``image_id,iou,overlap,pointing`` table
    (plus ``pointing_dilated`` when ``cfg["pointing_dilated"]`` is true), then the image's
    baselines :data:`BASELINE_COLUMNS` ``gt_fraction,gt_fraction_undilated,centre_in_gt``
    (:func:`localisation_baselines`; the same dilation as the IoU).

    Args:
        cams: ``(n, H, W)`` in [0, 1], ``cams[i]`` the CAM of cache row ``rows[i]``.
        gt_masks: ``(N, H, W)`` ground-truth masks of the whole cache (indexed by row).
        image_ids: ``(N,)`` the cache's image ids (indexed by row).
        cfg: the config's ``cams`` block (``threshold``, ``dilation_fraction``,
            ``dilation_iterations``, ``pointing_dilated``).
    """
    extra = bool(cfg.get("pointing_dilated", False))
    dilation = dict(dilation_fraction=cfg["dilation_fraction"],
                    iterations=cfg["dilation_iterations"])
    records = []
    for i, row in enumerate(rows):
        gt = np.asarray(gt_masks[row])
        scores = localisation_metrics(cams[i], gt, threshold=cfg["threshold"],
                                      pointing_dilated=extra, **dilation)
        records.append({"image_id": str(image_ids[row]), **scores,
                        **localisation_baselines(gt, **dilation)})
    columns = list(LOCALISATION_COLUMNS) + ([POINTING_DILATED] if extra else []) \
        + list(BASELINE_COLUMNS)
    return pd.DataFrame.from_records(records, columns=columns)
