"""The output folder of ``selcn predict``: one run at a time, resumable, nothing half-written.

What a run keeps in its ``--out`` folder besides ``predictions.csv``, ``index.html`` and
``panels/``:

- ``.selcn-predict.lock`` (:class:`OutputLock`), while a run writes into the folder: the
  holder's PID, host and start time, and an exclusive ``flock`` on it, so a second run into
  the same folder is refused with a message naming the first one's PID. The kernel drops the
  ``flock`` when its process ends, however it ends: a lock file left by a killed run is stale
  and taken over with a message. Where the file system has no ``flock`` (some network
  mounts), the PID alone decides: a lock of a PID that no longer runs on this host is taken
  over, any other is refused.
- ``.selcn-predict.journal.jsonl`` (:class:`Journal`), while a run is unfinished: its identity
  (the bundle's manifest sha256, whether panels are drawn) and one line per finished image
  (its ``predictions.csv`` row, written once its panel is on disk), so that ``--continue``
  keeps what an interrupted run finished.
- ``run.json`` (:data:`RUN_FILE`) once a run is finished: what it ran (bundle, model, data
  source, counts, skipped files) and its identity.

Every file is written under a unique temporary name (``.<name>.<host>.<pid>.<random>.tmp``,
:func:`selcn.atomic.atomic_path`) and renamed when complete; temporaries a killed run left are
removed by the next run (:func:`remove_temporaries`, while it holds the lock).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from selcn.atomic import DiskFullError, atomic_path

__all__ = ["LOCK_FILE", "JOURNAL_FILE", "RUN_FILE", "PREDICTIONS", "GALLERY", "PANELS",
           "PredictError", "writing", "OutputLock", "Journal", "PreviousRun", "read_previous",
           "remove_temporaries", "remove_panels", "prepare_out_dir"]

LOCK_FILE = ".selcn-predict.lock"
JOURNAL_FILE = ".selcn-predict.journal.jsonl"
RUN_FILE = "run.json"
PREDICTIONS = "predictions.csv"
GALLERY = "index.html"
PANELS = "panels"

#: temporaries of :func:`selcn.atomic.atomic_path` of this module's outputs, per folder
_UNIQUE = r"(\.[A-Za-z0-9_-]+\.\d+\.[0-9a-f]+)?\.tmp"
_TEMPORARY = {
    "": re.compile(r"\.(predictions\.csv|index\.html|run\.json|\.selcn-predict\.journal\.jsonl)"
                   + _UNIQUE),
    PANELS: re.compile(r"\..+\.png" + _UNIQUE),
    f"{PANELS}/thumbs": re.compile(r"\..+\.jpg" + _UNIQUE),
}


class PredictError(RuntimeError):
    """An expected failure of a whole run, one message: no image to predict, the output folder
    unusable or in use by another run, an output that cannot be written (disk full, no
    permission), a ``--continue`` that does not fit. ``selcn predict`` exits with status 2."""


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` of the block into a :class:`PredictError` naming ``path`` and the
    system's reason (``No space left on device``, ``Permission denied``, ...)."""
    try:
        yield
    except DiskFullError as err:                    # "No space left on device writing <path>"
        raise PredictError(str(err)) from None
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise PredictError(f"cannot write {path}: {reason}") from None


def prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` (:class:`PredictError` naming it when it cannot be: a file in the
    way, no permission, a read-only file system; whether files can be written into it is
    found by :class:`OutputLock`, the first file written)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PredictError(f"--out {out_dir} is a file, not a folder") from None
    except OSError as err:
        raise PredictError(f"cannot create the output folder {out_dir}: "
                           f"{err.strerror or err}") from None
    if not out_dir.is_dir():
        raise PredictError(f"--out {out_dir} is not a folder")


# ---- one run at a time ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Holder:
    """Who a lock file names."""

    pid: int
    host: str
    since: str

    @classmethod
    def parse(cls, text: str) -> _Holder | None:
        parts = text.split()
        if len(parts) < 2 or not parts[0].isdigit():
            return None
        return cls(int(parts[0]), parts[1], parts[2] if len(parts) > 2 else "?")

    def running(self) -> bool | None:
        """Whether the PID still runs (None: another host, cannot tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __str__(self) -> str:
        return f"PID {self.pid} on {self.host}, since {self.since}"


class OutputLock:
    """``<out>/.selcn-predict.lock`` held for the lifetime of a run (a context manager).

    Entering raises :class:`PredictError` when another process holds it (naming its PID);
    a stale lock file (its process ended without removing it) is taken over with a message to
    ``log``. Leaving removes the file.
    """

    def __init__(self, out_dir: str | Path, log: Callable[[str], None]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_FILE
        self.log = log
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.release()

    def _busy(self, holder: _Holder | None) -> PredictError:
        who = str(holder) if holder else "unknown PID"
        return PredictError(f"{self.out_dir} is in use by another selcn predict ({who}); wait "
                            "for it to finish or choose another --out (if no run is active, "
                            f"delete {self.path})")

    def acquire(self) -> None:
        """Take the lock (see the class)."""
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise PredictError(f"cannot write into the output folder {self.out_dir}: "
                                   f"{err.strerror or err}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _Holder.parse(_read(fd))
                os.close(fd)
                raise self._busy(holder) from None
            except OSError as err:
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS,
                                     errno.EINVAL):
                    os.close(fd)
                    raise
                holder = _Holder.parse(_read(fd))      # no flock here: the PID decides
                if holder is not None and holder.pid != os.getpid() \
                        and holder.running() is not False:
                    os.close(fd)
                    raise self._busy(holder) from None
                self._take(fd, holder)
                return
            try:                        # the previous holder may have removed the file meanwhile
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._take(fd, _Holder.parse(_read(fd)))
                return
            os.close(fd)
        raise PredictError(f"cannot lock {self.path}: it keeps changing")

    def _take(self, fd: int, stale: _Holder | None) -> None:
        if stale is not None and stale.pid != os.getpid():
            self.log(f"taking over the stale lock {self.path} of {stale} (that run ended "
                     "without removing it)")
        since = datetime.now(UTC).isoformat(timespec="seconds")
        text = f"{os.getpid()} {socket.gethostname()} {since}\n".encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
            os.fsync(fd)
        except OSError as err:
            os.close(fd)
            raise PredictError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace")
    except OSError:
        return ""


# ---- what a run finished ----------------------------------------------------------------------
class Journal:
    """``<out>/.selcn-predict.journal.jsonl``: line 1 the run's identity, then one JSON record
    (a ``predictions.csv`` row) per finished image, flushed line by line so a killed run leaves
    every record it wrote (a torn last line is ignored by :func:`read_previous`)."""

    def __init__(self, out_dir: Path, identity: Mapping[str, Any],
                 records: Iterable[Mapping[str, Any]] = ()) -> None:
        self.path = out_dir / JOURNAL_FILE
        with writing(self.path):
            with atomic_path(self.path, unique=True) as tmp, \
                    open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"identity": dict(identity)}) + "\n")
                for rec in records:
                    fh.write(_json_line(rec))
            self._fh = open(self.path, "a", encoding="utf-8")

    def add(self, record: Mapping[str, Any]) -> None:
        """Append one finished image's row."""
        with writing(self.path):
            self._fh.write(_json_line(record))
            self._fh.flush()

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass

    def remove(self) -> None:
        """Close and delete (the run is finished)."""
        self.close()
        self.path.unlink(missing_ok=True)


def _json_line(record: Mapping[str, Any]) -> str:
    """One journal line; numpy scalars as Python numbers."""
    return json.dumps(dict(record),
                      default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n"


@dataclass
class PreviousRun:
    """What an earlier run left in the output folder.

    Attributes:
        identity: ``{"bundle": <manifest sha256>, "panels": bool}`` of that run, or None
            (none, or results that do not say it).
        records: its ``predictions.csv`` rows (finished) or journal records (interrupted).
        finished: whether it ended (``predictions.csv``), else it was interrupted.
        model: the model it ran (``run.json``), for messages.
    """

    identity: dict | None = None
    records: list[dict] = field(default_factory=list)
    finished: bool = False
    model: Any = None


def read_previous(out_dir: Path) -> PreviousRun:
    """The journal of an interrupted run, else the finished run's ``predictions.csv`` (and
    ``run.json``), else nothing. Unreadable files count as absent."""
    journal = out_dir / JOURNAL_FILE
    if journal.is_file():
        lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                continue                                # a torn last line
        if parsed and isinstance(parsed[0], dict) and "identity" in parsed[0]:
            records = [r for r in parsed[1:] if isinstance(r, dict) and "file" in r]
            return PreviousRun(identity=parsed[0]["identity"], records=records)
    csv = out_dir / PREDICTIONS
    if not csv.is_file():
        return PreviousRun()
    try:
        table = pd.read_csv(csv)
    except (ValueError, OSError, pd.errors.ParserError):
        return PreviousRun()
    if "file" not in table.columns:
        return PreviousRun()
    table = table.astype(object).where(table.notna(), None)
    records = table.to_dict("records")
    run = {}
    try:
        run = json.loads((out_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        pass
    identity = run.get("identity") if isinstance(run, dict) else None
    return PreviousRun(identity=identity if isinstance(identity, dict) else None,
                       records=records, finished=True,
                       model=run.get("model") if isinstance(run, dict) else None)


def _own_panel(out_dir: Path, rel: Any) -> Path | None:
    """``out_dir / rel`` when ``rel`` names a panel of this folder (``panels/<name>.png``)."""
    if not isinstance(rel, str):
        return None
    parts = Path(rel).parts
    if len(parts) != 2 or parts[0] != PANELS or not parts[1].endswith(".png") \
            or parts[1].startswith("."):
        return None
    return out_dir / rel


def remove_panels(out_dir: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Delete the panels (and thumbnails) the ``records`` list; only names of the form
    ``panels/<name>.png`` are touched. Returns how many panels were removed."""
    from selcn.predict.gallery import thumbnail_of

    removed = 0
    for rec in records:
        panel = _own_panel(out_dir, rec.get("panel"))
        if panel is None:
            continue
        if panel.is_file():
            removed += 1
        panel.unlink(missing_ok=True)
        thumbnail_of(panel).unlink(missing_ok=True)
    return removed


def remove_temporaries(out_dir: Path) -> int:
    """Delete the temporary files of this module's outputs that a killed run left (only while
    holding the lock: then no other run is writing). Returns how many."""
    removed = 0
    for sub, pattern in _TEMPORARY.items():
        folder = out_dir / sub if sub else out_dir
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if pattern.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed
