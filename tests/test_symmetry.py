"""Symmetry stage (a spec of the stage engine): models, fold tables, best fold, one tiny fold
end to end, CAM export, localisation and Figure 9's data."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import make_cache
from selcn import symmetry
from selcn.config import validate_config
from selcn.data.inputs import StageInputs
from selcn.draw import overlay
from selcn.engine import Training, export_cams, train_fold
from selcn.grid import Fold, SymmetryVariant
from selcn.models.symmetry import SYMMETRY_ARCHS, cam_target_layer, create_symmetry_model
from selcn.predictions import read_predictions, write_predictions
from selcn.protocol import policy
from selcn.report.cam_figures import figure9
from selcn.selection import FOLD_METRICS, best_fold_criterion, best_model_path, select_best_fold
from selcn.symmetry import fold_tables, load_symmetry_model, localise_symmetry, pick_rows

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
    assert SymmetryVariant.parse("pretrained-seg") == SymmetryVariant(True, "seg")
    assert SymmetryVariant.parse("scratch-none") == SymmetryVariant(False, "none")
    with pytest.raises(ValueError, match="unknown symmetry variant"):
        SymmetryVariant.parse("pretrained-box")


def _splits(root):
    return StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                       str(root / "splits.csv")).open().splits


def test_fold_tables_never_use_excluded_rows(tmp_path):
    root = make_cache(tmp_path, "symmetry")
    splits = _splits(root)
    excluded = set(splits.loc[splits["split"] == "excluded", "row"])
    parts = fold_tables(splits, Fold(1))
    assert set(parts["val"]["row"]) == set(splits.loc[splits["split"] == "fold1", "row"])
    assert set(parts["train"]["row"]) == set(splits.loc[splits["split"].isin(["fold0", "fold2"]),
                                                        "row"])
    for table in parts.values():
        assert not excluded & set(table["row"]) and (table["transform"] == 0).all()
    with pytest.raises(ValueError, match="fold7"):
        fold_tables(splits, Fold(7))


def _preds(path, target, pred):
    probs = np.eye(2)[pred] * 0.8 + 0.1
    write_predictions(path, [f"i{k}" for k in range(len(target))], target, probs, CLASSES)
    return path


def test_best_fold_by_val_balanced_accuracy_or_thesis_test_accuracy(tmp_path):
    # fold 0: accuracy 0.8 but balanced accuracy 0.5 (always "symmetric"); fold 1: 0.7 / 0.75
    t = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    f0 = _preds(tmp_path / "f0.csv", t, np.ones(10, int))
    f1 = _preds(tmp_path / "f1.csv", t, np.array([0, 1, 0, 0, 0, 1, 1, 1, 1, 1]))
    leakage_free = best_fold_criterion(policy("leakage_free"), FOLD_METRICS["symmetry"])
    best = select_best_fold({0: f0, 1: f1}, leakage_free)
    assert best["fold"] == 1 and best["criterion"] == "val_balanced_accuracy"
    assert best["value"] == pytest.approx(0.5 * (0.5 + 5 / 8))
    thesis = select_best_fold({0: f0, 1: f1}, best_fold_criterion(policy("thesis"),
                                                                  FOLD_METRICS["symmetry"]))
    assert thesis["fold"] == 0 and thesis["criterion"] == "test_accuracy"
    assert select_best_fold({2: f1, 1: f1}, leakage_free)["fold"] == 1   # tie -> lowest fold
    assert best_fold_criterion(policy("thesis"))[0] == "test"
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
    inputs = StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                         str(root / "splits.csv"), masks=str(root / "masks.npy"),
                         gt_masks=str(root / "gt_masks.npy"))
    summary, _ = train_fold(symmetry.network(cfg, "scratch-seg"), inputs, Fold(0), out,
                            Training.of(cfg, "symmetry"))
    for name in ("model.pt", "history.csv", "predictions_val.csv", "predictions_test.csv"):
        assert (out / name).is_file(), name
    assert not (out / ".resume").exists()                        # a finished job's state is gone
    test = read_predictions(out / "predictions_test.csv", expected_classes=CLASSES)
    assert len(test) == 12 and summary["n_train"] == 12                 # folds 1 and 2
    history = pd.read_csv(out / "history.csv")
    assert {"balanced_accuracy", "val_loss"} <= set(history.columns)
    model, meta = load_symmetry_model(out / "model.pt")
    assert meta["mask"] == "seg" and meta["class_names"] == CLASSES and meta["fold"] == 0

    saved = symmetry.open_model(out / "model.pt")
    cams_npy = tmp_path / "cams" / "seg" / "ham10000.npy"
    [info] = export_cams(saved, [(inputs, cams_npy)], cam_size=8, batch_size=5)
    cams = np.load(cams_npy)
    assert cams.dtype == np.float16 and cams.shape == (36, 8, 8) and info["n"] == 36
    assert cams.min() >= 0 and cams.max() <= 1
    assert np.allclose(cams.reshape(36, -1).max(1), 1, atol=1e-3) or cams.max() == 0
    # one job for several datasets: the same CAMs as one job per dataset
    other = make_cache(tmp_path / "other", "symmetry", n=10, seed=5)
    other_inputs = StageInputs(str(other / "images.npy"), str(other / "index.csv"),
                               masks=str(other / "masks.npy"))
    many = export_cams(saved, [(inputs, tmp_path / "many" / "ham10000.npy"),
                               (other_inputs, tmp_path / "many" / "isic2019.npy")],
                       cam_size=8, batch_size=7)
    assert [m["n"] for m in many] == [36, 10]
    np.testing.assert_allclose(np.load(tmp_path / "many" / "ham10000.npy"), cams, atol=2e-3)
    single = tmp_path / "single.npy"
    export_cams(saved, [(other_inputs, single)], cam_size=8)
    np.testing.assert_allclose(np.load(tmp_path / "many" / "isic2019.npy"), np.load(single),
                               atol=2e-3)
    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        export_cams(saved, [(StageInputs(str(other / "images.npy"), str(other / "index.csv")),
                             tmp_path / "x.npy")], cam_size=8)

    data = inputs.open()
    table = localise_symmetry(saved, data, "test", cfg["cams"])
    assert list(table.columns[:5]) == ["image_id", "split", "iou", "overlap", "pointing"]
    assert len(table) == 12 and set(table["split"]) == {"test"}
    every = localise_symmetry(saved, data, None, cfg["cams"])
    assert len(every) == 36 and set(every["split"]) > {"test"}       # protocol thesis: all
    pd.testing.assert_frame_equal(every[every["split"] == "test"].reset_index(drop=True),
                                  table.reset_index(drop=True), check_like=True)
    assert table[["iou", "overlap"]].stack().between(0, 1).all()
    assert set(table["pointing"]) <= {0.0, 1.0}

    best = tmp_path / "symmetry" / "scratch-seg" / "best_fold.json"
    criterion = best_fold_criterion(policy("leakage_free"), FOLD_METRICS["symmetry"])
    best.write_text(json.dumps(select_best_fold({0: out / "predictions_val.csv"}, criterion)))
    best_saved = symmetry.open_model(best_model_path(best, [out / "model.pt"]))
    arrays = symmetry.figure9_data({"seg": best_saved}, data, n_per_class=1)
    assert list(arrays["masks"]) == ["seg"] and list(arrays["variants"]) == ["scratch-seg"]
    assert arrays["images"].shape == (2, SIDE, SIDE, 3)
    assert arrays["cams_seg"].shape == (2, SIDE, SIDE) and len(arrays["preds_seg"]) == 2
    npz = tmp_path / "figure9.npz"
    np.savez(npz, **arrays)
    png = figure9(npz, tmp_path / "fig9.png")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_mask_variant_needs_masks(tmp_path):
    root = make_cache(tmp_path / "cache", "symmetry", n=12)
    cfg = _cfg(tmp_path)
    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        train_fold(symmetry.network(cfg, "scratch-lae"),
                   StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                               str(root / "splits.csv")),
                   Fold(0), tmp_path / "o", Training.of(cfg, "symmetry"))


def test_overlay_resizes_the_cam_and_pick_rows(tmp_path):
    image = np.full((16, 16, 3), 255, np.uint8)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0
    out = overlay(image, cam, alpha=1.0)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[0, 0] != out[15, 15]).any()                  # hot corner differs from cold one
    root = make_cache(tmp_path / "c", "symmetry")
    splits = _splits(root)
    rows = pick_rows(splits, 2)
    assert len(rows) == 4 and list(splits.set_index("row").loc[rows, "target"]) == [0, 0, 1, 1]
