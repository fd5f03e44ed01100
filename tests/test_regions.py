"""Where the CAM maxima fall, from the stage to the report (issue 20): the engine's region
inputs of a view, the report's "CAM regions" and "Hair removal" tables and their registry
entries."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from selcn.report.regions import (
    REGION_NAMES,
    cam_regions_table,
    hair_removal_table,
)


def test_the_report_knows_the_regions_of_the_cams_module():
    from selcn.cams import REGION_AREA_COLUMNS, REGION_COLUMNS, REGIONS

    assert REGION_NAMES == REGIONS
    assert REGION_COLUMNS == ("argmax_region", *(f"mass_{r}" for r in REGIONS))
    assert REGION_AREA_COLUMNS == tuple(f"area_{r}" for r in REGIONS)


def test_region_inputs_follow_the_view():
    from selcn.data.datasets import View
    from selcn.engine import region_inputs
    from selcn.masks import vignette_mask

    side = 48
    yy, xx = np.mgrid[:side, :side]
    image = np.full((side, side, 3), 200, np.uint8)
    image[np.hypot(yy + 0.5 - side / 2, xx + 0.5 - side / 2) > 0.55 * side] = 10
    masks = np.zeros((2, side, side), np.uint8)
    masks[0, 10:30, 12:34] = 1
    data = SimpleNamespace(images=np.stack([image, image]), masks=masks,
                           inputs=SimpleNamespace(images="cache/images.npy"))
    plain = region_inputs(View(), data, [0, 1])
    assert plain.keeps == [None, None]
    np.testing.assert_array_equal(plain.vignettes[0], vignette_mask(image))
    seg = region_inputs(View(mask="seg"), data, [1, 0])
    assert seg.keeps[0] is None                               # an empty mask keeps everything
    np.testing.assert_array_equal(seg.keeps[1], masks[0] > 0)
    both = region_inputs(View(mask="seg", vignette=True), data, [0])
    np.testing.assert_array_equal(both.keeps[0], (masks[0] > 0) & ~vignette_mask(image))
    with pytest.raises(ValueError, match="predicted masks"):
        region_inputs(View(mask="lae"), SimpleNamespace(images=data.images, masks=None,
                                                        inputs=data.inputs), [0])


def _localisation(path, regions, mass_lesion=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(regions)
    table = pd.DataFrame({"image_id": [f"IMD{i:03d}" for i in range(n)], "iou": 0.5,
                          "overlap": 0.5, "pointing": [float(r == "lesion") for r in regions],
                          "argmax_region": regions})
    for r in REGION_NAMES:
        table[f"mass_{r}"] = mass_lesion if r == "lesion" else (1 - mass_lesion) / 4
        table[f"area_{r}"] = 0.2
    table.to_csv(path, index=False)
    return path


def test_cam_regions_table(tmp_path):
    files = [
        _localisation(tmp_path / "results/lesion/ph2/seg-off/localisation.csv",
                      ["lesion", "masked", "masked", "flat"]),
        _localisation(tmp_path / "results/lesion/ph2/none-off/localisation.csv",
                      ["lesion", "skin", "vignette", "edge"], mass_lesion=0.9),
        _localisation(tmp_path / "results/symmetry/pretrained-seg/localisation_ph2.csv",
                      ["masked", "masked", "masked", "lesion"]),
    ]
    table = cam_regions_table(files)
    assert table[["network", "model", "inputs"]].values.tolist() == [
        ["symmetry", 3, "pretrained-seg"], ["lesion (ph2)", 1, "none-off"],
        ["lesion (ph2)", 5, "seg-off"]]
    sym, m1, m5 = (table.iloc[i] for i in range(3))
    assert sym["argmax_masked"] == 0.75 and sym["argmax_lesion"] == 0.25
    assert m1[["argmax_lesion", "argmax_skin", "argmax_vignette", "argmax_edge"]].tolist() == \
        [0.25] * 4
    assert m5["argmax_masked"] == 0.5 and m5["argmax_flat"] == 0.25
    assert m1["mass_lesion"] == pytest.approx(0.9) and m5["area_skin"] == pytest.approx(0.2)
    assert (table["n_images"] == 4).all()
    shares = [c for c in table.columns if c.startswith("argmax_")]
    assert table[shares].sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    # a file of a run before the regions existed: one error naming it and the way out
    old = tmp_path / "results/lesion/ph2/lae-off/localisation.csv"
    old.parent.mkdir(parents=True)
    pd.read_csv(files[0]).drop(columns=["argmax_region"]).to_csv(old, index=False)
    with pytest.raises(ValueError, match="lae-off.*argmax_region.*localisation"):
        cam_regions_table([old])
    bad = _localisation(tmp_path / "results/lesion/ph2/lae-seg/localisation.csv", ["ruler"])
    with pytest.raises(ValueError, match="ruler"):
        cam_regions_table([bad])
    with pytest.raises(ValueError, match="no localisation"):
        cam_regions_table([])


def test_hair_removal_table(tmp_path):
    path = tmp_path / "fig5_hair_removal.csv"
    pd.DataFrame({"image_id": ["a", "b", "c"],
                  "image_thesis": [0.1, 0.2, 0.3], "lesion_thesis": [0.05, 0.25, 0.4],
                  "image_pigment_sparing": [0.01, 0.02, 0.03],
                  "lesion_pigment_sparing": [0.0, 0.01, np.nan]}).to_csv(path, index=False)
    table = hair_removal_table([path])
    assert table["filter"].tolist() == ["thesis", "pigment_sparing"]
    thesis, sparing = table.iloc[0], table.iloc[1]
    assert thesis["image_mean"] == pytest.approx(0.2) and thesis["image_max"] == 0.3
    assert thesis["lesion_mean"] == pytest.approx(0.7 / 3)
    assert thesis["lesion_median"] == pytest.approx(0.25) and thesis["lesion_over_10"] == \
        pytest.approx(2 / 3)
    assert sparing["lesion_mean"] == pytest.approx(0.005)             # NaN: no mask, left out
    assert (table["n_images"] == 3).all()


def test_both_tables_are_in_every_report():
    from selcn.config import validate_config
    from selcn.grid import grid
    from selcn.report.registry import TABLE_REGISTRY, report_tables

    names = report_tables(grid(validate_config({})))
    assert "cam_regions" in names and "hair_removal" in names
    assert TABLE_REGISTRY["cam_regions"].spec.has_reference is False
