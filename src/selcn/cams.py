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

Where the CAM peaks (:func:`cam_regions`, not in the thesis; issue 20): every pixel belongs to
one region of :data:`REGIONS`, by priority ``masked`` (the network's input there was filled:
outside its keep-mask, :func:`selcn.masks.keep_mask`) > ``edge`` (within
``ceil(EDGE_FRACTION * S)`` px of the lesion mask's boundary, inside or outside) > ``lesion``
(the rest of ``M``) > ``vignette`` (the dermatoscope's dark border,
:func:`selcn.masks.vignette_mask`) > ``skin`` (everything else). Per image: ``argmax_region``
(the region of the arg-max the pointing game scores; ``flat`` for a CAM without any positive
value), ``mass_<region>`` (the share of the CAM's mass above the threshold, i.e. the sum of
``cam`` over ``cam > threshold``, in each region; 0 everywhere for an empty activation) and
``area_<region>`` (the share of the image each region covers: where a CAM that knows nothing
would peak). Ruler marks and ink are not a region: no rule found them reliably (PH²'s sample has
none to test one on), so they count as skin (or vignette).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gradcam_plus_plus", "normalize_cams", "resize_cams", "dilate_mask",
           "localisation_metrics", "localisation_baselines", "localisation_table",
           "LOCALISATION_COLUMNS", "POINTING_DILATED", "BASELINE_COLUMNS", "REGIONS",
           "EDGE_FRACTION", "FLAT", "REGION_COLUMNS", "REGION_AREA_COLUMNS", "RegionInputs",
           "region_map", "cam_regions", "region_areas"]

#: columns of the per-image localisation files (docs/contracts.md)
LOCALISATION_COLUMNS: tuple[str, ...] = ("image_id", "iou", "overlap", "pointing")
#: the optional extra column (``cams.pointing_dilated: true``): pointing game on the dilated mask
POINTING_DILATED = "pointing_dilated"
#: the per-image baselines that follow (:func:`localisation_baselines`): the chance levels on the
#: dilated and on the undilated mask, and the pointing game of a CAM peaked at the image centre
BASELINE_COLUMNS: tuple[str, ...] = ("gt_fraction", "gt_fraction_undilated", "centre_in_gt")

#: the regions of an image a CAM's maximum can fall in (:func:`region_map`), by priority
REGIONS: tuple[str, ...] = ("masked", "edge", "lesion", "vignette", "skin")
#: the half-width of the ``edge`` band about the lesion mask's boundary, as a fraction of the
#: image side (``ceil``: 3 px at 128 px, 8 px at 384 px)
EDGE_FRACTION = 0.02
#: ``argmax_region`` of a CAM without any positive value (no maximum to place)
FLAT = "flat"
#: the per-image, per-layer region columns (:func:`cam_regions`)
REGION_COLUMNS: tuple[str, ...] = ("argmax_region",) + tuple(f"mass_{r}" for r in REGIONS)
#: the per-image region areas (:func:`cam_regions`; one set per image, like the baselines)
REGION_AREA_COLUMNS: tuple[str, ...] = tuple(f"area_{r}" for r in REGIONS)

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


def region_map(gt_mask: np.ndarray, *, keep: np.ndarray | None = None,
               vignette: np.ndarray | None = None,
               edge_fraction: float = EDGE_FRACTION) -> np.ndarray:
    """The region of every pixel: int8 ``(H, W)``, the index into :data:`REGIONS`.

    Args:
        gt_mask: ``(H, W)`` the lesion's ground-truth mask (non-zero = lesion).
        keep: bool ``(H, W)``, the network's input keep-mask (False = the input was filled
            there: ``masked``); None = the whole image was kept.
        vignette: bool ``(H, W)``, the image's dark vignette (:func:`selcn.masks.vignette_mask`);
            None = none.
        edge_fraction: the ``edge`` band's half-width, ``ceil(edge_fraction * max(H, W))`` px
            (an elliptic kernel of side ``2 r + 1``: the band is the dilated mask minus the
            eroded one).

    Priority (a pixel in several regions gets the first): masked, edge, lesion, vignette, skin.
    """
    gt = (np.asarray(gt_mask) != 0).astype(np.uint8)
    if gt.ndim != 2:
        raise ValueError(f"region_map: gt_mask must be 2-D, got shape {gt.shape}")
    out = np.full(gt.shape, REGIONS.index("skin"), dtype=np.int8)
    if vignette is not None:
        out[np.asarray(vignette, dtype=bool)] = REGIONS.index("vignette")
    out[gt > 0] = REGIONS.index("lesion")
    r = int(math.ceil(edge_fraction * max(gt.shape)))
    if r >= 1 and gt.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        band = (cv2.dilate(gt, kernel) > 0) & ~(cv2.erode(gt, kernel) > 0)
        out[band] = REGIONS.index("edge")
    if keep is not None:
        out[~np.asarray(keep, dtype=bool)] = REGIONS.index("masked")
    return out


def cam_regions(cam: np.ndarray, regions: np.ndarray, *,
                threshold: float = 0.5) -> dict[str, float | str]:
    """Where one CAM ``(H, W)`` in [0, 1] falls, on a :func:`region_map` ``regions``.

    Returns:
        ``{"argmax_region": the region of the arg-max (first in row-major order on ties, as
        the pointing game), or FLAT for a CAM without a positive value; "mass_<region>": the
        share of ``sum(cam[cam > threshold])`` in each region (all 0 for an empty
        activation)}`` (:data:`REGION_COLUMNS`).
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != regions.shape:
        raise ValueError(f"cam_regions: cam {cam.shape} and regions {regions.shape} differ")
    if float(cam.max()) > 0:
        where = REGIONS[int(regions.reshape(-1)[int(np.argmax(cam))])]
    else:
        where = FLAT
    weight = np.where(cam > threshold, cam, 0.0).astype(np.float64)
    mass = np.bincount(regions.reshape(-1), weights=weight.reshape(-1), minlength=len(REGIONS))
    total = float(mass.sum())
    shares = mass / total if total > 0 else np.zeros(len(REGIONS))
    return {"argmax_region": where, **{f"mass_{r}": float(v) for r, v in zip(REGIONS, shares)}}


def region_areas(regions: np.ndarray) -> dict[str, float]:
    """``{"area_<region>": share of the image}`` of a :func:`region_map`
    (:data:`REGION_AREA_COLUMNS`)."""
    counts = np.bincount(np.asarray(regions).reshape(-1), minlength=len(REGIONS))
    return {f"area_{r}": float(c) / regions.size for r, c in zip(REGIONS, counts)}


@dataclass(frozen=True)
class RegionInputs:
    """What :func:`localisation_table` needs to place each CAM's maximum (:func:`region_map`),
    per localised image (aligned with its ``rows``).

    Attributes:
        keeps: the network's input keep-mask of each image (bool ``(H, W)``; None = the whole
            image kept), :func:`selcn.masks.keep_mask`.
        vignettes: the dark vignette of each image (bool ``(H, W)``),
            :func:`selcn.masks.vignette_mask`.
    """

    keeps: Sequence[np.ndarray | None]
    vignettes: Sequence[np.ndarray]


def localisation_table(cams: np.ndarray, gt_masks: np.ndarray, rows: Sequence[int],
                       image_ids: Sequence[str], cfg: Mapping[str, Any],
                       regions: RegionInputs | None = None) -> pd.DataFrame:
    """:func:`localisation_metrics` of each CAM: the ``image_id,iou,overlap,pointing`` table
    (plus ``pointing_dilated`` when ``cfg["pointing_dilated"]`` is true), then the image's
    baselines :data:`BASELINE_COLUMNS` ``gt_fraction,gt_fraction_undilated,centre_in_gt``
    (:func:`localisation_baselines`; the same dilation as the IoU); with ``regions``, then where
    each CAM falls (:data:`REGION_COLUMNS`, :func:`cam_regions` at ``cfg["threshold"]``) and the
    image's region areas (:data:`REGION_AREA_COLUMNS`).

    Args:
        cams: ``(n, H, W)`` in [0, 1], ``cams[i]`` the CAM of cache row ``rows[i]``.
        gt_masks: ``(N, H, W)`` ground-truth masks of the whole cache (indexed by row).
        image_ids: ``(N,)`` the cache's image ids (indexed by row).
        cfg: the config's ``cams`` block (``threshold``, ``dilation_fraction``,
            ``dilation_iterations``, ``pointing_dilated``).
        regions: the images' input keep-masks and vignettes (:class:`RegionInputs`), or None.
    """
    extra = bool(cfg.get("pointing_dilated", False))
    dilation = dict(dilation_fraction=cfg["dilation_fraction"],
                    iterations=cfg["dilation_iterations"])
    if regions is not None and not (len(regions.keeps) == len(regions.vignettes) == len(rows)):
        raise ValueError(f"localisation_table: {len(rows)} rows but {len(regions.keeps)} keep-"
                         f"masks and {len(regions.vignettes)} vignettes")
    records = []
    for i, row in enumerate(rows):
        gt = np.asarray(gt_masks[row])
        scores = localisation_metrics(cams[i], gt, threshold=cfg["threshold"],
                                      pointing_dilated=extra, **dilation)
        record = {"image_id": str(image_ids[row]), **scores,
                  **localisation_baselines(gt, **dilation)}
        if regions is not None:
            where = region_map(gt, keep=regions.keeps[i], vignette=regions.vignettes[i])
            record.update(cam_regions(cams[i], where, threshold=cfg["threshold"]))
            record.update(region_areas(where))
        records.append(record)
    columns = list(LOCALISATION_COLUMNS) + ([POINTING_DILATED] if extra else []) \
        + list(BASELINE_COLUMNS) \
        + (list(REGION_COLUMNS) + list(REGION_AREA_COLUMNS) if regions is not None else [])
    return pd.DataFrame.from_records(records, columns=columns)
