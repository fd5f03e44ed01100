"""Hair removal (the thesis' recipe) and the dataset cache."""

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from selcn.data.preprocess import build_cache, hair_mask, load_image, preprocess_image, remove_hair

SKIN, LESION, HAIR = (205, 160, 140), (110, 70, 50), (30, 25, 20)      # RGB


def _hairy(size=(120, 160)):
    """RGB skin with a dark lesion disc and a 2-px hair line across both."""
    h, w = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = SKIN
    cv2.circle(img, (80, 60), 32, LESION, -1)
    hair = np.zeros((h, w), np.uint8)
    cv2.line(hair, (0, 10), (159, 110), 255, 2)
    img[hair > 0] = HAIR
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (80, 60), 32, 255, -1)
    return img, hair > 0, disc > 0


def test_remove_hair_removes_a_drawn_hair_and_keeps_the_lesion():
    rgb, hair, disc = _hairy()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    found = hair_mask(bgr) > 0
    assert found[hair & ~disc].mean() > 0.95                      # the hair is detected ...
    clean = remove_hair(bgr)[..., ::-1].astype(int)
    on_skin = hair & ~disc
    assert np.abs(clean[on_skin] - SKIN).mean() < 15               # ... and inpainted with skin
    far = cv2.erode(disc.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    far &= cv2.dilate(hair.astype(np.uint8), np.ones((21, 21), np.uint8)) == 0
    assert far.sum() > 500
    assert np.array_equal(clean[far], rgb[far].astype(int))       # lesion pixels untouched
    assert np.array_equal(clean[~disc & ~hair & (hair_mask(bgr) == 0)],
                          rgb[~disc & ~hair & (hair_mask(bgr) == 0)].astype(int))


def test_remove_hair_is_the_thesis_recipe_in_bgr():
    rgb, _, _ = _hairy()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (17, 17))
    _, mask = cv2.threshold(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel), 10, 255,
                            cv2.THRESH_BINARY)
    assert np.array_equal(remove_hair(bgr), cv2.inpaint(bgr, mask, 1, cv2.INPAINT_TELEA))
    with pytest.raises(ValueError, match="uint8"):
        remove_hair(bgr.astype(np.float32))


def test_preprocess_keeps_rgb_and_resizes():
    red = np.zeros((90, 120, 3), np.uint8)
    red[..., 0] = 200
    out = preprocess_image(red, 32, hair_removal=True)
    assert out.shape == (32, 32, 3) and out[..., 0].min() == 200 and out[..., 1:].max() == 0


def _table(tmp_path, n=5):
    rows = []
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.zeros((60, 80, 3), np.uint8)
        img[..., 0] = 50 * i                                       # red channel encodes the row
        img[..., 2] = 255
        Image.fromarray(img).save(tmp_path / f"im{i}.jpg", quality=100)
        mask = np.zeros((60, 80), np.uint8)
        mask[10:30 + i, 20:60] = 255
        Image.fromarray(mask).save(tmp_path / f"im{i}_segmentation.png")
        rows.append({"image_id": f"im{i}", "label": "nv", "target": 5, "group": f"L{i // 2}",
                     "source": "test", "path": str(tmp_path / f"im{i}.jpg"),
                     "mask_path": str(tmp_path / f"im{i}_segmentation.png"),
                     "lesion_id": f"L{i // 2}"})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("threads", [1, 3])
def test_build_cache_layout(tmp_path, threads):
    table = _table(tmp_path)
    out = tmp_path / "cache"
    index = build_cache(table, out, 32, hair_removal=False, threads=threads, log=lambda *a: None)
    images = np.load(out / "images.npy", mmap_mode="r")
    masks = np.load(out / "gt_masks.npy", mmap_mode="r")
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (5, 32, 32) and set(np.unique(masks)) == {0, 1}
    on_disk = pd.read_csv(out / "index.csv")
    assert list(on_disk.columns) == ["row", "image_id", "label", "target", "group", "source"]
    assert list(on_disk["row"]) == list(range(5))                    # rows in table order
    assert list(on_disk["image_id"]) == list(table["image_id"]) == list(index["image_id"])
    for r, image_id in zip(on_disk["row"], on_disk["image_id"]):
        i = int(image_id[2:])
        assert abs(int(images[r, ..., 0].mean()) - 50 * i) <= 3 and images[r, ..., 2].min() > 240
        assert masks[r].sum() == pytest.approx((20 + i) * 40 * (32 / 60) * (32 / 80), rel=0.2)
    assert not list(out.glob(".*"))                                 # no temporary files left


def test_build_cache_without_masks_and_symderm_column(tmp_path):
    table = _table(tmp_path).assign(mask_path="", ham_image_id=["", "x", "", "y", ""])
    out = tmp_path / "cache"
    (out).mkdir()
    np.save(out / "gt_masks.npy", np.zeros(1))                        # stale from an older run
    build_cache(table, out, 16, hair_removal=True, threads=1, log=lambda *a: None)
    assert not (out / "gt_masks.npy").exists()
    assert list(pd.read_csv(out / "index.csv").columns)[-1] == "ham_image_id"


def test_load_image_reads_bmp_and_png(tmp_path):
    img = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    for ext in ("bmp", "png"):
        Image.fromarray(img).save(tmp_path / f"a.{ext}")
        assert np.array_equal(load_image(tmp_path / f"a.{ext}"), img)


# ---- the hair filters (issue 20) -----------------------------------------------------------
def _hair_and_network(size=(240, 320), seed=0):
    """RGB skin with a lesion disc covered by a pigment network (a mesh of short dark
    segments and dots, blob-like: nothing straight longer than a few px) and one thin (2 px)
    hair, long and gently curved, crossing skin and lesion. Returns (image, hair, disc,
    network) with the last three bool (H, W)."""
    h, w = size
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = SKIN
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (160, 120), 80, 255, -1)
    img[disc > 0] = (150, 105, 80)
    network = np.zeros((h, w), np.uint8)
    for cy in range(50, 191, 9):                    # a honeycomb of small rings: the network
        for cx in range(90, 231, 9):
            if (cx - 160) ** 2 + (cy - 120) ** 2 < 72 ** 2:
                cv2.circle(network, (cx + int(rng.integers(-2, 3)), cy + int(rng.integers(-2, 3))),
                           3, 255, 1)
    img[network > 0] = (90, 55, 40)
    hair = np.zeros((h, w), np.uint8)
    curve = np.array([[5, 20], [120, 60], [220, 120], [315, 200]], np.int32)
    cv2.polylines(hair, [curve], False, 255, 2)
    img[hair > 0] = HAIR
    return img, hair > 0, disc > 0, (network > 0) & ~(hair > 0)


def test_pigment_sparing_keeps_a_long_thin_hair_and_drops_the_pigment_network():
    rgb, hair, disc, network = _hair_and_network()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    thesis = hair_mask(bgr, "thesis") > 0
    sparing = hair_mask(bgr, "pigment_sparing") > 0
    assert thesis[network].mean() > 0.8                 # the thesis' filter takes the network
    assert thesis[hair].mean() > 0.9
    assert sparing[hair].mean() > 0.9                   # the hair stays found, over the lesion too
    assert sparing[hair & disc].mean() > 0.9
    assert sparing[network].mean() < 0.05               # the network is spared
    assert sparing[disc & ~hair].mean() < 0.02
    assert not (sparing & ~thesis).any()                # a part of the thesis' mask, no more
    clean = remove_hair(bgr, "pigment_sparing")[..., ::-1]
    far = network & (cv2.dilate(hair.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0)
    np.testing.assert_array_equal(clean[far], rgb[far])  # the network's pixels untouched


def test_pigment_sparing_drops_dots_and_short_segments():
    rgb = np.full((200, 200, 3), SKIN, np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(150):                                # globules and short dashes
        x, y = rng.integers(10, 190, 2)
        if rng.random() < 0.5:
            cv2.circle(rgb, (int(x), int(y)), int(rng.integers(1, 4)), LESION, -1)
        else:
            cv2.line(rgb, (int(x), int(y)), (int(x) + int(rng.integers(-6, 7)),
                                             int(y) + int(rng.integers(-6, 7))), HAIR, 1)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert (hair_mask(bgr, "thesis") > 0).mean() > 0.02
    assert not (hair_mask(bgr, "pigment_sparing") > 0).any()


def test_thesis_code_converts_the_bgr_image_as_rgb():
    rgb = np.full((60, 80, 3), (200, 150, 60), np.uint8)     # blue-poor skin
    cv2.line(rgb, (0, 30), (79, 30), (120, 150, 60), 2)        # a reddish-dark line: red only
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for method, code in (("thesis", cv2.COLOR_BGR2GRAY), ("thesis_code", cv2.COLOR_RGB2GRAY)):
        gray = cv2.cvtColor(bgr, code)
        _, want = cv2.threshold(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT,
                                                 cv2.getStructuringElement(cv2.MORPH_CROSS,
                                                                           (17, 17))),
                                10, 255, cv2.THRESH_BINARY)
        np.testing.assert_array_equal(hair_mask(bgr, method), want)
    # red weighs 0.299 in the right conversion, 0.114 in the author's: only one finds the line
    assert hair_mask(bgr, "thesis").any() and not hair_mask(bgr, "thesis_code").any()
    assert not hair_mask(bgr, "off").any()


def test_hair_method_maps_the_old_spellings_and_the_protocol():
    from selcn.data.preprocess import HAIR_METHODS, hair_method, hair_param

    assert HAIR_METHODS == ("thesis", "thesis_code", "pigment_sparing", "off")
    assert (hair_method(True), hair_method(False)) == ("thesis", "off")
    assert hair_method(None, "leakage_free") == "pigment_sparing"
    assert hair_method(None, "thesis") == "thesis_code"
    assert hair_method("pigment_sparing", "thesis") == "pigment_sparing"     # a value wins
    with pytest.raises(ValueError, match="data.hair_removal"):
        hair_method("dullrazor")
    with pytest.raises(ValueError, match="protocol"):
        hair_method(None)
    # the cache rule's param: the old spellings stay as they were, a new filter is its name
    assert hair_param(True, "leakage_free") is True and hair_param("thesis", "thesis") is True
    assert hair_param(False, "thesis") is False and hair_param("off", "leakage_free") is False
    assert hair_param(None, "leakage_free") == "pigment_sparing"
    assert hair_param(None, "thesis") == "thesis_code"


def test_preprocess_and_cache_take_a_filter_by_name(tmp_path):
    rgb, hair, _, _ = _hair_and_network()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    want = cv2.resize(np.ascontiguousarray(remove_hair(bgr, "pigment_sparing")[..., ::-1]),
                      (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(preprocess_image(rgb, 64, "pigment_sparing"), want)
    np.testing.assert_array_equal(preprocess_image(rgb, 64, "off"),
                                  preprocess_image(rgb, 64, hair_removal=False))
    np.testing.assert_array_equal(preprocess_image(rgb, 64, "thesis"),
                                  preprocess_image(rgb, 64, hair_removal=True))
    assert not np.array_equal(preprocess_image(rgb, 64, "thesis"), want)
    np.testing.assert_array_equal(remove_hair(bgr, "off"), bgr)
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    table = pd.DataFrame({"image_id": ["a"], "label": ["nv"], "target": [0], "group": ["a"],
                          "source": ["x"], "path": [str(path)]})
    logged = []
    build_cache(table, tmp_path / "cache", 64, hair_removal="pigment_sparing",
                log=logged.append)
    np.testing.assert_array_equal(np.load(tmp_path / "cache" / "images.npy")[0], want)
    assert "hair removal pigment_sparing" in logged[-1]
    with pytest.raises(ValueError, match="data.hair_removal"):
        build_cache(table, tmp_path / "bad", 64, hair_removal="dullrazor", log=logged.append)
