"""Model bundles: gather, manifest, model selection on validation, and the one-message errors of
an incomplete bundle or one from other package versions."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from selcn.checkpoints import save_model_file
from selcn.export import (
    CHECKED_PACKAGES,
    BundleError,
    BundleFiles,
    BundleSettings,
    config_hash,
    export_bundle,
    load_bundle,
    select_model,
    validate_bundle,
    validation_metrics,
)
from selcn.models.lesion import create_lesion_model
from selcn.models.segmentation import create_segmentation_model
from selcn.models.symmetry import create_symmetry_model
from selcn.predictions import write_predictions

HAM = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
SIZES = {"image_size": 64, "seg": 64, "sym": 64, "cam": 8, "lesion": 64}


def _val_predictions(path, seed, n=21):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(HAM)), size=n)
    return write_predictions(path, [f"ISIC_{i:07d}" for i in range(n)], np.arange(n) % 7,
                             probs, HAM)


def make_model_files(root, *, classifier_mask="lae", symmetry_mask="seg", folds=(0, 1),
                     seed=0):
    """Randomly initialised networks of the real factories, written as the stages' model.pt
    files (the keys of docs/contracts.md), with validation prediction files."""
    torch.manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    seg = create_segmentation_model("unet", "resnet18")
    save_model_file(root / "seg.pt", seg, arch="unet", encoder="resnet18",
                    input_size=SIZES["seg"], threshold=0.5)
    sym_pt = None
    if symmetry_mask != "off":
        sym = create_symmetry_model("squeezenet1_0", 2)
        sym_pt = root / "sym.pt"
        save_model_file(sym_pt, sym, arch="squeezenet1_0", num_classes=2,
                        input_size=SIZES["sym"], mask=symmetry_mask, pretrained=False,
                        class_names=["asymmetric", "symmetric"], fold=1, best_epoch=3)
    lesion, val = {}, {}
    for k in folds:
        model = create_lesion_model("test_efficientnet", len(HAM), use_cam=symmetry_mask != "off")
        lesion[k] = root / f"lesion{k}.pt"
        save_model_file(lesion[k], model, arch="test_efficientnet", num_classes=len(HAM),
                        use_cam=model.use_cam, input_size=SIZES["lesion"],
                        classifier_mask=classifier_mask, symmetry_mask=symmetry_mask,
                        class_names=HAM, fold=k, best_epoch=2)
        val[k] = root / f"predictions_val{k}.csv"
        _val_predictions(val[k], seed + k)
    return {"segmentation_pt": root / "seg.pt", "symmetry_pt": sym_pt, "lesion_pts": lesion,
            "val": val}


def make_bundle(root, *, classifier_mask="lae", symmetry_mask="seg", folds=(0, 1), seed=0,
                hair_removal=True):
    """A bundle of randomly initialised models (``root/bundle``); returns its path."""
    files = make_model_files(root / "models", classifier_mask=classifier_mask,
                             symmetry_mask=symmetry_mask, folds=folds, seed=seed)
    from selcn.config import validate_config

    cfg = validate_config({})
    export_bundle(root / "bundle",
                  BundleFiles(segmentation_pt=files["segmentation_pt"],
                              symmetry_pt=files["symmetry_pt"], lesion_pts=files["lesion_pts"]),
                  BundleSettings(number=11, dataset="ham10000", image_size=SIZES["image_size"],
                                 hair_removal=hair_removal, cam_size=SIZES["cam"],
                                 cfg_hash=config_hash(cfg)),
                  validation=validation_metrics(files["val"], HAM),
                  selection={"number": 11, "criterion": "config"})
    return root / "bundle"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("export"))


def test_bundle_holds_every_network_and_a_complete_manifest(bundle):
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["lesion_fold0.pt", "lesion_fold1.pt", "manifest.json", "segmentation.pt",
                     "symmetry.pt"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"] == {"number": 11, "classifier_mask": "lae", "symmetry_mask": "seg",
                                 "dataset": "ham10000", "class_names": HAM}
    pre = manifest["preprocessing"]
    assert pre["image_size"] == 64 and pre["hair_removal"] is True and pre["cam_size"] == 8
    assert pre["segmentation_input_size"] == 64 and pre["lesion_input_size"] == 64
    assert pre["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert manifest["networks"]["symmetry"]["mask"] == "seg"
    assert manifest["networks"]["lesion"]["folds"] == [0, 1]
    assert set(manifest["versions"]) >= set(CHECKED_PACKAGES)
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert len(manifest["config_hash"]) == 16 and manifest["created"].endswith("+00:00")
    assert set(manifest["validation"]["folds"]) == {"0", "1"}
    assert validate_bundle(bundle) == manifest


def test_load_bundle_rebuilds_the_networks(bundle):
    loaded = load_bundle(bundle, "cpu")
    assert len(loaded.lesion) == 2 and loaded.symmetry is not None
    assert all(m.use_cam for m, _ in loaded.lesion)
    assert loaded.class_names == HAM
    assert not loaded.segmentation[0].training


def test_bundle_without_cam_transfer_has_no_symmetry_network(tmp_path):
    path = make_bundle(tmp_path, classifier_mask="none", symmetry_mask="off")
    assert not (path / "symmetry.pt").exists()
    loaded = load_bundle(path)
    assert loaded.symmetry is None and not loaded.lesion[0][0].use_cam


def test_export_refuses_models_that_do_not_fit_together(tmp_path):
    files = make_model_files(tmp_path, symmetry_mask="seg")
    other = make_model_files(tmp_path / "other", symmetry_mask="none")
    settings = BundleSettings(number=3, dataset="ham10000", image_size=64, hair_removal=True,
                              cam_size=8, cfg_hash="x")

    def models(symmetry_pt):
        return BundleFiles(segmentation_pt=files["segmentation_pt"], symmetry_pt=symmetry_pt,
                           lesion_pts=files["lesion_pts"])

    with pytest.raises(ValueError, match="symmetry network of mask 'none'"):
        export_bundle(tmp_path / "b", models(other["symmetry_pt"]), settings, validation={},
                      selection={})
    with pytest.raises(ValueError, match="needs its symmetry network"):
        export_bundle(tmp_path / "b", models(None), settings, validation={}, selection={})
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["lesion_fold1.pt", "segmentation.pt", "manifest.json"])
def test_missing_file_is_one_error_naming_it(bundle, tmp_path, name):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    (copy / name).unlink()
    with pytest.raises(BundleError, match=f"missing file {name}"):
        load_bundle(copy)


def test_altered_file_is_named(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    with open(copy / "symmetry.pt", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="symmetry.pt differs"):
        validate_bundle(copy)


@pytest.mark.parametrize("package", ["selcn", "timm"])
def test_other_package_version_is_one_error_naming_it(bundle, tmp_path, package):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["versions"][package] = "0.0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"exported with {package} 0.0.1"):
        load_bundle(copy)
    assert load_bundle(copy, check_versions=False).class_names == HAM


def test_validation_metrics_known_answer(tmp_path):
    # 4 images, classes 0 and 1 of 7: one mistake -> accuracy 0.75; macro-F1 over all 7 classes
    probs = np.full((4, 7), 0.01)
    probs[[0, 1, 2, 3], [0, 0, 1, 0]] = 0.94
    write_predictions(tmp_path / "v.csv", list("abcd"), [0, 0, 1, 1], probs, HAM)
    out = validation_metrics({0: tmp_path / "v.csv"}, HAM)
    f1_0, f1_1 = 2 * (2 / 3) * 1 / (2 / 3 + 1), 2 * 1 * 0.5 / 1.5
    assert out["folds"]["0"]["accuracy"] == pytest.approx(0.75)
    assert out["mean"]["f1"] == pytest.approx((f1_0 + f1_1) / 7)


def test_select_model_uses_mean_validation_macro_f1(tmp_path):
    # model 1: high accuracy by always predicting the majority class, low macro-F1;
    # model 2: lower accuracy, every class found -> best macro-F1 wins
    targets = np.array([0] * 8 + [1, 2])

    def write(name, preds):
        probs = np.full((len(preds), 7), 0.01)
        probs[np.arange(len(preds)), preds] = 0.94
        return write_predictions(tmp_path / name, [str(i) for i in range(10)], targets, probs,
                                 HAM)

    write("m1.csv", np.zeros(10, int))
    write("m2.csv", np.array([0] * 6 + [1, 1, 1, 2]))
    cands = {1: {0: tmp_path / "m1.csv", 1: tmp_path / "m1.csv"},
             2: {0: tmp_path / "m2.csv", 1: tmp_path / "m2.csv"}}
    best = select_model(cands)
    assert best["number"] == 2 and best["criterion"] == "val_macro_f1_mean"
    assert best["values"]["2"] > best["values"]["1"]
    tie = select_model({5: cands[2], 3: cands[2]})
    assert tie["number"] == 3                              # the lowest number wins a tie


def test_config_hash_is_stable_and_sensitive():
    from selcn.config import validate_config

    a, b = validate_config({}), validate_config({"seed": 1})
    assert config_hash(a) == config_hash(validate_config({})) != config_hash(b)


# ---- the rules: export_model picks the best model on validation, predict_images runs it -----
@pytest.mark.slow
def test_export_and_predict_rules(repo, tmp_path):
    """The upstream results are written directly (random networks, hand-made validation
    predictions); Snakemake runs only the export and predict rules on them."""
    import yaml

    from helpers import run_snakemake
    from test_predict import synthetic_images

    tiny = {"data": {"image_size": 64},
            "segmentation": {"architectures": ["unet", "deeplabv3plus"], "encoder": "resnet18",
                             "input_size": 64},
            "symmetry": {"masks": ["seg"], "folds": 2, "pretrained": False, "input_size": 64,
                         "cam_size": 8, "compare_architectures": [], "scratch_baseline": False},
            "lesion": {"architecture": "test_efficientnet", "pretrained": False,
                       "input_size": 64, "folds": 2, "classifier_masks": ["none", "lae"],
                       "symmetry_masks": ["off", "seg"], "datasets": ["ham10000"]},
            "predict": {"input_dir": "results/predict/demo_input", "demo_images": 2}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    res = tmp_path / "results"
    torch.manual_seed(0)
    (res / "segmentation").mkdir(parents=True)
    (res / "segmentation" / "selected.json").write_text(
        json.dumps({"arch": "unet", "metric": "dice", "value": 0.8}))
    for arch in ("unet", "deeplabv3plus"):
        save_model_file(res / "segmentation" / arch / "model.pt",
                        create_segmentation_model(arch, "resnet18"), arch=arch,
                        encoder="resnet18", input_size=64, threshold=0.5)
    sym_dir = res / "symmetry" / "scratch-seg"
    for k in (0, 1):
        save_model_file(sym_dir / f"fold{k}" / "model.pt", create_symmetry_model(), fold=k,
                        arch="squeezenet1_0", num_classes=2, input_size=64, mask="seg",
                        pretrained=False, class_names=["asymmetric", "symmetric"], best_epoch=1)
    (sym_dir / "best_fold.json").write_text(json.dumps(
        {"fold": 1, "criterion": "val_balanced_accuracy", "value": 0.7, "values": {}}))
    # validation: model 11 (lae-seg) finds every class, the others only the majority class
    targets = np.arange(14) % 7
    for cm, sm, number in (("none", "off", 1), ("none", "seg", 3), ("lae", "off", 9),
                           ("lae", "seg", 11)):
        for k in (0, 1):
            fold = res / "lesion" / "ham10000" / f"{cm}-{sm}" / f"fold{k}"
            model = create_lesion_model("test_efficientnet", 7, use_cam=sm != "off")
            save_model_file(fold / "model.pt", model, arch="test_efficientnet", num_classes=7,
                            use_cam=model.use_cam, input_size=64, classifier_mask=cm,
                            symmetry_mask=sm, class_names=HAM, fold=k, best_epoch=1)
            preds = targets if number == 11 else np.zeros_like(targets)
            probs = np.full((14, 7), 0.01)
            probs[np.arange(14), preds] = 0.94
            write_predictions(fold / "predictions_val.csv", [str(i) for i in range(14)],
                              targets, probs, HAM)
    # the demo's new images: the first 2 HAM10000 test images (ids sorted) of the synthetic set
    ham = res / "data" / "HAM10000"
    ham.mkdir(parents=True)
    (ham / "HAM10000_metadata.csv").write_text("lesion_id,image_id,dx\n")
    ids = [f"ISIC_{i:07d}" for i in range(5)]
    for i, path in enumerate(synthetic_images(ham / "src", n=5)):
        part = ham / f"HAM10000_images_part{1 + i % 2}"
        part.mkdir(exist_ok=True)
        shutil.copyfile(path, part / f"{ids[i]}{path.suffix}")
    (res / "splits").mkdir()
    pd.DataFrame({"image_id": ids, "label": "nv", "target": 5, "group": ids,
                  "split": ["fold0", "test", "fold1", "test", "test"]}).to_csv(
        res / "splits" / "ham10000.csv", index=False)
    targets = ["results/export/ham10000/best", "results/predict/ham10000/best/predictions.csv"]
    configs = ("--configfile", str(repo / "config" / "config.yaml"), str(tmp_path / "tiny.yaml"))
    run = run_snakemake(tmp_path, *configs, "--cores", "1", "--allowed-rules", "export_model",
                        "predict_demo_images", "predict_images", "--", *targets, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    manifest = validate_bundle(res / "export" / "ham10000" / "best")
    assert manifest["model"]["number"] == 11 and manifest["selection"]["number"] == 11
    assert manifest["selection"]["criterion"] == "val_macro_f1_mean"
    assert manifest["networks"]["segmentation"]["arch"] == "unet"
    assert manifest["networks"]["symmetry"]["fold"] == 1        # best_fold.json's fold
    assert manifest["validation"]["mean"]["f1"] == pytest.approx(1.0)
    table = pd.read_csv(res / "predict" / "ham10000" / "best" / "predictions.csv")
    assert [f.rsplit("/", 1)[-1] for f in table["file"]] == ["ISIC_0000001.png",
                                                             "ISIC_0000003.jpg"]
    assert table["error"].isna().all()
    assert (res / "predict" / "ham10000" / "best" / "index.html").is_file()
    assert len(list((res / "predict" / "ham10000" / "best" / "panels").glob("*.png"))) == 2
