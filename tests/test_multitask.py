"""Model 13 (selcn.multitask, selcn.models.multitask): the vocabulary, paths and file maps that
know it, the network (its symmetry CAM is the weighted feature sum), the partial-label samples
and their guards, training with a resume after a kill, prediction, export and `selcn predict`,
the report's builders on its files, and the cost measurement."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import cache_paths, make_cache
from selcn.config import ConfigError, load_config, validate_config
from selcn.grid import MULTITASK, Fold, Model, grid, lesion_model
from selcn.losses import MISSING

TRAIN = {"max_epochs": 2, "patience": 2, "batch_size": 8, "lr": 1e-3}


def tiny_config(**multitask):
    return validate_config({
        "device": "cpu", "seed": 0,
        "data": {"balance": {"target_per_class": 12, "max_copies": 3}},
        "lesion": {"architecture": "test_efficientnet", "pretrained": False, "input_size": 32,
                   "output_stride": 8, "folds": 2, "datasets": ["ham10000"]},
        "multitask": {"enabled": True, "decoder_channels": [16, 16, 8, 8, 8], "train": TRAIN,
                      **multitask}})


# ---- the vocabulary, paths and file maps ------------------------------------------------------
def test_model_13_is_the_one_model_outside_the_grid(repo):
    assert MULTITASK.number == 13 and MULTITASK.name == "multitask" and str(MULTITASK) == \
        "multitask"
    assert not MULTITASK.takes_cam and not MULTITASK.needs_masks      # reads no mask / CAM file
    assert MULTITASK.baseline() == Model("none", "off") and lesion_model(13) is MULTITASK
    assert lesion_model(3) == Model("none", "seg")
    with pytest.raises(ValueError, match="no lesion model"):
        lesion_model(14)
    paper = grid(load_config(repo / "config" / "paper.yaml"))
    assert paper.multitask and paper.multitask_datasets == ("ham10000", "isic2016")
    assert [m.number for m in paper.models()] == list(range(1, 13))   # the grid's 12, unchanged
    demo = grid(load_config(repo / "config" / "config.yaml"))
    assert not demo.multitask and demo.multitask_datasets == ()
    only = grid(load_config(repo / "config" / "paper.yaml", {"multitask": {"datasets":
                                                                          ["isic2016"]}}))
    assert only.multitask_datasets == ("isic2016",)
    with pytest.raises(ConfigError, match="multitask.datasets"):
        grid(load_config(repo / "config" / "config.yaml",
                         {"lesion": {"datasets": ["ham10000"]},
                          "multitask": {"enabled": True, "datasets": ["isic2016"]}}))


def test_its_paths_parse_as_a_lesion_model_and_its_symmetry_files_as_a_symmetry_model():
    from selcn.paths import multitask_file, multitask_fold_file, parse_result_path

    test = multitask_fold_file("ham10000", Fold(1), "predictions_test.csv")
    assert test == "results/lesion/ham10000/multitask/fold1/predictions_test.csv"
    assert parse_result_path(test) == {
        "stage": "lesion", "dataset": "ham10000", "fold": 1, "file": "predictions_test.csv",
        "split": "test", "classifier_mask": "none", "symmetry_mask": "own", "model": 13}
    sym = parse_result_path(multitask_fold_file("ham10000", 0, "predictions_symmetry_val.csv"))
    assert (sym["stage"], sym["variant"], sym["split"], sym["model"]) == \
        ("symmetry", "multitask", "val", 13)
    loc = parse_result_path(multitask_file("isic2016", "localisation.csv"))
    assert (loc["stage"], loc["model"], loc["dataset"]) == ("lesion", 13, "isic2016")
    assert parse_result_path("x/lesion/ham10000/none-seg/fold0/predictions_val.csv")["model"] == 3


def test_the_file_maps_add_model_13_beside_the_grid(repo):
    from selcn.jobs import Jobs
    from selcn.report.registry import TABLE_REGISTRY, report_tables

    demo = Jobs.of(load_config(repo / "config" / "config.yaml"))
    assert demo.multitask_prediction_files("ham10000", "test") == [] and \
        demo.multitask_targets() == [] and demo.multitask_cost_files() == []
    assert "cost_multitask" not in report_tables(demo.grid)
    jobs = Jobs.of(load_config(repo / "config" / "config.yaml", {"multitask": {"enabled": True}}))
    files = jobs.multitask_prediction_files("ham10000", "test")
    assert files == [f"results/lesion/ham10000/multitask/fold{k}/predictions_test.csv"
                     for k in (0, 1)]
    for name, split in (("table8_lesion_test", "test"), ("table8_lesion_val", "val")):
        assert TABLE_REGISTRY[name].files(jobs) == \
            jobs.lesion_prediction_files("ham10000", split) + \
            jobs.multitask_prediction_files("ham10000", split)
    assert TABLE_REGISTRY["table10_isic2019"].files(jobs)[-1] == \
        "results/lesion/ham10000/multitask/fold1/predictions_isic2019.csv"
    assert TABLE_REGISTRY["table5_segmentation"].files(jobs)[-1] == \
        "results/lesion/ham10000/multitask/fold0/metrics_test.csv"
    assert TABLE_REGISTRY["table6_symmetry_test"].files(jobs)[-1] == \
        "results/lesion/ham10000/multitask/fold1/predictions_symmetry_test.csv"
    assert TABLE_REGISTRY["table15_isic2016_cam_localisation"].files(jobs)[-1] == \
        "results/lesion/isic2016/multitask/localisation.csv"
    assert TABLE_REGISTRY["cost_multitask"].files(jobs) == ["results/lesion/ham10000/multitask/"
                                                            "cost.csv"]
    assert "cost_multitask" in report_tables(jobs.grid)
    stats = jobs.lesion_statistics_inputs("isic2016")
    assert stats["files"][-2:] == jobs.multitask_prediction_files("isic2016", "test")
    assert jobs.multitask_history_files("ham10000") == [
        "results/lesion/ham10000/multitask/fold0/history.csv"]
    inputs = jobs.multitask_training_inputs("ham10000")
    assert {"images", "index", "splits", "gt_masks", "sym_images", "sym_index", "sym_splits",
            "sym_gt_masks", "weights", "ext_images", "ext_index", "ext_splits"} == set(inputs)
    assert "gt_masks" not in jobs.multitask_training_inputs("isic2016")   # no masks published
    assert jobs.multitask_training_outputs("isic2016")["metrics"].endswith(
        "isic2016/multitask/fold{fold}/metrics_test.csv")
    assert jobs.multitask_targets() == ["results/export/ham10000/multitask"]


# ---- the network ----------------------------------------------------------------------------
def _network(**settings):
    from selcn.models.multitask import MultitaskSettings, create_multitask_model

    torch.manual_seed(0)
    return create_multitask_model(MultitaskSettings("test_efficientnet", 8, (16, 16, 8, 8, 8),
                                                    **settings), 7).eval()


def test_the_symmetry_cam_is_the_weighted_feature_sum():
    """For the pooled linear symmetry head, the CAM is sum_c W[k, c] F_c of the encoder's last
    features F and the predicted class k — then ReLU and min-max per image — and the symmetry
    logit is exactly its spatial mean plus the bias."""
    from selcn.models.multitask import class_activation_map

    model = _network(dropout=0.0)
    x = torch.randn(3, 3, 32, 32)
    captured = {}
    handle = model.encoder.bn2.register_forward_hook(lambda m, a, out: captured.update(f=out))
    with torch.no_grad():
        out = model(x)
    handle.remove()
    features = captured["f"]                                      # (3, C, 4, 4)
    weight, bias = model.symmetry_head.weight, model.symmetry_head.bias
    k = out["symmetry"].argmax(1)
    by_hand = (weight[k][:, :, None, None] * features).sum(1)     # sum_c W[k, c] F_c
    torch.testing.assert_close(class_activation_map(features, weight, k), by_hand)
    torch.testing.assert_close(out["symmetry"].gather(1, k[:, None])[:, 0],
                               by_hand.mean((1, 2)) + bias[k], rtol=1e-4, atol=1e-5)
    relu = by_hand.clamp_min(0).flatten(1)
    lo, hi = relu.min(1, keepdim=True).values, relu.max(1, keepdim=True).values
    expected = ((relu - lo) / (hi - lo + 1e-7)).reshape(3, 1, 4, 4)
    torch.testing.assert_close(out["cam"], expected)
    assert out["mask"].shape == (3, 1, 32, 32) and out["logits"].shape == (3, 7)


def test_the_cam_is_differentiable_and_the_mask_gate_is_declared():
    """The lesion loss reaches the symmetry head through the CAM (no second backward pass);
    with gate_with_mask the lesion logits depend on the mask head's output (detached: no
    gradient into the decoder), without it they do not."""
    x = torch.randn(2, 3, 32, 32)
    plain = _network().train()
    plain(x)["logits"].sum().backward()
    assert plain.symmetry_head.weight.grad.abs().sum() > 0
    assert plain.mask_head.weight.grad is None
    gated = _network(gate_with_mask=True).eval()
    with torch.no_grad():
        before = gated(x)["logits"]
        gated.mask_head.bias += 3.0
        after = gated(x)["logits"]
        plain_before = plain.eval()(x)["logits"]
        plain.mask_head.bias += 3.0
        plain_after = plain(x)["logits"]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(plain_before, plain_after)
    gated.train()
    gated(x)["logits"].sum().backward()
    assert gated.mask_head.weight.grad is None


# ---- partial labels, splits and guards ------------------------------------------------------
def make_data(root: Path) -> dict[str, str]:
    """A lesion cache (30 images, 3 classes, 32 px; test = rows 0, 5, 10, ...) and a symmetry
    cache (36 images) whose first 10 images are lesion images (the same ids: 1 and 2 are
    symmetry ``test``, 5 — a lesion test image — ``excluded``), the others its own (every 6th
    from 10 on ``test``, the next one ``excluded``)."""
    make_cache(root / "les", "lesion", n=30, side=32)
    sym = make_cache(root / "sym", "symmetry", n=36, side=32, seed=1)
    index = pd.read_csv(sym / "index.csv")
    index["image_id"] = [f"ISIC_{i:07d}" if i < 10 else f"SYM_{i}" for i in range(36)]
    index["group"] = index["image_id"]
    index.to_csv(sym / "index.csv", index=False)

    def split(i):
        if i < 10:
            return {1: "test", 2: "test", 5: "excluded"}.get(i, f"fold{i % 2}")
        return {0: "test", 1: "excluded"}.get(i % 6, f"fold{i % 2}")

    index[["image_id", "label", "target", "group"]].assign(
        split=[split(i) for i in range(36)]).to_csv(sym / "splits.csv", index=False)
    return {**cache_paths(root / "les"),
            **{f"sym_{k}": v for k, v in cache_paths(sym).items()}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from selcn.multitask import MultitaskInputs

    return MultitaskInputs.named(make_data(tmp_path_factory.mktemp("multitask")))


def test_fold_samples_carry_partial_labels_and_keep_the_guards(inputs):
    from selcn import multitask as mt

    spec = mt.network(tiny_config(), "ham10000")
    data = inputs.open()
    lesion_split = data.lesion.splits.set_index("image_id")["split"]
    sym_split = data.symmetry.splits.set_index("image_id")["split"]
    sym_label = data.symmetry.splits.set_index("image_id")["target"]
    for fold in (Fold(0), Fold(1)):
        parts = mt.fold_samples(spec, data, fold)
        ids = {part: data.image_ids(t) for part, t in parts.items()}
        for part in ("train", "val"):
            table, part_ids = parts[part], ids[part]
            lesion = (table["source"] == 0).to_numpy()
            # the lesion samples are the grid's: classes, the fold's own / the other folds'
            assert (table["target"][lesion] >= 0).all()
            want = (lesion_split[part_ids[lesion]] == fold.name).to_numpy()
            assert want.all() if part == "val" else not want.any()
            # a symmetry label only where its copy in the symmetry split may train
            for i, label in zip(part_ids[lesion], table["symmetry"][lesion]):
                usable = i in sym_split.index and sym_split[i] not in ("test", "excluded")
                assert label == (sym_label[i] if usable else MISSING), i
            # symmetry-only samples: no class, a label, never a symmetry test / excluded row
            only = table[~lesion]
            assert (only["target"] == MISSING).all() and (only["symmetry"] >= 0).all()
            assert not set(sym_split[part_ids[~lesion]]) & {"test", "excluded"}
            assert not any(i.startswith("ISIC") for i in part_ids[~lesion])
        # no lesion test image and no excluded / symmetry-test image trains any head
        train_ids = set(ids["train"])
        assert not train_ids & set(lesion_split.index[lesion_split == "test"])
        assert "ISIC_0000005" not in train_ids | set(ids["val"])
        assert set(ids["test"]) == set(lesion_split.index[lesion_split == "test"])
        assert set(ids["symmetry_test"]) == set(sym_split.index[sym_split == "test"])
        assert (parts["symmetry_test"]["source"] == 1).all()
    # the symmetry-only rows fall into exactly one fold's validation part
    vals = [set(data.image_ids(mt.fold_samples(spec, data, Fold(k))["val"])) for k in (0, 1)]
    own = {i for i in sym_split.index
           if i.startswith("SYM") and sym_split[i] not in ("test", "excluded")}
    assert own <= vals[0] | vals[1] and not (own & vals[0] & vals[1])


def test_the_dataset_gives_every_sample_its_labels_and_mask(inputs):
    from selcn import multitask as mt

    data = inputs.open()
    parts = mt.fold_samples(mt.network(tiny_config(), "ham10000"), data, Fold(0))
    table = parts["train"]
    ds = mt.MultitaskDataset(data, table, 24)
    for i in (0, len(table) - 1):
        item = ds[i]
        assert item["image"].shape == (3, 24, 24) and item["mask"].shape == (1, 24, 24)
        assert int(item["target"]) == table["target"].iloc[i]
        assert int(item["symmetry"]) == table["symmetry"].iloc[i] and bool(item["has_mask"])
        assert int(item["row"]) == i


def test_an_input_without_the_symmetry_masks_is_refused(inputs):
    from dataclasses import replace

    from selcn.multitask import MultitaskInputs

    bad = MultitaskInputs(inputs.lesion, replace(inputs.symmetry, gt_masks=None))
    with pytest.raises(ValueError, match="ground-truth masks"):
        bad.open()


# ---- training, resume, prediction, export, `selcn predict` -----------------------------------
@pytest.mark.slow
def test_a_tiny_model_13_trains_resumes_predicts_exports_and_is_predicted(inputs, tmp_path,
                                                                         monkeypatch, capsys):
    from selcn import multitask as mt
    from selcn.engine import FoldFiles, localise_best_fold, predict_split
    from selcn.export import (
        BundleProvenance,
        BundleSettings,
        export_multitask_bundle,
        load_bundle,
        validation_metrics,
    )
    from selcn.predict import PredictOptions, predict_images
    from selcn.predictions import read_predictions

    cfg = tiny_config()
    spec = mt.network(cfg, "ham10000")
    whole = mt.train(spec, inputs, Fold(0), tmp_path / "whole", mt.training_of(cfg))

    # killed in epoch 2 (after training, before its state is saved), then started again
    calls = {"n": 0}
    compute = mt.MultitaskMetrics.compute

    def dies_in_epoch_2(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return compute(self)

    monkeypatch.setattr(mt.MultitaskMetrics, "compute", dies_in_epoch_2)
    out = tmp_path / "fold0"
    with pytest.raises(KeyboardInterrupt):
        mt.train(spec, inputs, Fold(0), out, mt.training_of(cfg))
    assert (out / ".resume" / "state.pt").is_file() and not (out / "model.pt").exists()
    monkeypatch.setattr(mt.MultitaskMetrics, "compute", compute)
    capsys.readouterr()
    resumed = mt.train(spec, inputs, Fold(0), out, mt.training_of(cfg))
    assert "resumed from" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv").drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "whole" / "history.csv")
                                  .drop(columns="seconds"))
    assert resumed["val_accuracy"] == whole["val_accuracy"]
    assert sorted(p.name for p in out.iterdir()) == [
        "history.csv", "metrics_test.csv", "model.pt", "predictions_symmetry_test.csv",
        "predictions_symmetry_val.csv", "predictions_test.csv", "predictions_val.csv"]
    history = pd.read_csv(out / "history.csv")
    assert {"accuracy", "balanced_accuracy", "symmetry_balanced_accuracy", "dice"} <= \
        set(history.columns)
    metrics = pd.read_csv(out / "metrics_test.csv")
    assert metrics["arch"].tolist() == [mt.SEGMENTATION_ARCH] and 0 <= metrics["dice"][0] <= 1
    sym = read_predictions(out / "predictions_symmetry_test.csv", ["asymmetric", "symmetric"])
    assert set(sym["image_id"]) == set(inputs.open().symmetry.splits.query(
        "split == 'test'")["image_id"])

    # the engine reads it back: prediction and Grad-CAM++ localisation (own + encoder layers)
    saved = mt.open_model(out / "model.pt")
    data = inputs.lesion.open()
    again = predict_split(saved, data, "test", tmp_path / "again.csv")
    pd.testing.assert_frame_equal(again, read_predictions(out / "predictions_test.csv"),
                                  check_exact=False, atol=1e-5)
    mt.train(spec, inputs, Fold(1), tmp_path / "fold1", mt.training_of(cfg))
    folds = FoldFiles.of([0, 1], [out / "model.pt", tmp_path / "fold1" / "model.pt"],
                         [out / "predictions_val.csv", tmp_path / "fold1" / "predictions_val.csv"])
    best = localise_best_fold(mt.KIND, folds, data, cfg,
                              (tmp_path / "localisation.csv", tmp_path / "best_fold.json"))
    assert best["cam_layers"] == ["own", "encoder"]
    loc = pd.read_csv(tmp_path / "localisation.csv")
    assert {"iou", "pointing", "iou_encoder", "pointing_encoder"} <= set(loc.columns)

    # export, read back by predict: one forward pass per fold model and batch
    bundle_dir = tmp_path / "bundle"
    fold_pts = {0: out / "model.pt", 1: tmp_path / "fold1" / "model.pt"}
    export_multitask_bundle(
        bundle_dir, fold_pts,
        BundleSettings(number=13, dataset="ham10000", image_size=32, hair_removal=False,
                       cam_size=0, cfg_hash="test"),
        validation=validation_metrics({0: out / "predictions_val.csv",
                                       1: tmp_path / "fold1" / "predictions_val.csv"}),
        provenance=BundleProvenance("synthetic", {"lesion": "ham10000"}, "leakage_free"))
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["model"]["number"] == 13 and "multitask" in manifest["networks"]
    bundle = load_bundle(bundle_dir)
    assert len(bundle.multitask) == 2 and bundle.symmetry_class_names == ["asymmetric",
                                                                          "symmetric"]
    images = data.images[:3]
    folder = tmp_path / "new"
    folder.mkdir()
    from PIL import Image

    for i, image in enumerate(images):
        Image.fromarray(np.asarray(image)).save(folder / f"img{i}.png")
    forwards = {"n": 0}
    for network, _ in bundle.multitask:
        network.register_forward_hook(lambda *a: forwards.__setitem__("n", forwards["n"] + 1))
    summary = predict_images(bundle, [folder], tmp_path / "predicted",
                             PredictOptions(batch_size=4, progress=False))
    assert forwards["n"] == 2                             # 3 images in one batch, 2 folds
    table = summary.table
    assert table["error"].isna().all() and len(table) == 3
    for column in ("pred", "prob_akiec", "symmetry", "symmetry_prob", "lesion_area", "panel"):
        assert column in table.columns, column
    assert set(table["symmetry"]) <= {"asymmetric", "symmetric"}
    assert table["lesion_area"].between(0, 1).all()
    assert all((tmp_path / "predicted" / p).is_file() for p in table["panel"])
    # the probabilities are the mean of the fold networks' own on the training-time input
    from selcn.data.datasets import CachedImageDataset, View
    from selcn.predict import read_input

    batch = np.stack([read_input(folder / f"img{i}.png", 32, False) for i in range(3)])
    ds = CachedImageDataset(batch, np.arange(3), view=View(size=32))
    x = torch.stack([ds[i]["image"] for i in range(3)])
    with torch.no_grad():
        ref = np.mean([torch.softmax(n(x)["logits"], 1).numpy() for n, _ in bundle.multitask],
                      axis=0)
    probs = table[[c for c in table.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-5)


# ---- the report's builders on model 13's files ------------------------------------------------
def _predictions(path: Path, ids, targets, classes, seed):
    from selcn.predictions import write_predictions

    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(classes)), size=len(ids))
    write_predictions(path, ids, targets, probs, classes)


def test_the_report_builders_add_model_13_rows(tmp_path):
    """Tables 6, 8 (with the fold ensemble), 9, 5, the statistics against model 1 and the
    training curves take model 13's contract files as they take the grid's."""
    from selcn.report.figures import training_curves
    from selcn.report.stats import baseline_comparison_from_files
    from selcn.report.tables import (
        lesion_table,
        localisation_table,
        segmentation_table,
        symmetry_table,
    )

    root = tmp_path / "results"
    classes = ["akiec", "bcc", "bkl"]
    ids, targets = [f"I{i}" for i in range(12)], [i % 3 for i in range(12)]
    lesion, sym = [], []
    for k in (0, 1):
        for folder in ("none-off", "none-seg", "multitask"):
            path = root / "lesion" / "ham10000" / folder / f"fold{k}" / "predictions_test.csv"
            _predictions(path, ids, targets, classes, seed=k)
            lesion.append(path)
        for folder in ("symmetry/scratch-none", "lesion/ham10000/multitask"):
            name = "predictions_test.csv" if folder.startswith("symmetry") else \
                "predictions_symmetry_test.csv"
            path = root / folder / f"fold{k}" / name
            _predictions(path, ids, [i % 2 for i in range(12)], ["asymmetric", "symmetric"], k)
            sym.append(path)
    table8 = lesion_table(lesion, ensemble=True)
    assert table8["model"].tolist() == [1, 3, 13, 1, 3, 13]
    row13 = table8[table8["model"] == 13].iloc[0]
    assert (row13["classifier_mask"], row13["symmetry_mask"]) == ("none", "own")
    table6 = symmetry_table(sym)
    assert table6["model"].tolist() == [1, 13] and table6["variant"].tolist()[-1] == "multitask"
    stats = baseline_comparison_from_files(lesion, n_boot=20, against="model1")
    assert stats["model"].tolist() == [3, 13] and (stats["baseline"] == 1).all()
    assert baseline_comparison_from_files(lesion, n_boot=20)["model"].tolist() == [3]
    loc = root / "lesion" / "ham10000" / "multitask" / "localisation.csv"
    pd.DataFrame({"image_id": ids, "iou": 0.5, "overlap": 0.6, "pointing": 1.0}).to_csv(loc)
    assert localisation_table([loc])["model"].tolist() == [13]
    metrics = root / "lesion" / "ham10000" / "multitask" / "fold0" / "metrics_test.csv"
    pd.DataFrame([{"arch": "one network (model 13)", "dice": 0.8, "jaccard": 0.7,
                   "sensitivity": 0.9, "specificity": 0.9, "accuracy": 0.9}]).to_csv(metrics)
    assert segmentation_table([metrics])["arch"].tolist() == ["one network (model 13)"]
    history = root / "lesion" / "ham10000" / "multitask" / "fold0" / "history.csv"
    pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5], "val_loss": [2.1, 1.9],
                  "accuracy": [0.4, 0.5]}).to_csv(history, index=False)
    assert training_curves([history], tmp_path / "curves.png").is_file()
    from selcn.report.html import render_table_html
    from selcn.report.registry import TABLES

    page = render_table_html(table6, TABLES["table6_symmetry_test"])
    assert "one network (model 13" in page
    page = render_table_html(table8, TABLES["table8_lesion_test"])
    assert "Own symmetry head (one network)" in page


# ---- the cost --------------------------------------------------------------------------------
def test_the_cost_table_counts_both_systems(repo, tmp_path):
    from selcn.multitask import CostSettings, cost_table
    from selcn.report.tables import multitask_cost_table

    cfg = load_config(repo / "config" / "config.yaml", {"multitask": {"enabled": True},
                                                        "lesion": {"input_size": 32}})
    table = cost_table(cfg, CostSettings(32, batch_size=2, repeats=1), "ham10000")
    assert table["system"].tolist() == ["cascade", "lesion network", "model 13", "ratio"]
    assert (table["macs_per_image"] > 0).all() and (table["images_per_s"] > 0).all()
    cascade, lesion, model13 = table.iloc[0], table.iloc[1], table.iloc[2]
    assert table.iloc[3]["images_per_s"] == pytest.approx(model13["images_per_s"] /
                                                          cascade["images_per_s"])
    assert cascade["macs_per_image"] > lesion["macs_per_image"]      # it is one of its parts
    assert table["training_gpu_hours"].isna().all()          # the demo plans no GPU rates
    path = tmp_path / "cost.csv"
    table.to_csv(path, index=False)
    shown = multitask_cost_table([path])
    assert shown["system"].tolist() == ["cascade", "lesion network", "model 13"]
    assert shown["speedup"].tolist()[0] == 1.0
    with pytest.raises(ValueError, match="multiple of 32"):
        CostSettings(56)
    paper = load_config(repo / "config" / "paper.yaml")
    from selcn.multitask import planned_hours

    hours = planned_hours(paper, "ham10000", 1.5)
    assert hours["cascade"] > 0 and hours["model 13"] > 0 and "scaled by MACs" in hours["rate"]
    assert planned_hours(paper, "ham10000", 3.0)["model 13"] > hours["model 13"]


def test_the_benchmark_script_runs(repo, tmp_path):
    import subprocess

    run = subprocess.run([sys.executable, str(repo / "benchmarks" / "bench_multitask.py"),
                          "--configfile", str(repo / "config" / "config.yaml"),
                          "--input-size", "32", "--batch-size", "2", "--repeats", "1",
                          "--csv", str(tmp_path / "cost.csv")],
                         capture_output=True, text=True, timeout=300, cwd=repo)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "model 13" in run.stdout and "images/s" in run.stdout
    assert pd.read_csv(tmp_path / "cost.csv")["system"].tolist() == [
        "cascade", "lesion network", "model 13", "ratio"]
