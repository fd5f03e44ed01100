"""Training batches from the cached image arrays, masks applied on the fly.

A :class:`CachedImageDataset` reads rows of the uint8 cache ``(N, S, S, 3)`` (a memory map is
fine: worker processes share it through the page cache), applies the masking strategy with the
row's predicted mask, the row's augmentation code (identity / h-flip / v-flip / rot90 — the
same one to image, predicted mask, target mask and CAM), resizes to the network's input and
normalises. Items are dicts (``docs/contracts.md``, training core):

- ``image``  float32 ``(3, H, W)``, ImageNet-normalised (or in [0, 1] without ``normalize``);
- ``target`` int64 ``()`` class index (float32 when ``targets`` are floats), or float32
  ``(1, H, W)`` in {0, 1} for segmentation (``target_masks``); absent without targets;
- ``cam``    float32 ``(1, R, R)`` in [0, 1] when ``cams`` are given (kept at their own size);
- ``row``    int64 ``()`` the cache row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from selcn.data.splits import TRANSFORMS, apply_transform
from selcn.grid import NO_MASK, check_mask
from selcn.masks import (
    LAE_CLIPS,
    LAE_SCALE,
    MASK_FILLS,
    fill_outside,
    keep_mask,
    lae_box,
    vignette_mask,
)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "TRANSFORMS", "View", "CachedImageDataset",
           "make_loader", "loader_generators", "class_weights", "MASKING_RECORD"]

# OpenCV's own thread pool does not survive fork(): a loader worker forked after the parent
# used a multi-threaded cv2 call can hang in its first cv2 call. The per-image operations here
# are small, so OpenCV runs sequentially in every process; parallelism comes from the workers
# (the practice of mmcv / detectron2).
cv2.setNumThreads(0)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: the ``model.pt`` fields of a network's masking (:meth:`View.record`) and their values in
#: files written before they existed (black fill, the box clipped about its centre, the vignette
#: kept: what every network did then)
MASKING_RECORD: dict[str, Any] = {"mask_fill": "black", "lae_clip": "centred",
                                  "mask_vignette": False}


@dataclass(frozen=True)
class View:
    """How a network sees a cached image.

    Attributes:
        mask: the input masking strategy (``none | seg | lae``, :mod:`selcn.masks`), applied
            with the row's predicted lesion mask.
        size: the network's input side in px (None: the cache side ``S``).
        takes_cam: the symmetry CAM of the row is the network's second input (E-Layer).
        lae_scale: growth factor of the LAE box.
        normalize: ImageNet mean / std normalisation (else values in [0, 1]).
        fill: what the masked-out pixels become (:data:`selcn.masks.MASK_FILLS`: ``black``,
            ``mean``, ``blur``; config ``<stage>.mask_fill``).
        lae_clip: how the LAE box is clipped at the image's edge (:data:`selcn.masks.LAE_CLIPS`;
            config ``<stage>.lae_clip``, null = the protocol's).
        vignette: the image's dark vignette (:func:`selcn.masks.vignette_mask`) is filled like
            the masked-out area, whatever the mask (config ``<stage>.mask_vignette``).
    """

    mask: str = NO_MASK
    size: int | None = None
    takes_cam: bool = False
    lae_scale: float = LAE_SCALE
    normalize: bool = True
    fill: str = "black"
    lae_clip: str = "centred"
    vignette: bool = False

    def __post_init__(self) -> None:
        check_mask(self.mask, "input mask")
        if self.fill not in MASK_FILLS:
            raise ValueError(f"View: fill must be one of {MASK_FILLS}, got {self.fill!r}")
        if self.lae_clip not in LAE_CLIPS:
            raise ValueError(f"View: lae_clip must be one of {LAE_CLIPS}, got {self.lae_clip!r}")

    @property
    def needs_masks(self) -> bool:
        """Whether the predicted lesion masks are read (every mask but ``none``)."""
        return self.mask != NO_MASK

    @property
    def masks_input(self) -> bool:
        """Whether any pixel of the input may be replaced (a mask, or the vignette)."""
        return self.needs_masks or self.vignette

    def keep(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """What the network keeps of a cached image ``(S, S, 3)`` with its predicted lesion
        ``mask`` ``(S, S)`` (None for ``none``): bool ``(S, S)``, or None for the whole image
        (:func:`selcn.masks.keep_mask`)."""
        return keep_mask(image, mask if self.needs_masks else None, self.mask,
                         scale=self.lae_scale, clip=self.lae_clip, vignette=self.vignette)

    def shown(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The image ``(S, S, 3)`` as the network sees it before resizing: masked (and
        vignette-filled) with its :attr:`fill`; the figures and ``selcn predict`` show this."""
        if not self.masks_input:
            return image
        return fill_outside(image, self.keep(image, mask), self.fill)

    def record(self) -> dict[str, Any]:
        """The masking fields a ``model.pt`` records (:data:`MASKING_RECORD`'s keys)."""
        return {"mask_fill": self.fill, "lae_clip": self.lae_clip,
                "mask_vignette": bool(self.vignette)}

    @staticmethod
    def recorded(meta: Mapping[str, Any]) -> dict[str, Any]:
        """The masking a ``model.pt``'s fields ``meta`` record, as :class:`View` keyword
        arguments (``fill``, ``lae_clip``, ``vignette``); a file written before the fields
        existed masks as every network did then (:data:`MASKING_RECORD`)."""
        got = {k: meta.get(k, v) for k, v in MASKING_RECORD.items()}
        return {"fill": str(got["mask_fill"]), "lae_clip": str(got["lae_clip"]),
                "vignette": bool(got["mask_vignette"])}


# TRANSFORMS (re-exported): the augmentation codes of ``selcn.data.splits.balance``, applied
# with ``selcn.data.splits.apply_transform`` (rot90 = ``np.rot90(k=1)``, counter-clockwise).


def _resize(array: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Resize an ``(H, W[, C])`` array to ``(size, size[, C])`` with OpenCV."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if size < max(array.shape[:2]) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(array), (size, size), interpolation=interp)


def _lookup_tables(normalize: bool) -> list[np.ndarray]:
    """Per channel, the float32 value of each uint8 level: ``v / 255`` (then ImageNet-
    normalised)."""
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    if not normalize:
        return [levels] * 3
    return [((levels - IMAGENET_MEAN[c]) / IMAGENET_STD[c]).astype(np.float32) for c in range(3)]


def _to_chw_float(image: np.ndarray, tables: list[np.ndarray]) -> np.ndarray:
    """uint8 ``(H, W, 3)`` → float32 ``(3, H, W)`` through per-channel lookup tables.

    Transposing the bytes first and one ``cv2.LUT`` per channel is ~10x faster than float
    arithmetic on the whole image (the loader must keep ahead of the GPU at 380 px).
    """
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    out = np.empty(chw.shape, dtype=np.float32)
    for c in range(3):
        cv2.LUT(chw[c], tables[c], dst=out[c])  # writes into the view
    return out


def _rows_array(values, n: int, name: str, dtype=None) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values, dtype=dtype)
    if values.shape[:1] != (n,):
        raise ValueError(f"CachedImageDataset: {name} has {values.shape[:1]} entries, "
                         f"expected one per row ({n})")
    return values


def _check_cache_array(values, n_images: int, side: tuple[int, int] | None, name: str):
    if values is None:
        return None
    if values.ndim != 3 or values.shape[0] != n_images or (side and values.shape[1:] != side):
        want = f"({n_images}, {side[0]}, {side[1]})" if side else f"({n_images}, R, R)"
        raise ValueError(f"CachedImageDataset: {name} has shape {values.shape}, expected {want}")
    return values


class CachedImageDataset(Dataset):
    """Items of the image cache, optionally masked, augmented, resized and normalised.

    Args:
        images: uint8 ``(N, S, S, 3)`` RGB cache (``np.load(..., mmap_mode="r")`` is fine).
        rows: ``(M,)`` cache rows of the items; may repeat (balanced epochs).
        targets: ``(M,)`` class index (or float) per item, aligned with ``rows``.
        transforms: ``(M,)`` augmentation code per item (0 identity, 1 h-flip, 2 v-flip,
            3 rot90), aligned with ``rows``; None = identity.
        view: how the network sees the images (:class:`View`: the masking strategy, ``none``,
            ``seg`` or ``lae`` of :mod:`selcn.masks`, an empty mask keeping the whole image; the
            input side, None keeping the cache side ``S``, images resized with INTER_AREA
            (shrinking) / INTER_LINEAR (growing), masks with INTER_NEAREST; ImageNet
            normalisation; the LAE growth factor). Default: the whole image at ``S``.
        masks: uint8 ``(N, S, S)`` predicted lesion masks (indexed by cache row), needed for
            the masks ``seg`` / ``lae``.
        target_masks: ``(N, S, S)`` {0, 1} segmentation targets (indexed by cache row); when
            given, ``target`` is the mask, not ``targets``.
        cams: ``(N, R, R)`` float16 CAMs in [0, 1] (indexed by cache row).

    The masking is applied at the cache resolution before augmentation and resizing; augmenting
    first would give the same pixels (the LAE box of a flipped mask is the flipped box).
    """

    def __init__(self, images: np.ndarray, rows: Sequence[int], targets: Sequence | None = None,
                 *, view: View | None = None, transforms: Sequence[int] | None = None,
                 masks: np.ndarray | None = None, target_masks: np.ndarray | None = None,
                 cams: np.ndarray | None = None) -> None:
        view = view or View()
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
            raise ValueError(f"CachedImageDataset: images must be uint8 (N, S, S, 3), got "
                             f"{images.dtype} {images.shape}")
        if view.needs_masks and masks is None:
            raise ValueError(f"CachedImageDataset: mask_strategy {view.mask!r} needs masks")
        mask_strategy, size, normalize, lae_scale = (view.mask, view.size, view.normalize,
                                                     view.lae_scale)
        self.view = view
        self.images = images
        self.rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n, side = len(images), images.shape[1:3]
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= n):
            raise ValueError(f"CachedImageDataset: rows must lie in [0, {n}), got "
                             f"[{self.rows.min()}, {self.rows.max()}]")
        m = len(self.rows)
        self.targets = _rows_array(targets, m, "targets")
        self.transforms = _rows_array(transforms, m, "transforms", np.int64)
        if self.transforms is not None and not np.isin(self.transforms, list(TRANSFORMS)).all():
            bad = sorted(set(self.transforms.tolist()) - set(TRANSFORMS))
            raise ValueError(f"CachedImageDataset: unknown transform code(s) {bad}")
        self.masks = _check_cache_array(masks, n, side, "masks")
        self.mask_strategy = mask_strategy
        self.target_masks = _check_cache_array(target_masks, n, side, "target_masks")
        self.cams = _check_cache_array(cams, n, None, "cams")
        self.size = int(size) if size is not None else None
        self.normalize = normalize
        self._tables = _lookup_tables(normalize)
        self._boxes: dict[int, tuple[int, int, int, int] | None] = {}
        self.lae_scale = lae_scale

    def _masked(self, image: np.ndarray, row: int) -> np.ndarray:
        """``image`` as the view sees it, by :mod:`selcn.masks` (an empty mask keeps the whole
        image): the keep-mask of ``seg`` (the row's predicted mask) or ``lae`` (the row's
        :func:`~selcn.masks.lae_box`, computed once per row and worker process), without the
        image's vignette when :attr:`View.vignette`, the rest filled with :attr:`View.fill`
        (:func:`~selcn.masks.fill_outside`; ``black`` gives the pixels of
        :func:`~selcn.masks.apply_mask` / :func:`~selcn.masks.apply_box`)."""
        view = self.view
        keep = None
        if self.mask_strategy == "lae":
            if row not in self._boxes:
                self._boxes[row] = lae_box(np.asarray(self.masks[row]), self.lae_scale,
                                           view.lae_clip)
            box = self._boxes[row]
            if box is not None:
                y0, y1, x0, x1 = box
                keep = np.zeros(image.shape[:2], dtype=bool)
                keep[y0:y1, x0:x1] = True
        elif self.mask_strategy != "none":
            keep = np.asarray(self.masks[row]) != 0
            keep = keep if keep.any() else None
        if view.vignette:
            outside = vignette_mask(image)
            if outside.any():
                keep = ~outside if keep is None else keep & ~outside
        return fill_outside(image, keep, view.fill)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        code = int(self.transforms[index]) if self.transforms is not None else 0
        image = np.asarray(self.images[row])
        if self.view.masks_input:
            image = self._masked(image, row)
        image = apply_transform(image, code)
        if self.size is not None:
            image = _resize(image, self.size)
        item = {"image": torch.from_numpy(_to_chw_float(image, self._tables)),
                "row": torch.tensor(row, dtype=torch.int64)}
        if self.target_masks is not None:
            target = apply_transform(np.asarray(self.target_masks[row]), code)
            if self.size is not None:
                target = _resize(target, self.size, nearest=True)
            item["target"] = torch.from_numpy((np.ascontiguousarray(target) != 0)
                                              .astype(np.float32)[None])
        elif self.targets is not None:
            value = self.targets[index]
            dtype = torch.float32 if np.issubdtype(self.targets.dtype, np.floating) else torch.int64
            item["target"] = torch.tensor(value, dtype=dtype)
        if self.cams is not None:
            cam = apply_transform(np.asarray(self.cams[row], dtype=np.float32), code)
            item["cam"] = torch.from_numpy(np.ascontiguousarray(cam)[None])
        return item


def _init_worker(worker_id: int) -> None:
    """Loader worker set-up: OpenCV sequential (no oversubscription), numpy / random seeded
    from torch's per-worker seed."""
    import random

    cv2.setNumThreads(0)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader_generators(loader: DataLoader) -> list[torch.Generator]:
    """The generators that decide a loader's batches: the sampler's (order), the loader's
    (worker seeds). :func:`selcn.training.fit` saves and restores their states."""
    found = [getattr(loader.sampler, "generator", None), loader.generator]
    return [g for g in found if isinstance(g, torch.Generator)]


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, num_workers: int = 0,
                seed: int = 0, drop_last: bool = False,
                pin_memory: bool | None = None) -> DataLoader:
    """A deterministic DataLoader: the batches depend only on ``seed`` and the epoch.

    The order comes from the sampler's own generator (seeded with ``seed``), the worker seeds
    from the loader's (seeded with ``seed + 1``); keeping them apart makes the order of epoch
    k the same whether workers are started once (they are persistent) or anew after a
    resume. ``pin_memory`` defaults to CUDA availability.
    """
    if batch_size < 1:
        raise ValueError(f"make_loader: batch_size must be >= 1, got {batch_size}")
    order = torch.Generator()
    order.manual_seed(int(seed))
    workers = torch.Generator()
    workers.manual_seed(int(seed) + 1)
    sampler = (RandomSampler(dataset, generator=order) if shuffle
               else SequentialSampler(dataset))
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    num_workers = int(num_workers)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=drop_last, generator=workers,
                      worker_init_fn=_init_worker if num_workers else None,
                      pin_memory=pin_memory, persistent_workers=num_workers > 0)


def class_weights(targets: Sequence[int], n_classes: int) -> torch.Tensor:
    """The thesis' class weights ``w_i = N / (n_i * C)`` (float32 ``(C,)``).

    ``N`` = number of targets, ``n_i`` = targets of class ``i``, ``C`` = ``n_classes``.
    A class absent from ``targets`` gets weight 0 (it never appears in the loss anyway).
    """
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if not len(targets):
        raise ValueError("class_weights: no targets")
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError(f"class_weights: targets must lie in [0, {n_classes}), got "
                         f"[{targets.min()}, {targets.max()}]")
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(targets) / (np.maximum(counts, 1) * n_classes), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
