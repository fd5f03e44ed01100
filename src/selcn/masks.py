"""Masking strategies of the cascade: ``none``, ``seg`` (image x mask) and ``lae``.

``lae`` (lesion area extraction) keeps the bounding box of the largest connected component of
the predicted lesion mask, grown to ``scale`` (1.4) times its width and height about its centre
and clipped to the image; everything outside the box is black. How a box reaching over the
image's edge is clipped (``clip``, :data:`LAE_CLIPS`; config ``symmetry.lae_clip`` /
``lesion.lae_clip``, null = the protocol's default): ``centred`` (the project) cuts the grown box
at the edges, so it stays centred on the lesion; ``start`` (the thesis' code) moves a start
before 0 to 0 but keeps the grown length ``ceil(1.4 * w)``, so the box shifts inwards (cut only
at the far edge).

Empty predicted mask (the segmentation network found no lesion): under ``seg`` and ``lae`` the
**whole image is kept** (the strategy mask is all ones). Blacking out the whole image would hand
the classifier an input without information; keeping it degrades gracefully to ``none``.

Masks are ``(H, W)`` arrays, non-zero = lesion. Images are uint8 ``(H, W, 3)`` / ``(B, H, W, 3)``
numpy arrays (channels last, as cached) or ``(3, H, W)`` / ``(B, 3, H, W)`` tensors.

Every masked image of the workflow comes from here: :func:`apply_mask` for a strategy and a
mask; :func:`apply_box` for an LAE box computed once (:func:`lae_box`) and kept, as the training
dataset (:class:`selcn.data.datasets.CachedImageDataset`) keeps one per cache row. Both give the
same pixels: ``apply_mask(image, mask, "lae") == apply_box(image, lae_box(mask))``.

**What the masked-out pixels hold** (``fill``, :data:`MASK_FILLS`; config
``symmetry.mask_fill`` / ``lesion.mask_fill``): ``black`` (0, the thesis), ``mean`` (the image's
own mean colour, per channel, over the whole image) or ``blur`` (the image under a Gaussian blur
of sigma :data:`BLUR_SIGMA_FRACTION` x its longer side: the colours stay, the structure goes).
:func:`fill_outside` applies any keep-mask with a fill.

**The dermatoscope's dark vignette** (:func:`vignette_mask`): the dark, circular border of most
dermoscopy images (36 of the 40 PH² sample images). Detected from the image alone: the brightness
``V`` = max over the channels, median-filtered; dark = ``V`` below
:data:`VIGNETTE_FRACTION` x the 90th percentile of ``V`` in the central disc (capped at
:data:`VIGNETTE_MAX_LEVEL`) and outside the central disc; the vignette = the 8-connected dark
regions that touch one of the four corner squares. A network can be told to fill it like the
masked-out area (config ``symmetry.mask_vignette`` / ``lesion.mask_vignette``).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import cv2
import numpy as np

from selcn.grid import NO_MASK, check_mask

if TYPE_CHECKING:  # torch is imported only by the caller that hands over a tensor
    import torch

__all__ = ["LAE_SCALE", "LAE_CLIPS", "MASK_FILLS", "BLUR_SIGMA_FRACTION", "VIGNETTE_FRACTION",
           "VIGNETTE_MAX_LEVEL", "lae_box", "lae_mask", "strategy_mask", "apply_box", "apply_mask",
           "fill_image", "fill_outside", "keep_mask", "vignette_mask"]

#: growth factor of the LAE box (its width and height, about its centre)
LAE_SCALE = 1.4
#: how the LAE box is clipped to the image (:func:`lae_box`): ``centred`` (the project's
#: default), ``start`` (the thesis' code: the start clipped at 0, the length kept)
LAE_CLIPS: tuple[str, ...] = ("centred", "start")
#: what the pixels outside the keep-mask become (:func:`fill_image`): ``black`` (0, the thesis),
#: ``mean`` (the image's mean colour), ``blur`` (a strong Gaussian blur of the image)
MASK_FILLS: tuple[str, ...] = ("black", "mean", "blur")
#: sigma of the ``blur`` fill, as a fraction of the image's longer side (12.8 px at 128 px)
BLUR_SIGMA_FRACTION = 0.1
#: :func:`vignette_mask`: dark = below this fraction of the bright level (90th percentile of the
#: brightness in the central disc) ...
VIGNETTE_FRACTION = 0.45
#: ... and below this level (of 255) in any case
VIGNETTE_MAX_LEVEL = 100
#: :func:`vignette_mask`: the central disc (normalised radius, 1 = the corners) is never vignette
VIGNETTE_MIN_RADIUS = 0.5
#: :func:`vignette_mask`: side of the corner squares a vignette region touches (fraction of the
#: shorter side) and of the median filter (fraction, at least 3 px)
VIGNETTE_CORNER = 0.03
VIGNETTE_SMOOTH = 0.02


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    return mask


def lae_box(mask: np.ndarray, scale: float = LAE_SCALE,
            clip: str = "centred") -> tuple[int, int, int, int] | None:
    """The LAE box of a lesion mask.

    The bounding box of the largest 8-connected component of ``mask != 0`` (ties: the first
    component in raster order), grown to ``scale`` x its height and width about its centre,
    then clipped to the image: ``clip="centred"`` cuts each side at the image's edge;
    ``clip="start"`` (the thesis' code) moves a start before 0 to 0 and keeps the grown length
    (the end then cut at the far edge only).

    Args:
        mask: ``(H, W)`` mask, non-zero = lesion.
        scale: growth factor of width and height (1.4 in the thesis).
        clip: one of :data:`LAE_CLIPS`.

    Returns:
        ``(y0, y1, x0, x1)`` in pixels, half-open (``mask[y0:y1, x0:x1]`` is the box), with
        ``0 <= y0 < y1 <= H`` and ``0 <= x0 < x1 <= W``; None when the mask is empty.
        The grown edges are rounded outwards (floor of the start, ceil of the end).
    """
    mask = _check_mask(mask)
    if scale <= 0:
        raise ValueError(f"lae_box: scale must be positive, got {scale}")
    if clip not in LAE_CLIPS:
        raise ValueError(f"lae_box: clip must be one of {LAE_CLIPS}, got {clip!r}")
    binary = (mask != 0).astype(np.uint8)
    if not binary.any():
        return None
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    largest = 1 + int(np.argmax(stats[1:n, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(stats[largest, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                    cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    cy, cx = y + h / 2.0, x + w / 2.0
    half_h, half_w = scale * h / 2.0, scale * w / 2.0
    height, width = binary.shape
    # the small epsilon keeps exact products (e.g. 1.4 * 10 = 14.000000000000002) exact
    y0, y1 = math.floor(cy - half_h + 1e-9), math.ceil(cy + half_h - 1e-9)
    x0, x1 = math.floor(cx - half_w + 1e-9), math.ceil(cx + half_w - 1e-9)
    if clip == "start":                       # the thesis: start at 0, the grown length kept
        y0, y1 = max(0, y0), max(0, y0) + (y1 - y0)
        x0, x1 = max(0, x0), max(0, x0) + (x1 - x0)
    return max(0, y0), min(height, y1), max(0, x0), min(width, x1)


def lae_mask(mask: np.ndarray, scale: float = LAE_SCALE, clip: str = "centred") -> np.ndarray:
    """uint8 ``(H, W)`` mask, 1 inside the LAE box of ``mask`` (:func:`lae_box` with ``clip``);
    all ones for an empty mask."""
    mask = _check_mask(mask)
    box = lae_box(mask, scale, clip)
    if box is None:
        return np.ones(mask.shape, dtype=np.uint8)
    out = np.zeros(mask.shape, dtype=np.uint8)
    y0, y1, x0, x1 = box
    out[y0:y1, x0:x1] = 1
    return out


def _masks_anything(strategy: str, mask) -> bool:
    """Check ``strategy`` (and that a mask is given unless it is ``none``); False for ``none``."""
    if check_mask(strategy, "masking strategy") == NO_MASK:
        return False
    if mask is None:
        raise ValueError(f"masking strategy {strategy!r} needs a predicted mask, got None")
    return True


def strategy_mask(mask: np.ndarray | None, strategy: str, scale: float = LAE_SCALE,
                  clip: str = "centred") -> np.ndarray | None:
    """The 0/1 keep-mask of a strategy.

    Returns:
        None for ``none`` (keep everything); for ``seg`` the binary mask (uint8, all ones when
        ``mask`` is empty); for ``lae`` the box mask (:func:`lae_mask` with ``clip``).
    """
    if not _masks_anything(strategy, mask):
        return None
    mask = _check_mask(mask)
    if strategy == "seg":
        keep = _seg_keep(mask)
        return np.ones(mask.shape, dtype=np.uint8) if keep is None else keep.astype(np.uint8)
    return lae_mask(mask, scale, clip)


def _seg_keep(mask: np.ndarray) -> np.ndarray | None:
    """The ``seg`` keep-mask as bool ``(H, W)`` (``mask != 0``); None for an empty mask (keep
    the whole image)."""
    keep = mask != 0
    return keep if keep.any() else None


def _check_fill(fill: str) -> str:
    if fill not in MASK_FILLS:
        raise ValueError(f"mask fill must be one of {MASK_FILLS}, got {fill!r}")
    return fill


def fill_image(image: np.ndarray, fill: str) -> np.ndarray:
    """What the masked-out pixels of ``image`` ``(H, W, C)`` (channels last) become under
    ``fill`` (:data:`MASK_FILLS`), as a whole image of its shape and dtype: ``black`` zeros;
    ``mean`` the per-channel mean of the whole image (rounded for integer images); ``blur``
    ``cv2.GaussianBlur`` with sigma = :data:`BLUR_SIGMA_FRACTION` x ``max(H, W)`` (reflected
    borders)."""
    _check_fill(fill)
    image = np.asarray(image)
    if fill == "black":
        return np.zeros_like(image)
    if fill == "mean":
        mean = image.reshape(-1, image.shape[-1]).astype(np.float64).mean(0)
        if np.issubdtype(image.dtype, np.integer):
            mean = np.rint(mean)
        return np.broadcast_to(mean.astype(image.dtype), image.shape).copy()
    sigma = BLUR_SIGMA_FRACTION * max(image.shape[:2])
    return cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), sigma,
                            borderType=cv2.BORDER_REFLECT)


def fill_outside(image: np.ndarray, keep: np.ndarray | None, fill: str = "black") -> np.ndarray:
    """``image`` ``(H, W, C)`` where ``keep`` ``(H, W)`` (bool, or non-zero) holds, the
    :func:`fill_image` of ``fill`` elsewhere; ``image`` itself when ``keep`` is None. With
    ``black`` the pixels are exactly ``image * keep`` (the thesis' masking)."""
    if keep is None:
        return image
    keep = np.asarray(keep) != 0
    if keep.shape != image.shape[:2]:
        raise ValueError(f"keep-mask shape {keep.shape} does not match image {image.shape[:2]}")
    if _check_fill(fill) == "black":
        return image * keep[:, :, None]                      # bool keeps image's dtype
    return np.where(keep[:, :, None], image, fill_image(image, fill))


def _box_keep(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    keep = np.zeros(shape[:2], dtype=bool)
    y0, y1, x0, x1 = box
    keep[y0:y1, x0:x1] = True
    return keep


def apply_box(image: np.ndarray, box: tuple[int, int, int, int] | None,
              fill: str = "black") -> np.ndarray:
    """Keep the box of an image, ``fill`` elsewhere (LAE with a precomputed :func:`lae_box`).

    Args:
        image: ``(H, W, C)`` numpy array (channels last), any dtype.
        box: ``(y0, y1, x0, x1)`` half-open pixel box as returned by :func:`lae_box`; None (the
            box of an empty mask) keeps the whole image.
        fill: what the pixels outside the box become (:data:`MASK_FILLS`, :func:`fill_image`).

    Returns:
        A new array like ``image``, equal to it inside the box and filled (0 for ``black``)
        outside; ``image`` itself when ``box`` is None.
    """
    if box is None:
        return image
    if _check_fill(fill) != "black":
        return fill_outside(image, _box_keep(image.shape, box), fill)
    y0, y1, x0, x1 = box
    out = np.zeros_like(image)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return out


def _apply_one(image: np.ndarray, mask: np.ndarray, strategy: str, scale: float,
               clip: str, fill: str = "black") -> np.ndarray:
    mask = _check_mask(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    if strategy == "lae":
        return apply_box(image, lae_box(mask, scale, clip), fill)
    return fill_outside(image, _seg_keep(mask), fill)


def _fill_tensor(image: torch.Tensor, keep: np.ndarray, fill: str) -> torch.Tensor:
    """:func:`fill_outside` of a batch of tensors ``(B, 3, H, W)`` with keep-masks
    ``(B, H, W)``."""
    import torch

    keep_t = torch.from_numpy(keep.astype(bool)).to(image.device)[:, None]
    if fill == "black":
        return image * keep_t.to(image.dtype)
    filled = torch.stack([
        torch.from_numpy(np.ascontiguousarray(
            fill_image(im.permute(1, 2, 0).detach().cpu().numpy(), fill).transpose(2, 0, 1)))
        for im in image]).to(image.device, image.dtype)
    return torch.where(keep_t, image, filled)


def apply_mask(image: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None,
               strategy: str, scale: float = LAE_SCALE,
               clip: str = "centred", fill: str = "black") -> np.ndarray | torch.Tensor:
    """Apply a masking strategy: pixels outside the keep-mask become 0 (or ``fill``).

    Args:
        image: uint8 ``(H, W, 3)`` or ``(B, H, W, 3)`` numpy array (channels last), or a tensor
            ``(3, H, W)`` / ``(B, 3, H, W)`` (channels first). Zero is black only for images
            that are not yet normalised: mask before normalising.
        mask: ``(H, W)`` / ``(B, H, W)`` predicted lesion mask (``(B, 1, H, W)`` accepted for
            tensors); ignored (may be None) for ``none``.
        strategy: ``none``, ``seg`` or ``lae``.
        scale: LAE growth factor.
        clip: how the LAE box is clipped (:data:`LAE_CLIPS`, :func:`lae_box`).
        fill: what the masked-out pixels become (:data:`MASK_FILLS`; ``black`` = 0).

    Returns:
        The masked image(s), same type, dtype and shape as ``image`` (``image`` itself for
        ``none``, and for one numpy image with an empty mask). An empty mask keeps the whole
        image (see the module docstring).
    """
    _check_fill(fill)
    if not _masks_anything(strategy, mask):
        return image
    torch = sys.modules.get("torch")        # a tensor exists only where torch was imported
    if torch is not None and isinstance(image, torch.Tensor):
        masks = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        batched = image.ndim == 4
        if not batched:
            image, masks = image[None], masks[None]
        if masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        if image.ndim != 4 or masks.shape != (image.shape[0], *image.shape[2:]):
            raise ValueError(f"apply_mask: image {tuple(image.shape)} and mask {masks.shape} "
                             "do not match ((B, 3, H, W) with (B, H, W))")
        keep = np.stack([strategy_mask(m, strategy, scale, clip) for m in masks])
        out = _fill_tensor(image, keep, fill)
        return out if batched else out[0]
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim == 3:
        return _apply_one(image, mask, strategy, scale, clip, fill)
    if image.ndim != 4 or mask.shape != image.shape[:3]:
        raise ValueError(f"apply_mask: image {image.shape} and mask {mask.shape} do not match "
                         "((H, W, 3) with (H, W), or (B, H, W, 3) with (B, H, W))")
    return np.stack([_apply_one(i, m, strategy, scale, clip, fill)
                     for i, m in zip(image, mask)])


def keep_mask(image: np.ndarray, mask: np.ndarray | None, strategy: str, *,
              scale: float = LAE_SCALE, clip: str = "centred",
              vignette: bool = False) -> np.ndarray | None:
    """What a network keeps of ``image`` ``(H, W, 3)``: bool ``(H, W)``, True = the image's
    own pixel, False = filled (:func:`fill_outside`); None = the whole image.

    The strategy's keep-mask (:func:`strategy_mask`: the predicted ``mask`` for ``seg``, its
    LAE box for ``lae``, nothing for ``none``; an empty mask keeps everything) and, with
    ``vignette``, without the image's dark vignette (:func:`vignette_mask`).
    """
    keep = strategy_mask(mask, strategy, scale, clip)
    keep = None if keep is None or keep.all() else keep.astype(bool)
    if vignette:
        outside = vignette_mask(image)
        if outside.any():
            keep = ~outside if keep is None else keep & ~outside
    return keep


def vignette_mask(image: np.ndarray) -> np.ndarray:
    """The dermatoscope's dark vignette of a uint8 ``(H, W, 3)`` image: bool ``(H, W)``.

    The rule (module docstring): ``V`` = the max over the channels, median-filtered (side
    :data:`VIGNETTE_SMOOTH` x the shorter side, odd, at least 3 px); ``rho`` = the distance from
    the image centre in half-sides, divided by sqrt(2) (0 at the centre, 1 at the corners, about
    0.71 at the middle of each side); bright = the 90th percentile of ``V`` where ``rho <=``
    :data:`VIGNETTE_MIN_RADIUS`; dark = ``V < min(VIGNETTE_MAX_LEVEL, VIGNETTE_FRACTION x
    bright)`` and ``rho >= VIGNETTE_MIN_RADIUS``; the vignette = the 8-connected dark regions
    that reach into one of the four corner squares (side :data:`VIGNETTE_CORNER` x the shorter
    side, at least 2 px). An image without dark corners has none (all False).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"vignette_mask expects a uint8 (H, W, 3) image, got {image.dtype} "
                         f"{image.shape}")
    h, w = image.shape[:2]
    side = min(h, w)
    brightness = np.ascontiguousarray(image.max(axis=2))
    k = max(3, int(round(VIGNETTE_SMOOTH * side)) | 1)
    brightness = cv2.medianBlur(brightness, k)
    yy, xx = np.mgrid[:h, :w]
    rho = np.hypot((yy + 0.5 - h / 2) / (h / 2), (xx + 0.5 - w / 2) / (w / 2)) / math.sqrt(2)
    bright = float(np.percentile(brightness[rho <= VIGNETTE_MIN_RADIUS], 90))
    level = min(VIGNETTE_MAX_LEVEL, VIGNETTE_FRACTION * bright)
    dark = ((brightness < level) & (rho >= VIGNETTE_MIN_RADIUS)).astype(np.uint8)
    if not dark.any():
        return np.zeros((h, w), dtype=bool)
    _, labels = cv2.connectedComponents(dark, connectivity=8)
    c = max(2, int(round(VIGNETTE_CORNER * side)))
    corners = np.concatenate([labels[:c, :c].ravel(), labels[:c, -c:].ravel(),
                              labels[-c:, :c].ravel(), labels[-c:, -c:].ravel()])
    found = np.unique(corners[corners > 0])
    return np.isin(labels, found) if len(found) else np.zeros((h, w), dtype=bool)
