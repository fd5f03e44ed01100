"""Outputs never land on user data: ``predict.input_dir`` is only ever read, the demo's images
go to their own folder under results/, every output of the workflow lies under results/, and a
config path that would mix the user's folders with the workflow's is an error naming the key.

Before: with the demo defaults (synthetic data, ``demo_images: 8``) an existing folder named in
``predict.input_dir`` was the output of ``predict_demo_images`` and Snakemake emptied it.
"""

import re
from pathlib import Path

import pytest
import yaml

from selcn.config import ConfigError, inside, validate_config
from selcn.jobs import Jobs
from selcn.paths import DEMO_PREDICT_INPUT, RESULTS

REPO = Path(__file__).resolve().parents[1]


def _demo(**predict) -> dict:
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    raw["predict"] = {**raw["predict"], **predict}
    return raw


# ---- the maps --------------------------------------------------------------------------------
def test_a_users_folder_is_read_and_never_written(tmp_path):
    user = tmp_path / "my_images"
    jobs = Jobs.of(validate_config(_demo(input_dir=str(user))))         # demo_images: 8 kept
    assert not jobs.demo_predict()                                     # no copy into it
    assert jobs.predict_enabled() and jobs.predict_input() == str(user)
    assert not any(str(user) in t for t in jobs.export_targets())
    assert all(inside(t, RESULTS) for t in jobs.export_targets())


def test_the_demo_writes_its_own_folder_under_results():
    jobs = Jobs.of(validate_config(_demo()))
    assert jobs.cfg["predict"]["input_dir"] == DEMO_PREDICT_INPUT == "results/predict/demo_input"
    assert jobs.demo_predict() and jobs.predict_input() == DEMO_PREDICT_INPUT
    assert Jobs.of(validate_config(_demo(input_dir="results//predict/./demo_input/"))) \
        .predict_input() == DEMO_PREDICT_INPUT
    real = _demo()
    real["data"] = {**real["data"], "source": "files"}
    inherited = Jobs.of(validate_config(real))               # paper.yaml on top of config.yaml
    assert not inherited.demo_predict() and not inherited.predict_enabled()
    with pytest.raises(ValueError, match="no prediction job"):
        inherited.predict_input()


def test_the_demo_folder_follows_results_dir():
    """config.yaml's ``results/predict/demo_input`` under ``results_dir: results_axis`` is the
    demo's folder of that run (not a user's folder that does not exist)."""
    jobs = Jobs.of(validate_config({**_demo(), "results_dir": "results_axis"}))
    assert jobs.demo_predict() and jobs.predict_enabled()
    assert jobs.predict_input() == "results_axis/predict/demo_input"
    assert all(inside(t, "results_axis") for t in jobs.export_targets())


# ---- the config ------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", ["results", "results/cache/ham10000", "results/predict",
                                    "results/../results/predict/ham10000/best",
                                    "./results/my_images"])
def test_an_input_folder_inside_results_is_refused(folder):
    with pytest.raises(ConfigError, match=rf"invalid value at 'predict.input_dir': "
                                          rf"'{re.escape(folder)}' lies inside results/"):
        validate_config(_demo(input_dir=folder))


def test_data_paths_inside_results_are_refused_for_real_data():
    raw = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    raw["data"]["symderm"] = {**raw["data"].get("symderm", {}),
                              "image_dir": "results/data/SymDerm/images"}
    with pytest.raises(ConfigError, match="invalid value at 'data.symderm.image_dir': "
                                          "'results/data/SymDerm/images' lies inside results/"):
        validate_config(raw)
    raw["data"]["symderm"]["image_dir"] = "/data/SymDerm/images"
    raw["data"]["ham10000"] = {**raw["data"].get("ham10000", {}),
                               "image_dirs": ["/data/a", "results/b"]}
    with pytest.raises(ConfigError, match="'data.ham10000.image_dirs': 'results/b'"):
        validate_config(raw)


# ---- the workflow: every planned output under results/ ---------------------------------------
def _planned_outputs(text: str) -> dict[str, list[str]]:
    """``rule -> output paths`` of a Snakemake 9 dry run's job blocks."""
    out: dict[str, list[str]] = {}
    rule = None
    for line in text.splitlines():
        m = re.match(r"(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
        elif line.strip().startswith("output:") and rule:
            out.setdefault(rule, []).extend(p.strip() for p in line.split(":", 1)[1].split(","))
    return out


@pytest.mark.slow
def test_a_dry_run_plans_no_output_outside_results(tmp_path):
    from helpers import run_snakemake

    user = tmp_path / "my_images"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    work = tmp_path / "work"
    work.mkdir()
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"predict": {"input_dir": str(user)}}))
    run = run_snakemake(work, "--configfile", str(REPO / "config" / "config.yaml"),
                        str(override), "-n", timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    outputs = _planned_outputs(run.stdout)
    assert "predict_images" in outputs and "export_model" in outputs
    assert "predict_demo_images" not in outputs                     # nothing to copy
    everything = [p for paths in outputs.values() for p in paths]
    assert len(everything) > 100
    assert [p for p in everything if not inside(work / p, work / RESULTS)] == []
    predict_block = run.stdout[run.stdout.index("rule predict_images:"):]
    assert f"input: results/export/ham10000/best, {user}" in predict_block.splitlines()[1]
    assert (user / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_users_folder_survives_a_run_that_predicts_on_it(tmp_path):
    """Snakemake runs only the export and predict rules on finished upstream results (random
    networks of one model, hand-made validation predictions) with the demo defaults
    (``demo_images: 8``) and ``predict.input_dir`` = an existing folder of the user's."""
    import shutil

    import numpy as np
    import pandas as pd
    import torch

    from helpers import run_snakemake
    from selcn.checkpoints import save_model_file
    from selcn.models.lesion import create_lesion_model
    from selcn.models.segmentation import create_segmentation_model
    from selcn.predictions import write_predictions
    from test_predict import synthetic_images

    user = tmp_path / "my_images"
    user.mkdir()
    for k, path in enumerate(synthetic_images(tmp_path / "src", n=3)):
        shutil.copyfile(path, user / f"mine{k}{path.suffix}")
    (user / "notes.txt").write_text("my notes")
    before = sorted((p.name, p.read_bytes()) for p in user.iterdir())
    work = tmp_path / "work"
    res = work / "results"
    torch.manual_seed(0)
    save_model_file(res / "segmentation" / "unet" / "model.pt",
                    create_segmentation_model("unet", "resnet18"), arch="unet",
                    encoder="resnet18", input_size=64, threshold=0.5)
    (res / "segmentation" / "selected.json").write_text(
        '{"arch": "unet", "metric": "dice", "value": 0.8}')
    classes = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    for k in (0, 1):
        fold = res / "lesion" / "ham10000" / "none-off" / f"fold{k}"
        save_model_file(fold / "model.pt", create_lesion_model("test_efficientnet", 7,
                                                               use_cam=False),
                        arch="test_efficientnet", num_classes=7, use_cam=False, input_size=64,
                        classifier_mask="none", symmetry_mask="off", class_names=classes,
                        fold=k, best_epoch=1)
        write_predictions(fold / "predictions_val.csv", [str(i) for i in range(14)],
                          np.arange(14) % 7, np.full((14, 7), 1 / 7), classes)
    # what predict_demo_images reads (before the fix it copied the demo's images into the
    # user's folder, emptied first), written after the folder: newer than it
    ham = res / "data" / "HAM10000"
    (ham / "HAM10000_images_part1").mkdir(parents=True)
    (ham / "HAM10000_images_part2").mkdir()
    (ham / "HAM10000_metadata.csv").write_text("lesion_id,image_id,dx\n")
    shutil.copyfile(user / "mine0.jpg", ham / "HAM10000_images_part1" / "ISIC_0000000.jpg")
    (res / "splits").mkdir()
    pd.DataFrame({"image_id": ["ISIC_0000000"], "split": ["test"]}).to_csv(
        res / "splits" / "ham10000.csv", index=False)
    tiny = {"data": {"image_size": 64},
            "segmentation": {"architectures": ["unet"], "encoder": "resnet18", "input_size": 64},
            "symmetry": {"masks": ["seg"], "folds": 2, "pretrained": False, "input_size": 64,
                         "cam_size": 8, "compare_architectures": [], "scratch_baseline": False},
            "lesion": {"architecture": "test_efficientnet", "pretrained": False,
                       "input_size": 64, "folds": 2, "classifier_masks": ["none"],
                       "symmetry_masks": ["off"], "datasets": ["ham10000"]},
            "predict": {"input_dir": str(user)}}             # demo_images: 8 of config.yaml
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    run = run_snakemake(work, "--configfile", str(REPO / "config" / "config.yaml"),
                        str(tmp_path / "tiny.yaml"), "--cores", "1", "--allowed-rules",
                        "export_model", "predict_demo_images", "predict_images", "--",
                        "results/predict/ham10000/best/predictions.csv", timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert sorted((p.name, p.read_bytes()) for p in user.iterdir()) == before   # untouched
    table = pd.read_csv(res / "predict" / "ham10000" / "best" / "predictions.csv")
    assert [Path(f).name for f in table["file"]] == ["mine0.jpg", "mine1.png", "mine2.bmp"]
    assert not (res / "predict" / "demo_input").exists()


@pytest.mark.slow
def test_the_demo_copies_its_images_under_another_results_dir(tmp_path):
    """``results_dir: out_x`` with config.yaml's ``predict.input_dir`` (results/predict/demo_input):
    ``predict_demo_images`` writes ``out_x/predict/demo_input`` (before: it refused its own
    output as "outside results/")."""
    import shutil

    import pandas as pd

    from helpers import run_snakemake
    from test_predict import synthetic_images

    work = tmp_path / "work"
    res = work / "out_x"
    ham = res / "data" / "HAM10000"
    (ham / "HAM10000_images_part1").mkdir(parents=True)
    (ham / "HAM10000_images_part2").mkdir()
    (ham / "HAM10000_metadata.csv").write_text("lesion_id,image_id,dx\n")
    image = synthetic_images(tmp_path / "src", n=1)[0]
    shutil.copyfile(image, ham / "HAM10000_images_part1" / "ISIC_0000000.jpg")
    (res / "splits").mkdir()
    pd.DataFrame({"image_id": ["ISIC_0000000"], "split": ["test"]}).to_csv(
        res / "splits" / "ham10000.csv", index=False)
    run = run_snakemake(work, "--configfile", str(REPO / "config" / "config.yaml"), "--config",
                        "results_dir=out_x", "--cores", "1", "--allowed-rules",
                        "predict_demo_images", "--", "out_x/predict/demo_input", timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    copied = [p.name for p in (res / "predict" / "demo_input").iterdir()
              if not p.name.startswith(".")]                 # Snakemake's .snakemake_timestamp
    assert copied == ["ISIC_0000000.jpg"]
    assert not (work / "results").exists()
