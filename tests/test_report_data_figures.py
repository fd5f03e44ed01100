"""Figure 5's choice of images: the largest hair-mask fraction, every image scored."""

import numpy as np
import pytest
from PIL import Image

from selcn.data.preprocess import hair_mask
from selcn.report.data_figures import hair_fraction, pick_hairy, plot_hair_removal


def _image(path, n_hairs: int, size=(60, 80)):
    """Light skin with ``n_hairs`` dark vertical 1-px lines (black-hat responds to them)."""
    img = np.full((*size, 3), 200, np.uint8)
    for k in range(n_hairs):
        img[:, 5 + 7 * k] = 20
    Image.fromarray(img).save(path)
    return path


def test_hair_fraction_is_the_mask_share(tmp_path):
    p = _image(tmp_path / "a.png", 3)
    mask = hair_mask(np.asarray(Image.open(p))[..., ::-1].copy())
    assert hair_fraction(p) == pytest.approx(np.count_nonzero(mask) / mask.size)
    # three full-height 1-px lines of 80 columns: at least 3 / 80 of the pixels
    assert hair_fraction(p) >= 3 / 80
    assert hair_fraction(_image(tmp_path / "clean.png", 0)) == 0.0


def test_pick_hairy_takes_the_largest_fractions_of_all_images(tmp_path):
    hairs = [0, 5, 1, 8, 0, 3, 2]
    paths = [_image(tmp_path / f"img{i}.png", h) for i, h in enumerate(hairs)]
    chosen = pick_hairy(paths, n=3)
    assert [p for p, _ in chosen] == [str(paths[3]), str(paths[1]), str(paths[5])]
    fractions = [f for _, f in chosen]
    assert fractions == sorted(fractions, reverse=True) and fractions[-1] > 0
    assert pick_hairy(paths, n=3, threads=3) == chosen
    # ties keep the path order
    assert [p for p, _ in pick_hairy([paths[0], paths[4]], n=2)] == [str(paths[0]), str(paths[4])]
    with pytest.raises(ValueError, match="no images"):
        pick_hairy([], n=1)
    out = plot_hair_removal([p for p, _ in chosen], tmp_path / "fig5.png", fractions=fractions)
    assert out.stat().st_size > 5_000
