"""selcn.draw: the CAM overlay (OpenCV resize, the sampling of selcn.cams.resize_cams), the panel
grid PNG, and that the module (and the predict gallery) load no torch."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from selcn.draw import _resize_cam, overlay, panel_grid


@pytest.mark.parametrize(("small", "large"), [((8, 8), (64, 64)), ((7, 5), (128, 96)),
                                              ((14, 14), (380, 380)), ((1, 4), (9, 16))])
def test_cam_resize_agrees_with_the_torch_resize(small, large):
    from selcn.cams import resize_cams

    cam = np.random.default_rng(0).random(small, dtype=np.float32)
    ours = _resize_cam(cam, large)
    torch_resized = resize_cams(cam, large, normalize=False)
    assert ours.shape == large and ours.dtype == np.float32
    np.testing.assert_allclose(ours, torch_resized, atol=1e-5, rtol=0)


def test_overlay_equals_the_overlay_of_the_torch_resized_cam():
    from selcn.cams import resize_cams

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    cam = rng.random((12, 16), dtype=np.float32)
    ours = overlay(image, cam)
    ref = overlay(image, resize_cams(cam, (96, 128), normalize=False))     # same size: no resize
    assert ours.shape == image.shape and ours.dtype == np.uint8
    # a CAM value within ~1e-7 of a colour-map bin edge may land in the neighbouring bin
    assert (ours == ref).all(axis=2).mean() > 0.999
    assert np.abs(ours.astype(int) - ref).max() <= 8


def test_overlay_rejects_bad_shapes():
    with pytest.raises(ValueError, match="image must be"):
        overlay(np.zeros((8, 8), np.uint8), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="cam must be"):
        overlay(np.zeros((8, 8, 3), np.uint8), np.zeros((1, 8, 8)))


def test_panel_grid_writes_a_png(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    outline = np.zeros((32, 32), np.uint8)
    outline[8:24, 8:24] = 1
    rows = [[{"image": image, "outline": outline, "title": "input"},
             {"image": image, "cam": rng.random((4, 4)), "title": "CAM"}, None],
            [{"image": image}, None]]
    out = panel_grid(rows, tmp_path / "sub" / "grid.png", col_titles=["a", "b", "c"],
                     row_titles=["r0", "r1"], title="grid", dpi=50)
    assert out == tmp_path / "sub" / "grid.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png = np.asarray(Image.open(out))
    assert png.shape[:2] == (round((2.2 + 0.35) * 2 * 50), round(2.2 * 3 * 50))
    assert png[..., :3].std() > 10
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]       # no temporary left
    with pytest.raises(ValueError, match="nothing to draw"):
        panel_grid([], tmp_path / "empty.png")


def test_the_report_uses_the_shared_drawing():
    from selcn.draw import panel_grid as shared
    from selcn.report import cam_figures, lesion_figures

    assert cam_figures.panel_grid is shared and lesion_figures.panel_grid is shared


def test_draw_and_the_predict_gallery_load_no_torch():
    code = ("import sys, selcn.draw, selcn.predict.gallery; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
