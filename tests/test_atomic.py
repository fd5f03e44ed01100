import json

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
