"""Atomic file writers: write to a hidden temporary name next to the target, then rename, so a
half-written file never looks finished (a crash leaves the old file or none, never a partial
one). Parent directories are created.

Every atomic write of the package goes through :func:`atomic_path` (directly, for writers such
as ``torch.save``, ``cv2.imwrite`` or a memory map, or through :func:`write_csv`,
:func:`write_json`, :func:`write_npy`, :func:`write_text` and :func:`save_figure`); a directory
of files through :func:`atomic_dir`.

**A full disk** (or a spent quota) ends a write with one :class:`DiskFullError`,
``No space left on device writing <path>``, whatever the writer raised (``OSError`` with
``ENOSPC`` / ``EDQUOT``, NumPy's ``OSError: N requested and M written``, PyTorch's
``RuntimeError`` of its stream writer): an ``OSError`` / ``RuntimeError`` counts as a full disk
when its errno says so or when the file system has less than :data:`LOW_SPACE` bytes free at
that moment. The temporary file is removed on every failure path.

**Leftovers.** A process killed outright (SIGKILL, the OOM killer, or SIGBUS: a memory map
written on a full tmpfs / disk, which Python cannot catch) leaves its temporary file
``.<name>.tmp`` (or ``.<name>.<host>.<pid>.<random>.tmp``) beside the target. The next write of
that target removes a ``.<name>.tmp`` first; :func:`remove_stale_temporaries` (called by the
cache job for its files) also removes the unique ones whose process, on this host, is gone.
Memory maps written through :func:`reserved_memmap` have their disk blocks reserved up front,
so a full disk is an ``ENOSPC`` there, not a SIGBUS later.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:                       # imported where used: `import selcn.atomic` stays light
    import numpy as np
    import pandas as pd

__all__ = ["atomic_path", "atomic_dir", "save_figure", "write_csv", "write_json", "write_npy",
           "write_npz", "write_text", "DiskFullError", "LOW_SPACE", "remove_stale_temporaries",
           "reserve_space", "reserved_memmap"]

#: errno values of a full file system / a spent quota
FULL_ERRNOS: frozenset[int] = frozenset({errno.ENOSPC, errno.EDQUOT})
#: a failed write is taken for a full disk when fewer bytes than this are free on its file
#: system (NumPy and PyTorch report a short write without an errno)
LOW_SPACE = 1 << 20


class DiskFullError(OSError):
    """A write failed because its file system is full or the quota is spent.

    ``str()`` is ``No space left on device writing <path>`` (``... (disk quota exceeded)`` for
    ``EDQUOT``); ``errno`` is ``ENOSPC`` or ``EDQUOT``; ``path`` the file being written.
    """

    def __init__(self, path: str | Path, code: int = errno.ENOSPC) -> None:
        quota = " (disk quota exceeded)" if code == errno.EDQUOT else ""
        super().__init__(code, f"No space left on device writing {path}{quota}")
        self.path = str(path)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):                                   # pickles with its own arguments
        return (type(self), (self.path, self.errno))


def _free_bytes(directory: Path) -> int | None:
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def disk_full_code(err: BaseException, directory: str | Path) -> int | None:
    """``ENOSPC`` / ``EDQUOT`` when ``err``, raised while writing into ``directory``, comes from
    a full file system or a spent quota (see the module docstring), else ``None``."""
    if isinstance(err, DiskFullError):
        return err.errno
    if isinstance(err, OSError) and err.errno in FULL_ERRNOS:
        return err.errno
    if isinstance(err, (OSError, RuntimeError)):
        free = _free_bytes(Path(directory))
        if free is not None and free < LOW_SPACE:
            return errno.ENOSPC
    return None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _remove_plain_temporary(path: Path) -> list[Path]:
    """Remove ``.<name>.tmp`` (file or folder) beside ``path``; one ``lstat`` when there is
    none. Returns the removed path, if any."""
    plain = path.with_name(f".{path.name}.tmp")
    try:
        mode = plain.lstat().st_mode
    except FileNotFoundError:
        return []
    if stat.S_ISDIR(mode):
        shutil.rmtree(plain, ignore_errors=True)
    else:
        plain.unlink(missing_ok=True)
    return [plain]


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted write of ``path`` left beside it: its
    ``.<name>.tmp`` (file or folder) and every ``.<name>.<host>.<pid>.<random>.tmp`` of this host
    whose process is gone (a unique temporary of a live process, or of another host, is kept).
    Returns the removed paths. (:func:`atomic_path` removes only the first kind, which costs one
    ``lstat``; this lists the folder.)"""
    path = Path(path)
    removed = _remove_plain_temporary(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)"
                         r"\.[0-9a-f]+\.tmp")
    host = _host()
    if path.parent.is_dir():
        for entry in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            m = pattern.fullmatch(entry.name)
            if m and m.group("host") == host and not _alive(int(m.group("pid"))):
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


@contextmanager
def atomic_path(path: str | Path, *, unique: bool = False) -> Iterator[Path]:
    """Yield the temporary path ``<dir>/.<name>.tmp`` to write; on success it replaces ``path``,
    on an exception it is removed (a full disk: :class:`DiskFullError` naming ``path``). The
    temporary ``.<name>.tmp`` left by an interrupted earlier write is removed first (unique
    ones of dead processes by :func:`remove_stale_temporaries`, which lists the folder).

    ``unique=True`` makes the temporary name ``<dir>/.<name>.<host>.<pid>.<random>.tmp``, for
    targets that several processes may write at the same time (a shared cache such as the
    ImageNet weights): each writes its own file and the last rename wins, never a mix of two
    writes. The temporary file is not created here (the writer creates it, with the usual
    permissions).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        code = disk_full_code(err, path.parent.parent)
        if code is None:
            raise
        raise DiskFullError(path, code) from err
    _remove_plain_temporary(path)               # left by a killed earlier write of `path`
    if unique:
        tmp = path.with_name(f".{path.name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    else:
        tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        code = disk_full_code(err, path.parent) if isinstance(err, Exception) else None
        tmp.unlink(missing_ok=True)             # before the error leaves: space is freed
        if code is None:
            raise
        raise DiskFullError(path, code) from err


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new, empty temporary directory ``<parent>/.<name>.tmp`` to fill; on success it
    replaces the directory ``path`` (an existing one is removed first), on an exception it is
    removed (a full disk: :class:`DiskFullError` naming ``path``). For outputs that are a set of
    files, such as a model bundle: a reader sees the old set, none or the new one; only the
    removal of an old ``path`` and the rename are not one step (a crash between them leaves no
    directory)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as err:
        code = disk_full_code(err, tmp.parent) if isinstance(err, Exception) else None
        shutil.rmtree(tmp, ignore_errors=True)
        if code is None:
            raise
        raise DiskFullError(path, code) from err


def reserve_space(file: str | Path, nbytes: int | None = None) -> None:
    """Allocate the disk blocks of the first ``nbytes`` bytes of ``file`` (default: its size)
    with ``posix_fallocate``, so that writing them later through a memory map cannot meet a
    full disk (a SIGBUS). :class:`DiskFullError` when they do not fit; a file system without
    the call is left as it is (best effort)."""
    file = Path(file)
    with open(file, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size if nbytes is None else int(nbytes)
        if size <= 0:
            return
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except OSError as err:
            if err.errno in FULL_ERRNOS:
                raise DiskFullError(file, err.errno) from err
            if err.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return
            raise


def reserved_memmap(file: str | Path, shape: tuple[int, ...], dtype: Any) -> np.memmap:
    """A new ``.npy`` file at ``file`` opened as a writable memory map of ``shape`` / ``dtype``
    (``np.lib.format.open_memmap``), its disk space reserved first (:func:`reserve_space`):
    a full disk is a :class:`DiskFullError` here rather than a SIGBUS while it is filled. Write
    ``file`` as the temporary path of :func:`atomic_path`."""
    import numpy as np

    array = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)
    try:
        reserve_space(file)
    except BaseException:
        del array
        raise
    return array


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as CSV without the index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON (trailing newline)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_text(text: str, path: str | Path, *, encoding: str = "utf-8") -> None:
    """Write ``text`` as it is (no newline added)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_npy(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as ``.npy`` (exactly at ``path``: no ``.npy`` suffix is appended)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def write_npz(arrays: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write named arrays as one uncompressed ``.npz`` (plain dtypes: read back with
    ``np.load(path, allow_pickle=False)``)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def save_figure(fig, path: str | Path, *, dpi: int = 100, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **savefig_kwargs)
    plt.close(fig)
    return Path(path)
