"""Config loading, validation with defaults, and the grid."""

import pytest

from selcn.config import (ConfigError, grid, load_config, model_number, train_params,
                          validate_config)


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_validate(repo, name):
    cfg = load_config(repo / "config" / name)
    assert cfg["lesion"]["train"]["patience"] >= 1
    assert cfg["cams"]["threshold"] == 0.5  # default filled in


def test_paper_grid_is_the_thesis_grid(repo):
    g = grid(load_config(repo / "config" / "paper.yaml"))
    models = g.models()
    assert [m["number"] for m in models] == list(range(1, 13))
    assert len(models) * len(g.lesion_folds) == 48
    assert g.symmetry_folds == (0, 1, 2)
    assert g.symmetry_variants == ("scratch-none", "pretrained-none", "pretrained-seg",
                                   "pretrained-lae")


def test_model_numbers_follow_thesis_order():
    assert model_number("none", "off") == 1
    assert model_number("none", "seg") == 3
    assert model_number("seg", "off") == 5
    assert model_number("lae", "lae") == 12


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"'segmentation\.encodr'"):
        validate_config({"segmentation": {"encodr": "resnet34"}})
    with pytest.raises(ConfigError, match=r"'lesoin'"):
        validate_config({"lesoin": {}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"lesion\.folds"):
        validate_config({"lesion": {"folds": "four"}})
    with pytest.raises(ConfigError, match="divisible by 16"):
        validate_config({"data": {"image_size": 100}})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_cam_masks_need_symmetry_models():
    cfg = validate_config({"symmetry": {"masks": ["none"]}})
    with pytest.raises(ConfigError, match="symmetry.masks"):
        grid(cfg)


def test_train_params_hpo_overrides(tmp_path):
    cfg = validate_config({"lesion": {"train": {"lr": 0.1, "batch_size": 4}}})
    assert train_params(cfg, "lesion")["lr"] == 0.1
    best = tmp_path / "best.json"
    best.write_text('{"best": {"lr": 0.001, "batch_size": 16, "weighted_loss": false}}')
    p = train_params(cfg, "lesion", best)
    assert (p["lr"], p["batch_size"], p["weighted_loss"]) == (0.001, 16, False)
    assert p["max_epochs"] == 100
