"""The SLURM profile against a real slurmctld (tests/slurm/up.sh: munge, MariaDB, slurmdbd,
slurmctld, slurmd with two fake GPUs on localhost).

A reduced demo target — the data stage of HAM10000 and one segmentation training that declares
a GPU (max_epochs 1, max_train_batches 1) — runs through `--profile profiles/slurm` in a copy
of the working tree; `sacct` must show that every non-local job ran through SLURM, that the GPU
rule asked for a GPU and the CPU rules did not. Skipped only when the cluster cannot be started
here (not root, no slurm packages and no apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selcn.plan import parse_dry_run

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "tests" / "slurm"
ACCOUNT, PARTITION = "testacct", "debug"
GPU_RULE = "train_segmentation"
#: what the reduced run builds (paths of selcn.paths)
TARGETS = [
    "results/cache/ham10000/images.npy",
    "results/cache/ham10000/gt_masks.npy",
    "results/splits/ham10000.csv",
    "results/segmentation/unet/model.pt",
]
#: the demo config, shrunk: tiny data, one epoch of one batch, the segmentation stage on a GPU
OVERRIDE = {
    "data": {"image_size": 32,
             "synthetic": {"n_lesions": 30, "min_lesions_per_class": 2, "n_symderm_own": 4,
                           "n_symderm_from_ham": 4, "n_isic2019_new": 4,
                           "n_isic2019_from_ham": 4, "n_isic2016_train": 8,
                           "n_isic2016_test": 4, "width": 64, "height": 48},
             "resources": {"gpu": 0, "cpus": 1, "mem_mb": 1000, "runtime": 5}},
    "segmentation": {"architectures": ["unet"], "input_size": 32,
                     "train": {"max_epochs": 1, "max_train_batches": 1, "batch_size": 4},
                     "resources": {"gpu": 1, "cpus": 1, "mem_mb": 2000, "runtime": 5}},
}


def _cluster_up() -> bool:
    """A slurmctld answers and accounting (sacct) works."""
    if not shutil.which("scontrol") or not shutil.which("sacct"):
        return False
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now-1minutes"], capture_output=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return "UP" in ping.stdout and acct.returncode == 0


@pytest.fixture(scope="module")
def cluster():
    """The cluster, started by tests/slurm/up.sh unless one is running; its daemons are
    stopped by PID (tests/slurm/down.sh) afterwards when this fixture started them."""
    if _cluster_up():
        yield {"started": False, "seconds": 0.0}
        return
    if os.geteuid() != 0:
        pytest.skip("starting the SLURM daemons (tests/slurm/up.sh) needs root")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("no SLURM packages and no apt-get to install them")
    start = time.perf_counter()
    proc = subprocess.run(["timeout", "-k", "10", "240", str(SLURM_DIR / "up.sh")],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    try:
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr)[-3000:]
            if "installing" in proc.stdout and "packages installed" not in proc.stdout:
                pytest.skip(f"the SLURM packages could not be installed (apt):\n{out}")
            pytest.fail(f"tests/slurm/up.sh failed (exit {proc.returncode}):\n{out}")
        yield {"started": True, "seconds": seconds}
    finally:
        down = subprocess.run(["timeout", "-k", "10", "60", str(SLURM_DIR / "down.sh")],
                              capture_output=True, text=True)
        print(down.stdout + down.stderr)


def _copy_tree(dst: Path) -> Path:
    """The workflow without results/, .snakemake/, .git/ and the venv."""
    ignore = shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "__pycache__",
                                    "*.egg-info", ".pytest_cache", "tests", "benchmarks")
    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    return dst


def _sacct(job_ids: list[str]) -> dict[str, dict[str, str]]:
    fields = ["JobID", "JobName", "State", "ReqTRES", "AllocTRES", "Account", "Partition",
              "Comment"]
    out = subprocess.run(["sacct", "-X", "-P", "-n", "-j", ",".join(job_ids),
                          "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]
    return {row["JobID"]: row for row in rows}


def _stores_comments() -> bool:
    conf = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                          timeout=20).stdout
    return bool(re.search(r"AccountingStoreFlags\s*=.*job_comment", conf))


def test_reduced_workflow_runs_through_slurm(cluster, tmp_path):
    work = _copy_tree(tmp_path / "work")
    override = work / "config" / "slurm_test.yaml"
    with open(REPO / "config" / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    for section, values in OVERRIDE.items():
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(cfg[section].get(key), dict):
                cfg[section][key].update(value)
            else:
                cfg[section][key] = value
    override.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "SELCN_SLURM_ACCOUNT": ACCOUNT, "SELCN_SLURM_PARTITION": PARTITION,
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = ["timeout", "-k", "10", "200", sys.executable, "-m", "snakemake", *TARGETS,
           "--profile", str(work / "profiles" / "slurm"), "--configfile", str(override),
           "--slurm-init-seconds-before-status-checks", "1",
           "--seconds-between-status-checks", "1", "--latency-wait", "5",
           "--slurm-keep-successful-logs"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    print(f"cluster bring-up {cluster['seconds']:.1f} s, workflow through SLURM {seconds:.1f} s")
    assert proc.returncode == 0, log[-6000:]

    # every job Snakemake planned that is not a localrule was submitted to SLURM
    jobs = parse_dry_run(log)
    remote = {j.rule for j in jobs if not j.local}
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log))
    assert remote and set(submitted.values()) == remote, log[-6000:]
    assert GPU_RULE in remote and len(remote) >= 2

    acct = _sacct(list(submitted))
    assert set(acct) == set(submitted)
    comments = _stores_comments()
    for job_id, rule in submitted.items():
        row = acct[job_id]
        assert row["State"] == "COMPLETED", row
        assert (row["Account"], row["Partition"]) == (ACCOUNT, PARTITION), row
        if comments:
            assert re.fullmatch(rf"rule_{rule}(_wildcards_.*)?", row["Comment"]), row
        asks_gpu = "gres/gpu=" in row["ReqTRES"]
        assert asks_gpu == (rule == GPU_RULE), row
        if asks_gpu:
            assert "gres/gpu=1" in row["ReqTRES"] and "gres/gpu=1" in row["AllocTRES"], row
        assert "cpu=1" in row["ReqTRES"], row          # cpus_per_task from <stage>.resources

    # outputs complete: everything there, nothing left to do, repo's own results/ untouched
    for target in TARGETS:
        assert (work / target).is_file() and (work / target).stat().st_size > 0, target
    again = subprocess.run([sys.executable, "-m", "snakemake", *TARGETS, "-n", "--configfile",
                            str(override)], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and parse_dry_run(again.stdout + again.stderr) == [], again.stdout
    assert seconds < 240
