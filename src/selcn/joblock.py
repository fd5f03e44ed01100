"""One process per training job: a lock on the job's output folder.

A training job holds ``fcntl.flock`` on ``<out_dir>/.lock`` (:data:`LOCK_FILE`) for as long as it
runs — the stage scripts for their whole lifetime (:func:`hold_job_lock`, through
:func:`selcn.joblog.start_job`), :func:`selcn.training.fit` for its own duration
(:func:`job_lock`). A second process of the same job (a rerun after a killed Snakemake whose
trainings kept running, two Snakemake runs in one folder after ``--unlock``) fails at once
with :class:`JobLockedError`, whose message names the first one's PID, host and start time
(written into the lock file by its holder). The operating system releases the lock when the
holder exits, also when it is killed (SIGKILL, a crash, a node reboot): a stale ``.lock`` file
never blocks. The holder removes the file when it lets go (at the end of ``fit``, at a normal
exit of the job); a killed holder leaves it, harmless, to the next one.

Locks are per process and re-entrant: a process that holds a folder's lock may lock it again
(``fit`` inside a stage script). On a cluster the lock reaches as far as the filesystem's
``flock``: across nodes on NFS and on Lustre mounted with ``flock``, within one node with
``localflock``; where the filesystem does not support it (Lustre's ``noflock``), the job runs
unlocked after one log line.
"""

from __future__ import annotations

import atexit
import datetime
import errno
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "JobLockedError", "hold_job_lock", "job_lock", "lock_holder"]

#: the lock file of a job's output folder (not a Snakemake output)
LOCK_FILE = ".lock"

#: folders this process holds (resolved path -> open file descriptor)
_HELD: dict[str, int] = {}


class JobLockedError(RuntimeError):
    """Another process holds the job's output folder (the message names it)."""


def _key(out_dir: str | Path) -> str:
    return str(Path(out_dir).resolve())


def lock_holder(out_dir: str | Path) -> str:
    """What the lock file of ``out_dir`` says about its holder (``pid 123 on host n1, since
    2025-06-01 12:00:03``), or ``an unknown process`` when it says nothing yet."""
    path = Path(out_dir) / LOCK_FILE
    for _ in range(20):                 # the holder writes it right after locking
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text:
            return text
        time.sleep(0.05)
    return "an unknown process"


def _acquire(out_dir: Path) -> int | None:
    """Lock ``<out_dir>/.lock`` without waiting; the descriptor, or None where the filesystem
    cannot lock. Raises :class:`JobLockedError` when another process holds it.

    The lock file is removed on release (:func:`_release`), so a descriptor may lock a file that
    its holder has just unlinked: the lock counts only when the path still names the locked
    file, else it is taken again."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = lock_holder(out_dir)
                pid = holder.split()[1] if holder.startswith("pid ") else None
                raise JobLockedError(
                    f"{out_dir} is being written by another process of the same job: {holder} "
                    f"(lock {path}). Two processes must not train one job: wait for it to end, "
                    "or, if it is left over from a killed run, stop it"
                    + (f" (kill {pid})" if pid else "") + " and run again") from None
            print(f"[lock] cannot lock {path} ({err.strerror or err}): this filesystem does "
                  "not support flock; running without a lock", file=sys.stderr, flush=True)
            return None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (locked.st_dev,
                                                                         locked.st_ino):
            break
        os.close(fd)                    # unlinked by its last holder meanwhile: again
    since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, since {since}\n".encode(),
              0)
    return fd


def _release(key: str) -> None:
    """Remove the lock file of a held folder, then unlock it (closing the descriptor)."""
    fd = _HELD.pop(key, None)
    if fd is None:
        return
    try:
        os.unlink(Path(key) / LOCK_FILE)
    except OSError:
        pass
    os.close(fd)


def hold_job_lock(out_dir: str | Path) -> None:
    """Lock ``out_dir`` for the rest of this process' life (a stage job's first step); the lock
    file is removed at a normal exit.

    Raises:
        JobLockedError: another process holds it (the message names its PID).
    """
    key = _key(out_dir)
    if key in _HELD:
        return
    fd = _acquire(Path(out_dir))
    if fd is not None:
        _HELD[key] = fd
        atexit.register(_release, key)


@contextmanager
def job_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold ``out_dir``'s lock for the ``with`` block (no-op where this process holds it
    already); the lock file is removed afterwards.

    Raises:
        JobLockedError: another process holds it.
    """
    key = _key(out_dir)
    if key in _HELD:
        yield
        return
    fd = _acquire(Path(out_dir))
    if fd is not None:
        _HELD[key] = fd
    try:
        yield
    finally:
        _release(key)
