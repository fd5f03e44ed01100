"""The SLURM profile against a real slurmctld (tests/slurm/up.sh: munge, MariaDB, slurmdbd,
slurmctld, slurmd with two fake GPUs on localhost).

- A reduced demo target — the data stage and one segmentation training that declares a GPU
  (max_epochs 1, max_train_batches 1) — runs through `--profile profiles/slurm` in a copy of
  the working tree; `sacct` must show that every non-local job ran through SLURM, that the GPU
  rule asked for a GPU and the CPU rules did not; the efficiency report is written.
- A running training (6 epochs of a few seconds) is cancelled with `scancel`. With the plugin's
  default status command (sacct) the run hangs: sacct says `CANCELLED by 0` and the plugin
  (2.8.0, the newest release) only knows `CANCELLED` — the reproduction of the bug. With the
  profile's `slurm-status-command: squeue` the cancel is noticed within a minute, named in the
  log, the job is retried (`retries: 2`) and its training resumes after its last epoch.
- A running training is requeued with `scontrol requeue` (the profile submits with
  `--requeue`): it resumes after its last finished epoch and the workflow completes.

The fake GPUs have no CUDA behind them, so the configs run the networks with `device: cpu`.
Skipped only when the cluster cannot be started here (not root, no slurm packages and no
apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import TINY_SYNTHETIC
from selcn.plan import parse_dry_run

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "tests" / "slurm"
ACCOUNT, PARTITION = "testacct", "debug"
GPU_RULE = "train_segmentation"
MODEL = "results/segmentation/unet/model.pt"
TRAIN_LOG = "results/logs/segmentation/train_unet.log"
#: what the reduced run builds (paths of selcn.paths); the leakage check gates the training
TARGETS = [
    "results/cache/ham10000/images.npy",
    "results/cache/ham10000/gt_masks.npy",
    "results/splits/ham10000.csv",
    MODEL,
]
#: the data stage of the cancel / requeue runs, built locally before the training is submitted
DATA_TARGETS = ["results/splits/leakage_check.json", "results/cache/ham10000/gt_masks.npy"]
#: the seconds within which a cancelled job must be noticed (the issue: "within a minute")
REACTION_LIMIT_S = 60
#: the demo config, shrunk: tiny data (enough images for every dataset's split table, which the
#: leakage check reads), one lesion dataset, the segmentation stage on a (fake) GPU, run by the
#: CPU (`device: cpu`: the fake GPUs have no CUDA)
OVERRIDE = {
    "device": "cpu",
    "data": {"image_size": 32,
             "synthetic": TINY_SYNTHETIC,
             "resources": {"gpu": 0, "cpus": 1, "mem_mb": 1000, "runtime": 5}},
    "lesion": {"datasets": ["ham10000"]},
    "segmentation": {"architectures": ["unet"], "input_size": 32,
                     "train": {"max_epochs": 1, "max_train_batches": 1, "batch_size": 4},
                     "resources": {"gpu": 1, "cpus": 1, "mem_mb": 2000, "runtime": 5}},
}
#: a training long enough to interrupt: 6 epochs of ~4-7 s at 64 px on one core
LONG_TRAINING = {
    "data": {"image_size": 64},
    "segmentation": {"input_size": 64,
                     "train": {"max_epochs": 6, "patience": 6, "batch_size": 4,
                               "max_train_batches": None}},
}
_EPOCH = re.compile(r"\[training\] epoch (\d+)\b")
_RESUMED = re.compile(r"\[training\] resumed from \S+ after epoch (\d+)")


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


def _write_config(work: Path, *overrides: dict) -> Path:
    """config/config.yaml with ``overrides`` merged in, as work/config/slurm_test.yaml."""
    with open(REPO / "config" / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)

    def merge(into: dict, values: dict) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    for override in overrides:
        merge(cfg, override)
    path = work / "config" / "slurm_test.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "SELCN_SLURM_ACCOUNT": ACCOUNT, "SELCN_SLURM_PARTITION": PARTITION,
            "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _profile_args(work: Path, config: Path) -> list[str]:
    """Through profiles/slurm, with fast status checks (the first after 1 s)."""
    return ["--profile", str(work / "profiles" / "slurm"), "--configfile", str(config),
            "--slurm-init-seconds-before-status-checks", "1",
            "--seconds-between-status-checks", "1", "--latency-wait", "5",
            "--slurm-keep-successful-logs"]


def _sacct(job_ids: list[str], duplicates: bool = False) -> list[dict[str, str]]:
    """sacct rows of ``job_ids`` (``duplicates``: every run of a requeued job, -D)."""
    fields = ["JobID", "JobName", "State", "ReqTRES", "AllocTRES", "Account", "Partition",
              "Comment"]
    out = subprocess.run(["sacct", "-X", "-P", "-n", *(["-D"] if duplicates else []),
                          "-j", ",".join(job_ids), "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]


def _stores_comments() -> bool:
    conf = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                          timeout=20).stdout
    return bool(re.search(r"AccountingStoreFlags\s*=.*job_comment", conf))


def _submitted(log: str) -> dict[str, str]:
    """SLURM job id -> rule, from Snakemake's log, in order of submission."""
    return dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log))


def test_reduced_workflow_runs_through_slurm(cluster, tmp_path):
    work = _copy_tree(tmp_path / "work")
    config = _write_config(work, OVERRIDE)
    env = _env()
    cmd = ["timeout", "-k", "10", "200", sys.executable, "-m", "snakemake", *TARGETS,
           *_profile_args(work, config)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    print(f"cluster bring-up {cluster['seconds']:.1f} s, workflow through SLURM {seconds:.1f} s")
    assert proc.returncode == 0, log[-6000:]

    # every job Snakemake planned that is not a localrule was submitted to SLURM
    jobs = parse_dry_run(log)
    remote = {j.rule for j in jobs if not j.local}
    submitted = _submitted(log)
    assert remote and set(submitted.values()) == remote, log[-6000:]
    assert GPU_RULE in remote and len(remote) >= 2
    # the training waited for the leakage check (a local job of the data stage)
    assert "check_splits" in {j.rule for j in jobs if j.local}

    acct = {row["JobID"]: row for row in _sacct(list(submitted))}
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

    # the profile's efficiency report: one row per job step of this run, under results/logs/slurm
    reports = list((work / "results" / "logs" / "slurm").glob("efficiency_report_*.csv"))
    assert len(reports) == 1, log[-3000:]
    report = pd.read_csv(reports[0])
    assert {"CPU Efficiency (%)", "Memory Usage (%)"} <= set(report.columns)
    assert set(report["MainJobID"].astype(str)) == set(submitted)

    # outputs complete: everything there, nothing left to do, repo's own results/ untouched
    for target in TARGETS:
        assert (work / target).is_file() and (work / target).stat().st_size > 0, target
    again = subprocess.run([sys.executable, "-m", "snakemake", *TARGETS, "-n", "--configfile",
                            str(config)], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and parse_dry_run(again.stdout + again.stderr) == [], again.stdout
    assert seconds < 240


# ---- interrupting a running training -----------------------------------------------------------
@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A work tree whose data stage (caches, split tables, leakage check) was built locally,
    for a 6-epoch segmentation training; copy it per test (:func:`_fresh`)."""
    work = _copy_tree(tmp_path_factory.mktemp("prepared") / "work")
    config = _write_config(work, OVERRIDE, LONG_TRAINING)
    proc = subprocess.run([sys.executable, "-m", "snakemake", *DATA_TARGETS, "--cores", "2",
                           "--configfile", str(config)], cwd=work, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    shutil.rmtree(work / ".snakemake")
    return work


def _fresh(prepared: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(prepared, work, symlinks=True)
    return work


class _Run:
    """Snakemake through the profile in the background; its output goes to a file."""

    def __init__(self, work: Path, *extra: str) -> None:
        self.work, self.out = work, work / "snakemake.out"
        cmd = [sys.executable, "-m", "snakemake", MODEL,
               *_profile_args(work, work / "config" / "slurm_test.yaml"), *extra]
        with open(self.out, "w") as fh:
            self.proc = subprocess.Popen(cmd, cwd=work, env=_env(), stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def train_log(self) -> str:
        path = self.work / TRAIN_LOG
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, what: str, found, timeout: float) -> float:
        """Poll until ``found()`` is true; the time it happened. Fails after ``timeout`` s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if found():
                return time.monotonic()
            if self.proc.poll() is not None and not found():
                pytest.fail(f"snakemake exited ({self.proc.returncode}) before {what}:\n"
                            f"{self.text()[-4000:]}")
            time.sleep(0.2)
        pytest.fail(f"no {what} within {timeout:.0f} s:\n{self.text()[-4000:]}\n"
                    f"--- {TRAIN_LOG}:\n{self.train_log()[-2000:]}")

    def running_job(self) -> str:
        """The SLURM id of the training once it runs and has finished an epoch."""
        self.wait_for("finished epoch", lambda: _EPOCH.search(self.train_log()), 240)
        ids = list(_submitted(self.text()))
        assert ids, self.text()[-3000:]
        return ids[-1]

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"snakemake did not finish within {timeout:.0f} s:\n{self.text()[-4000:]}")

    def kill(self) -> None:
        """Stop Snakemake (its process group), cancel what it submitted, and stop any process
        of this test's work tree left behind by a cancelled job step (this cluster tracks job
        processes by parentage, proctrack/linuxproc: an orphaned one can escape scancel)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        ids = list(_submitted(self.text()))
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
        for pid in _pids_of(self.work):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _pids_of(work: Path) -> list[int]:
    """The processes whose command line names ``work`` (this test's own tree)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and int(proc.name) != os.getpid() and str(work) in cmdline:
            pids.append(int(proc.name))
    return pids


def _last_epoch(log: str) -> int:
    """The last finished epoch a training log names (0: none)."""
    return max((int(k) for k in _EPOCH.findall(log)), default=0)


def _state(job_id: str) -> str:
    rows = _sacct([job_id])
    return rows[-1]["State"] if rows else ""


def test_scancel_hangs_with_the_plugins_default_status_command(cluster, prepared, tmp_path):
    """The bug, reproduced: with sacct as the status command (the plugin's default), a
    cancelled job stays 'running' for Snakemake — no message, no retry. If this fails, the
    plugin has learnt 'CANCELLED by <uid>' and profiles/slurm may go back to sacct."""
    run = _Run(_fresh(prepared, tmp_path), "--slurm-status-command", "sacct")
    try:
        job = run.running_job()
        subprocess.run(["scancel", job], check=True, timeout=30)
        cancelled = time.monotonic()
        run.wait_for("sacct state CANCELLED", lambda: _state(job).startswith("CANCELLED"), 60)
        state = _state(job)
        while time.monotonic() - cancelled < REACTION_LIMIT_S:
            assert run.proc.poll() is None and "SLURM status is" not in run.text(), \
                run.text()[-3000:]
            time.sleep(1)
        print(f"sacct: job {job} {state!r}; after {REACTION_LIMIT_S} s Snakemake still waits")
        assert state.startswith("CANCELLED by "), state
        assert "Trying to restart" not in run.text() and run.proc.poll() is None
    finally:
        run.kill()


def test_scancel_is_noticed_retried_and_resumed(cluster, prepared, tmp_path):
    """With the profile (status from squeue): the cancel is reported within a minute with the
    SLURM state, the job is retried and its training resumes after its last finished epoch."""
    run = _Run(_fresh(prepared, tmp_path))
    try:
        job = run.running_job()
        subprocess.run(["scancel", job], check=True, timeout=30)
        cancelled = time.monotonic()
        noticed = run.wait_for("report of the cancel",
                               lambda: "SLURM status is: 'CANCELLED'" in run.text(), 120)
        seconds = noticed - cancelled
        assert f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in run.text()
        run.wait_for("retry", lambda: "Trying to restart job" in run.text(), 30)
        assert run.finish(timeout=360) == 0, run.text()[-4000:]
    finally:
        run.kill()
    jobs = list(_submitted(run.text()))
    states = {j: _state(j) for j in jobs}
    print(f"scancel -> Snakemake's report: {seconds:.1f} s; sacct states {states}")
    assert seconds < REACTION_LIMIT_S
    assert len(jobs) == 2 and jobs[0] == job
    assert states[job].startswith("CANCELLED") and states[jobs[1]] == "COMPLETED"
    resumed = _RESUMED.findall(run.train_log())
    assert resumed and int(resumed[-1]) >= 1, run.train_log()[-3000:]
    history = pd.read_csv(run.work / "results" / "segmentation" / "unet" / "history.csv")
    assert list(history["epoch"]) == list(range(1, 7))
    assert (run.work / MODEL).is_file()


def test_requeue_resumes_from_the_last_epoch(cluster, prepared, tmp_path):
    """`scontrol requeue` of a running training (the profile submits with --requeue): SLURM
    runs it again, it resumes after its last finished epoch, and the workflow completes."""
    run = _Run(_fresh(prepared, tmp_path))
    try:
        run.running_job()
        run.wait_for("epoch 2", lambda: _last_epoch(run.train_log()) >= 2, 120)
        job = list(_submitted(run.text()))[-1]
        show = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True,
                              timeout=30).stdout
        assert "Requeue=1" in show, show
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
        # SLURM holds a requeued batch job for ~2 min (Reason=BeginTime): start it now
        run.wait_for("the requeued job pending", lambda: subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True,
            timeout=30).stdout.strip() == "PENDING", 60)
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True,
                       timeout=30)
        assert run.finish(timeout=360) == 0, run.text()[-4000:]
    finally:
        run.kill()
    runs = [row["State"] for row in _sacct([job], duplicates=True)]
    print(f"scontrol requeue: sacct -D states of job {job}: {runs}")
    assert runs == ["REQUEUED", "COMPLETED"]
    assert list(_submitted(run.text())) == [job]          # no resubmission by Snakemake
    resumed = _RESUMED.findall(run.train_log())
    assert resumed and int(resumed[-1]) >= 2, run.train_log()[-3000:]
    history = pd.read_csv(run.work / "results" / "segmentation" / "unet" / "history.csv")
    assert list(history["epoch"]) == list(range(1, 7))
    reports = list((run.work / "results" / "logs" / "slurm").glob("efficiency_report_*.csv"))
    assert len(reports) == 1
