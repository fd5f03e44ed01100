"""Checks gate the work: every training and search job waits for the leakage check of the split
tables (and, with real data, the data check), so that a failing check stops the run before
the first training (issue 23.2)."""

import re
import shutil

import pandas as pd
import pytest
import yaml

from helpers import REPO, TINY_SYNTHETIC, run_snakemake
from selcn.config import deep_merge, validate_config
from selcn.jobs import Jobs
from selcn.paths import DATA_CHECK, SPLIT_CHECK

#: the rules that train a network on split tables
TRAINING_RULES = re.compile(r"train_\w+|hpo_search")
#: tiny synthetic data: every dataset's split table can be made (5 test groups per class)
TINY = {
    "data": {
        "image_size": 32,
        "synthetic": TINY_SYNTHETIC,
    },
    "segmentation": {"architectures": ["unet"], "input_size": 32,
                     "train": {"max_epochs": 1, "max_train_batches": 1, "batch_size": 4}},
    "lesion": {"datasets": ["ham10000"]},
}


def _config(name: str) -> dict:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return validate_config(deep_merge(base, yaml.safe_load((REPO / "config" / name).read_text())))


def test_the_checks_a_training_waits_for():
    assert Jobs.of(_config("config.yaml")).training_checks() == [SPLIT_CHECK]     # synthetic
    assert Jobs.of(_config("paper.yaml")).training_checks() == [SPLIT_CHECK, DATA_CHECK]


def _dag(workdir, *args):
    """Nodes (id -> rule) and edges (from, to) of `snakemake --dag --forceall`."""
    run = run_snakemake(workdir, "--configfile", str(REPO / "config" / "config.yaml"),
                        "--dag", "--forceall", *args, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    nodes = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)', run.stdout, re.M))
    edges = set(re.findall(r"^\s*(\d+) -> (\d+)", run.stdout, re.M))
    return nodes, edges


@pytest.mark.slow
def test_every_training_and_search_job_depends_on_the_leakage_check(tmp_path):
    """The demo's DAG (with the searches on): an edge check_splits -> every train_* and
    hpo_search job, and the check before them in the order Snakemake would run them."""
    nodes, edges = _dag(tmp_path, "--config", "hpo={enabled: true}")
    check = [n for n, rule in nodes.items() if rule == "check_splits"]
    trainings = [n for n, rule in nodes.items() if TRAINING_RULES.fullmatch(rule)]
    assert len(check) == 1 and len(trainings) > 48
    assert {nodes[n] for n in trainings} >= {"train_segmentation", "train_symmetry",
                                            "train_symmetry_arch", "train_lesion_ham10000",
                                            "train_lesion_isic2016", "hpo_search"}
    missing = sorted({nodes[n] for n in trainings if (check[0], n) not in edges})
    assert not missing, f"trainings that do not wait for check_splits: {missing}"


@pytest.mark.slow
def test_a_planted_leak_stops_the_run_before_the_first_training(tmp_path):
    """A split table edited so that a lesion lies in the test split and in a fold: the
    leakage check runs again, fails, and the segmentation training is never started."""
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY))
    configs = ("--configfile", str(REPO / "config" / "config.yaml"), str(tiny))
    run = run_snakemake(tmp_path, *configs, "--cores", "2", str(SPLIT_CHECK), timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    # the leak: one image of a lesion that has several, all in one fold, moved to the test split
    path = tmp_path / "results" / "splits" / "ham10000.csv"
    splits = pd.read_csv(path, dtype=str, keep_default_na=False)
    sizes = splits[splits["split"].str.startswith("fold")].groupby("group").size()
    lesion = sizes[sizes >= 2].index[0]
    splits.loc[splits.index[splits["group"] == lesion][0], "split"] = "test"
    splits.to_csv(path, index=False)

    model = "results/segmentation/unet/model.pt"
    dry = run_snakemake(tmp_path, *configs, "-n", model, timeout=300)
    planned = dry.stdout + dry.stderr
    assert dry.returncode == 0 and "check_splits" in planned and "train_segmentation" in planned

    run = run_snakemake(tmp_path, *configs, "--cores", "2", "--keep-going", model, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "Error in rule check_splits" in out, out[-3000:]
    assert re.search(rf"{lesion}|group\(s\) on both sides", out + (
        tmp_path / "results" / "logs" / "data" / "check_splits.log").read_text())
    # never started: no job block, no log, no output
    assert not re.search(r"^rule train_segmentation:", out, re.M), out[-3000:]
    assert not (tmp_path / "results" / "logs" / "segmentation" / "train_unet.log").exists()
    assert not (tmp_path / model).exists() and not (tmp_path / SPLIT_CHECK).exists()
    shutil.rmtree(tmp_path / "results" / "cache")       # large files out of the tmp dir early
