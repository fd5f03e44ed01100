"""Compute planning from a Snakemake dry run, before any GPU hour is spent.

``snakemake -n`` prints one block per job that would run, with its rule, wildcards and the
resources the rule declares (``gpu``, ``runtime`` in minutes, ``cpus_per_task``, ...). This
module parses that text (:func:`parse_dry_run`), counts the jobs per rule and adds up the
declared runtimes into GPU-hours (:func:`plan_table`). Runtimes are those of a first attempt
(``runtime_of()`` grows them on retries), i.e. the budget when nothing times out.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

__all__ = ["PlannedJob", "DryRun", "parse_dry_run", "plan_table", "format_plan", "dry_run",
           "DEFAULT_GROUP_BY"]

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


def plan_table(jobs: Iterable[PlannedJob],
               group_by: Sequence[str] = DEFAULT_GROUP_BY) -> pd.DataFrame:
    """Jobs and hours per rule (and per value of the first ``group_by`` wildcard a job has).

    Columns: ``rule, group, jobs, local, gpus, runtime_h, gpu_hours, cpu_hours`` —
    ``gpus`` per job (the largest), ``runtime_h`` the summed declared runtime of the row's jobs,
    ``gpu_hours`` = sum of gpus x runtime, ``cpu_hours`` = sum of cpus_per_task x runtime.
    Jobs without a declared runtime count as jobs with 0 hours.
    """
    rows = []
    for job in jobs:
        hours = (job.runtime_min or 0.0) / 60.0
        rows.append({"rule": job.rule, "group": _group(job, group_by), "jobs": 1,
                     "local": job.local, "gpus": job.gpus, "runtime_h": hours,
                     "gpu_hours": job.gpus * hours, "cpu_hours": job.cpus * hours})
    columns = ["rule", "group", "jobs", "local", "gpus", "runtime_h", "gpu_hours", "cpu_hours"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    table = frame.groupby(["rule", "group"], sort=False).agg(
        jobs=("jobs", "sum"), local=("local", "all"), gpus=("gpus", "max"),
        runtime_h=("runtime_h", "sum"), gpu_hours=("gpu_hours", "sum"),
        cpu_hours=("cpu_hours", "sum")).reset_index()
    return table.sort_values(["gpu_hours", "rule", "group"], ascending=[False, True, True],
                             ignore_index=True)[columns]


def format_plan(table: pd.DataFrame) -> str:
    """A plain-text table with a total line."""
    shown = table.assign(
        rule=[r + (" (local)" if loc else "") for r, loc in zip(table["rule"], table["local"])]
    ).drop(columns="local")
    total = pd.DataFrame([{"rule": "total", "group": "", "jobs": int(table["jobs"].sum()),
                           "gpus": "", "runtime_h": table["runtime_h"].sum(),
                           "gpu_hours": table["gpu_hours"].sum(),
                           "cpu_hours": table["cpu_hours"].sum()}])
    shown = pd.concat([shown, total], ignore_index=True)
    return shown.to_string(index=False, float_format=lambda x: f"{x:.1f}")


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
