"""`selcn predict`'s output folder and command line: one run at a time (a lock naming the
holder's PID, stale locks taken over), unique temporary names, exit statuses with one message
(unwritable --out, disk full, an unsafe bundle), the gallery's thumbnails, bounded memory, the
synthetic-data warning, non-image files skipped and listed, --recursive, --continue,
--version."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import selcn.predict.run as run_module
from selcn.cli import main, version
from selcn.export import load_bundle
from selcn.predict import (
    SYNTHETIC_WARNING,
    ImageResult,
    PanelSettings,
    PredictError,
    PredictOptions,
    predict_images,
    thumbnail_of,
    write_gallery,
    write_panel,
)
from selcn.predict.outputs import JOURNAL_FILE, LOCK_FILE, OutputLock
from test_export import HAM, make_bundle, plant_pickle, rewrite_manifest
from test_predict import synthetic_images

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    bundle = make_bundle(root, classifier_mask="lae", symmetry_mask="seg")
    images = synthetic_images(root / "images", n=4)
    return {"root": root, "bundle": bundle, "images": images, "loaded": load_bundle(bundle)}


def cli(setup, *args):
    return main(["predict", str(setup["bundle"]), *map(str, args), "--device", "cpu",
                 "--quiet"])


def quiet(**kw):
    return PredictOptions(progress=False, log=lambda _: None, **kw)


def stderr_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines()
            if line.strip() and not line.startswith("warning:")]


# ---- the command line ---------------------------------------------------------------------
def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"selcn {version()}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version())
    assert main(["predict"]) == 2                       # usage error: a status, no exception


def test_an_unwritable_out_is_status_2_and_one_line(setup, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli(setup, setup["images"][0], "--out", blocker / "sub") == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("selcn predict: cannot create the output folder")
    assert str(blocker / "sub") in lines[0] and "Traceback" not in lines[0]
    assert cli(setup, setup["images"][0], "--out", blocker) == 2
    assert stderr_lines(capsys) == [f"selcn predict: --out {blocker} is a file, not a folder"]
    # a folder that exists but takes no file (a read-only mount; root passes permissions)
    import selcn.predict.outputs as outputs

    real_open = os.open

    def read_only(path, *args):
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outputs.os, "open", read_only)
        assert cli(setup, setup["images"][0], "--out", tmp_path / "ro_mount") == 2
    assert stderr_lines(capsys) == [f"selcn predict: cannot write into the output folder "
                                    f"{tmp_path / 'ro_mount'}: Read-only file system"]
    if os.geteuid() != 0:                               # root may write anywhere
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        assert cli(setup, setup["images"][0], "--out", locked) == 2
        assert "Permission denied" in stderr_lines(capsys)[0]


def test_a_pickle_in_the_bundle_is_status_2_and_one_line_naming_it(setup, tmp_path, capsys):
    copy = tmp_path / "bundle"
    shutil.copytree(setup["bundle"], copy)
    plant_pickle(copy, tmp_path / "marker", name="segmentation.pt")
    status = main(["predict", str(copy), str(setup["images"][0]), "--out", str(tmp_path / "o"),
                   "--device", "cpu"])
    assert status == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "segmentation.pt" in lines[0] and "refused to unpickle" in lines[0]
    assert not (tmp_path / "marker").exists() and not (tmp_path / "o").exists()


def test_versions_across_a_local_tag_pass_and_another_minor_warns(setup, tmp_path, capsys):
    from selcn.export import package_versions

    public = package_versions(("torch",))["torch"].split("+")[0]
    major, minor = (int(x) for x in public.split(".")[:2])
    copy = tmp_path / "bundle"
    shutil.copytree(setup["bundle"], copy)
    args = [str(setup["images"][0]), "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet"]
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__("torch", f"{public}+cu126"))
    assert main(["predict", str(copy), *args]) == 0
    assert "exported with" not in capsys.readouterr().err
    rewrite_manifest(copy, lambda m: m["versions"].__setitem__("torch", f"{major}.{minor + 1}.0"))
    assert main(["predict", str(copy), *args]) == 0
    err = capsys.readouterr().err
    assert f"warning: bundle {copy} was exported with torch {major}.{minor + 1}.0, this " \
           f"environment has torch {public}" in err


# ---- one run at a time ------------------------------------------------------------------------
def _hold_lock(out):
    """A process holding the output lock of ``out`` until killed; returns it once locked."""
    out.mkdir(parents=True, exist_ok=True)
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); "
            "from selcn.predict.outputs import OutputLock; "
            "lock = OutputLock(sys.argv[1], print); lock.acquire(); "
            "print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(SRC)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_into_a_held_out_is_refused_naming_the_pid(setup, tmp_path, capsys):
    out = tmp_path / "o"
    holder = _hold_lock(out)
    try:
        assert cli(setup, setup["images"][0], "--out", out) == 2
        lines = stderr_lines(capsys)
        assert len(lines) == 1
        assert f"is in use by another selcn predict (PID {holder.pid} on" in lines[0]
        assert not (out / "predictions.csv").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # killed: its lock file stays, stale; the next run takes it over and says so
    assert f"{holder.pid} " in (out / LOCK_FILE).read_text()
    assert cli(setup, setup["images"][0], "--out", out) == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock {out / LOCK_FILE} of PID {holder.pid}" in err
    assert not (out / LOCK_FILE).exists()


@pytest.mark.slow
def test_two_predicts_into_one_out_the_second_is_refused_while_the_first_runs(setup, tmp_path):
    """Two real `selcn predict` processes: the second starts once the first holds the folder
    and is refused; the first completes with every row."""
    images = synthetic_images(tmp_path / "many", n=10)
    out = tmp_path / "o"
    first = subprocess.Popen(
        [sys.executable, "-m", "selcn.cli", "predict", str(setup["bundle"]), str(images[0].parent),
         "--out", str(out), "--device", "cpu", "--quiet", "--batch-size", "1", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_FILE).is_file() or not (out / LOCK_FILE).read_text().strip():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (out / LOCK_FILE).read_text().split()[0] == str(first.pid)
        with pytest.raises(PredictError, match=f"in use by another selcn predict "
                                               f"\\(PID {first.pid} on"):
            predict_images(setup["loaded"], images[:2], out, quiet())
        assert first.poll() is None               # refused while the first was running
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 10 and table["error"].isna().all()
    assert sorted(p.name for p in (out / "panels").glob("*.png")) == \
        sorted(f"{p.stem}.png" for p in images)


@pytest.mark.slow
def test_sigterm_keeps_what_finished_and_leaves_no_temporary(setup, tmp_path):
    """A cancelled job (SIGTERM) unwinds: status 143, the lock released, no temporary file
    left, the finished images journalled for --continue."""
    images = synthetic_images(tmp_path / "many", n=10)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "selcn.cli", "predict", str(setup["bundle"]), str(images[0].parent),
         "--out", str(out), "--device", "cpu", "--quiet", "--batch-size", "1", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)})
    deadline = time.monotonic() + 120
    journal = out / JOURNAL_FILE
    while not journal.is_file() or len(journal.read_text().splitlines()) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "terminated; the images finished so far are kept" in stderr
    assert "Traceback" not in stderr
    left = [p.name for p in out.rglob("*") if p.is_file()]
    assert not [n for n in left if n.endswith(".tmp")] and LOCK_FILE not in left, left
    done = len(journal.read_text().splitlines()) - 1
    assert 2 <= done < 10
    assert main(["predict", str(setup["bundle"]), str(images[0].parent), "--out", str(out),
                 "--device", "cpu", "--quiet", "--continue"]) == 0
    assert len(pd.read_csv(out / "predictions.csv")) == 10


def test_without_flock_the_lock_falls_back_to_the_pid(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK_FILE).write_text(f"{os.getppid()} {os.uname().nodename} 2025-01-01\n")
    with pytest.raises(PredictError, match=f"PID {os.getppid()} on"):
        OutputLock(out, print).acquire()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / LOCK_FILE).write_text(f"{dead.pid} {os.uname().nodename} 2025-01-01\n")
    said = []
    with OutputLock(out, said.append):
        assert (out / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert f"PID {dead.pid}" in said[0] and not (out / LOCK_FILE).exists()


def test_every_output_is_written_under_a_unique_temporary_name(setup, tmp_path, monkeypatch):
    import selcn.atomic

    renamed = []
    real = os.replace

    def spy(src, dst):
        renamed.append(Path(src).name)
        real(src, dst)

    monkeypatch.setattr(selcn.atomic.os, "replace", spy)
    predict_images(setup["loaded"], setup["images"][:2], tmp_path / "o", quiet())
    # the journal, 2 panels, 2 thumbnails, predictions.csv, index.html, run.json
    assert len(renamed) == 8, renamed
    for name in renamed:
        assert re.fullmatch(rf"\..+\.{os.getpid()}\.[0-9a-f]{{12}}\.tmp", name), name


def test_a_full_disk_is_one_message_naming_the_file_and_leaves_no_temporary(
        setup, tmp_path, monkeypatch, capsys):
    real = Path.write_bytes

    def full(self, data):
        if self.name.endswith(".tmp") and ".png." in self.name:
            real(self, data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "o"
    assert cli(setup, *setup["images"][:2], "--out", out) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert re.search(rf"{re.escape(str(out))}/panels/img\d\.png$", lines[0]), lines[0]
    left = [p.name for p in out.rglob("*") if p.is_file()]
    assert not [n for n in left if n.endswith(".tmp")], left
    assert "predictions.csv" not in left and LOCK_FILE not in left
    assert JOURNAL_FILE in left          # what finished is kept for --continue


# ---- the gallery and memory -------------------------------------------------------------------
def _fake_result(rng, size=64):
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[16:48, 20:50] = 1
    return ImageResult(image=image, mask=mask, symmetry_input=image,
                       symmetry_cam=rng.random((8, 8), dtype=np.float32), symmetry="symmetric",
                       symmetry_prob=0.7, lesion_input=image,
                       lesion_cam=rng.random((8, 8), dtype=np.float32),
                       probs=rng.dirichlet(np.ones(len(HAM))).astype(np.float32),
                       disagreement=0.1)


def test_a_model13_panel_draws_no_lae_box():
    """Model 13's input is unmasked: its panel outlines the mask only (no yellow LAE box)."""
    from selcn.predict.gallery import draw_panel

    result = _fake_result(np.random.default_rng(1))
    yellow = np.array([255, 220, 0])

    def yellow_pixels(settings):
        first = draw_panel(result, settings, "x")[:, :224]
        return int(np.all(first == yellow, axis=-1).sum())

    assert yellow_pixels(PanelSettings(class_names=tuple(HAM))) > 100
    assert yellow_pixels(PanelSettings(class_names=tuple(HAM), lae_scale=None)) == 0


def test_the_gallery_links_thumbnails_and_stays_small(tmp_path):
    rng = np.random.default_rng(0)
    settings = PanelSettings(class_names=tuple(HAM))
    rows = []
    for i in range(120):
        result = _fake_result(rng)
        rel = f"panels/img{i}.png"
        write_panel(tmp_path / rel, result, settings, f"img{i}.jpg")
        rows.append({"file": f"img{i}.jpg", "pred": HAM[result.top],
                     **{f"prob_{c}": float(p) for c, p in zip(HAM, result.probs)},
                     "disagreement": 0.1, "symmetry": "symmetric", "symmetry_prob": 0.7,
                     "lesion_area": 0.2, "panel": rel, "error": None})
    page = write_gallery(pd.DataFrame(rows), tmp_path, HAM, title="many").read_text()
    panels = sum(p.stat().st_size for p in (tmp_path / "panels").glob("*.png"))
    assert "base64" not in page
    assert len(page.encode()) < 120 * 1000 < panels           # < 1 kB per image
    assert page.count('<a href="panels/img7.png"><img loading="lazy" '
                      'src="panels/thumbs/img7.jpg"') == 1
    thumb = Image.open(tmp_path / "panels" / "thumbs" / "img7.jpg")
    assert thumb.format == "JPEG" and thumb.size[0] == 360
    assert thumbnail_of("panels/img7.png") == Path("panels/thumbs/img7.jpg")


def test_images_in_flight_are_bounded(setup, tmp_path, monkeypatch):
    """At most `workers` images are decoded at once, and slow panel drawing pauses the
    networks rather than piling up every image's arrays (a regression guard: the shared FIFO
    pool bounded the backlog before, the explicit bound makes it independent of that)."""
    import threading

    import selcn.predict.cascade as cascade

    alive = []
    peak = [0]
    decoding, decode_peak, guard = [0], [0], threading.Lock()
    real_results, real_draw = run_module.image_results, run_module.write_panel
    real_load = cascade.load_image

    def counted_load(path):
        with guard:
            decoding[0] += 1
            decode_peak[0] = max(decode_peak[0], decoding[0])
        try:
            time.sleep(0.01)
            return real_load(path)
        finally:
            with guard:
                decoding[0] -= 1

    def tracked(*args):
        results = real_results(*args)
        alive.extend(weakref.ref(r) for r in results)
        return results

    def slow(path, result, settings, title):
        peak[0] = max(peak[0], sum(r() is not None for r in alive))
        time.sleep(0.05)
        real_draw(path, result, settings, title)

    monkeypatch.setattr(run_module, "image_results", tracked)
    monkeypatch.setattr(run_module, "write_panel", slow)
    monkeypatch.setattr(cascade, "load_image", counted_load)
    images = synthetic_images(tmp_path / "im", n=24)
    summary = predict_images(setup["loaded"], images, tmp_path / "o",
                             quiet(batch_size=2, workers=2))
    assert summary.n_failed == 0 and len(list((tmp_path / "o" / "panels").glob("*.png"))) == 24
    # waiting: at most max(batch, 2 x workers) = 4, plus the batch being made
    assert peak[0] <= 4 + 2, peak[0]
    assert decode_peak[0] <= 2


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(setup, tmp_path, capsys):
    """The loader's pixel limit (data.max_pixels, 50 Mpx by default) bounds what one decoding
    thread holds: a larger image is one failed row, never decoded."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(setup["images"][0], folder / "ok.jpg")
    Image.new("1", (9000, 6000)).save(folder / "huge.png")          # 54 Mpx, a small file
    assert cli(setup, folder, "--out", tmp_path / "o") == 1
    table = pd.read_csv(tmp_path / "o" / "predictions.csv").set_index("file")
    assert "too large" in table.loc[str(folder / "huge.png"), "error"]
    assert pd.isna(table.loc[str(folder / "ok.jpg"), "error"])
    assert "huge.png" in capsys.readouterr().err


# ---- the synthetic-data warning ---------------------------------------------------------------
def _red_rows(panel):
    red = (panel[..., 0] > 150) & (panel[..., 1] < 60) & (panel[..., 2] < 60)
    return int((red.mean(1) > 0.5).sum())


def test_a_synthetic_bundle_says_so_on_every_panel_the_gallery_and_the_csv(setup, tmp_path):
    assert setup["loaded"].trained_on_synthetic
    summary = predict_images(setup["loaded"], setup["images"][:2], tmp_path / "syn", quiet())
    table = pd.read_csv(tmp_path / "syn" / "predictions.csv")
    assert (table["warning"] == SYNTHETIC_WARNING).all() and len(table) == 2
    assert SYNTHETIC_WARNING == "trained on synthetic demo data \u2014 not for real lesions"
    page = (tmp_path / "syn" / "index.html").read_text()
    assert f"<p class='warn'>WARNING: {SYNTHETIC_WARNING}</p>" in page
    for rel in summary.table["panel"]:
        assert _red_rows(np.asarray(Image.open(tmp_path / "syn" / rel))) >= 20
    # a bundle of real data says nothing of the kind
    real = load_bundle(make_bundle(tmp_path / "real", source="files"))
    assert not real.trained_on_synthetic
    summary = predict_images(real, setup["images"][:1], tmp_path / "real_out", quiet())
    assert pd.read_csv(tmp_path / "real_out" / "predictions.csv")["warning"].isna().all()
    assert "WARNING" not in (tmp_path / "real_out" / "index.html").read_text()
    assert _red_rows(np.asarray(Image.open(tmp_path / "real_out" / summary.table["panel"][0]))) \
        == 0


def test_the_cli_warns_about_a_synthetic_bundle(setup, tmp_path, capsys):
    assert cli(setup, setup["images"][0], "--out", tmp_path / "o") == 0
    assert ("warning: this bundle was trained on synthetic demo data \u2014 not for real lesions"
            in capsys.readouterr().err)


# ---- which files --------------------------------------------------------------------------
def test_non_image_files_in_a_folder_are_skipped_and_listed_once(setup, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in setup["images"][:2]:
        shutil.copy(p, folder / p.name)
    (folder / "labels.csv").write_text("image,label\n")
    (folder / "notes.txt").write_text("x\n")
    shutil.copy(setup["images"][2], folder / "UPPER.JPG")           # endings in any case
    assert cli(setup, folder, "--out", tmp_path / "o") == 0
    lines = stderr_lines(capsys)
    assert lines == [f"skipped 2 file(s) that are not images (.jpg / .jpeg / .png / .bmp): "
                     f"{folder / 'labels.csv'}, {folder / 'notes.txt'}"]
    table = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert sorted(Path(f).name for f in table["file"]) == sorted(
        [p.name for p in setup["images"][:2]] + ["UPPER.JPG"])
    assert json.loads((tmp_path / "o" / "run.json").read_text())["skipped"] == [
        str(folder / "labels.csv"), str(folder / "notes.txt")]


def test_recursive_searches_sub_folders(setup, tmp_path, capsys):
    top = tmp_path / "in"
    for sub, image in (("a", setup["images"][0]), ("b/c", setup["images"][1])):
        (top / sub).mkdir(parents=True)
        shutil.copy(image, top / sub / "same.jpg")
    (top / ".hidden").mkdir()
    shutil.copy(setup["images"][2], top / ".hidden" / "x.jpg")
    assert cli(setup, top, "--out", tmp_path / "o") == 2
    lines = stderr_lines(capsys)
    assert lines == [f"selcn predict: no image file (.jpg / .jpeg / .png / .bmp) found in {top}; "
                     f"{top} has sub-folders: add --recursive to search them"]
    out = top / "predictions"                   # an output folder inside the input folder
    for _ in range(2):                          # the second run must not read the first's panels
        assert cli(setup, top, "--out", out, "--recursive") == 0
        table = pd.read_csv(out / "predictions.csv")
        assert table["file"].tolist() == [str(top / "a" / "same.jpg"),
                                          str(top / "b" / "c" / "same.jpg")]
        assert table["panel"].tolist() == ["panels/same.png", "panels/same_1.png"]


# ---- --continue and stale panels ----------------------------------------------------------
def _count_reads(monkeypatch):
    reads = []
    real = run_module.read_input

    def counted(path, *args):
        reads.append(Path(path).name)
        return real(path, *args)

    monkeypatch.setattr(run_module, "read_input", counted)
    return reads


def test_continue_predicts_only_what_is_missing_and_a_rerun_removes_stale_panels(
        setup, tmp_path, monkeypatch, capsys):
    images = synthetic_images(tmp_path / "im", n=5)
    out = tmp_path / "o"
    assert cli(setup, *images[:3], "--out", out) == 0
    first = pd.read_csv(out / "predictions.csv")
    reads = _count_reads(monkeypatch)
    assert cli(setup, *images, "--out", out, "--continue") == 0
    assert sorted(reads) == sorted(p.name for p in images[3:])
    assert "--continue: 3 of 5 images already predicted" in capsys.readouterr().err
    table = pd.read_csv(out / "predictions.csv")
    assert table["file"].tolist() == [str(p) for p in images]
    pd.testing.assert_frame_equal(table.iloc[:3], first)
    assert len(list((out / "panels").glob("*.png"))) == 5
    # a rerun without --continue replaces the earlier results: no panel of theirs stays
    reads.clear()
    assert cli(setup, images[4], "--out", out) == 0
    assert reads == [images[4].name]
    assert [p.name for p in (out / "panels").glob("*.png")] == [f"{images[4].stem}.png"]
    assert [p.name for p in (out / "panels" / "thumbs").iterdir()] == [f"{images[4].stem}.jpg"]
    assert pd.read_csv(out / "predictions.csv")["file"].tolist() == [str(images[4])]


def test_continue_after_an_interrupted_run(setup, tmp_path, monkeypatch, capsys):
    images = synthetic_images(tmp_path / "im", n=5)
    out = tmp_path / "o"
    calls = [0]
    real = run_module.run_cascade

    def interrupted(*args, **kw):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(run_module, "run_cascade", interrupted)
    assert cli(setup, *images, "--out", out, "--batch-size", "2") == 130
    assert "rerun with --continue" in capsys.readouterr().err
    assert not (out / "predictions.csv").exists() and (out / JOURNAL_FILE).is_file()
    assert not (out / LOCK_FILE).exists()
    monkeypatch.setattr(run_module, "run_cascade", real)
    reads = _count_reads(monkeypatch)
    assert cli(setup, *images, "--out", out, "--batch-size", "2", "--continue") == 0
    assert sorted(reads) == sorted(p.name for p in images[2:])
    table = pd.read_csv(out / "predictions.csv")
    assert table["file"].tolist() == [str(p) for p in images] and table["error"].isna().all()
    assert not (out / JOURNAL_FILE).exists()
    # the same images predicted in one go give the same rows
    whole = predict_images(setup["loaded"], images, tmp_path / "whole", quiet()).table
    cols = [f"prob_{c}" for c in HAM]
    np.testing.assert_allclose(table[cols].to_numpy(float), whole[cols].to_numpy(float),
                               atol=1e-6)


def test_continue_refuses_results_of_another_bundle(setup, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli(setup, setup["images"][0], "--out", out) == 0
    other = make_bundle(tmp_path / "other", seed=1)
    status = main(["predict", str(other), str(setup["images"][0]), "--out", str(out),
                   "--device", "cpu", "--quiet", "--continue"])
    assert status == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "--continue:" in lines[0] and "another bundle (model 11)" in lines[0]
    assert (out / "predictions.csv").is_file()          # left as it was
