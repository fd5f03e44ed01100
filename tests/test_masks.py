"""Masking strategies: LAE box arithmetic (growth, clipping, empty, largest component), the
keep-masks, apply_mask (numpy / tensor) and apply_box (a precomputed LAE box); the fill of the
masked-out pixels, the dark vignette and the keep-mask of a network (issue 20)."""

import cv2
import numpy as np
import pytest
import torch

import selcn.masks
from helpers import PH2_SAMPLE_IMAGES
from selcn.grid import MASKS
from selcn.masks import apply_box, apply_mask, lae_box, lae_mask, strategy_mask


def _square(shape=(100, 100), y=20, x=40, h=10, w=10):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[y:y + h, x:x + w] = 1
    return mask


def test_lae_box_grows_about_centre():
    # rows 20..29 (centre 25, height 10 -> 14), cols 40..59 (centre 50, width 20 -> 28)
    assert lae_box(_square(y=20, x=40, h=10, w=20)) == (18, 32, 36, 64)


def test_lae_box_rounds_outwards_and_scales():
    # height 5, centre 12.5 -> grown 7 -> [9.0, 16.0]; width 3, centre 31.5 -> 4.2 -> [29.4, 33.6]
    assert lae_box(_square(y=10, x=30, h=5, w=3)) == (9, 16, 29, 34)
    assert lae_box(_square(y=10, x=30, h=5, w=3), scale=1.0) == (10, 15, 30, 33)
    assert lae_box(_square(y=10, x=30, h=4, w=4), scale=2.0) == (8, 16, 28, 36)


def test_lae_box_is_clipped_to_the_image():
    assert lae_box(_square(y=0, x=0, h=10, w=10)) == (0, 12, 0, 12)
    assert lae_box(_square(y=90, x=95, h=10, w=5)) == (88, 100, 94, 100)
    full = np.ones((32, 48), dtype=np.uint8)
    assert lae_box(full) == (0, 32, 0, 48)


def test_lae_box_uses_the_largest_component_only():
    mask = _square(y=60, x=60, h=20, w=20)
    mask[5:8, 5:8] = 1  # a small, separate blob
    assert lae_box(mask) == (56, 84, 56, 84)
    # 8-connectivity: a diagonal chain is one component, larger than the square
    chain = np.zeros((64, 64), dtype=np.uint8)
    chain[5:8, 5:8] = 1
    for i in range(40):
        chain[10 + i, 10 + i] = 1
    chain[8, 8] = chain[9, 9] = 1
    y0, y1, x0, x1 = lae_box(chain)
    assert y0 <= 5 and y1 >= 50 and x0 <= 5 and x1 >= 50


def test_empty_mask_keeps_the_whole_image():
    empty = np.zeros((20, 30), dtype=np.uint8)
    assert lae_box(empty) is None
    np.testing.assert_array_equal(lae_mask(empty), np.ones((20, 30), np.uint8))
    np.testing.assert_array_equal(strategy_mask(empty, "seg"), np.ones((20, 30), np.uint8))
    image = np.full((20, 30, 3), 7, dtype=np.uint8)
    for strategy in ("seg", "lae"):
        np.testing.assert_array_equal(apply_mask(image, empty, strategy), image)


def test_lae_mask_marks_exactly_the_box():
    mask = _square(y=20, x=40, h=10, w=20)
    box = lae_mask(mask)
    assert box.dtype == np.uint8 and box.shape == mask.shape
    assert box.sum() == (32 - 18) * (64 - 36)
    assert box[18:32, 36:64].all()


def test_strategy_mask():
    mask = _square() * 255
    assert strategy_mask(mask, "none") is None
    np.testing.assert_array_equal(strategy_mask(mask, "seg"), (mask > 0).astype(np.uint8))
    np.testing.assert_array_equal(strategy_mask(mask, "lae"), lae_mask(mask))
    with pytest.raises(ValueError, match="unknown masking strategy"):
        strategy_mask(mask, "box")
    with pytest.raises(ValueError, match="needs a predicted mask"):
        strategy_mask(None, "seg")


def test_apply_mask_numpy_and_tensor_agree():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (3, 40, 40, 3), dtype=np.uint8)
    masks = np.stack([_square((40, 40), 5, 5, 10, 12), _square((40, 40), 30, 20, 10, 10),
                      np.zeros((40, 40), np.uint8)])
    assert apply_mask(images, masks, "none") is images
    for strategy in ("seg", "lae"):
        out = apply_mask(images, masks, strategy)
        assert out.shape == images.shape and out.dtype == np.uint8
        for i in range(3):
            keep = strategy_mask(masks[i], strategy)
            np.testing.assert_array_equal(out[i], images[i] * keep[..., None])
            np.testing.assert_array_equal(apply_mask(images[i], masks[i], strategy), out[i])
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        out_t = apply_mask(tensor, torch.from_numpy(masks), strategy)
        np.testing.assert_array_equal(out_t.permute(0, 2, 3, 1).numpy(), out.astype(np.float32))
        out_1 = apply_mask(tensor[1], masks[1], strategy)
        np.testing.assert_array_equal(out_1.numpy(), out_t[1].numpy())
    # seg zeroes exactly the background
    seg = apply_mask(images[0], masks[0], "seg")
    assert (seg[masks[0] == 0] == 0).all() and (seg[masks[0] == 1] > 0).all()


def test_apply_mask_shape_mismatch():
    with pytest.raises(ValueError, match="does not match"):
        apply_mask(np.zeros((10, 10, 3), np.uint8), _square((12, 12), 1, 1, 3, 3), "seg")


def test_strategies_are_the_grid_vocabulary():
    assert MASKS == ("none", "seg", "lae")
    assert not hasattr(selcn.masks, "STRATEGIES")            # one name for the masks: grid.MASKS
    with pytest.raises(ValueError, match="unknown masking strategy 'box'"):
        apply_mask(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), "box")


def test_apply_box_is_lae_with_a_precomputed_box():
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, (40, 30, 3), dtype=np.uint8)
    for mask in (_square((40, 30), 3, 4, 9, 7), _square((40, 30), 30, 20, 10, 10),
                 (rng.random((40, 30)) > 0.97).astype(np.uint8)):
        box = lae_box(mask)
        out = apply_box(image, box)
        assert out.dtype == image.dtype and out.shape == image.shape
        np.testing.assert_array_equal(out, apply_mask(image, mask, "lae"))
        np.testing.assert_array_equal(out, image * lae_mask(mask)[..., None])
        y0, y1, x0, x1 = box
        assert (out[y0:y1, x0:x1] == image[y0:y1, x0:x1]).all() and out.sum() < image.sum()
    assert apply_box(image, None) is image                    # the box of an empty mask
    np.testing.assert_array_equal(apply_mask(image, np.zeros((40, 30)), "lae"), image)


def test_lae_box_thesis_clip_keeps_the_length():
    """clip="start" (the thesis' code): a start before 0 moves to 0 and the grown length is kept;
    "centred" cuts the box at the edge. By hand: rows 0..9 (centre 5, height 10 -> 14) grow to
    [-2, 12): centred (0, 12), start (0, 14); cols 95..99 of 100 (centre 97.5, width 5 -> 7)
    grow to [94, 101): both cut at 100 (the start is not clipped)."""
    mask = _square(y=0, x=95, h=10, w=5)
    assert lae_box(mask) == lae_box(mask, clip="centred") == (0, 12, 94, 100)
    assert lae_box(mask, clip="start") == (0, 14, 94, 100)
    left = _square(y=40, x=1, h=10, w=10)          # cols 1..10: centre 6, 14 wide -> [-1, 13)
    assert lae_box(left, clip="centred")[2:] == (0, 13)
    assert lae_box(left, clip="start")[2:] == (0, 14)
    inside = _square(y=20, x=40, h=10, w=20)        # nowhere near an edge: the same box
    assert lae_box(inside, clip="start") == lae_box(inside) == (18, 32, 36, 64)
    image = np.full((100, 100, 3), 7, np.uint8)
    start = apply_mask(image, mask, "lae", clip="start")
    assert start[:14, 94:].all() and not start[14:].any() and not start[:, :94].any()
    assert np.array_equal(lae_mask(mask, clip="start"), strategy_mask(mask, "lae", clip="start"))
    assert (lae_mask(mask, clip="start").sum(), lae_mask(mask).sum()) == (14 * 6, 12 * 6)
    with pytest.raises(ValueError, match="clip"):
        lae_box(mask, clip="end")


# ---- the fill of the masked-out pixels and the vignette (issue 20) -------------------------
def test_fill_mean_and_blur_give_the_expected_pixels():
    from selcn.masks import BLUR_SIGMA_FRACTION, MASK_FILLS, fill_image, fill_outside

    assert MASK_FILLS == ("black", "mean", "blur")
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    mask = _square((40, 30), 10, 8, 12, 10)
    keep = mask > 0
    mean = np.rint(image.reshape(-1, 3).astype(np.float64).mean(0)).astype(np.uint8)
    out = apply_mask(image, mask, "seg", fill="mean")
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[keep], image[keep])            # the lesion untouched
    np.testing.assert_array_equal(out[~keep], np.broadcast_to(mean, (int((~keep).sum()), 3)))
    blurred = cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA_FRACTION * 40,
                               borderType=cv2.BORDER_REFLECT)
    out = apply_mask(image, mask, "seg", fill="blur")
    np.testing.assert_array_equal(out[keep], image[keep])
    np.testing.assert_array_equal(out[~keep], blurred[~keep])
    assert out[~keep].std() < image[~keep].std() / 4                 # structure gone
    np.testing.assert_array_equal(fill_image(image, "blur"), blurred)
    # black: exactly the thesis' masking (image x mask), by every path
    black = apply_mask(image, mask, "seg", fill="black")
    np.testing.assert_array_equal(black, image * keep[..., None])
    np.testing.assert_array_equal(fill_outside(image, keep), black)
    assert fill_outside(image, None, "mean") is image
    # lae: the same fill outside the box, apply_box and apply_mask agree
    box = lae_box(mask)
    for fill in MASK_FILLS:
        np.testing.assert_array_equal(apply_box(image, box, fill),
                                      apply_mask(image, mask, "lae", fill=fill))
    y0, y1, x0, x1 = box
    lae = apply_box(image, box, "mean")
    assert (lae[:y0] == mean).all() and (lae[y0:y1, x0:x1] == image[y0:y1, x0:x1]).all()
    with pytest.raises(ValueError, match="fill"):
        apply_mask(image, mask, "seg", fill="grey")


def test_fill_on_tensors_matches_numpy():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    masks = np.stack([_square((24, 24), 4, 4, 8, 8), _square((24, 24), 10, 12, 6, 9)])
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    for fill in ("mean", "blur"):
        want = np.stack([fill_np for fill_np in (
            apply_mask(images[i].astype(np.float32), masks[i], "seg", fill=fill)
            for i in range(2))])
        got = apply_mask(tensor, torch.from_numpy(masks), "seg", fill=fill)
        np.testing.assert_allclose(got.permute(0, 2, 3, 1).numpy(), want, atol=1e-4)


def _vignetted(side=96, lesion_value=60):
    """Skin (200) with a dark lesion disc (value ``lesion_value``) at the centre and a dark
    circular vignette (20) outside the circle of radius 0.55 x the side about the centre."""
    image = np.full((side, side, 3), 200, np.uint8)
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy + 0.5 - side / 2, xx + 0.5 - side / 2)
    image[r > 0.55 * side] = 20
    image[r < 0.15 * side] = lesion_value
    return image, r > 0.55 * side, r < 0.15 * side


def test_vignette_is_the_dark_region_of_the_corners():
    from selcn.masks import vignette_mask

    image, outside, lesion = _vignetted()
    found = vignette_mask(image)
    assert found.dtype == bool and found.shape == image.shape[:2]
    assert found[outside].mean() > 0.95 and found[0, 0] and found[-1, -1]
    assert not found[lesion].any()                       # a dark lesion at the centre is not
    assert not found[~outside].any()
    # no dark corners, no vignette; a dark band at one side only, none either
    assert not vignette_mask(np.full((64, 80, 3), 180, np.uint8)).any()
    band = np.full((64, 64, 3), 200, np.uint8)
    band[30:34, :] = 10                                  # a hair-like dark line, no corner
    assert not vignette_mask(band).any()
    with pytest.raises(ValueError, match="uint8"):
        vignette_mask(image.astype(np.float32))


def test_keep_mask_of_strategy_and_vignette():
    from selcn.masks import keep_mask, vignette_mask

    image, outside, _ = _vignetted()
    mask = _square((96, 96), 30, 30, 36, 36)
    assert keep_mask(image, None, "none") is None
    np.testing.assert_array_equal(keep_mask(image, mask, "seg"), mask > 0)
    np.testing.assert_array_equal(keep_mask(image, None, "none", vignette=True),
                                  ~vignette_mask(image))
    both = keep_mask(image, mask, "lae", vignette=True, clip="start")
    np.testing.assert_array_equal(both, (lae_mask(mask, clip="start") > 0) & ~vignette_mask(image))
    assert keep_mask(np.full((96, 96, 3), 200, np.uint8), None, "none", vignette=True) is None


def test_vignette_on_real_ph2_images():
    from selcn.data.preprocess import load_image
    from selcn.masks import vignette_mask

    root = PH2_SAMPLE_IMAGES
    if not root.is_dir():
        pytest.skip(f"the PH² sample is not at {root} (a user's clone)")
    # IMD008: the dermatoscope's dark circle in all four corners; IMD014: none (full frame)
    framed = cv2.resize(load_image(root / "IMD008" / "IMD008_Dermoscopic_Image" / "IMD008.bmp"),
                        (128, 128), interpolation=cv2.INTER_AREA)
    found = vignette_mask(framed)
    assert 0.01 < found.mean() < 0.15
    # (the last row of PH²'s images is a light line: the corners' inner pixels)
    for corner in (found[1:4, 1:4], found[1:4, -4:-1], found[-4:-1, 1:4], found[-4:-1, -4:-1]):
        assert corner.all()
    assert not found[32:96, 32:96].any()
    full = cv2.resize(load_image(root / "IMD014" / "IMD014_Dermoscopic_Image" / "IMD014.bmp"),
                      (128, 128), interpolation=cv2.INTER_AREA)
    assert vignette_mask(full).mean() < 0.005
