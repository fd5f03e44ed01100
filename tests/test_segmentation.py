"""Segmentation stage: model factory, splits, prediction, selection, training end to end,
Figure 3."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from helpers import cache_arrays, make_cache, tiny_config
from selcn.atomic import write_json
from selcn.data.inputs import StageInputs
from selcn.engine import Training
from selcn.grid import SEGMENTER_STRIDES, SEGMENTERS
from selcn.models.segmentation import create_segmentation_model, encoder_weights_name
from selcn.protocol import policy
from selcn.segmentation import (
    load_segmentation_model,
    predict_masks,
    save_segmentation_model,
    split_rows,
    train_segmentation,
    write_predicted_masks,
)
from selcn.selection import SEGMENTATION_METRICS as METRICS
from selcn.selection import select_architecture

THESIS, LEAKAGE_FREE = policy("thesis"), policy("leakage_free")


def cache_inputs(root):
    return StageInputs(str(root / "images.npy"), str(root / "index.csv"), str(root / "splits.csv"),
                       gt_masks=str(root / "gt_masks.npy"))


def train(arch, root, out, cfg):
    return train_segmentation(arch, cache_inputs(root), out, Training.of(cfg, "segmentation"))

SIDE = 32


# ---- model factory ---------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["deeplabv3plus", "unet"])
def test_segmentation_model_outputs_one_logit_map(arch):
    model = create_segmentation_model(arch, "resnet18").eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, SIDE, SIDE))
    assert out.shape == (2, 1, SIDE, SIDE)


def test_segmentation_model_rejects_unknown_arch():
    # FPN is one of the architectures now (issue 25); DPT (segmentation-models-pytorch's, fixed
    # input side, ViT encoders only) is not
    with pytest.raises(ValueError, match="unknown segmentation architecture 'dpt'"):
        create_segmentation_model("dpt")


def test_segmentation_model_loads_encoder_weights_from_cache(tmp_path):
    source = create_segmentation_model("unet", "resnet18")
    torch.save(source.encoder.state_dict(), tmp_path / f"{encoder_weights_name('resnet18')}.pth")
    model = create_segmentation_model("deeplabv3plus", "resnet18", pretrained_cache=tmp_path)
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key


def test_segmentation_model_missing_cache_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="smp-resnet18"):
        create_segmentation_model("unet", "resnet18", pretrained_cache=tmp_path)


# ---- splits ----------------------------------------------------------------------------
def test_split_rows_maps_image_ids_to_cache_rows(tmp_path):
    index = pd.DataFrame({"row": [0, 1, 2, 3, 4, 5], "image_id": list("abcdef")})
    splits = pd.DataFrame({"image_id": list("fedcba"),
                           "split": ["test", "fold0", "fold1", "fold2", "excluded", "fold1"]})
    index.to_csv(tmp_path / "index.csv", index=False)
    splits.to_csv(tmp_path / "splits.csv", index=False)
    parts = split_rows(tmp_path / "index.csv", tmp_path / "splits.csv")
    assert parts["test"].tolist() == [5]
    assert parts["val"].tolist() == [4]
    assert parts["train"].tolist() == [0, 2, 3]      # row 1 (excluded) is in no part
    parts = split_rows(tmp_path / "index.csv", tmp_path / "splits.csv", val_fold="fold1")
    assert parts["val"].tolist() == [0, 3]


@pytest.mark.parametrize("split, message", [
    (["test", "fold0", "train"], "unknown value"),
    (["test", "fold1", "fold1"], "validation fold 'fold0'"),
    (["test", "fold0", "fold0"], "train part is empty"),
])
def test_split_rows_errors_name_file_and_field(tmp_path, split, message):
    index = pd.DataFrame({"row": [0, 1, 2], "image_id": list("abc")})
    index.to_csv(tmp_path / "i.csv", index=False)
    pd.DataFrame({"image_id": list("abc"), "split": split}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match=message):
        split_rows(tmp_path / "i.csv", tmp_path / "s.csv")


def test_split_rows_unknown_image_id(tmp_path):
    pd.DataFrame({"row": [0], "image_id": ["a"]}).to_csv(tmp_path / "i.csv", index=False)
    pd.DataFrame({"image_id": ["a", "zz"], "split": ["test", "fold0"]}).to_csv(
        tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match="'zz'.*not in the cache index"):
        split_rows(tmp_path / "i.csv", tmp_path / "s.csv")


# ---- prediction ------------------------------------------------------------------------
class RedChannel(nn.Module):
    """Logit = normalised red channel: lesion where the image is red (255), not where 0."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 1.0
            self.conv.bias.zero_()

    def forward(self, x):
        return self.conv(x)


def test_predict_masks_thresholds_at_cache_resolution():
    rng = np.random.default_rng(1)
    want = (rng.random((5, SIDE, SIDE)) < 0.3).astype(np.uint8)
    images = np.zeros((5, SIDE, SIDE, 3), np.uint8)
    images[..., 0] = want * 255
    got = predict_masks(RedChannel(), images, np.array([1, 3, 4]), input_size=SIDE, batch_size=2)
    assert got.dtype == np.uint8 and got.shape == (3, SIDE, SIDE)
    np.testing.assert_array_equal(got, want[[1, 3, 4]])
    # a smaller network input is upsampled back to the cache side
    blocks = np.kron(want[:, ::4, ::4], np.ones((4, 4), np.uint8))
    images[..., 0] = blocks * 255
    got = predict_masks(RedChannel(), images, input_size=SIDE // 2, batch_size=4)
    assert got.shape == (5, SIDE, SIDE)
    assert (got == blocks).mean() > 0.9


def test_write_predicted_masks_round_trip(tmp_path):
    images, _ = cache_arrays(make_cache(tmp_path / "cache", "segmentation", n=5))
    torch.manual_seed(0)
    model = create_segmentation_model("unet", "resnet18").eval()
    save_segmentation_model(model, tmp_path / "model.pt", arch="unet", encoder="resnet18",
                            input_size=SIDE, threshold=0.5)
    loaded, meta = load_segmentation_model(tmp_path / "model.pt")
    assert meta == {"arch": "unet", "encoder": "resnet18", "input_size": SIDE, "threshold": 0.5}
    masks = write_predicted_masks(tmp_path / "model.pt", tmp_path / "cache" / "images.npy",
                                  tmp_path / "masks" / "ham10000.npy", batch_size=2, device="cpu")
    assert masks.shape == (5, SIDE, SIDE) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1}
    np.testing.assert_array_equal(masks, predict_masks(model, images, input_size=SIDE))
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["ham10000.npy"]


def test_load_segmentation_model_rejects_other_files(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="model.pt.*missing arch"):
        load_segmentation_model(tmp_path / "model.pt")


# ---- selection -------------------------------------------------------------------------
def _metrics_file(path, arch, test=None, val=None):
    """A ``metrics_test.csv``: test columns ``<m>`` and validation columns ``val_<m>``, each
    block only when given (dicts metric -> value, 0.5 for metrics not named)."""
    row = {"arch": arch}
    if test is not None:
        row.update({**dict.fromkeys(METRICS, 0.5), **test})
    if val is not None:
        row.update({f"val_{m}": v for m, v in {**dict.fromkeys(METRICS, 0.5), **val}.items()})
    pd.DataFrame([row]).to_csv(path, index=False)
    return path


def test_select_architecture_picks_the_best_metric(tmp_path):
    files = [_metrics_file(tmp_path / f"{arch}.csv", arch, test={"dice": dice, "accuracy": acc})
             for arch, dice, acc in (("deeplabv3plus", 0.88, 0.91), ("unet", 0.87, 0.93))]
    assert select_architecture(files, THESIS, "dice") == {
        "arch": "deeplabv3plus", "metric": "dice", "value": 0.88, "split": "test"}
    assert select_architecture(files, THESIS, "accuracy")["arch"] == "unet"
    assert select_architecture(files, THESIS, "jaccard")["arch"] == "deeplabv3plus"
    with pytest.raises(ValueError, match="unknown selection metric"):
        select_architecture(files, THESIS, "auc")
    write_json(select_architecture(files, THESIS, "dice"), tmp_path / "selected.json")
    assert json.loads((tmp_path / "selected.json").read_text())["arch"] == "deeplabv3plus"


def test_leakage_free_selection_reads_validation_metrics_only(tmp_path):
    """Under leakage_free the choice follows val_<metric> against the test ranking, works on
    files without any test column, and ignores test columns that are NaN."""
    both = [_metrics_file(tmp_path / "a.csv", "deeplabv3plus", test={"dice": 0.95},
                          val={"dice": 0.70}),
            _metrics_file(tmp_path / "b.csv", "unet", test={"dice": 0.80}, val={"dice": 0.75})]
    assert select_architecture(both, LEAKAGE_FREE, "dice") == {
        "arch": "unet", "metric": "dice", "value": 0.75, "split": "val"}
    assert select_architecture(both, LEAKAGE_FREE)["split"] == "val"         # dice by default
    assert select_architecture(both, THESIS, "dice")["arch"] == "deeplabv3plus"
    no_test = [_metrics_file(tmp_path / "c.csv", "deeplabv3plus", val={"dice": 0.9}),
               _metrics_file(tmp_path / "d.csv", "unet", val={"dice": 0.8})]
    assert select_architecture(no_test, LEAKAGE_FREE, "dice")["arch"] == "deeplabv3plus"
    nan_test = tmp_path / "e.csv"
    pd.read_csv(both[1]).assign(**dict.fromkeys(METRICS, np.nan)).to_csv(nan_test, index=False)
    assert select_architecture([both[0], nan_test], LEAKAGE_FREE, "dice")["arch"] == "unet"
    with pytest.raises(ValueError, match="missing column.*val_dice"):
        select_architecture([_metrics_file(tmp_path / "f.csv", "unet", test={})], LEAKAGE_FREE)
    with pytest.raises(ValueError, match="missing column.*dice"):      # thesis needs the test
        select_architecture(no_test, THESIS, "dice")
    with pytest.raises(ValueError, match="unknown protocol"):
        select_architecture(both, policy("other"), "dice")


# ---- training end to end ---------------------------------------------------------------
@pytest.mark.slow
def test_train_segmentation_writes_the_contract_files(tmp_path):
    make_cache(tmp_path / "cache", "segmentation")
    out = tmp_path / "seg" / "unet"
    metrics = train("unet", tmp_path / "cache", out, tiny_config("segmentation"))
    assert set(metrics) == set(METRICS)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    table = pd.read_csv(out / "metrics_test.csv")
    assert list(table.columns) == ["arch", *METRICS, *(f"val_{m}" for m in METRICS)]
    assert table["arch"].tolist() == ["unet"]
    assert table.iloc[0][list(METRICS)].tolist() == pytest.approx(list(metrics.values()))
    assert all(0.0 <= table.iloc[0][f"val_{m}"] <= 1.0 for m in METRICS)
    history = pd.read_csv(out / "history.csv")
    assert {"epoch", "train_loss", "val_loss"} <= set(history.columns) and len(history) == 2
    model, meta = load_segmentation_model(out / "model.pt")
    assert meta["arch"] == "unet" and meta["input_size"] == SIDE
    assert not (out / ".resume").exists()                        # a finished job's state is gone


@pytest.mark.slow
def test_train_segmentation_learns_disks(tmp_path):
    """A few epochs on 18 training disks already segment the 6 test disks."""
    make_cache(tmp_path / "cache", "segmentation", n=24, seed=3)
    cfg = tiny_config("segmentation",
                      train={"max_epochs": 8, "patience": 8, "batch_size": 4, "lr": 3e-3})
    metrics = train("unet", tmp_path / "cache", tmp_path / "unet", cfg)
    assert metrics["dice"] > 0.7, metrics


def test_train_segmentation_needs_ground_truth(tmp_path):
    make_cache(tmp_path / "cache", "segmentation")
    (tmp_path / "cache" / "gt_masks.npy").unlink()
    with pytest.raises(FileNotFoundError, match="gt_masks.npy"):
        train("unet", tmp_path / "cache", tmp_path / "out", tiny_config("segmentation"))


def test_pretrained_without_cache_dir_is_a_config_error(tmp_path):
    make_cache(tmp_path / "cache", "segmentation")
    with pytest.raises(ValueError, match="weights.cache_dir is null"):
        train("unet", tmp_path / "cache", tmp_path / "out",
              tiny_config("segmentation", pretrained=True))


# ---- Figure 3 --------------------------------------------------------------------------
def test_figure3_from_the_stage_data(tmp_path):
    from selcn.report.segmentation_figures import figure3
    from selcn.segmentation import figure3_data, pick_examples

    root = make_cache(tmp_path / "cache", "segmentation", n=12)
    images, masks = cache_arrays(root)
    masks[0] = 0
    np.save(tmp_path / "masks.npy", masks)
    assert 0 not in pick_examples(masks, [0, 4, 8], n=3)
    data = StageInputs(str(root / "images.npy"), str(root / "index.csv"), str(root / "splits.csv"),
                       masks=str(tmp_path / "masks.npy")).open()
    arrays = figure3_data(data, n=2)
    assert arrays["images"].shape == (2, SIDE, SIDE, 3) and arrays["masks"].shape == (2, SIDE, SIDE)
    np.savez(tmp_path / "figure3.npz", **arrays)
    out = figure3(tmp_path / "figure3.npz", tmp_path / "fig" / "fig3.png")
    import matplotlib.image

    pixels = matplotlib.image.imread(out)
    assert pixels.shape[1] > pixels.shape[0] > 100          # 2 rows x 3 panels
    assert sorted(p.name for p in out.parent.iterdir()) == ["fig3.png"]


# ---- any segmentation-models-pytorch architecture (issue 25) ---------------------------------
@pytest.mark.parametrize("arch", SEGMENTERS)
def test_every_architecture_builds_at_its_stride(arch):
    """Every architecture of the vocabulary builds and returns one logit map at a side that is
    a multiple of its stride (``selcn.grid.SEGMENTER_STRIDES``, checked against
    ``segmentation.input_size``): 32 px (the tests' side) and three strides (48 px for 16)."""
    stride = SEGMENTER_STRIDES[arch]
    model = create_segmentation_model(arch, "resnet18").eval()
    with torch.no_grad():
        for side in (32, 3 * stride):
            assert model(torch.randn(2, 3, side, side)).shape == (2, 1, side, side)


def test_the_batch_statistics_rule_names_the_architectures_that_need_it(repo):
    """config/schema.yaml asks batches of >= 2 images exactly of the architectures whose
    training fails on one image (a pooled branch normalised over the batch)."""
    import yaml

    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    rule = schema["allOf"][0]["if"]["properties"]["segmentation"]["properties"]
    listed = set(rule["architectures"]["contains"]["enum"])
    failing = set()
    for arch in SEGMENTERS:
        model = create_segmentation_model(arch, "resnet18").train()
        try:
            model(torch.randn(1, 3, 64, 64))
        except ValueError:
            failing.add(arch)
    assert listed == failing == {"deeplabv3plus", "deeplabv3", "upernet"}


def test_segformer_takes_a_mix_transformer_and_unetplusplus_refuses_it():
    model = create_segmentation_model("segformer", "mit_b0").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1, 64, 64)
    with pytest.raises(ValueError, match="'unetplusplus' cannot be built on encoder 'mit_b0'"):
        create_segmentation_model("unetplusplus", "mit_b0")


@pytest.mark.slow
def test_each_architecture_trains_on_its_configured_encoder(tmp_path):
    make_cache(tmp_path / "cache", "segmentation")
    cfg = tiny_config("segmentation", architectures=["fpn", "segformer"],
                      encoders={"segformer": "mit_b0"},
                      train={"max_epochs": 1, "patience": 1, "batch_size": 4})
    for arch, encoder in (("segformer", "mit_b0"), ("fpn", "resnet18")):
        train(arch, tmp_path / "cache", tmp_path / arch, cfg)
        _, meta = load_segmentation_model(tmp_path / arch / "model.pt")
        assert (meta["arch"], meta["encoder"]) == (arch, encoder)
