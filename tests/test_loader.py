"""The strict image loader (selcn.data.preprocess) on hostile files: 16-bit samples, 0/1 and
1-bit masks, EXIF orientation, masks of another size, images over the pixel limit, all-empty
mask sets; and the real PH2 sample (24-bit BMP images, 1-bit BMP masks) where it is present."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from helpers import PH2_SAMPLE, PH2_SAMPLE_IMAGES
from selcn.data.preprocess import (
    DataFormatError,
    ImageTooLargeError,
    LoaderSettings,
    build_cache,
    decode_image,
    decode_mask,
    load_image,
    load_mask,
    load_pair,
    read_header,
)

PH2 = PH2_SAMPLE
PH2_IMAGES = PH2_SAMPLE_IMAGES
QUIET = dict(hair_removal=False, threads=2, log=lambda *a: None)


def _row(tmp_path, i, image, mask) -> dict:
    return {"image_id": f"im{i}", "label": "nv", "target": 5, "group": f"im{i}",
            "source": "test", "path": str(image), "mask_path": str(mask)}


# ---- bit depth -----------------------------------------------------------------------------
def test_a_16_bit_grey_png_keeps_its_tones(tmp_path):
    """Pillow's convert("RGB") saturates 16-bit samples (mean 255); the loader scales by 257."""
    value = 49267                                       # 191.7 of 255
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((30, 40), value, np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    rgb = load_image(path)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    assert rgb.mean() == pytest.approx(value / 257, abs=0.5)          # not 255
    ramp = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (30, 1))
    Image.fromarray(ramp).save(path)
    got = load_image(path)[..., 0].astype(int)
    assert np.abs(got - np.rint(ramp / 257)).max() <= 1 and got.min() == 0 and got.max() == 255
    assert read_header(path).bits == 16


def test_a_16_bit_image_is_cached_at_its_tones(tmp_path):
    image = tmp_path / "grey16.png"
    Image.fromarray(np.full((30, 40), 49267, np.uint16)).save(image)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), ((10, 10), (15, 15)))).save(mask)
    build_cache(pd.DataFrame([_row(tmp_path, 0, image, mask)]), tmp_path / "c", 16, **QUIET)
    cached = np.load(tmp_path / "c" / "images.npy")
    assert cached.mean() == pytest.approx(191.7, abs=1)


def test_float_images_are_scaled_by_their_range(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(path)
    assert load_image(path).mean() == pytest.approx(127.5, abs=0.6)
    Image.fromarray(np.full((8, 8), -3.0, np.float32)).save(path)
    with pytest.raises(DataFormatError, match=r"f.tif: image samples span -3"):
        load_image(path)


# ---- masks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("coding", ["0/1", "0/255", "1-bit", "0/65535"])
def test_masks_read_the_same_whatever_their_coding(tmp_path, coding):
    lesion = np.zeros((20, 30), bool)
    lesion[5:12, 8:20] = True
    path = tmp_path / "m.png"
    if coding == "1-bit":
        Image.fromarray(lesion).convert("1").save(path)
    elif coding == "0/65535":
        Image.fromarray(lesion.astype(np.uint16) * 65535).save(path)
    else:
        Image.fromarray(lesion.astype(np.uint8) * (1 if coding == "0/1" else 255)).save(path)
    decoded = decode_mask(path)
    assert decoded.pixels.dtype == np.uint8 and set(np.unique(decoded.pixels)) == {0, 1}
    assert np.array_equal(decoded.pixels, lesion)                     # 0/1 is not empty
    assert decoded.values.startswith("0/1" if coding in ("0/1", "1-bit") else "0/")
    assert np.array_equal(load_mask(path), lesion)


def test_a_graded_mask_is_thresholded_at_half_its_range(tmp_path):
    path = tmp_path / "soft.png"
    Image.fromarray(np.array([[0, 100, 127, 128, 200, 255]], np.uint8)).save(path)
    decoded = decode_mask(path)
    assert decoded.pixels.tolist() == [[0, 0, 0, 1, 1, 1]]
    assert decoded.values == "6 values 0-255"
    Image.fromarray(np.array([[1, 1, 255, 255]], np.uint8)).save(path)  # two values, no 0
    assert decode_mask(path).pixels.tolist() == [[0, 0, 1, 1]]
    Image.fromarray(np.array([[0, 0, 0, 0]], np.uint8)).save(path)
    assert decode_mask(path).pixels.tolist() == [[0, 0, 0, 0]] and decode_mask(path).values == "0"


def test_a_dataset_of_empty_masks_is_refused(tmp_path):
    rows = []
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / f"im{i}.png")
        Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / f"m{i}.png")
        rows.append(_row(tmp_path, i, tmp_path / f"im{i}.png", tmp_path / f"m{i}.png"))
    out = tmp_path / "cache"
    with pytest.raises(DataFormatError, match=r"all 3 masks are empty .* values found: 0 \(3\)"):
        build_cache(pd.DataFrame(rows), out, 16, **QUIET)
    assert not list(out.iterdir())                                    # nothing written
    for i in range(3):                                                # all full: refused too
        Image.fromarray(np.full((20, 30), 255, np.uint8)).save(tmp_path / f"m{i}.png")
    with pytest.raises(DataFormatError, match="all 3 masks are full"):
        build_cache(pd.DataFrame(rows), out, 16, **QUIET)


def test_a_mask_of_another_size_names_both_files(tmp_path):
    image, mask = tmp_path / "im0.jpg", tmp_path / "im0_mask.png"
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(image)
    Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), 5)).save(mask)     # 20 x 20
    with pytest.raises(DataFormatError, match=rf"{mask}: mask is 20 x 20 px but its image "
                                              rf"{image} is 60 x 40 px"):
        load_pair(image, mask)
    table = pd.DataFrame([_row(tmp_path, 0, image, mask)])
    with pytest.raises(DataFormatError, match="im0_mask.png: mask is 20 x 20 px but its image"):
        build_cache(table, tmp_path / "cache", 16, **QUIET)
    _, resized = load_pair(image, mask, LoaderSettings(resize_masks=True))   # declared option
    assert resized.pixels.shape == (40, 60) and resized.pixels.any()
    build_cache(table, tmp_path / "cache", 16, loader=LoaderSettings(resize_masks=True), **QUIET)
    assert np.load(tmp_path / "cache" / "gt_masks.npy").any()


# ---- EXIF orientation ----------------------------------------------------------------------
def test_an_exif_rotated_jpeg_is_read_as_displayed(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)                     # left half red, right half black
    exif = Image.Exif()
    exif[0x0112] = 6                                 # displayed turned 90 degrees clockwise
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    decoded = decode_image(path)
    assert decoded.pixels.shape == (40, 20, 3)                        # height and width swap
    assert decoded.pixels[:18, :, 0].min() > 230                      # the left half is on top
    assert decoded.pixels[22:, :, 0].max() < 25
    assert decoded.header.rotated and decoded.header.size == (20, 40)
    assert read_header(path).size == (20, 40)                        # from the header alone


# ---- the pixel limit -----------------------------------------------------------------------
def _png_claiming(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` (grey 8-bit) with a few bytes of data:
    decoding it would fail as truncated, so an error about its size proves nothing was
    decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    _png_claiming(path, 12000, 12000)                                 # 144 Mpx
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load",
                        lambda self: loads.append(1) or real_load(self))
    with pytest.raises(ImageTooLargeError, match=r"huge.png: image too large: 12000 x 12000 px "
                                                 r"= 144.0 Mpx, above the limit data.max_pixels"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match="huge.png: mask too large"):
        load_mask(path, max_pixels=1000)
    assert loads == []                                                # no pixel decoded
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(small)
    with pytest.raises(ImageTooLargeError, match="1,000 px"):
        load_image(small, max_pixels=1000)
    assert load_image(small, max_pixels=1200).shape == (30, 40, 3)   # the limit is inclusive


def test_pillows_decompression_bomb_guard_stays(tmp_path):
    path = tmp_path / "bomb.png"
    _png_claiming(path, 20000, 20000)               # 400 Mpx > 2 x Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError, match="bomb.png: image too large for Pillow's "
                                                 "decompression-bomb guard"):
        load_image(path, max_pixels=10**12)


def test_truncated_pixels_are_named(tmp_path):
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:2000])
    assert read_header(path).size == (64, 64)                         # the header is intact
    with pytest.raises(DataFormatError, match=r"cut.jpg: unreadable or truncated image"):
        load_image(path)


# ---- the real PH2 sample -------------------------------------------------------------------
def _ph2_cases(n: int) -> list[tuple[Path, Path]]:
    if not PH2_IMAGES.is_dir():
        pytest.skip(f"PH2 sample not found at {PH2_IMAGES} (../shared/data/ph2-sample)")
    cases = sorted(p for p in PH2_IMAGES.iterdir() if p.is_dir())[:n]
    return [(c / f"{c.name}_Dermoscopic_Image" / f"{c.name}.bmp",
             c / f"{c.name}_lesion" / f"{c.name}_lesion.bmp") for c in cases]


def test_ph2_one_bit_masks_load_as_lesions(tmp_path):
    pairs = _ph2_cases(40)
    assert len(pairs) == 40
    for image_path, mask_path in pairs:
        assert Image.open(mask_path).mode == "1"                       # 1-bit BMP
        image, mask = load_pair(image_path, mask_path)
        assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3
        assert mask.pixels.shape == image.pixels.shape[:2]
        assert set(np.unique(mask.pixels)) == {0, 1}, mask_path
        assert 0.02 < mask.pixels.mean() < 0.98, mask_path             # a lesion, not empty
        assert mask.values == "0/1 (1-bit)"


def test_ph2_cases_are_cached_with_their_masks(tmp_path):
    pairs = _ph2_cases(3)
    rows = [_row(tmp_path, i, image, mask) for i, (image, mask) in enumerate(pairs)]
    build_cache(pd.DataFrame(rows), tmp_path / "cache", 64, **QUIET)
    masks = np.load(tmp_path / "cache" / "gt_masks.npy")
    assert masks.shape == (3, 64, 64) and all(0.02 < m.mean() < 0.98 for m in masks)
    images = np.load(tmp_path / "cache" / "images.npy")
    for cached, (image, _) in zip(images, pairs):                     # true colours, not grey
        assert abs(float(cached.mean()) - float(load_image(image).mean())) < 3
