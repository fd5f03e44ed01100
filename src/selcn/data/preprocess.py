"""Decode, hair-remove and resize each image once, into the dataset cache.

Cache layout (``docs/contracts.md``): ``<out_dir>/images.npy`` uint8 ``(N, S, S, 3)`` RGB,
``gt_masks.npy`` uint8 ``(N, S, S)`` in {0, 1} when the table has masks, ``index.csv``
``row,image_id,label,target,group,source[,ham_image_id]``. Open the arrays with
``np.load(path, mmap_mode="r")``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from selcn.atomic import atomic_path, write_csv
from selcn.data.readers import DataFormatError

__all__ = ["HAIR_KERNEL", "HAIR_THRESHOLD", "hair_mask", "remove_hair", "load_image",
           "load_mask", "preprocess_image", "build_cache", "INDEX_COLUMNS"]

#: the thesis' hair removal: black-hat with a 17 x 17 cross, threshold 10, Telea radius 1
HAIR_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (17, 17))
HAIR_THRESHOLD = 10
INPAINT_RADIUS = 1
INDEX_COLUMNS = ("row", "image_id", "label", "target", "group", "source")


def hair_mask(img_bgr: np.ndarray) -> np.ndarray:
    """Hair pixels of a uint8 ``(H, W, 3)`` BGR image: uint8 ``(H, W)`` in {0, 255}
    (grey -> black-hat with a 17 x 17 cross -> threshold 10)."""
    gray = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, HAIR_KERNEL)
    _, mask = cv2.threshold(blackhat, HAIR_THRESHOLD, 255, cv2.THRESH_BINARY)
    return mask


def remove_hair(img_bgr: np.ndarray) -> np.ndarray:
    """The thesis' hair removal on a uint8 ``(H, W, 3)`` **BGR** image (as ``cv2.imread``
    gives it): :func:`hair_mask`, then ``cv2.inpaint`` (Telea, radius 1). Returns BGR."""
    if img_bgr.dtype != np.uint8 or img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
        raise ValueError(f"remove_hair expects uint8 (H, W, 3) BGR, got {img_bgr.dtype} "
                         f"{img_bgr.shape}")
    return cv2.inpaint(img_bgr, hair_mask(img_bgr), INPAINT_RADIUS, cv2.INPAINT_TELEA)


def _open(path: str | Path, mode: str, what: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()                       # raises on truncated files
            return np.asarray(im.convert(mode))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: {what} file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataFormatError(f"{path}: unreadable or truncated {what} ({err})") from None


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file into uint8 ``(H, W, 3)`` **RGB**; :class:`DataFormatError` when
    the file is missing, unreadable or truncated."""
    return _open(path, "RGB", "image")


def load_mask(path: str | Path) -> np.ndarray:
    """Decode a lesion mask (any grey / 0-255 PNG or BMP) into uint8 ``(H, W)`` in {0, 1}."""
    return (_open(path, "L", "mask") > 127).astype(np.uint8)


def preprocess_image(img_rgb: np.ndarray, size: int, hair_removal: bool = True) -> np.ndarray:
    """Hair removal at the original resolution (optional), then resize to ``size x size``
    (aspect ratio not kept, like the thesis' code). uint8 RGB in, uint8 RGB out."""
    if hair_removal:
        img_rgb = remove_hair(np.ascontiguousarray(img_rgb[..., ::-1]))[..., ::-1]
    interp = cv2.INTER_AREA if min(img_rgb.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img_rgb), (size, size), interpolation=interp)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    m = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return (m >= 0.5).astype(np.uint8)


def _fill_arrays(image_file: Path, mask_file: Path | None, paths: Sequence[str],
                 mask_paths: Sequence[str] | None, size: int, hair_removal: bool, threads: int,
                 desc: str) -> None:
    """Decode every image (and mask) into new ``.npy`` memory maps at ``image_file``
    (``(N, size, size, 3)``) and ``mask_file`` (``(N, size, size)``, when given), ``threads``
    rows at a time; the maps are flushed and closed on return."""
    n = len(paths)
    images = np.lib.format.open_memmap(image_file, mode="w+", dtype=np.uint8,
                                       shape=(n, size, size, 3))
    masks = np.lib.format.open_memmap(mask_file, mode="w+", dtype=np.uint8,
                                      shape=(n, size, size)) if mask_file is not None else None

    def work(i: int) -> int:
        images[i] = preprocess_image(load_image(paths[i]), size, hair_removal)
        if masks is not None:
            masks[i] = _resize_mask(load_mask(mask_paths[i]), size)
        return i

    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        for _ in tqdm(pool.map(work, range(n)), total=n, file=sys.stderr, desc=desc,
                      mininterval=2.0, unit="img"):
            pass
    images.flush()
    if masks is not None:
        masks.flush()


def build_cache(table: pd.DataFrame, out_dir: str | Path, size: int, *,
                hair_removal: bool = True, threads: int = 1,
                log: Callable[[str], None] = print) -> pd.DataFrame:
    """Write the cache of a reader table (``image_id,label,target,group,source,path,
    mask_path[,ham_image_id]``) into ``out_dir``; return the index table.

    Images are decoded, hair-removed, resized and written row by row into memory-mapped
    arrays by ``threads`` worker threads (OpenCV and Pillow release the GIL), with a tqdm
    progress bar on stderr. Every file is written atomically (:func:`selcn.atomic.atomic_path`:
    a temporary name, renamed when complete). ``gt_masks.npy`` is written when every row has a
    ``mask_path``."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = len(table)
    if n == 0:
        raise DataFormatError(f"{out}: empty dataset, nothing to cache")
    masks_given = table["mask_path"].fillna("").astype(str) != "" if "mask_path" in table else \
        pd.Series(False, index=table.index)
    with_masks = bool(masks_given.all())
    if masks_given.any() and not with_masks:
        raise DataFormatError(f"{table.loc[~masks_given, 'image_id'].iloc[0]}: field 'mask_path' "
                              "is empty while other rows have masks")
    img_path, mask_path = out / "images.npy", out / "gt_masks.npy"
    paths = table["path"].astype(str).tolist()
    mpaths = table["mask_path"].astype(str).tolist() if with_masks else None
    cv2.setNumThreads(1)
    with ExitStack() as files:                  # both arrays are renamed only when both are done
        img_tmp = files.enter_context(atomic_path(img_path))
        mask_tmp = files.enter_context(atomic_path(mask_path)) if with_masks else None
        _fill_arrays(img_tmp, mask_tmp, paths, mpaths, size, hair_removal, threads,
                     desc=f"cache {out.name}")
    if not with_masks:
        mask_path.unlink(missing_ok=True)       # stale ground truth of an older run
    index = table.reset_index(drop=True)
    index.insert(0, "row", np.arange(n))
    cols = list(INDEX_COLUMNS) + (["ham_image_id"] if "ham_image_id" in index else [])
    index = index[cols]
    write_csv(index, out / "index.csv")
    log(f"cached {n} images ({size} px, hair removal {'on' if hair_removal else 'off'}"
        f"{', with masks' if with_masks else ''}) in {out} in {time.perf_counter() - t0:.1f} s "
        f"with {threads} thread(s)")
    return index
