"""Model 13 under Snakemake on a tiny synthetic config: its trainings, localisation, cost and
export run as rules, and the report's tables hold its rows beside the grid's (Tables 5, 6, 8a/8b,
9, 10, the statistics against model 1, the cost table) and its training curves.

A reduced grid (models 1 and 3: no mask, no CAM / the segmentation-masked symmetry CAM; 2
folds, HAM10000 only, 1 epoch of 2 batches) keeps it to a few minutes on 2 cores."""

import pandas as pd
import pytest
import yaml

from helpers import SHORT_TRAIN, TINY_SYNTHETIC, run_snakemake
from selcn.export import load_bundle

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
    "lesion": {"classifier_masks": ["none"], "symmetry_masks": ["off", "seg"],
               "datasets": ["ham10000"], "folds": 2, "input_size": 32, "train": SHORT_TRAIN},
    "multitask": {"enabled": True, "decoder_channels": [16, 16, 8, 8, 8], "train": SHORT_TRAIN},
    "report": {"bootstrap": 20},
    "predict": {"input_dir": None, "demo_images": 0},
}
TABLES = ("table5_segmentation", "table6_symmetry_val", "table6_symmetry_test",
          "table8_lesion_val", "table8_lesion_test", "table9_lesion_cam_localisation",
          "table10_isic2019", "stats_vs_baseline_ham10000", "cost_multitask")


def test_model_13_rows_in_the_report_of_a_tiny_run(repo, tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    configs = ("--configfile", str(repo / "config" / "config.yaml"), str(tmp_path / "tiny.yaml"))
    targets = [f"results/tables/{t}.html" for t in TABLES] + [
        "results/figures/fig11_13_training_curves_ham10000.png",
        "results/export/ham10000/multitask"]
    run = run_snakemake(tmp_path, *configs, "--cores", "2", *targets, timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    res = tmp_path / "results"
    tables = {t: pd.read_csv(res / "tables" / f"{t}.csv") for t in TABLES}

    for name in ("table8_lesion_val", "table8_lesion_test", "table10_isic2019"):
        table = tables[name]
        rows = table if "estimate" not in table else table[table["estimate"] == "folds"]
        assert sorted(rows["model"].astype(int)) == [1, 3, 13], name
        mine = rows[rows["model"] == 13].iloc[0]
        assert (mine["classifier_mask"], mine["symmetry_mask"], mine["n_folds"]) == \
            ("none", "own", 2)
    ensemble = tables["table8_lesion_test"].query("estimate == 'ensemble'")
    assert 13 in ensemble["model"].astype(int).tolist()
    assert tables["table9_lesion_cam_localisation"]["model"].astype(int).tolist() == [1, 3, 13]
    assert {"iou_encoder", "pointing_encoder"} <= set(
        c.removesuffix("_mean") for c in tables["table9_lesion_cam_localisation"].columns)
    assert "one network (model 13)" in tables["table5_segmentation"]["arch"].tolist()
    for split in ("val", "test"):
        table6 = tables[f"table6_symmetry_{split}"]
        assert table6["variant"].tolist()[-1] == "multitask"
        assert int(table6["model"].tolist()[-1]) == 13
    stats = tables["stats_vs_baseline_ham10000"]
    vs1 = stats[(stats["against"] == "model1") & (stats["model"] == 13)]
    assert len(vs1) == 1 and int(vs1["baseline"].iloc[0]) == 1
    cost = tables["cost_multitask"]
    assert cost["system"].tolist() == ["cascade", "lesion network", "model 13"]
    assert (cost["gmacs_per_image"] > 0).all() and cost["speedup"].iloc[0] == 1.0
    for name in TABLES:
        assert (res / "tables" / f"{name}.html").stat().st_size > 500, name
    page = (res / "tables" / "table6_symmetry_test.html").read_text()
    assert "one network (model 13" in page
    # model 13's own files, per the contract
    folder = res / "lesion" / "ham10000" / "multitask"
    for k in (0, 1):
        for name in ("model.pt", "history.csv", "predictions_val.csv", "predictions_test.csv",
                     "predictions_isic2019.csv", "predictions_symmetry_val.csv",
                     "predictions_symmetry_test.csv", "metrics_test.csv"):
            assert (folder / f"fold{k}" / name).is_file(), (k, name)
        assert not (folder / f"fold{k}" / ".resume").exists()
    assert (folder / "best_fold.json").is_file() and (folder / "localisation.csv").is_file()
    assert (res / "logs" / "multitask" / "train_ham10000_fold0.log").is_file()
    bundle = load_bundle(res / "export" / "ham10000" / "multitask")
    assert bundle.manifest["model"]["number"] == 13 and len(bundle.multitask) == 2
