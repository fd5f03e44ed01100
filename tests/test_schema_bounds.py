"""One place for every bound: ``config/schema.yaml`` rejects the values the code rejects.

A table of (dotted key, bad value) is walked: :func:`selcn.config.validate_config` must reject
each with an error naming the key. The values on the edge of each bound are accepted, the demo
and paper configs validate, and for the bounds whose code is cheap to call, the code rejects
the same bad value (so the schema is neither looser nor stricter than the code).
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from selcn.config import ConfigError, load_config, validate_config
from selcn.data.datasets import make_loader
from selcn.data.splits import balance, split_table
from selcn.hpo import search_space, split_for_search
from selcn.training import FitConfig

REPO = Path(__file__).resolve().parents[1]
STAGES = ("segmentation", "symmetry", "lesion")


def _nested(key: str, value) -> dict:
    """``"a.b.c", v`` → ``{"a": {"b": {"c": v}}}``."""
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _merge(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
                else v
    return out


TRAIN_BAD = [("max_epochs", 0), ("patience", 0), ("lr", 0), ("lr", -1e-3), ("momentum", 1.0),
             ("momentum", -0.1), ("batch_size", 0), ("weight_decay", -1e-4),
             ("max_train_batches", 0), ("num_workers", -1), ("max_epochs", 2.5)]

BAD = [
    ("data.balance.max_copies", 4),            # splits.balance: three distinct transforms
    ("data.balance.max_copies", 10),
    ("data.balance.max_copies", -1),
    ("data.balance.target_per_class", 0),
    ("data.test_fraction", 0),                 # splits: (0, 1)
    ("data.test_fraction", 1),
    ("data.test_fraction", 1.5),
    ("data.image_size", 100),                  # divisible by 16
    ("data.image_size", 16),                   # at least 32
    ("segmentation.input_size", 72),
    ("segmentation.input_size", 0),
    ("segmentation.threshold", 1.5),
    ("segmentation.loss.rank_k", 0),           # losses.rank_loss: k >= 1
    ("segmentation.loss.rank_weight", -0.1),
    ("segmentation.train.batch_size", 1),      # DeepLabV3+ (in the default architectures)
    ("symmetry.folds", 1),                     # splits: n_folds >= 2
    ("symmetry.cam_size", 2),
    ("lesion.folds", 1),
    ("cams.threshold", -0.1),
    ("cams.batch_size", 0),
    ("cams.dilation_iterations", -1),
    ("cams.dilation_fraction", -0.05),
    ("hpo.val_fraction", 0),                   # hpo.split_for_search: (0, 1)
    ("hpo.val_fraction", 1),
    ("hpo.n_calls", 0),                        # hpo.run_search: >= 1
    ("hpo.n_initial_points", 0),
    ("hpo.max_epochs", 0),
    ("hpo.space.lr", [1e-2, 1e-3]),            # hpo.search_space: low < high
    ("hpo.space.lr", [1e-3, 1e-3]),
    ("hpo.space.lr", [0, 1e-3]),               # log-uniform: > 0
    ("hpo.space.weight_decay", [1e-2, 1e-6]),
    ("hpo.space.weight_decay", [0, 1e-6]),
    ("hpo.space.momentum", [0.9, 1.0]),        # Adam beta1 in [0, 1)
    ("hpo.space.momentum", [0.99, 0.8]),
    ("hpo.space.lr", [1e-3]),                  # [low, high]
    ("hpo.space.batch_size", [0, 8]),
    ("hpo.space.batch_size", []),
    ("report.confidence", 1),
    ("report.confidence", 0),
    ("report.bootstrap", 5),
    ("data.resources.cpus", 0),
    ("lesion.resources.runtime", 0),
] + [(f"{stage}.train.{key}", value) for stage in STAGES for key, value in TRAIN_BAD]


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_schema_rejects_bad_value_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"'{re.escape(key)}(\.\d+)?'"):
        validate_config(_nested(key, value))


EDGE_GOOD = [
    ("data.balance.max_copies", 0), ("data.balance.max_copies", 3),
    ("data.test_fraction", 0.5), ("data.image_size", 32), ("segmentation.input_size", 96),
    ("symmetry.folds", 2), ("lesion.folds", 2), ("hpo.val_fraction", 0.01),
    ("hpo.space.momentum", [0.0, 0.999]), ("report.confidence", 0.999),
    ("lesion.train.momentum", 0.0), ("lesion.train.batch_size", 1),
    ("lesion.train.weight_decay", 0.0), ("lesion.train.max_train_batches", None),
    ("lesion.train.max_epochs", 1), ("lesion.train.patience", 1),
]


@pytest.mark.parametrize(("key", "value"), EDGE_GOOD, ids=[f"{k}={v}" for k, v in EDGE_GOOD])
def test_schema_accepts_values_on_the_edge(key, value):
    cfg = validate_config(_nested(key, value))
    got = cfg
    for part in key.split("."):
        got = got[part]
    assert got == value


def test_deeplab_batch_bound_applies_only_to_deeplab():
    unet = {"segmentation": {"architectures": ["unet"], "train": {"batch_size": 1}}}
    assert validate_config(unet)["segmentation"]["train"]["batch_size"] == 1
    with pytest.raises(ConfigError, match=r"'segmentation\.train\.batch_size'.*at least 2"):
        validate_config(_merge(unet, _nested("segmentation.architectures", ["deeplabv3plus"])))
    # HPO: the segmentation search draws batch sizes from hpo.space
    search = {"hpo": {"enabled": True, "space": {"batch_size": [1, 8]}}}
    with pytest.raises(ConfigError, match=r"'hpo\.space\.batch_size\.0'"):
        validate_config(search)
    validate_config(_merge(search, {"segmentation": {"architectures": ["unet"]}}))
    validate_config(_merge(search, {"hpo": {"networks": ["symmetry", "lesion"]}}))
    validate_config({"hpo": {"enabled": False, "space": {"batch_size": [1, 8]}}})


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "config" / name)
    assert cfg["data"]["balance"]["max_copies"] <= 3


# ---- the code rejects the same values (so the schema mirrors it, not more, not less) ------
def test_code_rejects_what_the_schema_rejects():
    train = pd.DataFrame({"row": np.arange(6), "target": [0, 0, 0, 0, 1, 1]})
    assert len(balance(train, 4, max_copies=3)) == 8
    for bad in (4, -1):
        with pytest.raises(ValueError, match="max_copies"):
            balance(train, 4, max_copies=bad)
    with pytest.raises(ValueError, match="target_per_class"):
        balance(train, 0)

    index = pd.DataFrame({"image_id": [f"i{k}" for k in range(40)], "label": "x",
                          "target": np.arange(40) % 2, "group": [f"g{k}" for k in range(40)]})
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            split_table(index, test_fraction=bad, log=lambda _: None)
    with pytest.raises(ValueError, match="n_folds"):
        split_table(index, n_folds=1, log=lambda _: None)

    with pytest.raises(ValueError, match="val_fraction"):
        split_for_search(index, val_fraction=1.0, seed=0)
    space = {"batch_size": [8], "lr": [1e-2, 1e-3], "momentum": [0.8, 0.9],
             "weight_decay": [1e-6, 1e-2], "weighted_loss": [True]}
    with pytest.raises(ValueError, match=r"hpo\.space\.lr: low"):
        search_space(space)

    for key, value in TRAIN_BAD:
        if key in ("batch_size", "weight_decay", "num_workers") or isinstance(value, float) \
                and key == "max_epochs":
            continue  # not FitConfig fields / not checked there (the loader checks batch_size)
        with pytest.raises(ValueError, match=key):
            FitConfig(**{"max_epochs": 2, "patience": 1, "lr": 1e-3, key: value})
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(torch.utils.data.TensorDataset(torch.zeros(4)), 0, shuffle=False)


def test_deeplab_cannot_train_on_one_image():
    from selcn.models.segmentation import create_segmentation_model

    model = create_segmentation_model("deeplabv3plus", "resnet18").train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model(torch.zeros(1, 3, 32, 32))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 32, 32)
    with pytest.raises(RuntimeError, match="divisible by 16"):
        model(torch.zeros(2, 3, 40, 40))
