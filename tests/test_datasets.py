"""CachedImageDataset, make_loader and class_weights."""

import numpy as np
import pytest
import torch

from selcn.data.datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CachedImageDataset,
    View,
    class_weights,
    make_loader,
)
from selcn.masks import apply_mask, lae_mask

S = 12
EXPECTED = {0: lambda a: a, 1: np.fliplr, 2: np.flipud, 3: lambda a: np.rot90(a, k=1)}


@pytest.fixture
def cache():
    rng = np.random.default_rng(0)
    pattern = rng.integers(1, 256, (4, S, S), dtype=np.uint8)   # asymmetric gray images
    images = np.repeat(pattern[..., None], 3, axis=3)
    masks = (pattern > 128).astype(np.uint8)
    cams = (pattern / 255.0).astype(np.float16)
    return images, masks, cams


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_transforms_are_applied_identically(cache, code):
    images, masks, cams = cache
    rows = np.array([2, 1])
    ds = CachedImageDataset(images, rows, transforms=[code, code], target_masks=masks, cams=cams,
                            view=View(normalize=False))
    for i, row in enumerate(rows):
        item = ds[i]
        want = EXPECTED[code](images[row, :, :, 0])
        np.testing.assert_allclose(item["image"].numpy() * 255, np.stack([want] * 3), atol=1e-3)
        np.testing.assert_array_equal(item["target"][0].numpy(), EXPECTED[code](masks[row]))
        np.testing.assert_allclose(item["cam"][0].numpy(),
                                   EXPECTED[code](cams[row]).astype(np.float32))
        assert item["row"].item() == row


@pytest.mark.parametrize("strategy", ["seg", "lae"])
def test_masking_then_transform(cache, strategy):
    images, masks, _ = cache
    ds = CachedImageDataset(images, [3], [1], transforms=[1], masks=masks,
                            view=View(mask=strategy, normalize=False))
    keep = masks[3] if strategy == "seg" else lae_mask(masks[3])
    want = np.fliplr(images[3, :, :, 0] * keep)
    np.testing.assert_allclose(ds[0]["image"][0].numpy() * 255, want, atol=1e-3)


@pytest.mark.parametrize("strategy", ["seg", "lae"])
def test_empty_mask_keeps_the_whole_image(cache, strategy):
    images, masks, _ = cache
    masks = masks.copy()
    masks[2] = 0
    ds = CachedImageDataset(images, [2, 2], transforms=[0, 3], masks=masks,
                            view=View(mask=strategy, normalize=False))
    np.testing.assert_allclose(ds[0]["image"][0].numpy() * 255, images[2, :, :, 0], atol=1e-3)
    np.testing.assert_allclose(ds[1]["image"][0].numpy() * 255, np.rot90(images[2, :, :, 0]),
                               atol=1e-3)


@pytest.mark.parametrize("strategy", ["none", "seg", "lae"])
def test_masking_is_masks_py(strategy):
    # the dataset's pixels are selcn.masks.apply_mask's, for every row, transform and strategy;
    # row 1 has an empty mask (the whole image is kept), row 2 a full one, row 3 two blobs
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, S, S, 3), dtype=np.uint8)
    masks = np.zeros((4, S, S), np.uint8)
    masks[0, 2:7, 3:9] = 255
    masks[2] = 1
    masks[3, 1:3, 1:3] = masks[3, 6:11, 5:10] = 1
    rows = np.repeat(np.arange(4), 4)
    codes = np.tile(np.arange(4), 4)
    ds = CachedImageDataset(images, rows, transforms=codes, masks=masks,
                            view=View(mask=strategy, normalize=False))
    for _ in range(2):                                   # the second pass uses cached LAE boxes
        for i, (row, code) in enumerate(zip(rows, codes)):
            got = np.rint(ds[i]["image"].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
            want = EXPECTED[code](apply_mask(images[row], masks[row], strategy))
            np.testing.assert_array_equal(got, want)
    if strategy != "none":
        np.testing.assert_array_equal(apply_mask(images[1], masks[1], strategy), images[1])
        assert (apply_mask(images[0], masks[0], strategy) != images[0]).any()


def test_shapes_dtypes_and_normalisation(cache):
    images, masks, cams = cache
    images = images.copy()
    images[0] = [255, 128, 0]
    ds = CachedImageDataset(images, [0, 1, 2], [0, 6, 3], cams=cams, view=View(size=8))
    item = ds[0]
    assert item["image"].shape == (3, 8, 8) and item["image"].dtype == torch.float32
    assert item["target"].dtype == torch.int64 and item["target"].shape == ()
    assert item["cam"].shape == (1, S, S) and item["cam"].dtype == torch.float32
    want = (np.array([255, 128, 0]) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(item["image"].numpy().reshape(3, -1).mean(1), want, atol=1e-5)
    np.testing.assert_allclose(item["image"].numpy()[:, 3, 5], want, atol=1e-5)
    # float targets stay float; segmentation targets are (1, H, W) {0, 1}, resized nearest
    assert CachedImageDataset(images, [1], [0.5])[0]["target"].dtype == torch.float32
    seg = CachedImageDataset(images, [1, 2], target_masks=masks * 255,
                             view=View(size=20))[1]["target"]
    assert seg.shape == (1, 20, 20) and set(np.unique(seg.numpy())) <= {0.0, 1.0}
    # upscale and downscale; no targets -> no "target" key
    assert CachedImageDataset(images, [1], view=View(size=20))[0]["image"].shape == (3, 20, 20)
    assert "target" not in CachedImageDataset(images, [1])[0]


def test_bad_input_is_rejected(cache):
    images, masks, cams = cache
    with pytest.raises(ValueError, match="uint8"):
        CachedImageDataset(images.astype(np.float32), [0])
    with pytest.raises(ValueError, match="needs masks"):
        CachedImageDataset(images, [0], view=View(mask="seg"))
    with pytest.raises(ValueError, match="transform code"):
        CachedImageDataset(images, [0], transforms=[4])
    with pytest.raises(ValueError, match="one per row"):
        CachedImageDataset(images, [0, 1], [0])
    with pytest.raises(ValueError, match="masks has shape"):
        CachedImageDataset(images, [0], masks=masks[:, :5], view=View(mask="seg"))
    with pytest.raises(ValueError, match=r"rows must lie"):
        CachedImageDataset(images, [4])


def test_memory_mapped_cache(cache, tmp_path):
    images, _, _ = cache
    np.save(tmp_path / "images.npy", images)
    mm = np.load(tmp_path / "images.npy", mmap_mode="r")
    a = CachedImageDataset(mm, [1, 2], view=View(size=8))[1]["image"]
    b = CachedImageDataset(images, [1, 2], view=View(size=8))[1]["image"]
    torch.testing.assert_close(a, b)


def _order(loader):
    return torch.cat([b["row"] for b in loader]).tolist()


def test_make_loader_is_deterministic(cache):
    images, _, _ = cache
    ds = CachedImageDataset(images, np.repeat(np.arange(4), 5), view=View(size=4))
    first = make_loader(ds, 3, shuffle=True, num_workers=0, seed=7)
    epoch1, epoch2 = _order(first), _order(first)
    again = make_loader(ds, 3, shuffle=True, num_workers=0, seed=7)
    assert _order(again) == epoch1 and _order(again) == epoch2
    assert epoch1 != epoch2  # a new order each epoch
    assert _order(make_loader(ds, 3, shuffle=True, num_workers=0, seed=8)) != epoch1
    assert _order(make_loader(ds, 3, shuffle=False, num_workers=0, seed=7)) == ds.rows.tolist()
    assert len(make_loader(ds, 3, shuffle=True, seed=7, drop_last=True)) == 6
    with_workers = make_loader(ds, 3, shuffle=True, num_workers=2, seed=7)
    assert _order(with_workers) == epoch1


def test_class_weights():
    w = class_weights([0, 0, 0, 1], 3)
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, torch.tensor([4 / 9, 4 / 3, 0.0]))
    # balanced classes -> all ones; N = sum_i w_i n_i
    torch.testing.assert_close(class_weights([0, 1, 2, 0, 1, 2], 3), torch.ones(3))
    y = np.array([0, 1, 1, 2, 2, 2, 2])
    w = class_weights(y, 3).numpy()
    assert np.isclose((w[y]).sum(), len(y))
    with pytest.raises(ValueError, match="must lie"):
        class_weights([0, 3], 3)


# ---- a view's fill, LAE clipping and vignette (issue 20) -----------------------------------
@pytest.mark.parametrize("fill", ["black", "mean", "blur"])
@pytest.mark.parametrize("strategy", ["seg", "lae"])
@pytest.mark.parametrize("clip", ["centred", "start"])
def test_the_views_fill_and_clip_are_masks_py(strategy, fill, clip):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((3, 32, 32), np.uint8)
    masks[0, 0:10, 2:12] = 1                             # at the top edge: the clips differ
    masks[1, 12:20, 10:22] = 1
    view = View(mask=strategy, normalize=False, fill=fill, lae_clip=clip)
    ds = CachedImageDataset(images, [0, 1, 2], masks=masks, view=view)
    for row in range(3):
        got = np.rint(ds[row]["image"].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        want = apply_mask(images[row], masks[row], strategy, clip=clip, fill=fill)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(view.shown(images[row], masks[row]), want)
    if strategy == "lae":
        start = apply_mask(images[0], masks[0], "lae", clip="start")
        assert not np.array_equal(start, apply_mask(images[0], masks[0], "lae"))
    if fill == "mean":                                   # the mean colour, not black
        got = np.rint(ds[1]["image"].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        mean = np.rint(images[1].reshape(-1, 3).mean(0)).astype(np.uint8)
        assert (got[0, 0] == mean).all()


def test_the_view_fills_the_vignette_of_every_input():
    from selcn.masks import vignette_mask

    side = 48
    yy, xx = np.mgrid[:side, :side]
    image = np.full((side, side, 3), 200, np.uint8)
    image[np.hypot(yy + 0.5 - side / 2, xx + 0.5 - side / 2) > 0.55 * side] = 15
    images = image[None]
    vignette = vignette_mask(image)
    assert vignette.mean() > 0.05
    view = View(normalize=False, vignette=True, fill="mean")
    assert view.masks_input and not view.needs_masks
    got = np.rint(CachedImageDataset(images, [0], view=view)[0]["image"].numpy() * 255)
    got = got.astype(np.uint8).transpose(1, 2, 0)
    mean = np.rint(image.reshape(-1, 3).mean(0)).astype(np.uint8)
    assert (got[vignette] == mean).all() and (got[~vignette] == image[~vignette]).all()
    # with a mask: both removed
    masks = np.zeros((1, side, side), np.uint8)
    masks[0, 10:30, 10:30] = 1
    both = View(mask="seg", normalize=False, vignette=True)
    np.testing.assert_array_equal(both.keep(image, masks[0]), (masks[0] > 0) & ~vignette)
    got = np.rint(CachedImageDataset(images, [0], masks=masks, view=both)[0]["image"].numpy()
                  * 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, image * both.keep(image, masks[0])[..., None])
    # without the option the vignette stays
    plain = CachedImageDataset(images, [0], view=View(normalize=False))[0]["image"].numpy()
    np.testing.assert_allclose(plain * 255, image.transpose(2, 0, 1), atol=1e-3)


def test_the_view_records_its_masking_for_model_files():
    from selcn.data.datasets import MASKING_RECORD

    view = View(mask="lae", size=32, fill="blur", lae_clip="start", vignette=True)
    record = view.record()
    assert record == {"mask_fill": "blur", "lae_clip": "start", "mask_vignette": True}
    assert View(mask="lae", **View.recorded(record)) == View(mask="lae", fill="blur",
                                                             lae_clip="start", vignette=True)
    # a model file written before the fields existed masks as every network did then
    assert View.recorded({"arch": "x"}) == {"fill": "black", "lae_clip": "centred",
                                            "vignette": False}
    assert set(MASKING_RECORD) == set(record)
    with pytest.raises(ValueError, match="fill"):
        View(fill="grey")
    with pytest.raises(ValueError, match="lae_clip"):
        View(lae_clip="end")
