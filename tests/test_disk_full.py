"""A full disk for real: an 8 MB tmpfs (mounted where the machine allows it, else skipped).

Before: the cache job died by SIGBUS (its memory map written past the tmpfs' end) and left a
hidden ``.images.npy.tmp`` filling the disk; a CSV / .npy / torch write ended in an error
that did not say the disk was full. After: one ``No space left on device writing <path>``,
nothing left behind, and a later run removes what a killed one left.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs at ``tmp_path / "disk"``, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if sys.platform != "linux":
        pytest.skip("tmpfs: Linux only")
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(disk)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a {SIZE} tmpfs here (needs root / CAP_SYS_ADMIN): "
                    f"{(run.stderr or run.stdout).strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter: a SIGBUS kills it, not the test run."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_cache_on_a_full_tmpfs_fails_clearly_and_leaves_nothing(small_disk, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    code = f"""
        import sys
        import numpy as np, pandas as pd
        from PIL import Image
        from selcn.atomic import DiskFullError
        from selcn.data.preprocess import build_cache
        rows = []
        for i in range(100):
            path = "{images}/im%d.png" % i
            Image.fromarray(np.full((64, 64, 3), i, np.uint8)).save(path)
            rows.append(dict(image_id="im%d" % i, label="nv", target=5, group="g%d" % i,
                             source="t", path=path, mask_path=""))
        try:                      # 100 x 256 x 256 x 3 = 19.7 MB on an 8 MB disk
            build_cache(pd.DataFrame(rows), "{small_disk}/cache", 256, hair_removal=False,
                        threads=2, log=lambda *a: None)
        except DiskFullError as err:
            print(err)
            sys.exit(3)
    """
    run = _python(code, tmp_path)
    assert run.returncode == 3, f"rc {run.returncode} (-7 / 135 = SIGBUS)\n{run.stderr[-3000:]}"
    assert run.stdout.strip() == f"No space left on device writing {small_disk}/cache/images.npy"
    assert list((small_disk / "cache").iterdir()) == []             # no temporary left
    assert os.statvfs(small_disk).f_bfree == os.statvfs(small_disk).f_blocks   # disk empty


def test_writers_on_a_full_tmpfs_say_so(small_disk, tmp_path):
    (small_disk / "filler").write_bytes(b"\0" * (8 * 2**20 - 200_000))
    code = f"""
        import numpy as np, pandas as pd, torch
        from selcn.atomic import atomic_path, write_csv, write_npy
        for write in (lambda: write_npy(np.zeros(2_000_000, np.uint8), "{small_disk}/a.npy"),
                      lambda: write_csv(pd.DataFrame({{"a": range(300_000)}}),
                                        "{small_disk}/t.csv")):
            try:
                write()
            except OSError as err:
                print(type(err).__name__, err)
        try:
            with atomic_path("{small_disk}/m.pt") as tmp:
                torch.save({{"w": torch.zeros(1_000_000)}}, tmp)
        except OSError as err:
            print(type(err).__name__, err)
    """
    run = _python(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == [
        f"DiskFullError No space left on device writing {small_disk}/{name}"
        for name in ("a.npy", "t.csv", "m.pt")]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_killed_cache_build_is_cleaned_by_the_next_one(small_disk, tmp_path):
    """What a SIGBUS / SIGKILL leaves (a hidden temporary filling the disk, here of the masks
    of a build with masks) is removed when the cache is built again, which then fits."""
    cache = small_disk / "cache"
    cache.mkdir()
    (cache / ".gt_masks.npy.tmp").write_bytes(b"\0" * (6 * 2**20 + 2**19))   # 6.5 MB left over
    image = tmp_path / "a.png"
    code = f"""
        import numpy as np, pandas as pd
        from PIL import Image
        from selcn.data.preprocess import build_cache
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save("{image}")
        rows = [dict(image_id="a%d" % i, label="nv", target=5, group="a%d" % i, source="t",
                     path="{image}", mask_path="") for i in range(40)]
        build_cache(pd.DataFrame(rows), "{cache}", 128, hair_removal=False)   # 2 MB, no masks
    """
    run = _python(code, tmp_path)
    assert run.returncode == 0, f"rc {run.returncode} (-7 = SIGBUS)\n{run.stderr[-3000:]}"
    assert f"removed {cache}/.gt_masks.npy.tmp" in run.stdout
    assert sorted(p.name for p in cache.iterdir()) == ["images.npy", "index.csv"]
