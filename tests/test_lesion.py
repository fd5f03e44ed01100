"""Lesion stage (a spec of the stage engine): fold tables, prediction files, best fold, one
tiny grid cell end to end, external predictions, CAM localisation and Figure 10's data."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import make_cache, tiny_config
from selcn import lesion
from selcn.checkpoints import save_model_file
from selcn.config import validate_config
from selcn.data.inputs import StageInputs
from selcn.data.tables import class_names_of, read_index, read_splits
from selcn.engine import FoldFiles, Training, localise, localise_best_fold, predict_split
from selcn.grid import Cell, Fold, Model
from selcn.lesion import fold_tables, load_lesion_model
from selcn.predictions import prediction_frame
from selcn.protocol import LEAKAGE_FREE, THESIS, policy
from selcn.selection import FOLD_METRICS, best_fold_criterion, select_best_fold

SIDE = 32
CLASSES = ["akiec", "bcc", "bkl"]
BALANCE = {"target_per_class": 12, "max_copies": 3}


def cache_inputs(root, *, masks=True, cams=True, gt_masks=True):
    """The StageInputs of a cache written by make_cache."""
    return StageInputs(str(root / "images.npy"), str(root / "index.csv"), str(root / "splits.csv"),
                       masks=str(root / "masks.npy") if masks else None,
                       cams=str(root / "cams.npy") if cams else None,
                       gt_masks=str(root / "gt_masks.npy") if gt_masks else None)


def net_of(cfg, classifier_mask, cam_source):
    """The lesion network of a cell on the 3-class test cache (classes read from it)."""
    return replace(lesion.network(cfg, Cell("ham10000", Model(classifier_mask, cam_source))),
                   classes=tuple(CLASSES))


# ---- tables -----------------------------------------------------------------------------
def test_class_names_from_the_index():
    index = pd.DataFrame({"target": [1, 0, 2, 1], "label": ["bcc", "akiec", "bkl", "bcc"]})
    assert class_names_of(index) == CLASSES
    assert class_names_of(index, dataset="ham10000") == [
        "akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    with pytest.raises(ValueError, match="label 'a' with target 0 does not match the isic2016"):
        class_names_of(pd.DataFrame({"target": [0], "label": ["a"]}), dataset="isic2016")
    with pytest.raises(ValueError, match=r"no image of target\(s\) \[3\]"):
        class_names_of(index, num_classes=4)
    clash = pd.DataFrame({"target": [0, 0], "label": ["a", "b"]})
    with pytest.raises(ValueError, match="target 0 has several labels"):
        class_names_of(clash)


def test_fold_tables_leakage_free_balances_inside_the_fold(tmp_path):
    root = make_cache(tmp_path, "lesion", n=30,
                      split_of=lambda i: "excluded" if i == 29 else
                      ("test" if i % 5 == 0 else f"fold{i % 2}"))
    index = read_index(root / "index.csv")
    splits = read_splits(root / "splits.csv", index)
    parts = fold_tables(splits, Fold(1), LEAKAGE_FREE, BALANCE, seed=0)
    fold1 = set(splits.loc[splits["split"] == "fold1", "row"])
    fold0 = set(splits.loc[splits["split"] == "fold0", "row"])
    assert set(parts["val"]["row"]) == fold1 and (parts["val"]["transform"] == 0).all()
    assert set(parts["train"]["row"]) <= fold0            # no validation image is trained on
    assert 29 not in set(parts["train"]["row"]) | set(parts["val"]["row"])
    assert set(parts["test"]["row"]) == set(splits.loc[splits["split"] == "test", "row"])
    counts = parts["train"]["target"].value_counts()
    assert counts.max() > counts.min() or len(counts) == 3
    assert (parts["train"]["target"].to_numpy()
            == index["target"].to_numpy()[parts["train"]["row"]]).all()
    with pytest.raises(ValueError, match="fold 'fold2' not in field 'split'"):
        fold_tables(splits, Fold(2), LEAKAGE_FREE, BALANCE)


def test_fold_tables_thesis_protocol_cuts_the_balanced_pool(tmp_path):
    root = make_cache(tmp_path, "lesion", n=30)
    index = read_index(root / "index.csv")
    splits = read_splits(root / "splits.csv", index)
    a = fold_tables(splits, Fold(0), THESIS, BALANCE, seed=0)
    b = fold_tables(splits, Fold(1), THESIS, BALANCE, seed=0)
    pool = set(splits.loc[splits["split"].str.startswith("fold"), "row"])
    assert set(a["train"]["row"]) | set(a["val"]["row"]) <= pool
    # the two validation parts partition the balanced pool: a's val is b's train
    key = lambda t: sorted(zip(t["row"], t["transform"]))     # noqa: E731
    assert key(a["val"]) == key(b["train"]) and key(b["val"]) == key(a["train"])
    metric = FOLD_METRICS["lesion"]
    assert best_fold_criterion(THESIS, metric) == ("test", "accuracy", "test_accuracy")
    assert best_fold_criterion(LEAKAGE_FREE, metric) == ("val", "accuracy", "val_accuracy")


# ---- prediction files and the best fold -------------------------------------------------
def test_prediction_frame_follows_the_contract():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    frame = prediction_frame(["a", "b"], [1, 2], probs, CLASSES)
    assert list(frame.columns) == ["image_id", "target", "pred", "prob_akiec", "prob_bcc",
                                   "prob_bkl"]
    assert frame["pred"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        prediction_frame(["a", "b"], [1, 2], probs, CLASSES[:2])


def test_select_best_fold_known_answer(tmp_path):
    files = {}
    for fold, preds in {0: [0, 1, 1, 1], 1: [0, 1, 2, 1], 2: [0, 1, 2, 1]}.items():
        files[fold] = tmp_path / f"p{fold}.csv"
        pd.DataFrame({"image_id": list("abcd"), "target": [0, 1, 2, 2],
                      "pred": preds}).to_csv(files[fold], index=False)
    criterion = best_fold_criterion(policy("leakage_free"), FOLD_METRICS["lesion"])
    best = select_best_fold(files, criterion)
    assert best["fold"] == 1 and best["value"] == 0.75       # tie 1 vs 2: lower fold
    assert best["criterion"] == "val_accuracy" and best["values"]["0"] == 0.5
    pd.DataFrame({"image_id": ["a"], "target": [0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="bad.csv: missing column"):
        select_best_fold({0: tmp_path / "bad.csv"}, criterion)


# ---- one grid cell end to end -----------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Fold 0 of the cell seg-none (input masked, symmetry CAMs through the E-Layer)."""
    tmp = tmp_path_factory.mktemp("lesion")
    root = make_cache(tmp / "cache", "lesion")
    cfg = tiny_config("lesion", output_stride=8)           # 32 px -> a 4x4 feature map (1x1 at 32)
    out = tmp / "lesion" / "ham10000" / "seg-none" / "fold0"
    summary = lesion.train(net_of(cfg, "seg", "none"), cache_inputs(root), Fold(0), out,
                           Training.of(cfg, "lesion"))
    return root, out, cfg, summary


def test_train_lesion_fold_writes_valid_prediction_files(trained):
    root, out, cfg, summary = trained
    assert sorted(p.name for p in out.iterdir()) == [           # no .resume/ left behind
        "history.csv", "model.pt", "predictions_test.csv", "predictions_val.csv"]
    index = read_index(root / "index.csv")
    splits = read_splits(root / "splits.csv", index)
    for part, split in (("val", "fold0"), ("test", "test")):
        table = pd.read_csv(out / f"predictions_{part}.csv", dtype={"image_id": str})
        assert list(table.columns) == (["image_id", "target", "pred"]
                                       + [f"prob_{c}" for c in CLASSES])
        assert sorted(table["image_id"]) == sorted(splits.loc[splits["split"] == split, "image_id"])
        truth = dict(zip(index["image_id"], index["target"]))
        assert (table["target"] == table["image_id"].map(truth)).all()
        probs = table[[f"prob_{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
        assert (table["pred"] == probs.argmax(1)).all()
        accuracy = (table["pred"] == table["target"]).mean()
        assert summary[f"{part}_accuracy"] == pytest.approx(accuracy)
    history = pd.read_csv(out / "history.csv")
    assert {"epoch", "train_loss", "val_loss", "accuracy"} <= set(history.columns)
    model, meta = load_lesion_model(out / "model.pt")
    assert meta["classifier_mask"] == "seg" and meta["symmetry_mask"] == "none"
    assert meta["class_names"] == CLASSES and model.use_cam and meta["fold"] == 0
    assert meta["output_stride"] == 8 and model.forward_features(
        torch.zeros(1, 3, SIDE, SIDE), torch.zeros(1, 1, 4, 4)).shape[-2:] == (4, 4)


def test_train_lesion_fold_needs_its_inputs(tmp_path):
    root = make_cache(tmp_path, "lesion")
    cfg = tiny_config("lesion")
    bare = cache_inputs(root, masks=False, cams=False)

    def train(cm, cs, inputs):
        return lesion.train(net_of(cfg, cm, cs), inputs, Fold(0), tmp_path / "out",
                            Training.of(cfg, "lesion"))

    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        train("lae", "off", bare)
    with pytest.raises(ValueError, match="CAMs must be given"):
        train("none", "seg", bare)
    np.save(tmp_path / "short.npy", np.zeros((3, 16, 16), np.float16))
    with pytest.raises(ValueError, match="short.npy: symmetry CAMs must have shape"):
        train("none", "seg", replace(bare, cams=str(tmp_path / "short.npy")))


def test_predict_split_on_an_external_set(trained, tmp_path):
    root, out, _, _ = trained
    ext = make_cache(tmp_path / "isic2019", "lesion", n=9, seed=3, split_of=lambda i: "test")
    saved = lesion.open_model(out / "model.pt")
    inputs = cache_inputs(ext, gt_masks=False)
    table = predict_split(saved, inputs.open(), "test", tmp_path / "predictions_isic2019.csv")
    assert len(table) == 9 and (tmp_path / "predictions_isic2019.csv").is_file()
    index = pd.read_csv(ext / "index.csv")
    index.loc[0, "label"] = "mel"
    index.to_csv(ext / "index.csv", index=False)
    with pytest.raises(ValueError, match="label 'mel' of target 0 differs"):
        predict_split(saved, inputs.open(), "test", tmp_path / "x.csv")


def test_train_lesion_fold_also_predicts_the_external_set(tmp_path):
    """``external=``: the training job writes predictions_isic2019.csv itself, the same file
    a separate predict_split of the saved model writes."""
    root = make_cache(tmp_path / "cache", "lesion")
    ext = make_cache(tmp_path / "isic2019", "lesion", n=9, seed=3, split_of=lambda i: "test")
    out = tmp_path / "lesion" / "ham10000" / "seg-none" / "fold1"
    ext_inputs = cache_inputs(ext, gt_masks=False)
    cfg = tiny_config("lesion")

    def train(external):
        return lesion.train(net_of(cfg, "seg", "none"), cache_inputs(root), Fold(1), out,
                            Training.of(cfg, "lesion"), external=("isic2019", external))

    with pytest.raises(ValueError, match=r"isic2019/images.npy: symmetry CAMs must be given"):
        train(replace(ext_inputs, cams=None))
    assert not (out / "model.pt").exists()                 # checked before any training
    summary = train(ext_inputs)
    assert sorted(p.name for p in out.iterdir()) == [
        "history.csv", "model.pt", "predictions_isic2019.csv", "predictions_test.csv",
        "predictions_val.csv"]
    table = pd.read_csv(out / "predictions_isic2019.csv", dtype={"image_id": str})
    assert sorted(table["image_id"]) == sorted(pd.read_csv(ext / "index.csv")["image_id"])
    assert summary["isic2019_accuracy"] == pytest.approx((table["pred"] == table["target"]).mean())
    again = predict_split(lesion.open_model(out / "model.pt"), ext_inputs.open(), "test",
                          tmp_path / "separate.csv")
    pd.testing.assert_frame_equal(table, again.astype({"image_id": str}), check_dtype=False)


def test_localise_best_fold_scores_test_images(trained, tmp_path):
    root, out, cfg, _ = trained
    data = cache_inputs(root).open()
    best = localise_best_fold(lesion.KIND, FoldFiles({0: out / "model.pt"},
                                                     {0: out / "predictions_val.csv"}),
                              data, cfg, (tmp_path / "localisation.csv",
                                          tmp_path / "best_fold.json"))
    assert best["fold"] == 0
    saved = json.loads((tmp_path / "best_fold.json").read_text())
    assert saved["criterion"] == "val_accuracy" and saved["localised_on"] == "test split"
    assert saved["cam_layers"] == ["own", "encoder"]
    table = pd.read_csv(tmp_path / "localisation.csv", dtype={"image_id": str})
    scores = ["iou", "overlap", "pointing"]
    encoder = [f"{c}_encoder" for c in scores]
    assert list(table.columns[:5]) == ["image_id", "split", *scores]
    assert list(table.columns[-3:]) == encoder
    index = read_index(root / "index.csv")
    splits = read_splits(root / "splits.csv", index)
    assert sorted(table["image_id"]) == sorted(splits.loc[splits["split"] == "test", "image_id"])
    assert saved["n_localised"] == len(table) and set(table["split"]) == {"test"}
    assert table[scores + encoder].apply(lambda c: c.between(0, 1).all()).all()
    # the E-Layer model's own layer and its encoder layer are two different explanations
    assert not np.allclose(table[scores].to_numpy(), table[encoder].to_numpy())

    # protocol thesis: every image with a ground-truth mask, best fold on the test split
    best = localise_best_fold(lesion.KIND, FoldFiles({0: out / "model.pt"},
                                                     {0: out / "predictions_test.csv"}),
                              data, {**cfg, "protocol": "thesis"},
                              (tmp_path / "thesis.csv", tmp_path / "thesis.json"))
    every = pd.read_csv(tmp_path / "thesis.csv", dtype={"image_id": str})
    assert best["localised_on"] == "every image with a ground-truth mask"
    assert best["criterion"] == "test_accuracy"
    assert sorted(every["image_id"]) == sorted(index["image_id"]) and len(every) == 30
    same = every.set_index("image_id").loc[table["image_id"], scores + encoder]
    np.testing.assert_allclose(same.to_numpy(), table[scores + encoder].to_numpy(), atol=1e-6)


def test_baseline_encoder_columns_equal_its_own_layer(tmp_path):
    """A baseline's own CAM layer is the encoder's last feature layer: both column blocks are
    the same numbers (computed once)."""
    root = make_cache(tmp_path / "cache", "lesion")
    cfg = tiny_config("lesion")
    net = net_of(cfg, "none", "off")
    save_model_file(tmp_path / "model.pt", net.build(3),
                    **{**net.record(), "class_names": CLASSES, "num_classes": 3})
    saved = lesion.open_model(tmp_path / "model.pt")
    assert list(saved.layers) == ["own", "encoder"]
    table = localise(saved, cache_inputs(root, masks=False, cams=False).open(), "test",
                     cfg["cams"])
    for c in ("iou", "overlap", "pointing"):
        np.testing.assert_array_equal(table[c], table[f"{c}_encoder"])
    with pytest.raises(ValueError, match="no CAM layer 'head'"):
        saved.layer("head")


def test_figure10_draws_every_model(trained, tmp_path):
    from selcn.report.lesion_figures import figure10

    root, out, _, _ = trained
    models = {Model("seg", "none"): lesion.open_model(out / "model.pt")}
    data = cache_inputs(root, cams=False).open()
    arrays = lesion.figure10_data(models, data, {"none": np.load(root / "cams.npy")})
    assert list(arrays["models"]) == ["seg-none"] and list(arrays["numbers"]) == [6]
    assert arrays["cam_seg-none"].shape == (SIDE, SIDE) and str(arrays["pred_seg-none"]) in CLASSES
    np.savez(tmp_path / "figure10.npz", **arrays)
    png = figure10(tmp_path / "figure10.npz", tmp_path / "fig10.png")
    assert png.stat().st_size > 1000
    with pytest.raises(ValueError, match="needs the 'none' symmetry CAMs"):
        lesion.figure10_data(models, data, {})


# ---- lesion.output_stride ---------------------------------------------------------------
def test_output_stride_config_reaches_the_saved_model(tmp_path):
    """``lesion.output_stride`` (schema default 32) builds the network, is saved in model.pt
    and rebuilds it; a model.pt without the key (older files) loads at stride 32."""
    import torch

    assert tiny_config("lesion")["lesion"]["output_stride"] == 32
    with pytest.raises(Exception, match="output_stride"):
        tiny_config("lesion", output_stride=4)
    cfg = tiny_config("lesion", output_stride=8)
    net = net_of(cfg, "none", "off")
    model = net.build(3).eval()
    image = torch.zeros(1, 3, 64, 64)
    assert model.forward_features(image).shape[-2:] == (8, 8)
    assert net.record()["output_stride"] == 8
    save_model_file(tmp_path / "model.pt", model,
                    **{**net.record(), "input_size": 64, "class_names": CLASSES,
                       "num_classes": 3})
    loaded, meta = load_lesion_model(tmp_path / "model.pt")
    assert meta["output_stride"] == 8
    assert loaded.forward_features(image).shape[-2:] == (8, 8)
    torch.testing.assert_close(loaded(image), model(image))
    blob = torch.load(tmp_path / "model.pt", weights_only=True)
    del blob["output_stride"]
    base = net_of(tiny_config("lesion"), "none", "off").build(3)
    blob["state_dict"] = base.state_dict()
    torch.save(blob, tmp_path / "old.pt")
    old, meta = load_lesion_model(tmp_path / "old.pt")
    assert meta["output_stride"] == 32 and old.forward_features(image).shape[-2:] == (2, 2)


def test_demo_lesion_feature_map_is_at_least_6x6():
    """Issue 15: the demo's lesion CAMs come from a feature map of at least 6 x 6."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    cfg = validate_config(yaml.safe_load((root / "config" / "config.yaml").read_text()))
    les = cfg["lesion"]
    assert les["input_size"] // les["output_stride"] >= 6


def test_unbalanced_fold_tables_keep_each_training_image_once():
    splits = pd.DataFrame({"row": np.arange(30), "target": [0] * 24 + [1] * 6,
                           "split": ["test"] * 6 + [f"fold{i % 2}" for i in range(24)]})
    parts = fold_tables(splits, Fold(0), LEAKAGE_FREE, None)
    assert sorted(parts["train"]["row"]) == sorted(splits.loc[splits["split"] == "fold1", "row"])
    assert (parts["train"]["transform"] == 0).all()
    balanced = fold_tables(splits, Fold(0), LEAKAGE_FREE,
                           {"target_per_class": 20, "max_copies": 3})
    assert len(balanced["train"]) > len(parts["train"])
