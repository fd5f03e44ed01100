"""The whole cascade under Snakemake on a tiny synthetic config: data -> segmentation ->
symmetry -> Grad-CAM++ -> lesion grid -> tables -> report.html.

A reduced grid (classifier masks none|seg x symmetry masks off|seg, 2 folds, HAM10000 only,
1 epoch of 2 batches) keeps it to a few minutes on 2 cores; it checks that the stages chain,
not that the networks learn (the demo and the stage tests do that).
"""

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import SHORT_TRAIN, TINY_SYNTHETIC, run_snakemake
from selcn.predictions import read_predictions

pytestmark = pytest.mark.slow

TINY = {
    "data": {
        "image_size": 32,
        "balance": {"target_per_class": 12, "max_copies": 3},
        "synthetic": TINY_SYNTHETIC,
    },
    "segmentation": {"architectures": ["unet"], "input_size": 32, "train": SHORT_TRAIN},
    "symmetry": {"masks": ["seg"], "folds": 2, "compare_architectures": [],
                 "scratch_baseline": False, "input_size": 32, "cam_size": 8, "train": SHORT_TRAIN},
    "lesion": {"classifier_masks": ["none", "seg"], "symmetry_masks": ["off", "seg"],
               "datasets": ["ham10000"], "folds": 2, "input_size": 32, "train": SHORT_TRAIN},
    "report": {"bootstrap": 20},
}


def test_whole_cascade_runs_and_reports(repo, tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    configs = ("--configfile", str(repo / "config" / "config.yaml"), str(tmp_path / "tiny.yaml"))
    run = run_snakemake(tmp_path, *configs, "--cores", "2", timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    res = tmp_path / "results"

    # segmentation -> masks for every dataset this grid uses (not ISIC 2016), aligned with the cache
    assert not (res / "masks" / "isic2016.npy").exists()
    for ds in ("ham10000", "symderm", "isic2019"):
        masks = np.load(res / "masks" / f"{ds}.npy")
        index = pd.read_csv(res / "cache" / ds / "index.csv")
        assert masks.shape == (len(index), 32, 32) and set(np.unique(masks)) <= {0, 1}

    # symmetry CAMs in [0, 1], one per cached image of each dataset the lesion stage sees
    for ds in ("ham10000", "isic2019"):
        cams = np.load(res / "cams" / "seg" / f"{ds}.npy")
        assert cams.dtype == np.float16 and cams.shape[1:] == (8, 8)
        assert len(cams) == len(pd.read_csv(res / "cache" / ds / "index.csv"))
        assert 0.0 <= float(cams.min()) and float(cams.max()) <= 1.0

    # the lesion grid: every cell x fold wrote predictions of the 7 classes
    splits = pd.read_csv(res / "splits" / "ham10000.csv")
    test_ids = set(splits.query("split == 'test'")["image_id"])
    for cell in ("none-off", "none-seg", "seg-off", "seg-seg"):
        for fold in (0, 1):
            pred = read_predictions(res / "lesion" / "ham10000" / cell / f"fold{fold}" /
                                    "predictions_test.csv")
            assert set(pred["image_id"]) == test_ids
            probs = pred.filter(like="prob_").to_numpy()
            assert probs.shape[1] == 7 and np.allclose(probs.sum(axis=1), 1, atol=1e-3)
            assert (res / "lesion" / "ham10000" / cell / f"fold{fold}" /
                    "predictions_isic2019.csv").exists()

    # the tables: the models of the reduced grid, numbered as in the thesis
    # (one row per model for the thesis' mean over folds, one for the fold ensemble)
    table8 = pd.read_csv(res / "tables" / "table8_lesion_test.csv")
    assert sorted(table8["estimate"].unique()) == ["ensemble", "folds"]
    for estimate, rows in table8.groupby("estimate"):
        assert sorted(rows["model"].astype(int)) == [1, 3, 5, 7], estimate
    for name in ("table5_segmentation", "table6_symmetry_test",
                 "table7_symmetry_cam_localisation", "table9_lesion_cam_localisation",
                 "table10_isic2019"):
        assert (res / "tables" / f"{name}.html").stat().st_size > 500, name

    # the report a supervisor opens
    run = run_snakemake(tmp_path, *configs, "--report", str(res / "report.html"), timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    html = (res / "report.html").read_text(errors="replace")
    assert "Table 8" in html and "Table 5" in html

    # a second run has nothing to do
    run = run_snakemake(tmp_path, *configs, "-n", timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "Nothing to be done" in out, out[-2000:]

    # no training left a resume state behind, and forcing one lesion model retrains it afresh
    assert not list(res.rglob(".resume")), sorted(map(str, res.rglob(".resume")))
    model = res / "lesion" / "ham10000" / "seg-seg" / "fold1" / "model.pt"
    run = run_snakemake(tmp_path, *configs, "--cores", "1", "-f", str(model.relative_to(tmp_path)),
                        timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    log = (res / "logs" / "lesion" / "train_ham10000_seg-seg_fold1.log").read_text()
    assert "[training] epoch 1/" in log and "resumed" not in log, log[-2000:]
    assert not list(res.rglob(".resume"))
