"""Masking strategies: LAE box arithmetic (growth, clipping, empty, largest component), the
keep-masks, apply_mask (numpy / tensor) and apply_box (a precomputed LAE box)."""

import numpy as np
import pytest
import torch

import selcn.masks
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
