import numpy as np
import pytest

from selcn.data.cache import load_cache_array, load_cache_images


def test_load_cache_array_checks_rows_and_side(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((4, 8, 8), np.uint8))
    assert load_cache_array(None, "masks", 4) is None
    assert load_cache_array(tmp_path / "m.npy", "masks", 4, (8, 8)).shape == (4, 8, 8)
    with pytest.raises(ValueError, match=r"m.npy: masks must have shape \(N=5, S, S\)"):
        load_cache_array(tmp_path / "m.npy", "masks", 5)
    with pytest.raises(ValueError, match=r"must have shape \(N=4, 6, 6\), got \(4, 8, 8\)"):
        load_cache_array(tmp_path / "m.npy", "masks", 4, (6, 6))
    with pytest.raises(FileNotFoundError, match="CAMs not found"):
        load_cache_array(tmp_path / "no.npy", "CAMs", 4)


def test_load_cache_images_checks_shape(tmp_path):
    np.save(tmp_path / "i.npy", np.zeros((3, 8, 8, 3), np.uint8))
    assert load_cache_images(tmp_path / "i.npy", 3).shape == (3, 8, 8, 3)
    with pytest.raises(ValueError, match=r"i.npy: expected uint8 \(N=2, S, S, 3\)"):
        load_cache_images(tmp_path / "i.npy", 2)
