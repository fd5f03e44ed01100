"""The log of a stage job: opened before anything else, headed by a line saying when and where
the job started, and kept across the attempts of a training job.

Snakemake deletes a job's log before it starts the job, also when the job resumes a killed
attempt. A training job therefore keeps its log a second time under its output folder,
``<out_dir>/.resume/job.log`` (:data:`KEPT_LOG`, a hard link: one file with two names, removed
with the resume state once the job's outputs are written): an attempt that finds it links the
new log to it and appends, so the log of a resumed job holds every earlier attempt's lines,
each attempt after a header line (:func:`open_job_log`)::

    [job] start 1: 2025-06-01T12:00:03+02:00, pid 4242 on node7
    …
    [job] start 2: 2025-06-01T13:10:44+02:00, pid 5120 on node7 (earlier starts above)
    [training] resumed from … after epoch 7

A job that finished removes the kept log with its resume state, so a forced rerun starts a
fresh log. Non-training jobs (CAMs, localisation, figures, mask prediction) redo their work from
the start on a rerun: their log holds one start.

This module imports no torch: the scripts open their log before anything heavy is imported.
"""

from __future__ import annotations

import datetime
import os
import socket
from pathlib import Path
from typing import TextIO

__all__ = ["KEPT_LOG", "HEADER", "open_job_log", "start_job"]

#: the log a training job keeps across attempts, relative to its output folder (next to the
#: resume state, :data:`selcn.resume.RESUME_STATE`; removed with it)
KEPT_LOG = Path(".resume") / "job.log"
#: how every start's header line begins
HEADER = "[job] start "


def _starts(path: Path) -> int:
    """How many header lines the log at ``path`` holds (0 when it does not exist)."""
    try:
        with open(path, errors="replace") as fh:
            return sum(line.startswith(HEADER) for line in fh)
    except FileNotFoundError:
        return 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _link_kept(path: Path, keep: Path) -> str:
    """Make ``path`` and ``keep`` one file; return a note for the log ("" when all went well).

    - ``path`` holds lines (not deleted since an earlier start, e.g. a run without Snakemake):
      it is the log; ``keep`` becomes a second name of it;
    - else ``keep`` exists (an earlier, unfinished attempt): ``path`` becomes a second name of
      it;
    - else both are new.
    Where hard links are refused (another filesystem), the earlier lines are copied and this
    attempt's lines are not kept for a later one.
    """
    keep.parent.mkdir(parents=True, exist_ok=True)
    if _same_file(path, keep):
        return ""
    has_lines = path.is_file() and path.stat().st_size > 0
    try:
        if has_lines or not keep.is_file():
            path.touch()
            keep.unlink(missing_ok=True)
            os.link(path, keep)
        else:
            path.unlink(missing_ok=True)
            os.link(keep, path)
        return ""
    except OSError as err:
        if not has_lines and keep.is_file():
            path.write_bytes(keep.read_bytes())
        return (f"[job] cannot keep this log under {keep} ({err.strerror or err}): the lines "
                "of this attempt are not carried into a later one\n")


def open_job_log(path: str | Path, keep: str | Path | None = None) -> TextIO:
    """Open a job's log for appending (line-buffered) and write its header line.

    Args:
        path: the log (``snakemake.log[0]``); its folder is created.
        keep: where the log is kept across attempts (a training job: ``<out_dir>/``
            :data:`KEPT_LOG`). When that file exists, the log continues it: the earlier
            attempts' lines stay above the new header. None: the log as it is (a new one under
            Snakemake, which deletes logs before a job starts).

    Returns:
        The open text stream (``sys.stderr = sys.stdout = open_job_log(...)``).

    The header: ``[job] start <k>: <ISO date>, pid <pid> on <host>``, ``k`` = 1 + the header
    lines already in the log (the attempt: Snakemake's retries, a rerun after a kill, a SLURM
    requeue all count).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    note = _link_kept(path, Path(keep)) if keep is not None else ""
    start = _starts(path) + 1
    stream = open(path, "a", buffering=1, encoding="utf-8", errors="replace")
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    header = f"{HEADER}{start}: {when}, pid {os.getpid()} on {socket.gethostname()}"
    if start > 1:
        header += " (earlier starts above)"
    stream.write(header + "\n" + note)
    return stream


def start_job(log: str | Path, out_dir: str | Path) -> TextIO:
    """A training job's first step: lock its output folder for the rest of the process
    (:func:`selcn.joblock.hold_job_lock`), then open its log, continuing the one kept under
    ``<out_dir>/`` :data:`KEPT_LOG` by earlier attempts (:func:`open_job_log`).

    Returns the open log. Raises :class:`selcn.joblock.JobLockedError` (after writing its
    message into the log) when another process of the same job runs; that process' log and
    kept log are left alone.
    """
    from selcn.joblock import JobLockedError, hold_job_lock

    try:
        hold_job_lock(out_dir)
    except JobLockedError as err:
        with open_job_log(log) as stream:
            stream.write(f"[lock] {err}\n")
        raise
    return open_job_log(log, Path(out_dir) / KEPT_LOG)
