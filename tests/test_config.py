"""Config loading, validation with defaults, and the grid."""

import pytest

from selcn.config import (
    ConfigError,
    canonical,
    config_params,
    load_config,
    ordered,
    train_params,
    validate_config,
)


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_validate(repo, name):
    cfg = load_config(repo / "config" / name)
    assert cfg["lesion"]["train"]["patience"] >= 1
    assert cfg["cams"]["threshold"] == 0.5  # default filled in


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


def test_train_params_hpo_overrides(tmp_path):
    cfg = validate_config({"lesion": {"train": {"lr": 0.1, "batch_size": 4}}})
    assert train_params(cfg, "lesion")["lr"] == 0.1
    best = tmp_path / "best.json"
    best.write_text('{"best": {"lr": 0.001, "batch_size": 16, "weighted_loss": false}}')
    p = train_params(cfg, "lesion", best)
    assert (p["lr"], p["batch_size"], p["weighted_loss"]) == (0.001, 16, False)
    assert p["max_epochs"] == 100


def test_canonical_ignores_key_order_and_formatting():
    a = {"b": 1, "a": {"y": [1, 2], "x": 0.001}}
    b = {"a": {"x": 1e-3, "y": [1, 2]}, "b": 1}
    assert canonical(a) == canonical(b) == '{"a":{"x":0.001,"y":[1,2]},"b":1}'
    assert canonical({"a": [2, 1]}) != canonical({"a": [1, 2]})      # list order is meaningful
    assert canonical({"lr": 0.01}) != canonical({"lr": 0.001})
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def test_ordered_sorts_every_mapping_so_repr_is_stable():
    a = ordered({"b": {"d": 1, "c": 2}, "a": [{"z": 1, "y": 2}]})
    assert list(a) == ["a", "b"] and list(a["b"]) == ["c", "d"] and list(a["a"][0]) == ["y", "z"]
    assert repr(a) == repr(ordered({"a": [{"y": 2, "z": 1}], "b": {"c": 2, "d": 1}}))


def test_config_params_selects_sections_without_resources(repo):
    cfg = load_config(repo / "config" / "config.yaml")
    text = config_params(cfg, "lesion", "seed", "data.balance")
    assert '"seed":42' in text and '"resources"' not in text and '"data.balance":{' in text
    other = dict(cfg, lesion={**cfg["lesion"], "resources": {"mem_mb": 1}})
    assert config_params(other, "lesion") == config_params(cfg, "lesion")
    changed = dict(cfg, lesion={**cfg["lesion"], "train": {**cfg["lesion"]["train"], "lr": 0.5}})
    assert config_params(changed, "lesion") != config_params(cfg, "lesion")
    with pytest.raises(KeyError, match="lesion.nope"):
        config_params(cfg, "lesion.nope")


def test_text_from_the_command_line_is_read_as_yaml_scalars():
    """`snakemake --config hpo='{enabled: true}'` passes nested values as text."""
    from selcn.config import validate_config

    cfg = validate_config({"hpo": {"enabled": "true", "n_calls": "6"},
                           "lesion": {"folds": "3", "train": {"lr": "1.0e-3"}}})
    assert cfg["hpo"]["enabled"] is True and cfg["hpo"]["n_calls"] == 6
    assert cfg["lesion"]["folds"] == 3 and cfg["lesion"]["train"]["lr"] == 1e-3
    with pytest.raises(ConfigError, match="hpo.enabled"):
        validate_config({"hpo": {"enabled": "maybe"}})


def test_isic2016_balance_is_its_own_config_value():
    from selcn.config import balance_of, validate_config

    cfg = validate_config({"data": {"balance": {"target_per_class": 50, "max_copies": 2}}})
    assert balance_of(cfg, "ham10000") == {"target_per_class": 50, "max_copies": 2}
    assert balance_of(cfg, "isic2016") == {"target_per_class": 50, "max_copies": 2}  # inherits
    own = validate_config({"data": {"balance_isic2016": {"target_per_class": 900}}})
    assert balance_of(own, "isic2016") == {"target_per_class": 900, "max_copies": 3}
    assert balance_of(validate_config({"data": {"balance_isic2016": None}}), "isic2016") is None


def test_the_loaders_limits_are_config_values():
    from selcn.data.preprocess import DEFAULT_MAX_PIXELS, LoaderSettings

    cfg = validate_config({})
    assert cfg["data"]["max_pixels"] == DEFAULT_MAX_PIXELS == 50_000_000
    assert cfg["data"]["resize_masks"] is False
    assert LoaderSettings.of(cfg["data"]) == LoaderSettings()
    assert LoaderSettings.of(validate_config(
        {"data": {"max_pixels": 1000, "resize_masks": True}})["data"]) == \
        LoaderSettings(1000, True)
    for bad in ({"max_pixels": 0}, {"max_pixels": 2.5}, {"resize_masks": "maybe"}):
        with pytest.raises(ConfigError, match=f"'data.{next(iter(bad))}'"):
            validate_config({"data": bad})
