"""Compute planning from a Snakemake dry run, before any GPU hour is spent.

``snakemake -n`` prints one block per job that would run, with its rule, wildcards and the
resources the rule declares (``gpu``, ``runtime`` in minutes, ``cpus_per_task``, ...). This
module parses that text (:func:`parse_dry_run`), counts the jobs per rule and gives two
figures per row (:func:`plan_table`), never one for the other:

- the **sum of time limits**: the declared runtimes x GPUs — what the jobs reserve on a
  cluster, an upper bound, not an estimate. Runtimes are those of a first attempt
  (``runtime_of()`` grows them on retries), i.e. the budget when nothing times out;
- an **estimate from throughput** (:class:`Estimator`): per GPU job the images it computes at
  most (images x ``max_epochs``, no early stopping) divided by the images/s of its network at
  its input size on the target GPU (config ``plan.throughput``, each value marked measured or
  assumed), plus a fixed start-up time per job.

:func:`format_totals` prints both totals, each labelled.
"""

from __future__ import annotations

import math
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from selcn.config import balance_of
from selcn.data.labels import DATASET_CLASSES
from selcn.grid import segmenter_encoder
from selcn.hpo.names import parse_search, parse_search_name
from selcn.jobs import Jobs

__all__ = ["PlannedJob", "DryRun", "parse_dry_run", "plan_table", "format_plan", "dry_run",
           "DEFAULT_GROUP_BY", "Rate", "Work", "Estimator", "PlanTotals", "plan_totals",
           "base_rule", "per_model_rows",
           "format_totals"]

#: wildcards that split a rule's row of the plan (the first one a job has is used)
DEFAULT_GROUP_BY = ("lesion_dataset", "dataset", "network")

_HEADER = re.compile(r"^(local)?(rule|checkpoint) (\w+):\s*$")
_FIELD = re.compile(r"^\s+(wildcards|resources|threads): (.*)$")
_GRES_GPU = re.compile(r"gpu(?::[^:,]+)?:(\d+)")


def _number(value: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _pairs(text: str) -> dict[str, int | float | str]:
    """``a=1, b=x, mem=2 GB`` -> ``{"a": 1, "b": "x", "mem": "2 GB"}``."""
    out: dict[str, int | float | str] = {}
    for item in text.split(", "):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = _number(value.strip())
    return out


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: its rule, wildcards and declared resources."""

    rule: str
    local: bool = False
    wildcards: dict[str, str] = field(default_factory=dict)
    resources: dict[str, int | float | str] = field(default_factory=dict)
    threads: int = 1

    @property
    def gpus(self) -> int:
        """GPUs the job asks for: resource ``gpu``, else the count in ``gres="gpu[:type]:N"``."""
        gpu = self.resources.get("gpu")
        if isinstance(gpu, int):
            return gpu
        match = _GRES_GPU.search(str(self.resources.get("gres", "")))
        return int(match.group(1)) if match else 0

    @property
    def cpus(self) -> int:
        cpus = self.resources.get("cpus_per_task")
        return cpus if isinstance(cpus, int) else self.threads

    @property
    def runtime_min(self) -> float | None:
        """Declared runtime in minutes; None when the rule declares none (or it is not known
        before the run, ``<TBD>``)."""
        runtime = self.resources.get("runtime")
        return float(runtime) if isinstance(runtime, (int, float)) else None


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs of the output of ``snakemake -n`` (Snakemake 8/9 format)."""
    jobs: list[PlannedJob] = []
    current: dict | None = None

    def close():
        if current is not None:
            jobs.append(PlannedJob(**current))

    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            close()
            current = {"rule": header.group(3), "local": bool(header.group(1))}
            continue
        if current is None:
            continue
        fld = _FIELD.match(line)
        if fld:
            key, value = fld.groups()
            if key == "threads":
                current["threads"] = int(value)
            else:
                current[key] = {k: v if key == "resources" else str(v)
                                for k, v in _pairs(value).items()}
        elif line and not line.startswith((" ", "\t")):
            close()
            current = None
    close()
    return jobs


def _group(job: PlannedJob, by: Sequence[str]) -> str:
    for name in by:
        if name in job.wildcards:
            return f"{name}={job.wildcards[name]}"
    return ""


#: a job -> its estimated GPU-hours, None when it cannot be estimated (:meth:`Estimator.hours`)
EstimateFn = Callable[[PlannedJob], "float | None"]


def plan_table(jobs: Iterable[PlannedJob], group_by: Sequence[str] = DEFAULT_GROUP_BY,
               estimate: EstimateFn | None = None) -> pd.DataFrame:
    """Jobs and hours per rule (and per value of the first ``group_by`` wildcard a job has).

    Columns: ``rule, group, jobs, local, gpus, runtime_h, gpu_hours, cpu_hours`` —
    ``gpus`` per job (the largest), ``runtime_h`` the summed declared runtime (time limit) of the
    row's jobs, ``gpu_hours`` = sum of gpus x runtime, ``cpu_hours`` = sum of cpus_per_task x
    runtime: sums of time limits, not estimates. Jobs without a declared runtime count as jobs
    with 0 hours. With ``estimate`` (e.g. :meth:`Estimator.hours`) also ``est_gpu_hours``: the
    sum of the row's estimates, NaN when any of its GPU jobs has none (jobs without a GPU: 0).
    """
    rows = []
    for job in jobs:
        hours = (job.runtime_min or 0.0) / 60.0
        row = {"rule": job.rule, "group": _group(job, group_by), "jobs": 1,
               "local": job.local, "gpus": job.gpus, "runtime_h": hours,
               "gpu_hours": job.gpus * hours, "cpu_hours": job.cpus * hours}
        if estimate is not None:
            est = estimate(job) if job.gpus else 0.0
            row["est_gpu_hours"] = math.nan if est is None else est
        rows.append(row)
    columns = ["rule", "group", "jobs", "local", "gpus", "runtime_h", "gpu_hours", "cpu_hours"]
    if estimate is not None:
        columns.append("est_gpu_hours")
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    sums = {name: (name, "sum") for name in ("jobs", "runtime_h", "gpu_hours", "cpu_hours")}
    if estimate is not None:                  # NaN when any job of the row has no estimate
        sums["est_gpu_hours"] = ("est_gpu_hours", lambda v: v.sum(min_count=len(v)))
    table = frame.groupby(["rule", "group"], sort=False).agg(
        local=("local", "all"), gpus=("gpus", "max"), **sums).reset_index()
    return table.sort_values(["gpu_hours", "rule", "group"], ascending=[False, True, True],
                             ignore_index=True)[columns]


#: the printed names of plan_table's columns: the limits and the estimate say which they are
_SHOWN = {"runtime_h": "limit_h", "gpu_hours": "gpu_h_limits", "cpu_hours": "cpu_h_limits",
          "est_gpu_hours": "gpu_h_estimate"}


def format_plan(table: pd.DataFrame) -> str:
    """A plain-text table with a total line; the hour columns are labelled ``limit_h``,
    ``gpu_h_limits``, ``cpu_h_limits`` (sums of time limits) and ``gpu_h_estimate``."""
    shown = table.assign(
        rule=[r + (" (local)" if loc else "") for r, loc in zip(table["rule"], table["local"])]
    ).drop(columns="local")
    total = {"rule": "total", "group": "", "jobs": int(table["jobs"].sum()), "gpus": "",
             "runtime_h": table["runtime_h"].sum(), "gpu_hours": table["gpu_hours"].sum(),
             "cpu_hours": table["cpu_hours"].sum()}
    if "est_gpu_hours" in table:
        total["est_gpu_hours"] = table["est_gpu_hours"].sum()    # of the rows estimated
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True).rename(columns=_SHOWN)
    return shown.to_string(index=False, float_format=lambda x: f"{x:.1f}", na_rep="n/a")


# ---- the estimate from throughput -------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """One entry of config ``plan.throughput``: training images/s (forward + backward +
    optimiser step, one GPU) of ``network`` at ``input_size`` px, ``source`` measured or
    assumed. Segmentation networks are named ``<architecture>-<encoder>``."""

    network: str
    input_size: int
    images_per_s: float
    source: str

    def at(self, input_size: int) -> float:
        """images/s at ``input_size``: scaled by the pixel count from this entry's size."""
        return self.images_per_s * (self.input_size / input_size) ** 2


@dataclass(frozen=True)
class Work:
    """What one GPU job computes at most: ``train_images`` images at the training rate
    (forward + backward: training passes summed over ``max_epochs``, and Grad-CAM++) and
    ``infer_images`` forward-only images (validation, test, prediction), on ``network`` at
    ``input_size`` px."""

    network: str
    input_size: int
    train_images: float
    infer_images: float = 0.0


@dataclass(frozen=True)
class Estimator:
    """GPU-hours of a dry run's jobs from throughput (build it with :meth:`of`).

    Per GPU job: ``overhead_s`` + ``train_images / r + infer_images / (r x
    inference_speedup)``, ``r`` the job's network's images/s (:meth:`rate`), times its GPUs.
    The images (:meth:`work`) follow from ``plan.images`` (images per dataset), the test
    fraction, the folds, the class balancing and the epochs of the config: with ``n`` the
    images of a dataset, ``t`` the test fraction and ``k`` its folds, a training job trains on
    ``n (1 - t) (k - 1) / k`` images an epoch (the lesion network: its balanced epoch, at most
    ``classes x target_per_class``) for ``max_epochs`` epochs, and predicts its validation
    fold every epoch, the test split once (and the external set its training job predicts);
    a further external set is predicted by its own job (``predict_external``: the set's images,
    forward only). The datasets of the stages are the config's roles (the grid's
    ``segmentation_dataset``, ``symmetry_dataset``, ``localisation_dataset``).

    Attributes:
        jobs: the config's file maps (its grid, folds, external sets).
        images: images per dataset (``plan.images``).
        rates: ``plan.throughput``.
        inference_speedup: forward-only images/s per training images/s.
        overhead_s: seconds per job besides the images (start-up, loading data and weights).
        gpu: the GPU the rates are for (``plan.gpu``).
    """

    jobs: Jobs
    images: Mapping[str, int]
    rates: tuple[Rate, ...]
    inference_speedup: float
    overhead_s: float
    gpu: str

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> Estimator:
        """The estimator of the validated config ``cfg`` (its ``plan`` section)."""
        plan = cfg["plan"]
        rates = tuple(Rate(r["network"], r["input_size"], float(r["images_per_s"]), r["source"])
                      for r in plan["throughput"])
        return cls(Jobs.of(cfg), dict(plan["images"]), rates, float(plan["inference_speedup"]),
                   float(plan["job_overhead_s"]), plan["gpu"])

    @property
    def cfg(self) -> Mapping[str, Any]:
        return self.jobs.cfg

    @property
    def sources(self) -> list[str]:
        """The sources of the rates (``measured``, ``assumed``), each once, in order."""
        return list(dict.fromkeys(r.source for r in self.rates))

    def rate(self, network: str, input_size: int) -> float | None:
        """Training images/s of ``network`` at ``input_size``: the entry of that size, else
        the entry of the nearest size scaled by the pixel count, else None."""
        entries = [r for r in self.rates if r.network == network]
        if not entries:
            return None
        nearest = min(entries, key=lambda r: (abs(r.input_size - input_size), r.input_size))
        return nearest.at(input_size)

    # ---- images ----------------------------------------------------------------------------
    def _parts(self, dataset: str) -> tuple[float, float, float]:
        """Images of ``dataset``'s training folds, one validation fold and its test split."""
        n, t, k = self.images[dataset], self.cfg["data"]["test_fraction"], \
            self.jobs.folds_of(dataset)
        return n * (1 - t) * (k - 1) / k, n * (1 - t) / k, n * t

    def _epoch(self, dataset: str, train: float) -> float:
        """The lesion network's training images per epoch of ``train`` images: the balanced
        epoch (classes above the target down-sampled, below it topped up with copies)."""
        bal = balance_of(self.cfg, dataset)
        if not bal:
            return train
        return min(len(DATASET_CLASSES[dataset]) * bal["target_per_class"],
                   train * (1 + bal["max_copies"]))

    def _segmentation_net(self, arch: str) -> str:
        return f"{arch}-{segmenter_encoder(self.cfg['segmentation'], arch)}"

    def _training(self, network: str, section: str, dataset: str) -> Work:
        train, val, test = self._parts(dataset)
        epochs = self.cfg[section]["train"]["max_epochs"]
        if section == "lesion":
            train = self._epoch(dataset, train)
        external = self.jobs.external_of(dataset) if section == "lesion" else None
        infer = val * epochs + test + (self.images[external] if external else 0)
        return Work(network, self.cfg[section]["input_size"], train * epochs, infer)

    def _search(self, search: str) -> Work:
        network, dataset = parse_search_name(search)
        hpo, grid = self.cfg["hpo"], self.jobs.grid
        dataset = dataset or (grid.segmentation_dataset if network == "segmentation"
                              else grid.symmetry_dataset)
        part = self.images[dataset] * (1 - self.cfg["data"]["test_fraction"])
        train, val = part * (1 - hpo["val_fraction"]), part * hpo["val_fraction"]
        if network == "lesion":
            train = self._epoch(dataset, train)
        net = (self._segmentation_net(self.cfg["segmentation"]["architectures"][0])
               if network == "segmentation" else self.cfg[network]["architecture"])
        epochs = hpo["n_calls"] * hpo["max_epochs"]
        return Work(net, self.cfg[network]["input_size"], train * epochs, val * epochs)

    def work(self, job: PlannedJob) -> Work | None:
        """What ``job`` computes at most; None for a rule this model does not know (the
        predictions of ``predict_images``: their folder is counted nowhere)."""
        cfg, w, grid = self.cfg, job.wildcards, self.jobs.grid
        sym, les = cfg["symmetry"], cfg["lesion"]
        job = replace(job, rule=base_rule(job.rule))     # a rule of any path shape
        if job.rule == "train_segmentation":
            return self._training(self._segmentation_net(w["arch"]), "segmentation",
                                  grid.segmentation_dataset)
        if job.rule == "predict_masks":         # the selected architecture: the slower one
            nets = [self._segmentation_net(a) for a in ([w["segmenter"]] if "segmenter" in w
                                                        else grid.seg_archs)]
            size = cfg["segmentation"]["input_size"]
            net = min(nets, key=lambda n: self.rate(n, size) or math.inf)
            return Work(net, size, 0.0, self.images[w["dataset"]])
        if job.rule in ("train_symmetry", "train_symmetry_arch"):
            return self._training(w.get("arch", sym["architecture"]), "symmetry",
                                  grid.symmetry_dataset)
        if job.rule.startswith("train_lesion_"):
            return self._training(les["architecture"], "lesion", w["lesion_dataset"])
        if job.rule == "predict_external":      # one fold's model on a further external set
            return Work(les["architecture"], les["input_size"], 0.0, self.images[w["external"]])
        if job.rule == "hpo_search":
            return self._search(w["network"])
        localised = self.images[grid.localisation_dataset]
        if job.rule == "symmetry_cams":         # Grad-CAM++: forward and backward
            cams = sum(self.images[d] for d in grid.cam_datasets)
            return Work(sym["architecture"], sym["input_size"], cams)
        if job.rule == "symmetry_localisation":
            return Work(sym["architecture"], sym["input_size"], localised)
        if job.rule == "lesion_localisation":   # every lesion dataset's best fold
            return Work(les["architecture"], les["input_size"],
                        localised * len(grid.lesion_datasets))
        if job.rule == "symmetry_figure_cams":  # a few images per variant: start-up only
            return Work(sym["architecture"], sym["input_size"], 0.0)
        if job.rule == "lesion_figure_cams":
            return Work(les["architecture"], les["input_size"], 0.0)
        return None

    def hours(self, job: PlannedJob) -> float | None:
        """Estimated GPU-hours of ``job`` (0 without a GPU); None when its rule is unknown to
        :meth:`work` or its network has no rate."""
        if not job.gpus:
            return 0.0
        work = self.work(job)
        rate = self.rate(work.network, work.input_size) if work else None
        if work is None or rate is None:
            return None
        seconds = (self.overhead_s + work.train_images / rate
                   + work.infer_images / (rate * self.inference_speedup))
        return job.gpus * seconds / 3600.0


#: the suffixes of the rules of another path shape than the thesis' (selcn.grid.Shape.suffix)
_SHAPE_SUFFIXES = ("_by_segmenter_per_model", "_by_segmenter", "_per_model")


def base_rule(rule: str) -> str:
    """The rule of the thesis' path shape a rule stands for: ``train_lesion_ham10000_per_model``
    -> ``train_lesion_ham10000`` (selcn.grid.Shape: the segmenter axis, the per-model search)."""
    for suffix in _SHAPE_SUFFIXES:
        if rule.endswith(suffix):
            return rule.removesuffix(suffix)
    return rule


def per_model_rows(table: pd.DataFrame) -> pd.Series:
    """Which rows of a :func:`plan_table` the per-model search adds (``hpo.scope:
    per_model``): the per-model copies' rules (``*_per_model``) and the per-model searches
    (``hpo_search`` rows of a search with a cell)."""
    def added(rule: str, group: str) -> bool:
        if rule.endswith("_per_model"):
            return True
        name = group.partition("network=")[2]
        return rule == "hpo_search" and bool(name) and parse_search(name).cell is not None
    return pd.Series([added(r, g) for r, g in zip(table["rule"], table["group"])],
                     index=table.index, dtype=bool)


class PlanTotals(NamedTuple):
    """The two totals of a plan: ``limits`` (GPU-hours, sum of time limits), ``estimate``
    (GPU-hours of the estimated jobs), ``unestimated`` (a row per GPU rule without an
    estimate: rule, jobs, GPU-hours of their limits); ``per_model``: ``(jobs, limits,
    estimate)`` of what the per-model search adds (:func:`per_model_rows`), None when nothing."""

    limits: float
    estimate: float
    unestimated: pd.DataFrame
    per_model: tuple[int, float, float] | None = None


def plan_totals(table: pd.DataFrame) -> PlanTotals:
    """The totals of a :func:`plan_table` made with an ``estimate``."""
    missing = table[table["est_gpu_hours"].isna() & (table["gpus"] > 0)]
    unestimated = missing.groupby("rule", sort=False)[["jobs", "gpu_hours"]].sum().reset_index()
    added = table[per_model_rows(table)] if len(table) else table
    per_model = ((int(added["jobs"].sum()), float(added["gpu_hours"].sum()),
                  float(added["est_gpu_hours"].sum())) if len(added) else None)
    return PlanTotals(float(table["gpu_hours"].sum()), float(table["est_gpu_hours"].sum()),
                      unestimated, per_model)


def format_totals(totals: PlanTotals, estimator: Estimator) -> str:
    """Both totals, each labelled with what it is (and the jobs the estimate leaves out)."""
    sources = " and ".join(estimator.sources) or "none"
    lines = [f"GPU-hours, sum of the jobs' time limits (runtime x GPUs; what they reserve, "
             f"not an estimate): {totals.limits:,.1f}"]
    if not estimator.rates:
        lines.append("GPU-hours, estimate from throughput: none (config plan.throughput is "
                     "empty)")
        return "\n".join(lines)
    lines.append(f"GPU-hours, estimate from throughput ({sources} images/s on "
                 f"{estimator.gpu}; images x max_epochs, no early stopping, "
                 f"{estimator.overhead_s:.0f} s start-up per job): {totals.estimate:,.1f}")
    if totals.per_model:
        jobs, limits, estimate = totals.per_model
        lines.append(f"  of which the per-model search adds (hpo.scope: per_model; {jobs} jobs: "
                     f"its searches, the per-model copies): {limits:,.1f} GPU-h of limits, "
                     f"{estimate:,.1f} estimated")
    for row in totals.unestimated.itertuples():
        lines.append(f"  not in the estimate: {row.rule} ({row.jobs} jobs, {row.gpu_hours:,.1f} "
                     "GPU-h of limits; no throughput for its network, or its images unknown)")
    return "\n".join(lines)


class DryRun(NamedTuple):
    """Output of ``snakemake -n``; its wall time and CPU time (user + system) in seconds."""

    text: str
    seconds: float
    cpu_seconds: float


def dry_run(args: Sequence[str] = (), workdir: str | Path = ".",
            snakemake: Sequence[str] | None = None, timeout: float = 600) -> DryRun:
    """Run ``snakemake -n <args>`` in ``workdir``.

    Raises RuntimeError with Snakemake's output when the dry run fails (e.g. a config error).
    """
    cmd = [*(snakemake or [sys.executable, "-m", "snakemake"]), "--dry-run", *args]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{text}")
    return DryRun(text, seconds, cpu)
