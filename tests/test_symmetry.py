"""Symmetry stage: models, weighted CE, fold tables, best fold, one tiny fold end to end,
CAM export and localisation."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import make_cache
from selcn.config import validate_config
from selcn.models.symmetry import SYMMETRY_ARCHS, cam_target_layer, create_symmetry_model
from selcn.predictions import read_predictions, write_predictions
from selcn.report.cam_figures import figure9_from_files, overlay, pick_rows
from selcn.symmetry import (
    best_fold_criterion,
    best_model_path,
    export_cams,
    export_cams_datasets,
    fold_tables,
    load_symmetry_model,
    localise_symmetry,
    parse_variant,
    read_tables,
    select_best_fold,
    train_symmetry_fold,
)

CLASSES = ["asymmetric", "symmetric"]
SIDE = 48


@pytest.mark.parametrize("arch", SYMMETRY_ARCHS)
def test_models_have_two_class_heads_and_a_4d_target_layer(arch):
    torch.manual_seed(0)
    model = create_symmetry_model(arch).eval()
    seen = {}
    handle = cam_target_layer(model).register_forward_hook(
        lambda m, i, o: seen.update(shape=tuple(o.shape)))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    handle.remove()
    assert out.shape == (2, 2)
    assert len(seen["shape"]) == 4 and seen["shape"][0] == 2
    if arch == "squeezenet1_0":
        head = model.classifier[1]
        assert isinstance(head, torch.nn.Conv2d) and head.weight.shape == (2, 512, 1, 1)
        assert abs(head.weight.std().item() - 0.01) < 0.002 and not head.bias.any()


def test_pretrained_weights_come_from_the_cache(tmp_path):
    from torchvision.models import squeezenet1_0

    torch.manual_seed(3)
    imagenet = squeezenet1_0(weights=None)
    torch.save(imagenet.state_dict(), tmp_path / "squeezenet1_0.pth")
    model = create_symmetry_model("squeezenet1_0", pretrained_cache=tmp_path)
    torch.testing.assert_close(model.features[0].weight, imagenet.features[0].weight)
    assert model.classifier[1].weight.shape == (2, 512, 1, 1)
    with pytest.raises(FileNotFoundError, match="resnet34"):
        create_symmetry_model("resnet34", pretrained_cache=tmp_path)
    with pytest.raises(ValueError, match="unknown symmetry architecture"):
        create_symmetry_model("vgg16")


def test_parse_variant():
    assert parse_variant("pretrained-seg") == (True, "seg")
    assert parse_variant("scratch-none") == (False, "none")
    with pytest.raises(ValueError, match="unknown symmetry variant"):
        parse_variant("pretrained-box")


def test_fold_tables_never_use_excluded_rows(tmp_path):
    root = make_cache(tmp_path, "symmetry")
    _, splits = read_tables(root / "index.csv", root / "splits.csv")
    excluded = set(splits.loc[splits["split"] == "excluded", "row"])
    parts = fold_tables(splits, 1)
    assert set(parts["val"]["row"]) == set(splits.loc[splits["split"] == "fold1", "row"])
    assert set(parts["train"]["row"]) == set(splits.loc[splits["split"].isin(["fold0", "fold2"]),
                                                        "row"])
    for table in parts.values():
        assert not excluded & set(table["row"]) and (table["transform"] == 0).all()
    with pytest.raises(ValueError, match="fold7"):
        fold_tables(splits, 7)


def _preds(path, target, pred):
    probs = np.eye(2)[pred] * 0.8 + 0.1
    write_predictions(path, [f"i{k}" for k in range(len(target))], target, probs, CLASSES)
    return path


def test_best_fold_by_val_balanced_accuracy_or_thesis_test_accuracy(tmp_path):
    # fold 0: accuracy 0.8 but balanced accuracy 0.5 (always "symmetric"); fold 1: 0.7 / 0.75
    t = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    f0 = _preds(tmp_path / "f0.csv", t, np.ones(10, int))
    f1 = _preds(tmp_path / "f1.csv", t, np.array([0, 1, 0, 0, 0, 1, 1, 1, 1, 1]))
    best = select_best_fold({0: f0, 1: f1})
    assert best["fold"] == 1 and best["criterion"] == "val_balanced_accuracy"
    assert best["value"] == pytest.approx(0.5 * (0.5 + 5 / 8))
    thesis = select_best_fold({0: f0, 1: f1}, protocol="thesis")
    assert thesis["fold"] == 0 and thesis["criterion"] == "test_accuracy"
    assert select_best_fold({2: f1, 1: f1})["fold"] == 1                # tie -> lowest fold
    assert best_fold_criterion("thesis")[0] == "test"
    (tmp_path / "best.json").write_text(json.dumps(best))
    path = best_model_path(tmp_path / "best.json", ["r/fold0/model.pt", "r/fold1/model.pt"])
    assert path.as_posix() == "r/fold1/model.pt"


def _cfg(tmp_path):
    return validate_config({
        "device": "cpu",
        "weights": {"cache_dir": None},
        "symmetry": {"pretrained": False, "input_size": 64, "cam_size": 8,
                     "train": {"max_epochs": 2, "patience": 2, "batch_size": 8, "lr": 1e-3}},
    })


def test_one_fold_end_to_end_then_cams_and_localisation(tmp_path):
    root = make_cache(tmp_path / "cache", "symmetry")
    cfg = _cfg(tmp_path)
    out = tmp_path / "symmetry" / "scratch-seg" / "fold0"
    summary = train_symmetry_fold(images_npy=root / "images.npy", index_csv=root / "index.csv",
                                  splits_csv=root / "splits.csv", out_dir=out, cfg=cfg, fold=0,
                                  mask="seg", pretrained=False, masks_npy=root / "masks.npy",
                                  progress=False)
    for name in ("model.pt", "history.csv", "predictions_val.csv", "predictions_test.csv"):
        assert (out / name).is_file(), name
    assert not (out / ".resume").exists()                        # a finished job's state is gone
    test = read_predictions(out / "predictions_test.csv", expected_classes=CLASSES)
    assert len(test) == 12 and summary["n_train"] == 12                 # folds 1 and 2
    history = pd.read_csv(out / "history.csv")
    assert {"balanced_accuracy", "val_loss"} <= set(history.columns)
    model, meta = load_symmetry_model(out / "model.pt")
    assert meta["mask"] == "seg" and meta["class_names"] == CLASSES and meta["fold"] == 0

    cams_npy = tmp_path / "cams" / "seg" / "ham10000.npy"
    info = export_cams(out / "model.pt", images_npy=root / "images.npy",
                       index_csv=root / "index.csv", out_npy=cams_npy, cam_size=8,
                       masks_npy=root / "masks.npy", batch_size=5, device="cpu")
    cams = np.load(cams_npy)
    assert cams.dtype == np.float16 and cams.shape == (36, 8, 8) and info["n"] == 36
    assert cams.min() >= 0 and cams.max() <= 1
    assert np.allclose(cams.reshape(36, -1).max(1), 1, atol=1e-3) or cams.max() == 0
    # one job for several datasets: the same CAMs as one job per dataset
    other = make_cache(tmp_path / "other", "symmetry", n=10, seed=5)
    many = export_cams_datasets(
        out / "model.pt", [
            {"images_npy": root / "images.npy", "index_csv": root / "index.csv",
             "masks_npy": root / "masks.npy", "out_npy": tmp_path / "many" / "ham10000.npy"},
            {"images_npy": other / "images.npy", "index_csv": other / "index.csv",
             "masks_npy": other / "masks.npy", "out_npy": tmp_path / "many" / "isic2019.npy"}],
        cam_size=8, batch_size=7, device="cpu")
    assert [m["n"] for m in many] == [36, 10]
    np.testing.assert_allclose(np.load(tmp_path / "many" / "ham10000.npy"), cams, atol=2e-3)
    single = tmp_path / "single.npy"
    export_cams(out / "model.pt", images_npy=other / "images.npy",
                index_csv=other / "index.csv", out_npy=single, cam_size=8,
                masks_npy=other / "masks.npy", device="cpu")
    np.testing.assert_allclose(np.load(tmp_path / "many" / "isic2019.npy"), np.load(single),
                               atol=2e-3)
    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        export_cams_datasets(out / "model.pt", [
            {"images_npy": other / "images.npy", "index_csv": other / "index.csv",
             "out_npy": tmp_path / "x.npy"}], cam_size=8, device="cpu")

    table = localise_symmetry(out / "model.pt", images_npy=root / "images.npy",
                              index_csv=root / "index.csv", splits_csv=root / "splits.csv",
                              gt_masks_npy=root / "gt_masks.npy", masks_npy=root / "masks.npy",
                              cams_cfg=cfg["cams"], device="cpu")
    assert list(table.columns[:5]) == ["image_id", "split", "iou", "overlap", "pointing"]
    assert len(table) == 12 and set(table["split"]) == {"test"}
    every = localise_symmetry(out / "model.pt", images_npy=root / "images.npy",
                              index_csv=root / "index.csv", splits_csv=root / "splits.csv",
                              gt_masks_npy=root / "gt_masks.npy", masks_npy=root / "masks.npy",
                              cams_cfg=cfg["cams"], device="cpu", split=None)
    assert len(every) == 36 and set(every["split"]) > {"test"}       # protocol thesis: all
    pd.testing.assert_frame_equal(every[every["split"] == "test"].reset_index(drop=True),
                                  table.reset_index(drop=True), check_like=True)
    assert table[["iou", "overlap"]].stack().between(0, 1).all()
    assert set(table["pointing"]) <= {0.0, 1.0}

    best = tmp_path / "symmetry" / "scratch-seg" / "best_fold.json"
    best.write_text(json.dumps(select_best_fold({0: out / "predictions_val.csv"})))
    png = figure9_from_files([{"mask": "seg", "variant": "scratch-seg", "best_json": best,
                               "model_pts": [out / "model.pt"]}],
                             images_npy=root / "images.npy", index_csv=root / "index.csv",
                             splits_csv=root / "splits.csv", masks_npy=root / "masks.npy",
                             out_path=tmp_path / "fig9.png", n_per_class=1, device="cpu")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_mask_variant_needs_masks(tmp_path):
    root = make_cache(tmp_path / "cache", "symmetry", n=12)
    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        train_symmetry_fold(images_npy=root / "images.npy", index_csv=root / "index.csv",
                            splits_csv=root / "splits.csv", out_dir=tmp_path / "o",
                            cfg=_cfg(tmp_path), fold=0, mask="lae", pretrained=False)


def test_overlay_resizes_the_cam_and_pick_rows(tmp_path):
    image = np.full((16, 16, 3), 255, np.uint8)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0
    out = overlay(image, cam, alpha=1.0)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[0, 0] != out[15, 15]).any()                  # hot corner differs from cold one
    root = make_cache(tmp_path / "c", "symmetry")
    _, splits = read_tables(root / "index.csv", root / "splits.csv")
    rows = pick_rows(splits, 2)
    assert len(rows) == 4 and list(splits.set_index("row").loc[rows, "target"]) == [0, 0, 1, 1]
