"""Masking strategies of the cascade: ``none``, ``seg`` (image x mask) and ``lae``.

``lae`` (lesion area extraction) keeps the bounding box of the largest connected component of
the predicted lesion mask, grown to ``scale`` (1.4) times its width and height about its centre
and clipped to the image; everything outside the box is black.

Empty predicted mask (the segmentation network found no lesion): under ``seg`` and ``lae`` the
**whole image is kept** (the strategy mask is all ones). Blacking out the whole image would hand
the classifier an input without information; keeping it degrades gracefully to ``none``.

Masks are ``(H, W)`` arrays, non-zero = lesion. Images are uint8 ``(H, W, 3)`` / ``(B, H, W, 3)``
numpy arrays (channels last, as cached) or ``(3, H, W)`` / ``(B, 3, H, W)`` tensors.

Every masked image of the workflow comes from here: :func:`apply_mask` for a strategy and a
mask; :func:`apply_box` for an LAE box computed once (:func:`lae_box`) and kept, as the training
dataset (:class:`selcn.data.datasets.CachedImageDataset`) keeps one per cache row. Both give the
same pixels: ``apply_mask(image, mask, "lae") == apply_box(image, lae_box(mask))``.
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

__all__ = ["LAE_SCALE", "lae_box", "lae_mask", "strategy_mask", "apply_box", "apply_mask"]

#: growth factor of the LAE box (its width and height, about its centre)
LAE_SCALE = 1.4


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    return mask


def lae_box(mask: np.ndarray, scale: float = LAE_SCALE) -> tuple[int, int, int, int] | None:
    """The LAE box of a lesion mask.

    The bounding box of the largest 8-connected component of ``mask != 0`` (ties: the first
    component in raster order), grown to ``scale`` x its height and width about its centre,
    then clipped to the image.

    Args:
        mask: ``(H, W)`` mask, non-zero = lesion.
        scale: growth factor of width and height (1.4 in the thesis).

    Returns:
        ``(y0, y1, x0, x1)`` in pixels, half-open (``mask[y0:y1, x0:x1]`` is the box), with
        ``0 <= y0 < y1 <= H`` and ``0 <= x0 < x1 <= W``; None when the mask is empty.
        The grown edges are rounded outwards (floor of the start, ceil of the end).
    """
    mask = _check_mask(mask)
    if scale <= 0:
        raise ValueError(f"lae_box: scale must be positive, got {scale}")
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
    y0 = max(0, math.floor(cy - half_h + 1e-9))
    y1 = min(height, math.ceil(cy + half_h - 1e-9))
    x0 = max(0, math.floor(cx - half_w + 1e-9))
    x1 = min(width, math.ceil(cx + half_w - 1e-9))
    return y0, y1, x0, x1


def lae_mask(mask: np.ndarray, scale: float = LAE_SCALE) -> np.ndarray:
    """uint8 ``(H, W)`` mask, 1 inside the LAE box of ``mask``; all ones for an empty mask."""
    mask = _check_mask(mask)
    box = lae_box(mask, scale)
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


def strategy_mask(mask: np.ndarray | None, strategy: str,
                  scale: float = LAE_SCALE) -> np.ndarray | None:
    """The 0/1 keep-mask of a strategy.

    Returns:
        None for ``none`` (keep everything); for ``seg`` the binary mask (uint8, all ones when
        ``mask`` is empty); for ``lae`` the box mask (:func:`lae_mask`).
    """
    if not _masks_anything(strategy, mask):
        return None
    mask = _check_mask(mask)
    if strategy == "seg":
        keep = _seg_keep(mask)
        return np.ones(mask.shape, dtype=np.uint8) if keep is None else keep.astype(np.uint8)
    return lae_mask(mask, scale)


def _seg_keep(mask: np.ndarray) -> np.ndarray | None:
    """The ``seg`` keep-mask as bool ``(H, W)`` (``mask != 0``); None for an empty mask (keep
    the whole image)."""
    keep = mask != 0
    return keep if keep.any() else None


def apply_box(image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """Keep the box of an image, black elsewhere (LAE with a precomputed :func:`lae_box`).

    Args:
        image: ``(H, W, C)`` numpy array (channels last), any dtype.
        box: ``(y0, y1, x0, x1)`` half-open pixel box as returned by :func:`lae_box`; None (the
            box of an empty mask) keeps the whole image.

    Returns:
        A new array like ``image``, equal to it inside the box and 0 outside; ``image`` itself
        when ``box`` is None.
    """
    if box is None:
        return image
    y0, y1, x0, x1 = box
    out = np.zeros_like(image)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return out


def _apply_one(image: np.ndarray, mask: np.ndarray, strategy: str, scale: float) -> np.ndarray:
    mask = _check_mask(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    if strategy == "lae":
        return apply_box(image, lae_box(mask, scale))
    keep = _seg_keep(mask)
    return image if keep is None else image * keep[:, :, None]   # bool keeps image's dtype


def apply_mask(image: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None,
               strategy: str, scale: float = LAE_SCALE) -> np.ndarray | torch.Tensor:
    """Apply a masking strategy: pixels outside the keep-mask become 0.

    Args:
        image: uint8 ``(H, W, 3)`` or ``(B, H, W, 3)`` numpy array (channels last), or a tensor
            ``(3, H, W)`` / ``(B, 3, H, W)`` (channels first). Zero is black only for images
            that are not yet normalised: mask before normalising.
        mask: ``(H, W)`` / ``(B, H, W)`` predicted lesion mask (``(B, 1, H, W)`` accepted for
            tensors); ignored (may be None) for ``none``.
        strategy: ``none``, ``seg`` or ``lae``.
        scale: LAE growth factor.

    Returns:
        The masked image(s), same type, dtype and shape as ``image`` (``image`` itself for
        ``none``, and for one numpy image with an empty mask). An empty mask keeps the whole
        image (see the module docstring).
    """
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
        keep = np.stack([strategy_mask(m, strategy, scale) for m in masks])
        out = image * torch.from_numpy(keep).to(image.device, image.dtype)[:, None]
        return out if batched else out[0]
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim == 3:
        return _apply_one(image, mask, strategy, scale)
    if image.ndim != 4 or mask.shape != image.shape[:3]:
        raise ValueError(f"apply_mask: image {image.shape} and mask {mask.shape} do not match "
                         "((H, W, 3) with (H, W), or (B, H, W, 3) with (B, H, W))")
    return np.stack([_apply_one(i, m, strategy, scale) for i, m in zip(image, mask)])
