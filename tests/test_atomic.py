import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selcn.atomic import atomic_dir, atomic_path, write_csv, write_json, write_npy, write_text


def test_writers_create_parents_and_leave_no_temp(tmp_path):
    out = tmp_path / "a" / "b"
    write_csv(pd.DataFrame({"x": [1, 2]}), out / "t.csv")
    write_json({"k": 1}, out / "d.json")
    write_npy(np.arange(3, dtype=np.int16), out / "m.npy")
    assert sorted(p.name for p in out.iterdir()) == ["d.json", "m.npy", "t.csv"]
    assert pd.read_csv(out / "t.csv")["x"].tolist() == [1, 2]
    assert json.loads((out / "d.json").read_text()) == {"k": 1}
    np.testing.assert_array_equal(np.load(out / "m.npy"), np.arange(3, dtype=np.int16))


def test_write_text_writes_exactly_the_text(tmp_path):
    write_text("a\u00e9\nb", tmp_path / "x" / "t.html")
    assert (tmp_path / "x" / "t.html").read_bytes() == "a\u00e9\nb".encode()
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["t.html"]


def test_unique_temporary_names_for_concurrent_writers(tmp_path):
    # two writers of one target at once: distinct temporaries, the last rename wins whole
    path = tmp_path / "w.pth"
    with atomic_path(path, unique=True) as a, atomic_path(path, unique=True) as b:
        assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".w.pth.")
        assert not a.exists() and not b.exists()          # the writer creates its file
        a.write_bytes(b"first")
        b.write_bytes(b"second")
    assert path.read_bytes() == b"first"                  # the outer context renames last
    assert [p.name for p in tmp_path.iterdir()] == ["w.pth"]
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert path.stat().st_mode == plain.stat().st_mode   # the usual permissions, not 0600
    with pytest.raises(RuntimeError):
        with atomic_path(path, unique=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["plain", "w.pth"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_save_figure_writes_png_and_leaves_no_temporary(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from selcn.atomic import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "sub" / "fig.png", dpi=50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["fig.png"]
    assert not plt.fignum_exists(fig.number)


def test_atomic_dir_replaces_the_whole_directory_or_nothing(tmp_path):
    out = tmp_path / "bundle"
    with atomic_dir(out) as tmp:
        assert tmp.is_dir() and not list(tmp.iterdir()) and not out.exists()
        (tmp / "a.pt").write_bytes(b"a")
        (tmp / "b.pt").write_bytes(b"b")
    assert sorted(p.name for p in out.iterdir()) == ["a.pt", "b.pt"]
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "c.pt").write_bytes(b"half")
            raise RuntimeError("crash")
    assert sorted(p.name for p in out.iterdir()) == ["a.pt", "b.pt"]     # the old set stays
    with atomic_dir(out) as tmp:
        (tmp / "c.pt").write_bytes(b"c")
    assert [p.name for p in out.iterdir()] == ["c.pt"]                   # no file of the old set
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


# ---- a full disk ---------------------------------------------------------------------------
def test_a_full_disk_is_one_clear_error_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    from selcn.atomic import DiskFullError

    def enospc(self, *args, **kwargs):
        open(self, "wb").write(b"partial")                    # the temporary exists ...
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", enospc)
    with pytest.raises(DiskFullError) as caught:
        write_json({"k": 1}, tmp_path / "d.json")
    assert str(caught.value) == f"No space left on device writing {tmp_path / 'd.json'}"
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert not list(tmp_path.iterdir())                      # ... and is removed
    monkeypatch.setattr(Path, "write_text",
                        lambda self, *a, **k: (_ for _ in ()).throw(OSError(errno.EDQUOT, "q")))
    with pytest.raises(DiskFullError, match=r"writing .*t.txt \(disk quota exceeded\)"):
        write_text("x", tmp_path / "t.txt")


def test_a_short_write_without_errno_on_a_full_disk_is_a_full_disk(tmp_path, monkeypatch):
    """NumPy reports ``OSError: N requested and M written`` (no errno), PyTorch a RuntimeError:
    with (almost) no space left they are reported as a full disk."""
    from selcn import atomic
    from selcn.atomic import DiskFullError

    class Full:
        f_bavail, f_frsize = 3, 4096

    def short(fh, array):
        fh.write(b"xx")
        raise OSError("2000000 requested and 1048448 written")

    monkeypatch.setattr(np, "save", short)
    with pytest.raises(OSError, match="requested and") as caught:  # space left: as it was
        write_npy(np.zeros(3), tmp_path / "a.npy")
    assert not isinstance(caught.value, DiskFullError)
    monkeypatch.setattr(atomic.os, "statvfs", lambda d: Full)
    with pytest.raises(DiskFullError, match="No space left on device writing .*a.npy"):
        write_npy(np.zeros(3), tmp_path / "a.npy")
    with pytest.raises(DiskFullError, match="writing .*m.pt"):
        with atomic_path(tmp_path / "m.pt") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
    with pytest.raises(ValueError):                          # not a write failure: as it was
        with atomic_path(tmp_path / "v.txt"):
            raise ValueError("a bug")
    assert not list(tmp_path.iterdir())


def test_atomic_dir_on_a_full_disk(tmp_path, monkeypatch):
    import errno

    from selcn.atomic import DiskFullError

    with pytest.raises(DiskFullError, match="writing .*bundle$"):
        with atomic_dir(tmp_path / "bundle") as tmp:
            (tmp / "a.pt").write_bytes(b"a")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not list(tmp_path.iterdir())


def test_reserve_space_turns_a_later_sigbus_into_enospc(tmp_path, monkeypatch):
    import errno
    import os

    from selcn.atomic import DiskFullError, reserved_memmap

    arr = reserved_memmap(tmp_path / "ok.npy", (4, 8), np.uint8)
    arr[:] = 7
    arr.flush()
    assert np.load(tmp_path / "ok.npy").sum() == 7 * 32
    assert os.stat(tmp_path / "ok.npy").st_blocks * 512 >= 32     # blocks allocated

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(DiskFullError, match=r"No space left on device writing .*/big\.npy$"):
        with atomic_path(tmp_path / "big.npy") as tmp:              # the target is named
            reserved_memmap(tmp, (1000, 1000), np.uint8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npy"]


def test_leftover_temporaries_are_removed_by_the_next_write(tmp_path):
    """A killed writer (SIGKILL, SIGBUS) leaves its temporary; the next write of that target
    removes it; :func:`remove_stale_temporaries` also removes a unique temporary whose process
    (on this host) is gone."""
    import os
    import subprocess
    import sys

    from selcn.atomic import _host, remove_stale_temporaries

    target = tmp_path / "images.npy"
    (tmp_path / ".images.npy.tmp").write_bytes(b"x" * 1000)         # a plain leftover
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    gone = tmp_path / f".images.npy.{_host()}.{dead}.0123456789ab.tmp"
    live = tmp_path / f".images.npy.{_host()}.{os.getpid()}.0123456789ab.tmp"
    elsewhere = tmp_path / f".images.npy.otherhost.{dead}.0123456789ab.tmp"
    other = tmp_path / ".index.csv.tmp"
    for p in (gone, live, elsewhere, other):
        p.write_bytes(b"y")
    write_npy(np.zeros(2), target)
    assert not (tmp_path / ".images.npy.tmp").exists()
    assert remove_stale_temporaries(target) == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["images.npy", live.name, elsewhere.name, other.name])
    assert remove_stale_temporaries(tmp_path / "index.csv") == [other]
