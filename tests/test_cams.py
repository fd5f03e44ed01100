"""Batched Grad-CAM++ against pytorch-grad-cam, resizing, and localisation on hand-drawn masks."""

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from selcn.cams import (
    BASELINE_COLUMNS,
    dilate_mask,
    gradcam_plus_plus,
    localisation_baselines,
    localisation_metrics,
    localisation_table,
    normalize_cams,
    resize_cams,
)
from selcn.models.symmetry import cam_target_layer, create_symmetry_model


def _small_net(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12),      # [5]: target layer
        nn.ReLU(inplace=inplace),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 3),
    ).eval()


def _library(model, layer, images, targets=None):
    with GradCAMPlusPlus(model=model, target_layers=[layer]) as cam:
        tg = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
        return cam(input_tensor=images, targets=tg)


def _ours_at_input(model, layer, images, targets=None):
    cams = gradcam_plus_plus(model, images, layer, targets)
    return resize_cams(cams, tuple(images.shape[-2:])).numpy()


@pytest.mark.parametrize("targets", [None, [2, 0, 1, 1]])
def test_matches_library_on_small_model(targets):
    model = _small_net()
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    ref = _library(model, model[5], images, targets)
    ours = _ours_at_input(model, model[5], images, targets)
    assert ours.shape == ref.shape == (4, 16, 16)
    assert np.abs(ours - ref).max() < 1e-4
    assert ref.max() > 0.99                                  # not a trivial all-zero map


def test_matches_library_on_squeezenet():
    model = create_symmetry_model("squeezenet1_0", num_classes=2).eval()
    layer = cam_target_layer(model)
    assert layer is model.features[12]
    images = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    raw = gradcam_plus_plus(model, images, layer)
    assert raw.shape == (2, 5, 5)                            # SqueezeNet at 96 px: 5 x 5 features
    ref = _library(model, layer, images)
    ours = resize_cams(raw, 96).numpy()
    assert np.abs(ours - ref).max() < 1e-4


def test_per_image_normalisation_and_batch_independence():
    model = _small_net()
    images = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    images[1] *= 50                                          # one image with a huge scale
    batch = gradcam_plus_plus(model, images, model[5])
    for i in range(3):
        alone = gradcam_plus_plus(model, images[i:i + 1], model[5])[0]
        torch.testing.assert_close(batch[i], alone, atol=1e-5, rtol=0)
        assert batch[i].max() > 0.99 and batch[i].min() == 0


def test_no_parameter_gradients_mode_restored_and_logits():
    model = _small_net().train()
    images = torch.randn(2, 3, 16, 16)
    cams, logits = gradcam_plus_plus(model, images, model[5], return_logits=True)
    assert model.training                                    # mode restored
    assert all(p.grad is None for p in model.parameters())   # backward stopped at the layer
    assert not cams.requires_grad and cams.dtype == torch.float32
    model.eval()
    torch.testing.assert_close(logits, model(images))


def test_inplace_relu_after_target_layer_is_safe():
    """An in-place ReLU right after the target layer must not corrupt activation or gradient."""
    images = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    plain, inplace = _small_net(False), _small_net(True)
    torch.testing.assert_close(gradcam_plus_plus(inplace, images, inplace[5]),
                               gradcam_plus_plus(plain, images, plain[5]))


class _TwoInput(nn.Module):
    """A lesion-style model ``model(image, cam)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.fuse = nn.Conv2d(7, 6, 1)
        self.head = nn.Linear(6, 2)

    def forward(self, image, cam, scale=1.0):
        x = self.body(image)
        x = self.fuse(torch.cat([x, nn.functional.interpolate(cam, size=x.shape[-2:])], 1))
        return self.head(torch.relu(x).mean((2, 3))) * scale


def test_extra_inputs_are_forwarded():
    model = _TwoInput().eval()
    images, cam = torch.randn(2, 3, 8, 8), torch.rand(2, 1, 4, 4)
    ours = gradcam_plus_plus(model, images, model.fuse, cam=cam, scale=2.0)

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, cam, scale=2.0)

    ref = _library(Fixed(), model.fuse, images)
    assert np.abs(resize_cams(ours, 8).numpy() - ref).max() < 1e-4


def test_target_layer_must_run_once():
    model = _small_net()
    with pytest.raises(ValueError, match="ran 0 times"):
        gradcam_plus_plus(model, torch.randn(1, 3, 16, 16), nn.Conv2d(3, 3, 1))


def test_resize_and_normalise():
    cams = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[5.0, 5.0], [5.0, 5.0]]])
    norm = normalize_cams(cams)
    torch.testing.assert_close(norm[0], torch.tensor([[0, 1 / 3], [2 / 3, 1.0]]), atol=1e-6,
                               rtol=0)
    assert norm[1].abs().max() == 0                          # constant map -> zeros
    big = resize_cams(cams[:1].numpy(), (4, 6))
    assert isinstance(big, np.ndarray) and big.shape == (1, 4, 6)
    assert big.min() == 0 and abs(big.max() - 1) < 1e-6
    assert resize_cams(cams[0], 3).shape == (3, 3)


# ---- localisation ---------------------------------------------------------------------------
def _square(side, top, left, size):
    m = np.zeros((side, side), np.uint8)
    m[top:top + size, left:left + size] = 1
    return m


def test_dilation_kernel_and_iterations():
    gt = _square(40, 20, 20, 1)                              # one pixel
    # kernel ceil(0.05 * 40) = 2 -> each dilation grows the square by one pixel
    assert dilate_mask(gt).sum() == 9                        # 1 -> 2x2 -> 3x3
    assert dilate_mask(gt, iterations=0).sum() == 1
    assert dilate_mask(gt, dilation_fraction=0.1, iterations=1).sum() == 16   # 4x4 kernel


def test_cam_inside_the_lesion():
    gt = _square(20, 5, 5, 10)                               # dilated (k=1): unchanged
    cam = np.zeros((20, 20), np.float32)
    cam[7:12, 7:12] = 0.9
    cam[9, 9] = 1.0
    out = localisation_metrics(cam, gt, dilation_fraction=0.05)
    assert out == {"iou": 25 / 100, "overlap": 1.0, "pointing": 1.0}


def test_cam_partly_outside_uses_dilated_mask():
    gt = _square(40, 10, 10, 10)                             # rows / cols 10..19
    kw = dict(dilation_fraction=0.075)                       # kernel ceil(3.0) = 3
    region = dilate_mask(gt, **kw)                           # twice: rows / cols 8..21
    assert region.sum() == 14 * 14 and region[8, 8] and region[21, 21] and not region[22, 21]
    cam = np.zeros((40, 40), np.float32)
    cam[15:25, 15:25] = 0.8                                  # 10 x 10 activation
    cam[20, 20] = 1.0                                        # arg-max inside G, outside the mask
    out = localisation_metrics(cam, gt, **kw)
    inter = 7 * 7                                            # rows / cols 15..21
    assert out["overlap"] == pytest.approx(inter / 100)
    assert out["iou"] == pytest.approx(inter / (100 + 196 - inter))
    # the pointing game is scored on the undilated mask (thesis' evaluate_cam.py) ...
    assert out["pointing"] == 0.0 and "pointing_dilated" not in out
    # ... and, as an extra column on request, on the dilated one
    both = localisation_metrics(cam, gt, pointing_dilated=True, **kw)
    assert both["pointing"] == 0.0 and both["pointing_dilated"] == 1.0
    assert {k: both[k] for k in ("iou", "overlap")} == {k: out[k] for k in ("iou", "overlap")}


def test_pointing_game_on_the_undilated_mask_hand_computed():
    # 30 x 30, lesion M = rows / cols 10..14; kernel ceil(0.1 * 30) = 3 (centred), two
    # dilations grow the square by one pixel per side each: G = rows / cols 8..16.
    gt = _square(30, 10, 10, 5)
    kw = dict(dilation_fraction=0.1, iterations=2)
    assert dilate_mask(gt, **kw).sum() == 9 * 9
    for (r, c), in_mask, in_region in (((12, 12), 1.0, 1.0), ((14, 10), 1.0, 1.0),
                                       ((15, 12), 0.0, 1.0), ((8, 16), 0.0, 1.0),
                                       ((17, 12), 0.0, 0.0), ((25, 25), 0.0, 0.0)):
        cam = np.full((30, 30), 0.2, np.float32)
        cam[r, c] = 1.0                                      # the arg-max
        out = localisation_metrics(cam, gt, pointing_dilated=True, **kw)
        assert (out["pointing"], out["pointing_dilated"]) == (in_mask, in_region), (r, c)


def test_cam_entirely_outside_the_mask():
    gt = _square(40, 0, 0, 8)
    cam = np.zeros((40, 40), np.float32)
    cam[30:38, 30:38] = 1.0
    assert localisation_metrics(cam, gt) == {"iou": 0.0, "overlap": 0.0, "pointing": 0.0}


def test_empty_cam():
    gt = _square(20, 5, 5, 5)
    zero = np.zeros((20, 20), np.float32)
    assert localisation_metrics(zero, gt) == {"iou": 0.0, "overlap": 0.0, "pointing": 0.0}
    low = np.full((20, 20), 0.4, np.float32)                 # positive but below threshold
    low[6, 6] = 0.45
    out = localisation_metrics(low, gt)
    assert out["iou"] == 0.0 and out["overlap"] == 0.0 and out["pointing"] == 1.0


def test_threshold_is_strict_and_shapes_checked():
    gt = _square(10, 0, 0, 10)
    cam = np.full((10, 10), 0.5, np.float32)
    assert localisation_metrics(cam, gt)["overlap"] == 0.0   # 0.5 is not > 0.5
    with pytest.raises(ValueError, match="same shape"):
        localisation_metrics(np.zeros((5, 5)), gt)


def test_localisation_table_scores_each_row_against_its_mask():
    gt = np.stack([np.zeros((20, 20), np.uint8), _square(20, 5, 5, 10)])
    cam = np.zeros((20, 20), np.float32)
    cam[7:12, 7:12] = 0.9
    cam[9, 9] = 1.0
    cfg = {"threshold": 0.5, "dilation_fraction": 0.05, "dilation_iterations": 2,
           "pointing_dilated": False}
    table = localisation_table(cam[None], gt, [1], ["a", "b"], cfg)
    baselines = ["gt_fraction", "gt_fraction_undilated", "centre_in_gt"]
    assert list(table.columns) == ["image_id", "iou", "overlap", "pointing", *baselines]
    # 20 x 20, kernel ceil(0.05 * 20) = 1: G = M = the 10 x 10 square, the centre (10, 10) in it
    assert table.to_dict("records") == [{"image_id": "b", **localisation_metrics(
        cam, gt[1], threshold=0.5, dilation_fraction=0.05, iterations=2),
        "gt_fraction": 0.25, "gt_fraction_undilated": 0.25, "centre_in_gt": 1.0}]
    assert localisation_table(cam[:0], gt, [], ["a", "b"], cfg).empty
    extra = localisation_table(cam[None], gt, [1], ["a", "b"], {**cfg, "pointing_dilated": True})
    assert list(extra.columns) == ["image_id", "iou", "overlap", "pointing", "pointing_dilated",
                                   *baselines]
    assert list(localisation_table(cam[:0], gt, [], ["a", "b"],
                                   {**cfg, "pointing_dilated": True}).columns[-4:]) \
        == ["pointing_dilated", *baselines]


def test_localisation_baselines_hand_computed():
    # 30 x 30, lesion M = rows / cols 10..14 (25 px); kernel ceil(0.1 * 30) = 3, two dilations:
    # G = rows / cols 8..16 (81 px); the centre pixel (15, 15) is just outside M (and inside G)
    gt = _square(30, 10, 10, 5)
    kw = dict(dilation_fraction=0.1, iterations=2)
    assert localisation_baselines(gt, **kw) == {"gt_fraction": 81 / 900,
                                                "gt_fraction_undilated": 25 / 900,
                                                "centre_in_gt": 0.0}
    assert localisation_baselines(gt, dilation_fraction=0.1, iterations=0)["gt_fraction"] \
        == 25 / 900                                          # no dilation: G = M
    assert localisation_baselines(_square(30, 11, 11, 5), **kw)["centre_in_gt"] == 1.0  # 11..15
    # the centre pixel of an even side is (S // 2, S // 2); of an H x W image (H // 2, W // 2)
    one = np.zeros((20, 20), np.uint8)
    one[10, 10] = 255                                        # any value > 0 is the lesion
    assert localisation_baselines(one, dilation_fraction=0.0)["centre_in_gt"] == 1.0
    one = np.roll(one, (-1, -1), (0, 1))                     # (9, 9)
    assert localisation_baselines(one, dilation_fraction=0.0) == {
        "gt_fraction": 1 / 400, "gt_fraction_undilated": 1 / 400, "centre_in_gt": 0.0}
    wide = np.zeros((20, 30), np.uint8)
    wide[10, 15] = 1
    assert localisation_baselines(wide, dilation_fraction=0.0)["centre_in_gt"] == 1.0
    tall = np.zeros((30, 20), np.uint8)
    tall[10, 15] = 1                                         # (H // 2, W // 2) is (15, 10)
    assert localisation_baselines(tall, dilation_fraction=0.0)["centre_in_gt"] == 0.0
    assert localisation_baselines(wide.T, dilation_fraction=0.0)["centre_in_gt"] == 1.0
    with pytest.raises(ValueError, match="2-D"):
        localisation_baselines(np.zeros((2, 4, 4)))


def test_localisation_table_baselines_per_row_with_the_configured_dilation():
    # the baselines use the cams block's dilation, each row its own mask, and leave the
    # metric columns as localisation_metrics computes them
    gt = np.stack([_square(30, 10, 10, 5), _square(30, 11, 11, 5), np.zeros((30, 30), np.uint8)])
    cams = np.zeros((3, 30, 30), np.float32)
    cams[:, 12, 12] = 1.0
    cfg = {"threshold": 0.5, "dilation_fraction": 0.1, "dilation_iterations": 2}
    table = localisation_table(cams, gt, [0, 1, 2], ["a", "b", "c"], cfg)
    assert list(table.columns[-3:]) == list(BASELINE_COLUMNS)
    assert table["gt_fraction"].tolist() == [81 / 900, 81 / 900, 0.0]
    assert table["gt_fraction_undilated"].tolist() == [25 / 900, 25 / 900, 0.0]
    assert table["centre_in_gt"].tolist() == [0.0, 1.0, 0.0]
    for rec, m in zip(table.to_dict("records"), gt):
        assert {k: rec[k] for k in ("iou", "overlap", "pointing")} == localisation_metrics(
            cams[0], m, dilation_fraction=0.1, iterations=2)


# ---- where the CAM maxima fall (issue 20) --------------------------------------------------
def _regions_scene():
    """A 64 x 64 scene: lesion disc (centre (32, 32), radius 12), the network's input kept
    inside rows 8..55 only (rows 0-7 and 56-63 masked out), a dark vignette in the lower right
    corner (rows/cols >= 58, below the masked band's reach: columns 58-63 of rows 50-55)."""
    gt = np.zeros((64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    gt[(yy - 32) ** 2 + (xx - 32) ** 2 <= 12 ** 2] = 1
    keep = np.zeros((64, 64), bool)
    keep[8:56] = True
    vignette = np.zeros((64, 64), bool)
    vignette[50:64, 58:64] = True
    return gt, keep, vignette


def _peak(at, shape=(64, 64)):
    cam = np.zeros(shape, np.float32)
    cam[at] = 1.0
    return cam


def test_region_map_priorities_and_the_edge_band():
    from selcn.cams import EDGE_FRACTION, REGIONS, region_map

    gt, keep, vignette = _regions_scene()
    regions = region_map(gt, keep=keep, vignette=vignette)
    name = {i: r for i, r in enumerate(REGIONS)}
    r = int(np.ceil(EDGE_FRACTION * 64))                           # 2 px
    assert r == 2
    assert name[regions[32, 32]] == "lesion"                        # deep inside
    assert name[regions[32, 32 + 12]] == "edge"                     # on the boundary
    assert name[regions[32, 32 + 12 + r]] == "edge"                 # r px outside
    assert name[regions[32, 32 + 12 + r + 2]] == "skin"
    assert name[regions[32, 32 + 12 - r - 2]] == "lesion"
    assert name[regions[2, 32]] == "masked"                         # masked beats everything
    assert name[regions[52, 60]] == "vignette"
    assert name[regions[60, 60]] == "masked"                        # vignette but masked out
    assert name[regions[20, 5]] == "skin"
    # no keep-mask, no vignette: nothing is masked or vignette
    plain = region_map(gt)
    assert not np.isin(plain, [REGIONS.index("masked"), REGIONS.index("vignette")]).any()


@pytest.mark.parametrize("at, expected", [((32, 32), "lesion"), ((32, 44), "edge"),
                                          ((20, 5), "skin"), ((2, 32), "masked"),
                                          ((52, 60), "vignette")])
def test_cam_regions_places_a_known_argmax(at, expected):
    from selcn.cams import cam_regions, region_map

    gt, keep, vignette = _regions_scene()
    cam = _peak(at)
    cam[32, 32] = max(cam[32, 32], 0.6 if at != (32, 32) else 1.0)   # a second, lower peak
    out = cam_regions(cam, region_map(gt, keep=keep, vignette=vignette))
    assert out["argmax_region"] == expected
    # the mass above 0.5: the peak (1.0) and, elsewhere, the lesion centre (0.6)
    if at != (32, 32):
        assert out[f"mass_{expected}"] == pytest.approx(1.0 / 1.6)
        assert out["mass_lesion"] == pytest.approx(0.6 / 1.6)
    else:
        assert out["mass_lesion"] == pytest.approx(1.0)
    assert sum(v for k, v in out.items() if k.startswith("mass_")) == pytest.approx(1.0)


def test_cam_regions_flat_and_empty_activation():
    from selcn.cams import FLAT, REGIONS, cam_regions, region_map

    gt, _, _ = _regions_scene()
    regions = region_map(gt)
    flat = cam_regions(np.zeros((64, 64), np.float32), regions)
    assert flat["argmax_region"] == FLAT
    assert all(flat[f"mass_{r}"] == 0.0 for r in REGIONS)
    low = cam_regions(np.full((64, 64), 0.4, np.float32), regions)   # nothing above 0.5
    assert low["argmax_region"] == "skin"           # ties: the first pixel, (0, 0), on skin
    assert all(low[f"mass_{r}"] == 0.0 for r in REGIONS)
    with pytest.raises(ValueError, match="differ"):
        cam_regions(np.zeros((8, 8), np.float32), regions)


def test_localisation_table_adds_the_regions_per_row():
    from selcn.cams import REGION_AREA_COLUMNS, REGION_COLUMNS, RegionInputs

    gt, keep, vignette = _regions_scene()
    gt_masks = np.stack([gt, gt])
    cams = np.stack([_peak((2, 32)), _peak((32, 32))])
    cfg = {"threshold": 0.5, "dilation_fraction": 0.05, "dilation_iterations": 2}
    regions = RegionInputs(keeps=[keep, None], vignettes=[vignette, np.zeros((64, 64), bool)])
    table = localisation_table(cams, gt_masks, [1, 0], ["a", "b"], cfg, regions)
    assert list(table.columns[-len(REGION_COLUMNS) - len(REGION_AREA_COLUMNS):]) == \
        list(REGION_COLUMNS) + list(REGION_AREA_COLUMNS)
    assert table["image_id"].tolist() == ["b", "a"]
    assert table["argmax_region"].tolist() == ["masked", "lesion"]
    assert table["pointing"].tolist() == [0.0, 1.0]
    # the areas: rows 0-7 and 56-63 masked (16 of 64 rows) for the first image only
    assert table["area_masked"].tolist() == pytest.approx([0.25, 0.0])
    assert table[list(REGION_AREA_COLUMNS)].sum(axis=1).tolist() == pytest.approx([1.0, 1.0])
    assert table["area_lesion"].iloc[1] + table["area_edge"].iloc[1] > \
        table["gt_fraction_undilated"].iloc[1]                       # the band reaches outside
    # without regions: the table of before
    plain = localisation_table(cams, gt_masks, [1, 0], ["a", "b"], cfg)
    assert "argmax_region" not in plain.columns
    with pytest.raises(ValueError, match="keep-masks"):
        localisation_table(cams, gt_masks, [1, 0], ["a", "b"], cfg,
                           RegionInputs(keeps=[None], vignettes=[vignette]))
