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
    MANIFEST_CHECKSUM,
    BundleError,
    BundleFiles,
    BundleProvenance,
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


def provenance(source="synthetic", symmetry=True):
    datasets = {"segmentation": "ham10000", "lesion": "ham10000"}
    if symmetry:
        datasets["symmetry"] = "symderm"
    return BundleProvenance(source=source, datasets=datasets, protocol="leakage_free")


def rewrite_manifest(bundle, edit):
    """Apply ``edit(manifest)`` and write the manifest with a matching ``manifest.sha256`` (as
    someone who knows the format would)."""
    import hashlib

    manifest = json.loads((bundle / "manifest.json").read_text())
    edit(manifest)
    text = json.dumps(manifest, indent=2) + "\n"
    (bundle / "manifest.json").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (bundle / MANIFEST_CHECKSUM).write_text(f"{digest}  manifest.json\n")
    return manifest


def make_bundle(root, *, classifier_mask="lae", symmetry_mask="seg", folds=(0, 1), seed=0,
                hair_removal=True, source="synthetic"):
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
                  selection={"number": 11, "criterion": "config"},
                  provenance=provenance(source, symmetry_mask != "off"))
    return root / "bundle"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("export"))


def test_bundle_holds_every_network_and_a_complete_manifest(bundle):
    names = sorted(p.name for p in bundle.iterdir() if p.name != MANIFEST_CHECKSUM)
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
                      selection={}, provenance=provenance())
    with pytest.raises(ValueError, match="needs its symmetry network"):
        export_bundle(tmp_path / "b", models(None), settings, validation={}, selection={},
                      provenance=provenance())
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
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__(package, "0.0.1"))
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
    # what it learnt from, from the rule's declared config sections
    base = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    assert manifest["data"] == {"source": "synthetic", "synthetic": True, "paths": {},
                                "datasets": {"segmentation": "ham10000", "symmetry": "symderm",
                                             "lesion": "ham10000"}}
    assert manifest["protocol"] == base.get("protocol", "leakage_free")
    table = pd.read_csv(res / "predict" / "ham10000" / "best" / "predictions.csv")
    assert table["warning"].str.startswith("trained on synthetic demo data").all()
    assert [f.rsplit("/", 1)[-1] for f in table["file"]] == ["ISIC_0000001.png",
                                                             "ISIC_0000003.jpg"]
    assert table["error"].isna().all()
    assert (res / "predict" / "ham10000" / "best" / "index.html").is_file()
    assert len(list((res / "predict" / "ham10000" / "best" / "panels").glob("*.png"))) == 2


# ---- what the manifest says, and that nothing in a bundle is trusted ------------------------
def test_manifest_records_the_data_source_protocol_and_project_version(bundle, tmp_path):
    from selcn.cli import version

    manifest = validate_bundle(bundle)
    assert manifest["data"] == {"source": "synthetic", "synthetic": True, "paths": {},
                                "datasets": {"segmentation": "ham10000", "symmetry": "symderm",
                                             "lesion": "ham10000"}}
    assert manifest["protocol"] == "leakage_free"
    assert manifest["project_version"] == version() == manifest["versions"]["selcn"]
    assert manifest["format_version"] == 2 and manifest["created"].endswith("+00:00")
    # real data: the configured files of each dataset the networks learnt from
    from selcn.config import validate_config

    cfg = validate_config({"data": {"source": "files"}, "protocol": "thesis"})
    real = BundleProvenance.of_config(cfg, {"segmentation": "ham10000", "lesion": "isic2016"})
    assert real.manifest()["synthetic"] is False and real.protocol == "thesis"
    assert set(real.paths) == {"ham10000", "isic2016"}
    assert real.paths["ham10000"]["metadata"] == cfg["data"]["ham10000"]["metadata"]
    with pytest.raises(ValueError, match="source must be one of"):
        BundleProvenance(source="demo", datasets={}, protocol="thesis")


def test_the_manifest_checksum_is_sha256sum_format(bundle):
    import hashlib

    digest, name = (bundle / MANIFEST_CHECKSUM).read_text().split()
    assert name == "manifest.json"
    assert digest == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    assert load_bundle(bundle).digest == digest


def test_an_edited_manifest_is_refused(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["preprocessing"]["segmentation_threshold"] = 0.9     # changes every prediction
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(BundleError, match=r"manifest.json differs from the exported one .*"
                                          r"edited after export"):
        load_bundle(copy)
    (copy / MANIFEST_CHECKSUM).unlink()
    with pytest.raises(BundleError, match="missing file manifest.sha256"):
        validate_bundle(copy)


def test_a_malformed_manifest_is_one_bundle_error(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    rewrite_manifest(copy, lambda m: m.__setitem__("model", ["not", "a", "mapping"]))
    with pytest.raises(BundleError, match="manifest.json is malformed"):
        load_bundle(copy)
    rewrite_manifest(copy, lambda m: m["networks"].__setitem__("lesion", {"files": []}))
    with pytest.raises(BundleError, match="networks.lesion.files must list the fold models"):
        load_bundle(copy)


def test_a_bundle_of_format_1_is_refused_with_what_to_do(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    rewrite_manifest(copy, lambda m: m.__setitem__("format_version", 1))
    with pytest.raises(BundleError, match="format version 1.*export the model again"):
        validate_bundle(copy)


@pytest.mark.parametrize("where", ["parent", "absolute", "subfolder", "symlink"])
def test_a_manifest_path_leading_out_of_the_bundle_is_refused(bundle, tmp_path, where):
    """The checksums are consistent (an attacker who edits the manifest can recompute them):
    the file names themselves are refused."""
    import hashlib

    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    outside = tmp_path / "elsewhere" / "lesion.pt"
    outside.parent.mkdir()
    shutil.copyfile(copy / "lesion_fold0.pt", outside)
    name = {"parent": "../elsewhere/lesion.pt", "absolute": str(outside),
            "subfolder": "elsewhere/lesion.pt", "symlink": "lesion_fold0.pt"}[where]
    if where == "symlink":
        (copy / "lesion_fold0.pt").unlink()
        (copy / "lesion_fold0.pt").symlink_to(outside)
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()

    def edit(m):
        m["networks"]["lesion"]["files"][0] = name
        m["files"].pop("lesion_fold0.pt")
        m["files"][name] = digest

    rewrite_manifest(copy, edit)
    with pytest.raises(BundleError, match="(leads outside|not a file name inside) the bundle"):
        load_bundle(copy)


class _Payload:
    """Unpickled, it would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_pickle(bundle, marker, name="lesion_fold0.pt"):
    """Replace ``name`` by a pickle whose loading runs code, with consistent checksums."""
    import hashlib

    torch.save({"state_dict": {}, "payload": _Payload(marker)}, bundle / name)
    digest = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    rewrite_manifest(bundle, lambda m: m["files"].__setitem__(name, digest))


def test_a_pickle_payload_in_a_bundle_is_refused_naming_the_file(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    marker = tmp_path / "marker"
    plant_pickle(copy, marker)
    with pytest.raises(BundleError) as caught:
        load_bundle(copy)
    message = str(caught.value)
    assert "lesion_fold0.pt" in message and "refused to unpickle" in message
    assert "\n" not in message and len(message) < 600
    assert not marker.exists()                       # the payload never ran


def test_versions_compare_by_public_release():
    from selcn.export import compare_versions

    installed = {"torch": "2.14.1", "torchvision": "0.29.1+cpu", "timm": "1.0.31",
                 "selcn": "0.1.0", "segmentation-models-pytorch": "0.6.0",
                 "opencv-python-headless": "5.0.0.93"}
    same = {"torch": "2.14.1+cu126", "torchvision": "0.29.1+cu126", "timm": "1.0.30",
            "selcn": "0.1.3", "segmentation-models-pytorch": "0.6.2",
            "opencv-python-headless": "5.0.0.92"}
    assert compare_versions(same, installed) == ([], [])          # local tags, patches
    blocking, notes = compare_versions({"torch": "2.13.0+cu126", "torchvision": "0.28.0",
                                        "timm": "1.1.0"}, installed)
    assert blocking == []
    assert notes[0].startswith("exported with torch 2.13.0+cu126, this environment has torch "
                               "2.14.1")
    assert len(notes) == 3
    blocking, notes = compare_versions({"torch": "1.13.1", "selcn": "0.2.0",
                                        "segmentation-models-pytorch": "0.5.0",
                                        "timm": "not installed"}, installed)
    assert len(blocking) == 4 and notes == []


def test_a_bundle_reads_across_a_local_tag_and_warns_for_another_minor(bundle, tmp_path):
    from selcn.export import package_versions

    torch_version = package_versions(("torch",))["torch"]
    public = torch_version.split("+")[0]
    major, minor = (int(x) for x in public.split(".")[:2])
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__("torch", f"{public}+cu126"))
    assert load_bundle(copy).warnings == []
    other = f"{major}.{minor + 1}.0+cu126"
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__("torch", other))
    warned = load_bundle(copy).warnings
    assert len(warned) == 1 and f"torch {other}" in warned[0] and torch_version in warned[0]
    # another major release stops, unless the user asks to try
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__("torch", f"{major - 1}.0.0"))
    with pytest.raises(BundleError, match=f"exported with torch {major - 1}.0.0"):
        load_bundle(copy)
    assert f"torch {major - 1}.0.0" in load_bundle(copy, check_versions=False).warnings[0]


def test_load_model_file_names_a_refused_pickle(tmp_path):
    from selcn.checkpoints import load_model_file

    marker = tmp_path / "marker"
    torch.save({"state_dict": {}, "payload": _Payload(marker)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt: not a loadable test model file "
                                         r"\(UnpicklingError: refused to unpickle"):
        load_model_file(tmp_path / "model.pt", required=(), what="test model")
    (tmp_path / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="model.pt: not a loadable test model file"):
        load_model_file(tmp_path / "model.pt", required=(), what="test model")
    assert not marker.exists()
