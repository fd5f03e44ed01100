"""`selcn predict`: export -> predict round trip on synthetic dermoscopy images (the mean of the
fold models' own predictions on the training-time preprocessing), panels and gallery, every
bad-input case, BMP / PNG input, --device cpu, exit statuses."""

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from selcn.cams import gradcam_plus_plus, resize_cams
from selcn.cli import main
from selcn.data.datasets import CachedImageDataset, View
from selcn.data.preprocess import build_cache
from selcn.data.synthetic import render, sample_lesion
from selcn.export import load_bundle
from selcn.lesion import load_lesion_model
from selcn.models.symmetry import cam_target_layer
from selcn.predict import PredictOptions, list_inputs, predict_images
from selcn.segmentation import load_segmentation_model, predict_masks
from selcn.symmetry import load_symmetry_model
from test_export import HAM, make_bundle, rewrite_manifest


def synthetic_images(folder, n=5, seed=3, width=150, height=112):
    """``n`` synthetic dermoscopy images (the demo's renderer, with hair): JPEG, PNG and BMP."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        lesion = sample_lesion(HAM[i % len(HAM)], rng)
        bgr, _ = render(lesion, rng, width, height, hair=True)
        path = folder / f"img{i}.{('jpg', 'png', 'bmp')[i % 3]}"
        cv2.imwrite(str(path), bgr)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    bundle = make_bundle(root, classifier_mask="lae", symmetry_mask="seg")
    images = synthetic_images(root / "images")
    return {"root": root, "bundle": bundle, "images": images}


def reference_probabilities(bundle_dir, paths, tmp):
    """The fold models' own mean probability, computed the workflow's way: the images cached by
    build_cache, masks by predict_masks, symmetry CAMs as export_cams stores them (float16),
    lesion inputs by the training datasets."""
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    pre = manifest["preprocessing"]
    table = pd.DataFrame({"image_id": [p.stem for p in paths], "label": "nv", "target": 5,
                          "group": [p.stem for p in paths], "source": "test",
                          "path": [str(p) for p in paths]})
    build_cache(table, tmp / "cache", pre["image_size"], hair_removal=pre["hair_removal"],
                log=lambda _: None)
    images = np.load(tmp / "cache" / "images.npy")
    rows = np.arange(len(images))
    seg, seg_meta = load_segmentation_model(bundle_dir / "segmentation.pt")
    masks = predict_masks(seg, images, input_size=seg_meta["input_size"],
                          threshold=seg_meta["threshold"], device="cpu")
    sym, sym_meta = load_symmetry_model(bundle_dir / "symmetry.pt")
    ds = CachedImageDataset(images, rows, masks=masks,
                            view=View(mask=sym_meta["mask"], size=sym_meta["input_size"]))
    x = torch.stack([ds[i]["image"] for i in rows])
    heat = gradcam_plus_plus(sym, x, cam_target_layer(sym, sym_meta["arch"]))
    cams = resize_cams(heat, pre["cam_size"]).numpy().astype(np.float16)
    probs = []
    for name in manifest["networks"]["lesion"]["files"]:
        model, meta = load_lesion_model(bundle_dir / name)
        ds = CachedImageDataset(images, rows, masks=masks, cams=cams,
                                view=View(mask=meta["classifier_mask"],
                                          size=meta["input_size"]))
        with torch.no_grad():
            logits = model(torch.stack([ds[i]["image"] for i in rows]),
                           torch.stack([ds[i]["cam"] for i in rows]))
        probs.append(torch.softmax(logits, 1).numpy())
    return np.mean(probs, 0), np.std(probs, 0), masks


def test_round_trip_equals_the_mean_of_the_fold_models(setup, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["predict", str(setup["bundle"]), str(setup["root"] / "images"),
                   "--out", str(out), "--device", "cpu", "--batch-size", "2", "--quiet"])
    assert status == 0
    table = pd.read_csv(out / "predictions.csv")
    paths = list_inputs([setup["root"] / "images"])
    assert table["file"].tolist() == [str(p) for p in paths]
    assert table["error"].isna().all()
    probs = table[[f"prob_{c}" for c in HAM]].to_numpy()
    ref, ref_std, masks = reference_probabilities(setup["bundle"], paths, tmp_path)
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    assert table["pred"].tolist() == [HAM[k] for k in ref.argmax(1)]
    np.testing.assert_allclose(table["disagreement"], ref_std[np.arange(len(ref)), ref.argmax(1)],
                               atol=1e-5)
    np.testing.assert_allclose(table["lesion_area"], masks.reshape(len(masks), -1).mean(1))
    assert set(table["symmetry"]) <= {"asymmetric", "symmetric"}
    assert table["symmetry_prob"].between(0.5, 1).all()
    assert "images/s" in capsys.readouterr().out


def test_panels_and_gallery_are_written(setup, tmp_path):
    bundle = load_bundle(setup["bundle"], "cpu")
    # embed=True: the panels inlined (one file to send); the default links thumbnails
    summary = predict_images(bundle, setup["images"][:2], tmp_path,
                             PredictOptions(batch_size=4, progress=False, embed=True))
    assert summary.n_failed == 0 and summary.images_per_second > 0
    for rel in summary.table["panel"]:
        panel = np.asarray(Image.open(tmp_path / rel))
        assert panel.ndim == 3 and panel.shape[1] > 4 * 224 and panel.std() > 10
    page = (tmp_path / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2          # self-contained
    assert "sortBy(" in page and "filterClass(" in page
    assert "http" not in page.replace("http-equiv", "")        # no external resource
    for cls in HAM:
        assert f'<option value="{cls}">' in page


def _bad_inputs(folder, good):
    folder.mkdir()
    shutil.copy(good, folder / "good.jpg")
    data = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not an image\n")
    rgb = np.asarray(Image.open(good).convert("RGB"))
    Image.fromarray(rgb).convert("L").save(folder / "grey.png")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb[:8, :8]).save(folder / "tiny.png")
    Image.fromarray(rgb).save(folder / "plain.bmp")


def test_bad_inputs_are_reported_and_the_rest_completes(setup, tmp_path, capsys):
    folder = tmp_path / "mixed"
    _bad_inputs(folder, setup["images"][0])
    # a folder's non-image files are skipped; a file named explicitly is predicted or reported
    status = main(["predict", str(setup["bundle"]), str(folder), str(folder / "notes.txt"),
                   "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet"])
    assert status == 1
    table = pd.read_csv(tmp_path / "o" / "predictions.csv").set_index("file")
    table.index = [p.rsplit("/", 1)[-1] for p in table.index]
    failed = {"truncated.jpg": "truncated", "notes.txt": "unreadable", "tiny.png": "too small"}
    for name, word in failed.items():
        assert word in table.loc[name, "error"], table.loc[name, "error"]
        assert pd.isna(table.loc[name, "pred"])
    for name in ("good.jpg", "grey.png", "rgba.png", "plain.bmp"):      # handled
        assert pd.isna(table.loc[name, "error"]) and table.loc[name, "pred"] in HAM
    err = capsys.readouterr().err
    for name in failed:
        assert name in err
    # RGBA -> RGB drops alpha: the same pixels as the plain image, the same prediction
    cols = [f"prob_{c}" for c in HAM]
    np.testing.assert_allclose(table.loc["rgba.png", cols].to_numpy(float),
                               table.loc["plain.bmp", cols].to_numpy(float), atol=1e-6)
    page = (tmp_path / "o" / "index.html").read_text()
    assert "3 failed" in page and "truncated.jpg" in page


def test_bundle_problems_are_one_message_and_status_2(setup, tmp_path, capsys):
    copy = tmp_path / "b"
    shutil.copytree(setup["bundle"], copy)
    (copy / "lesion_fold0.pt").unlink()
    assert main(["predict", str(copy), str(setup["images"][0]), "--out",
                 str(tmp_path / "o"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing file lesion_fold0.pt" in err[0]
    shutil.copytree(setup["bundle"], tmp_path / "c")
    rewrite_manifest(tmp_path / "c", lambda m: m["versions"].__setitem__("torch", "1.0.0"))
    assert main(["predict", str(tmp_path / "c"), str(setup["images"][0]), "--out",
                 str(tmp_path / "o"), "--device", "cpu", "--quiet"]) == 2
    assert "exported with torch 1.0.0" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "c"), str(setup["images"][0]), "--out",
                 str(tmp_path / "o"), "--device", "cpu", "--quiet", "--ignore-versions"]) == 0


def test_model_without_symmetry_network(tmp_path):
    bundle = make_bundle(tmp_path, classifier_mask="seg", symmetry_mask="off",
                         hair_removal=False)
    images = synthetic_images(tmp_path / "im", n=2)
    summary = predict_images(load_bundle(bundle), images, tmp_path / "o",
                             PredictOptions(progress=False))
    assert summary.n_failed == 0 and summary.table["symmetry"].isna().all()
    assert (tmp_path / "o" / summary.table["panel"][0]).is_file()


def test_no_input_file_is_a_usage_error(setup, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(setup["bundle"]), str(empty), "--out", str(tmp_path / "o"),
                 "--device", "cpu"]) == 2


def test_console_script_is_installed(setup, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("selcn")
    if not script.exists():
        pytest.skip("selcn console script not installed (pip install -e .)")
    run = subprocess.run([str(script), "predict", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "--batch-size" in run.stdout


def test_an_unexpected_failure_of_one_file_is_reported_too(setup, tmp_path, monkeypatch):
    import selcn.predict.cascade as cascade

    real = cascade.preprocess_image

    def fragile(image, size, hair_removal=True):
        if image.shape[1] == 151:
            raise RuntimeError("simulated OpenCV failure")
        return real(image, size, hair_removal)

    monkeypatch.setattr(cascade, "preprocess_image", fragile)
    odd = synthetic_images(tmp_path / "odd", n=1, width=151)[0]
    summary = predict_images(load_bundle(setup["bundle"]), [setup["images"][0], odd],
                             tmp_path / "o", PredictOptions(progress=False, log=lambda _: None))
    assert summary.n_failed == 1
    assert "RuntimeError: simulated OpenCV failure" in summary.table["error"][1]
    assert summary.table["pred"][0] in HAM


def test_batch_size_does_not_change_the_predictions(setup, tmp_path):
    bundle = load_bundle(setup["bundle"])
    cols = [f"prob_{c}" for c in HAM] + ["disagreement", "symmetry_prob", "lesion_area"]
    one = predict_images(bundle, setup["images"], tmp_path / "a",
                         PredictOptions(batch_size=1, panels=False, progress=False)).table
    many = predict_images(bundle, setup["images"], tmp_path / "b",
                          PredictOptions(batch_size=4, panels=False, progress=False)).table
    assert one["panel"].isna().all()
    np.testing.assert_allclose(one[cols].to_numpy(float), many[cols].to_numpy(float), atol=1e-5)
