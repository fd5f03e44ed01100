"""Decode, hair-remove and resize each image once, into the dataset cache.

Cache layout (``docs/contracts.md``): ``<out_dir>/images.npy`` uint8 ``(N, S, S, 3)`` RGB,
``gt_masks.npy`` uint8 ``(N, S, S)`` in {0, 1} when the table has masks, ``index.csv``
``row,image_id,label,target,group,source[,ham_image_id]``. Open the arrays with
``np.load(path, mmap_mode="r")``.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from selcn.atomic import atomic_path, remove_stale_temporaries, reserved_memmap, write_csv
from selcn.data.readers import DataFormatError

__all__ = ["HAIR_KERNEL", "HAIR_THRESHOLD", "HAIR_METHODS", "HAIR_LINE_FRACTION", "HAIR_ANGLES",
           "HAIR_MIN_LENGTH", "hair_method", "hair_param", "hair_mask", "remove_hair", "load_image",
           "load_mask", "preprocess_image", "build_cache", "INDEX_COLUMNS", "DEFAULT_MAX_PIXELS",
           "LoaderSettings", "ImageHeader", "Decoded", "ImageTooLargeError", "read_header",
           "decode_image", "decode_mask", "load_pair", "size_mismatch"]

#: the thesis' hair removal: black-hat with a 17 x 17 cross, threshold 10, Telea radius 1
HAIR_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (17, 17))
HAIR_THRESHOLD = 10
INPAINT_RADIUS = 1
INDEX_COLUMNS = ("row", "image_id", "label", "target", "group", "source")

#: the hair filters (config ``data.hair_removal``; ``true`` / ``false`` are read as ``thesis`` /
#: ``off``, null as the protocol's): ``thesis`` (the black-hat mask of the grey image),
#: ``thesis_code`` (the same mask of the author's grey image: ``COLOR_RGB2GRAY`` of a BGR image),
#: ``pigment_sparing`` (the thesis' mask where it runs straight and long), ``off``
HAIR_METHODS: tuple[str, ...] = ("thesis", "thesis_code", "pigment_sparing", "off")
#: ``pigment_sparing``: side of the line structuring elements (fraction of the shorter image
#: side; odd, at least 5 px: 23 px for PH²'s 553-577 px) ...
HAIR_LINE_FRACTION = 0.04
#: ... at this many orientations over 180 degrees (11.25 degree steps) ...
HAIR_ANGLES = 16
#: ... and the long side (``cv2.minAreaRect``) a straight run must reach, in line lengths
HAIR_MIN_LENGTH = 2.5
_OLD_SPELLINGS = {True: "thesis", False: "off"}


def hair_method(value: bool | str | None, protocol=None) -> str:
    """The hair filter of a config value ``data.hair_removal`` (:data:`HAIR_METHODS`):
    ``true`` -> ``thesis``, ``false`` -> ``off`` (the old spellings), null -> the protocol's
    (:meth:`selcn.protocol.Protocol.setting`; ``protocol``: a name or a policy, required then).
    ValueError naming the key for anything else."""
    if isinstance(value, bool):
        return _OLD_SPELLINGS[value]
    if value is None:
        if protocol is None:
            raise ValueError("data.hair_removal: null takes the protocol's filter, but no "
                             "protocol was given")
        from selcn.protocol import policy

        return hair_method(policy(protocol).setting("hair_removal"))
    if value not in HAIR_METHODS:
        raise ValueError(f"data.hair_removal: {value!r} is not one of "
                         f"{', '.join(HAIR_METHODS)} (or true / false / null)")
    return str(value)


def hair_param(value: bool | str | None, protocol) -> bool | str:
    """The cache rule's ``hair_removal`` param: :func:`hair_method` of the config's value,
    spelled ``true`` / ``false`` for ``thesis`` / ``off`` (as caches built before the filters
    had names recorded it: they stay valid) and by name otherwise, so changing the filter
    re-plans the caches and re-spelling it does not."""
    method = hair_method(value, protocol)
    return {"thesis": True, "off": False}.get(method, method)


def _line_kernel(length: int, angle: float) -> np.ndarray:
    """uint8 ``(length, length)``: a 1-px digital line through the centre at ``angle``
    degrees."""
    kernel = np.zeros((length, length), np.uint8)
    c = (length - 1) / 2
    dx, dy = math.cos(math.radians(angle)) * c, math.sin(math.radians(angle)) * c
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))),
             (int(round(c + dx)), int(round(c + dy))), 1, 1)
    return kernel


def _straight_and_long(mask: np.ndarray) -> np.ndarray:
    """The parts of a hair mask (uint8 ``(H, W)`` in {0, 255}) that are hair-shaped: the union
    of its openings with 1-px lines of :data:`HAIR_LINE_FRACTION` x the shorter side at
    :data:`HAIR_ANGLES` orientations (what runs straight for that long), of which the
    8-connected components whose ``cv2.minAreaRect`` reaches :data:`HAIR_MIN_LENGTH` line
    lengths, grown by one pixel within ``mask``. Pigment network (a mesh of short segments),
    dots and globules fall out; hairs, long and nearly straight over a line's length, stay."""
    binary = (mask > 0).astype(np.uint8)
    length = max(5, int(round(HAIR_LINE_FRACTION * min(binary.shape))) | 1)
    runs = np.zeros_like(binary)
    for k in range(HAIR_ANGLES):
        runs |= cv2.morphologyEx(binary, cv2.MORPH_OPEN, _line_kernel(length, 180.0 * k /
                                                                      HAIR_ANGLES))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    long_enough = HAIR_MIN_LENGTH * length
    keep = np.zeros(n, dtype=bool)
    for k in range(1, n):
        x, y, w, h = (int(stats[k, i]) for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                  cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
        if math.hypot(w, h) < long_enough:        # the rectangle's long side is shorter still
            continue
        ys, xs = np.nonzero(labels[y:y + h, x:x + w] == k)
        _, sides, _ = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
        keep[k] = max(sides) >= long_enough
    hair = keep[labels].astype(np.uint8)
    hair = cv2.dilate(hair, np.ones((3, 3), np.uint8)) & binary
    return hair * np.uint8(255)


def hair_mask(img_bgr: np.ndarray, method: str = "thesis") -> np.ndarray:
    """Hair pixels of a uint8 ``(H, W, 3)`` BGR image: uint8 ``(H, W)`` in {0, 255}.

    ``thesis``: grey (``COLOR_BGR2GRAY``) -> black-hat with a 17 x 17 cross -> threshold 10;
    ``thesis_code``: the same from ``COLOR_RGB2GRAY`` of the BGR image (the author's code);
    ``pigment_sparing``: the ``thesis`` mask's straight, long runs (:func:`_straight_and_long`);
    ``off``: none (all 0)."""
    method = hair_method(method)
    if method == "off":
        return np.zeros(img_bgr.shape[:2], np.uint8)
    code = cv2.COLOR_RGB2GRAY if method == "thesis_code" else cv2.COLOR_BGR2GRAY
    gray = cv2.cvtColor(img_bgr, code)
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, HAIR_KERNEL)
    _, mask = cv2.threshold(blackhat, HAIR_THRESHOLD, 255, cv2.THRESH_BINARY)
    return _straight_and_long(mask) if method == "pigment_sparing" else mask


def remove_hair(img_bgr: np.ndarray, method: str = "thesis") -> np.ndarray:
    """Hair removal on a uint8 ``(H, W, 3)`` **BGR** image (as ``cv2.imread`` gives it):
    :func:`hair_mask` of ``method`` (the thesis' by default), then ``cv2.inpaint`` (Telea,
    radius 1). Returns BGR (a copy of the image for ``off``)."""
    if img_bgr.dtype != np.uint8 or img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
        raise ValueError(f"remove_hair expects uint8 (H, W, 3) BGR, got {img_bgr.dtype} "
                         f"{img_bgr.shape}")
    if hair_method(method) == "off":
        return img_bgr.copy()
    return cv2.inpaint(img_bgr, hair_mask(img_bgr, method), INPAINT_RADIUS, cv2.INPAINT_TELEA)


class ImageTooLargeError(DataFormatError):
    """An image or mask has more pixels than the limit (``data.max_pixels``); raised from its
    header, before any pixel is decoded."""


#: the default of ``data.max_pixels``: width x height of the largest file decoded (50 Mpx:
#: 150 MB as uint8 RGB; HAM10000 / ISIC images are 0.3-30 Mpx)
DEFAULT_MAX_PIXELS = 50_000_000
#: EXIF tag of the orientation (1 = as stored; 2-8 = mirrored / rotated on display)
EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_BITS = {"1": 1, "I": 32, "F": 32, **{m: 16 for m in _SIXTEEN_BIT}}


@dataclass(frozen=True)
class LoaderSettings:
    """How strictly :func:`decode_image` / :func:`decode_mask` / :func:`load_pair` read files.

    Attributes:
        max_pixels: width x height (px) above which a file is refused from its header, before
            its pixels are decoded (config ``data.max_pixels``). Pillow's own
            decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) stays in force as well.
        resize_masks: a mask of another size than its image is resized to the image
            (nearest neighbour) instead of being an error (config ``data.resize_masks``).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    resize_masks: bool = False

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> LoaderSettings:
        """The settings of a config's ``data`` section (defaults for absent keys)."""
        return cls(int(data.get("max_pixels", DEFAULT_MAX_PIXELS)),
                   bool(data.get("resize_masks", False)))


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, with no pixel decoded.

    Attributes:
        path: the file.
        width, height: size in px as displayed, i.e. after the EXIF orientation.
        mode: Pillow's mode of the stored pixels (``RGB``, ``L``, ``1``, ``I;16``, ``F`` ...).
        bits: bits per sample of that mode (1, 8, 16 or 32).
        orientation: the EXIF orientation 1-8 (1: none; 5-8 swap width and height).
    """

    path: str
    width: int
    height: int
    mode: str
    bits: int
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as displayed."""
        return self.width, self.height

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def rotated(self) -> bool:
        """Whether the EXIF orientation turns or mirrors the stored pixels."""
        return self.orientation != 1


@dataclass(frozen=True)
class Decoded:
    """A decoded file: its :class:`ImageHeader`, its pixels and, for a mask, the values found.

    Attributes:
        header: the file's header (size after the EXIF orientation).
        pixels: uint8 ``(H, W, 3)`` RGB for an image, uint8 ``(H, W)`` in {0, 1} for a mask.
        values: a mask's stored values (``"0/255"``, ``"0/1"``, ``"0/1 (1-bit)"``,
            ``"17 values 0-255"`` ...); ``""`` for an image.
    """

    header: ImageHeader
    pixels: np.ndarray
    values: str = ""


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8). Before ``load()`` only what the header holds: Pillow's
    ``getexif`` of a PNG decodes the pixels to find an ``eXIf`` chunk after them."""
    if im.format == "PNG" and "exif" not in im.info and im.tile:     # tile: not yet decoded
        return 1
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:                     # a broken EXIF block: the pixels as stored
        return 1
    return value if 1 <= value <= 8 else 1


def _header(im: Image.Image, path: str | Path, what: str, max_pixels: int) -> ImageHeader:
    width, height = int(im.size[0]), int(im.size[1])
    orientation = _orientation(im)
    if orientation >= 5:
        width, height = height, width
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: {what} too large: {width} x {height} px = {width * height / 1e6:.1f} Mpx, "
            f"above the limit data.max_pixels = {max_pixels:,} px (not decoded)")
    return ImageHeader(str(path), width, height, im.mode, _BITS.get(im.mode, 8), orientation)


@contextmanager
def _opened(path: str | Path, what: str) -> Iterator[Image.Image]:
    """``Image.open`` with every failure one :class:`DataFormatError` naming the file."""
    try:
        with Image.open(path) as im:
            yield im
    except DataFormatError:
        raise
    except FileNotFoundError:
        raise DataFormatError(f"{path}: {what} file not found") from None
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{path}: {what} too large for Pillow's decompression-bomb "
                                 f"guard ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise DataFormatError(f"{path}: unreadable or truncated {what} ({err})") from None


def read_header(path: str | Path, what: str = "image",
                max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """The header of an image or mask file (no pixel decoded). Raises
    :class:`ImageTooLargeError` above ``max_pixels``, :class:`DataFormatError` for a missing or
    unreadable file."""
    with _opened(path, what) as im:
        return _header(im, path, what, max_pixels)


@contextmanager
def _decoded(path: str | Path, what: str, max_pixels: int) -> Iterator[tuple[ImageHeader,
                                                                            Image.Image]]:
    """Check the header, decode the pixels and apply the EXIF orientation; the image is valid
    inside the ``with`` block (the file is closed after it)."""
    with _opened(path, what) as im:
        _header(im, path, what, max_pixels)          # the pixel limit, before decoding
        im.load()                                   # raises on truncated files
        orientation = _orientation(im)              # (PNG: EXIF may follow the pixels)
        out = ImageOps.exif_transpose(im) if orientation != 1 else im
        yield ImageHeader(str(path), out.size[0], out.size[1], out.mode,
                          _BITS.get(out.mode, 8), orientation), out


def _scaled_to_uint8(a: np.ndarray, path: str | Path, what: str) -> np.ndarray:
    """Samples of a 16-bit, 32-bit integer or float image -> uint8, by their bit depth:
    16-bit (and integer values within 0-65535) / 257; floats within [0, 1] x 255, within
    [0, 255] as they are, within [0, 65535] / 257."""
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise DataFormatError(f"{path}: {what} has NaN or infinite samples")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0 or hi > 65535:
        raise DataFormatError(f"{path}: {what} samples span {lo:g} to {hi:g}; expected 8-bit, "
                              "16-bit (0-65535) or float (0-1) values")
    if a.dtype.kind == "f" and hi <= 1:
        scale = 255.0
    elif a.dtype.kind == "f" and hi <= 255:
        scale = 1.0
    else:
        scale = 1 / 257
    return np.rint(a.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def _rgb(im: Image.Image, path: str | Path) -> np.ndarray:
    if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
        grey = _scaled_to_uint8(np.asarray(im), path, "image")
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def decode_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode an image into uint8 ``(H, W, 3)`` **RGB**, strictly:

    * the pixel count is checked from the header first (:class:`ImageTooLargeError` above
      ``max_pixels``; nothing is decoded);
    * the EXIF orientation is applied (``ImageOps.exif_transpose``: H, W as displayed);
    * samples are scaled by their bit depth: 8-bit as they are, 16-bit / 257 (a 16-bit grey
      PNG keeps its tones instead of saturating to white), 32-bit float by its range
      (:func:`_scaled_to_uint8`); grey, palette, CMYK and RGBA become RGB (alpha dropped).

    Raises :class:`DataFormatError` naming the file when it is missing, unreadable or truncated.
    """
    with _decoded(path, "image", max_pixels) as (header, im):
        return Decoded(header, np.ascontiguousarray(_rgb(im, path)))


def _values_text(values: np.ndarray, one_bit: bool) -> str:
    if one_bit:
        return "/".join(str(int(v)) for v in values) + " (1-bit)"
    shown = [f"{v:g}" for v in values.astype(np.float64)]
    if len(shown) <= 4:
        return "/".join(shown)
    return f"{len(shown)} values {shown[0]}-{shown[-1]}"


def decode_mask(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode a lesion mask into uint8 ``(H, W)`` in {0, 1} (lesion = 1), whatever its coding:

    * two values at most, one of them 0 (``0/1``, ``0/255``, ``0/65535``, 1-bit / boolean):
      lesion = the non-zero value;
    * anything else (anti-aliased edges, JPEG noise): lesion = above half of the bit depth's
      range (128 of 8-bit, 32768 of 16-bit, 0.5 of a float mask within [0, 1]).

    Colour masks are read as their grey level. ``values`` records the stored values. The
    pixel limit and the EXIF orientation are handled as in :func:`decode_image`.
    """
    with _decoded(path, "mask", max_pixels) as (header, im):
        one_bit = im.mode == "1"
        raw = one_bit or im.mode in _SIXTEEN_BIT or im.mode in ("I", "F")
        a = np.array(im if raw else im.convert("L"))
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype == np.uint8:
        values = np.flatnonzero(np.bincount(a.ravel(), minlength=256)).astype(np.uint8)
    else:
        values = np.unique(a)
    if len(values) == 1 or (len(values) == 2 and values[0] == 0):    # values are sorted
        mask = a > 0
    else:
        full = 255.0 if a.dtype == np.uint8 else (
            1.0 if a.dtype.kind == "f" and float(values.max()) <= 1 else 65535.0)
        mask = a > full / 2
    return Decoded(header, np.ascontiguousarray(mask.astype(np.uint8)),
                   _values_text(values, one_bit))


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`decode_image`'s pixels: uint8 ``(H, W, 3)`` **RGB**; :class:`DataFormatError`
    when the file is missing, unreadable, truncated or over ``max_pixels``."""
    return decode_image(path, max_pixels).pixels


def load_mask(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`decode_mask`'s pixels: uint8 ``(H, W)`` in {0, 1} (0/1, 0/255, 1-bit masks)."""
    return decode_mask(path, max_pixels).pixels


def size_mismatch(image: ImageHeader, mask: ImageHeader) -> str:
    """The message for a mask whose size differs from its image's (both files named)."""
    return (f"{mask.path}: mask is {mask.width} x {mask.height} px but its image {image.path} "
            f"is {image.width} x {image.height} px (data.resize_masks: true resizes masks to "
            "their images)")


def load_pair(image_path: str | Path, mask_path: str | Path,
              settings: LoaderSettings | None = None) -> tuple[Decoded, Decoded]:
    """An image and its mask (:func:`decode_image`, :func:`decode_mask`) of one size: a mask
    of another size is a :class:`DataFormatError` naming both files, or, with
    ``settings.resize_masks``, resized to the image (nearest neighbour)."""
    settings = settings or LoaderSettings()
    image = decode_image(image_path, settings.max_pixels)
    mask = decode_mask(mask_path, settings.max_pixels)
    if mask.header.size != image.header.size:
        if not settings.resize_masks:
            raise DataFormatError(size_mismatch(image.header, mask.header))
        pixels = cv2.resize(mask.pixels, image.header.size, interpolation=cv2.INTER_NEAREST)
        mask = Decoded(mask.header, pixels, mask.values)
    return image, mask


def preprocess_image(img_rgb: np.ndarray, size: int,
                     hair_removal: bool | str = True) -> np.ndarray:
    """Hair removal at the original resolution (``hair_removal``: a filter of
    :data:`HAIR_METHODS`, or ``True`` / ``False`` = ``thesis`` / ``off``), then resize to
    ``size x size`` (aspect ratio not kept, like the thesis' code). uint8 RGB in, uint8 RGB
    out."""
    method = hair_method(hair_removal)
    if method != "off":
        img_rgb = remove_hair(np.ascontiguousarray(img_rgb[..., ::-1]), method)[..., ::-1]
    interp = cv2.INTER_AREA if min(img_rgb.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img_rgb), (size, size), interpolation=interp)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    m = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return (m >= 0.5).astype(np.uint8)


@dataclass(frozen=True)
class _CacheJob:
    """What :func:`_fill_arrays` decodes: the image (and mask) files of the rows, the cache side
    (px), the hair filter (:func:`hair_method`), worker threads, the loader's settings and the
    progress bar's label."""

    paths: Sequence[str]
    mask_paths: Sequence[str] | None
    size: int
    hair_removal: bool | str
    threads: int
    loader: LoaderSettings
    desc: str


def _fill_arrays(job: _CacheJob, image_file: Path, mask_file: Path | None) -> list[tuple]:
    """Decode every image (and mask) into new ``.npy`` memory maps at ``image_file``
    (``(N, size, size, 3)``) and ``mask_file`` (``(N, size, size)``, when given; both with
    their disk space reserved first, :func:`selcn.atomic.reserved_memmap`), ``threads`` rows at
    a time; the maps are flushed on return. Returns per row ``(values, empty, full)`` of its
    mask at the original resolution (``[]`` without masks)."""
    n, size = len(job.paths), job.size
    images = reserved_memmap(image_file, (n, size, size, 3), np.uint8)
    masks = reserved_memmap(mask_file, (n, size, size), np.uint8) \
        if mask_file is not None else None
    found: list[tuple] = [("", False, False)] * n

    def work(i: int) -> int:
        if masks is None:
            images[i] = preprocess_image(load_image(job.paths[i], job.loader.max_pixels),
                                         size, job.hair_removal)
            return i
        image, mask = load_pair(job.paths[i], job.mask_paths[i], job.loader)
        images[i] = preprocess_image(image.pixels, size, job.hair_removal)
        masks[i] = _resize_mask(mask.pixels, size)
        found[i] = (mask.values, not mask.pixels.any(), bool(mask.pixels.all()))
        return i

    terminal = sys.stderr.isatty()
    started, step = time.perf_counter(), max(1, n // 10)
    with ThreadPoolExecutor(max_workers=max(1, int(job.threads))) as pool:
        done = tqdm(pool.map(work, range(n)), total=n, file=sys.stderr, desc=job.desc,
                    mininterval=2.0, unit="img", disable=not terminal)
        for k, _ in enumerate(done, 1):
            if not terminal and (k % step == 0 or k == n):   # a log: one line per ~10 %
                seconds = time.perf_counter() - started
                print(f"{job.desc}: {k}/{n} images ({100 * k // n}%), {seconds:.1f} s",
                      file=sys.stderr, flush=True)
    images.flush()
    if masks is not None:
        masks.flush()
    return found if masks is not None else []


def mask_set_problem(found: Sequence[tuple], where: str | Path) -> str:
    """The message when every mask of a dataset is empty or every one is full (``found``: per
    mask ``(values, empty, full)``, as :func:`_fill_arrays` returns), else ``""``."""
    if not found:
        return ""
    values = Counter(v for v, _, _ in found).most_common(3)
    seen = ", ".join(f"{v} ({k})" for v, k in values)
    for flag, what in ((1, "empty (no lesion pixel)"), (2, "full (lesion everywhere)")):
        if all(f[flag] for f in found):
            return (f"{where}: all {len(found)} masks are {what}; mask values found: {seen} "
                    "(expected lesion = 1 or 255 on background 0)")
    return ""


#: the files of a cache folder (a stale temporary of each is removed before a build)
CACHE_FILES = ("images.npy", "gt_masks.npy", "index.csv")


def build_cache(table: pd.DataFrame, out_dir: str | Path, size: int, *,
                hair_removal: bool | str = True, threads: int = 1,
                log: Callable[[str], None] = print,
                loader: LoaderSettings | None = None) -> pd.DataFrame:
    """Write the cache of a reader table (``image_id,label,target,group,source,path,
    mask_path[,ham_image_id]``) into ``out_dir``; return the index table.

    Images are decoded by the strict loader (:func:`load_pair` / :func:`decode_image` with
    ``loader``, default :class:`LoaderSettings`: EXIF orientation, bit depth, 0/1 or 0/255
    masks, a mask of its image's size, the pixel limit), hair-removed (``hair_removal``: a
    filter of :data:`HAIR_METHODS`, ``True`` / ``False`` = ``thesis`` / ``off``), resized and
    written row
    by row into memory-mapped arrays by ``threads`` worker threads (OpenCV and Pillow release
    the GIL), with a tqdm progress bar on stderr. Every file is written atomically
    (:func:`selcn.atomic.atomic_path`: a temporary name, renamed when complete; a temporary
    left by a killed earlier build is removed first; a full disk is one
    :class:`selcn.atomic.DiskFullError`). ``gt_masks.npy`` is written when every row has a
    ``mask_path``; a dataset whose masks are all empty or all full is a
    :class:`DataFormatError`."""
    t0 = time.perf_counter()
    hair_removal = hair_method(hair_removal)      # a wrong value: one error before any decode
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in CACHE_FILES:
        for stale in remove_stale_temporaries(out / name):
            log(f"removed {stale}, left by an interrupted earlier build")
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
    job = _CacheJob(table["path"].astype(str).tolist(),
                    table["mask_path"].astype(str).tolist() if with_masks else None,
                    size, hair_removal, threads, loader or LoaderSettings(), f"cache {out.name}")
    cv2.setNumThreads(1)
    with ExitStack() as files:                  # both arrays are renamed only when both are done
        img_tmp = files.enter_context(atomic_path(img_path))
        mask_tmp = files.enter_context(atomic_path(mask_path)) if with_masks else None
        found = _fill_arrays(job, img_tmp, mask_tmp)
        problem = mask_set_problem(found, out)
        if problem:
            raise DataFormatError(problem)
    if not with_masks:
        mask_path.unlink(missing_ok=True)       # stale ground truth of an older run
    index = table.reset_index(drop=True)
    index.insert(0, "row", np.arange(n))
    cols = list(INDEX_COLUMNS) + (["ham_image_id"] if "ham_image_id" in index else [])
    index = index[cols]
    write_csv(index, out / "index.csv")
    values = Counter(v for v, _, _ in found).most_common(3)
    log(f"cached {n} images ({size} px, hair removal {hair_method(hair_removal)}"
        f"{', with masks' if with_masks else ''}) in {out} in {time.perf_counter() - t0:.1f} s "
        f"with {threads} thread(s)"
        + (f"; mask values {', '.join(f'{v} ({k})' for v, k in values)}" if values else ""))
    return index
