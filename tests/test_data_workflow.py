"""The data stage under Snakemake: a real run on a tiny synthetic config, and dry runs of
both configs (the paper config plans without the real data)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import TINY_SYNTHETIC, run_snakemake

pytestmark = pytest.mark.slow

TINY = {
    "data": {
        "image_size": 32,
        "balance": {"target_per_class": 30, "max_copies": 3},
        "synthetic": TINY_SYNTHETIC,
    },
}
TARGETS = ["results/figures/fig5_hair_removal.png", "results/figures/fig6_class_distribution.png",
           "results/splits/leakage_check.json"]


def test_data_stage_runs_on_a_tiny_config(repo, tmp_path):
    override = tmp_path / "tiny.yaml"
    override.write_text(yaml.safe_dump(TINY))
    run = run_snakemake(tmp_path, "--configfile", str(repo / "config" / "config.yaml"),
                        str(override), "--cores", "2", *TARGETS, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    res = tmp_path / "results"
    for ds, masks in (("ham10000", True), ("symderm", True), ("isic2019", False),
                      ("isic2016", False)):
        images = np.load(res / "cache" / ds / "images.npy", mmap_mode="r")
        index = pd.read_csv(res / "cache" / ds / "index.csv")
        assert images.shape == (len(index), 32, 32, 3) and images.dtype == np.uint8
        assert (res / "cache" / ds / "gt_masks.npy").exists() == masks
        splits = pd.read_csv(res / "splits" / f"{ds}.csv")
        assert list(splits.columns) == ["image_id", "label", "target", "group", "split"]
        assert set(splits["image_id"]) == set(index["image_id"])
    check = json.loads((res / "splits" / "leakage_check.json").read_text())
    assert check["protocol"] == "leakage_free"
    assert all(check[ds]["groups_crossing_test"] == 0 for ds in ("ham10000", "symderm"))
    ham = pd.read_csv(res / "splits" / "ham10000.csv")
    # demo: 2 lesion folds; `excluded`: training-side copies of test images (the overlap guard)
    assert set(ham.loc[ham["split"] != "excluded", "split"]) == {"test", "fold0", "fold1"}
    excluded = set(ham.loc[ham["split"] == "excluded", "image_id"])
    overlaps = pd.read_csv(res / "splits" / "overlaps.csv", dtype=str)
    assert excluded <= set(overlaps["training_image"]) | set(overlaps["test_image"])
    assert (ham.groupby("group")["split"].nunique() == 1).all()
    counts = pd.read_csv(res / "figures" / "fig6_class_distribution.csv")
    bal = counts[counts["stage"] == "balanced training part"].set_index("class")["count"]
    assert bal.max() <= 30 and bal["nv"] == 30
    assert (res / "figures" / "fig5_hair_removal.png").stat().st_size > 10_000
    log = (res / "logs" / "data" / "cache_ham10000.log").read_text()
    assert "cache ham10000" in log and "100%" in log                 # tqdm progress in the log
    # nothing to do the second time
    run = run_snakemake(tmp_path, "--configfile", str(repo / "config" / "config.yaml"),
                        str(override), "-n", *TARGETS, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "Nothing to be done" in out, out[-2000:]


@pytest.mark.parametrize("config", ["config.yaml", "paper.yaml"])
def test_dry_run_of_both_configs(repo, tmp_path, config):
    run = run_snakemake(tmp_path, "--configfile", str(repo / "config" / config), "-n",
                        timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "cache_dataset" in out and "split_dataset" in out and "check_splits" in out
    if config == "paper.yaml":                 # real data absent: planned, and said so
        assert "synthetic_data" not in out
        assert "WARNING: data.ham10000" in out
    else:
        assert "synthetic_data" in out
