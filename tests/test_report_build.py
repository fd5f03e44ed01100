"""The report stage end to end on a tiny hand-made results tree: the aggregation rules run
under Snakemake (only rules/common.smk + rules/report.smk), `snakemake --report` builds
report.html, it names every table, and headless Chromium renders it without console errors."""

import base64
import contextlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import run_snakemake
from selcn.config import validate_config
from selcn.grid import grid
from selcn.report.registry import TABLE_REGISTRY, TABLES
from selcn.report.tables import per_class_spec

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
HAM = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
BINARY = ["benign", "malignant"]
SYM = ["asymmetric", "symmetric"]

#: a small grid: 2 x 3 lesion models (so models 1 and 3 exist), 2 folds, both datasets
CONFIG = {
    "symmetry": {"folds": 2, "pretrained": False, "masks": ["none", "seg"],
                 "compare_architectures": ["resnet34", "squeezenet1_0"]},
    "lesion": {"folds": 2, "classifier_masks": ["none", "lae"],
               "symmetry_masks": ["off", "none", "seg"], "datasets": ["ham10000", "isic2016"]},
    "report": {"bootstrap": 20},
}


def _predictions(path: Path, classes, n: int, accuracy: float, rng) -> None:
    target = np.arange(n) % len(classes)
    pred = np.where(rng.random(n) < accuracy, target, rng.integers(0, len(classes), n))
    df = pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(n)], "target": target,
                       "pred": pred})
    for j, c in enumerate(classes):
        df[f"prob_{c}"] = np.where(pred == j, 0.7, 0.3 / (len(classes) - 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def _localisation(path: Path, n: int, rng) -> None:
    """A localisation file: the scores and where each CAM's maximum falls (its region, the CAM
    mass and the image area per region, each summing to 1)."""
    from selcn.cams import REGIONS

    path.parent.mkdir(parents=True, exist_ok=True)
    table = {"image_id": [f"ISIC_{i:07d}" for i in range(n)], "iou": rng.random(n),
             "overlap": rng.random(n), "pointing": rng.integers(0, 2, n),
             "argmax_region": rng.choice(REGIONS, n)}
    for kind in ("mass", "area"):
        shares = rng.dirichlet(np.ones(len(REGIONS)), n)
        table.update({f"{kind}_{r}": shares[:, i] for i, r in enumerate(REGIONS)})
    pd.DataFrame(table).to_csv(path, index=False)


def make_results(root: Path, cfg: dict) -> None:
    """Every per-model file the report reads, for the grid of ``cfg``."""
    rng = np.random.default_rng(0)
    g = grid(cfg)
    res = root / "results"
    for arch in g.seg_archs:
        p = res / "segmentation" / arch / "metrics_test.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([{"arch": arch, "dice": 0.8, "jaccard": 0.7, "sensitivity": 0.85,
                       "specificity": 0.9, "accuracy": 0.88}]).to_csv(p, index=False)
    for v in g.symmetry_variants:
        for k in g.symmetry_folds:
            for split in ("val", "test"):
                _predictions(res / "symmetry" / v / f"fold{k}" / f"predictions_{split}.csv",
                             SYM, 30, 0.7, rng)
        _localisation(res / "symmetry" / v / "localisation_ham10000.csv", 20, rng)
    for a in g.symmetry_archs:
        for k in g.symmetry_folds:
            for split in ("val", "test"):
                _predictions(res / "symmetry_arch" / a / f"fold{k}" / f"predictions_{split}.csv",
                             SYM, 30, 0.7, rng)
    for dataset, classes in (("ham10000", HAM), ("isic2016", BINARY)):
        splits = ("val", "test", "isic2019") if dataset == "ham10000" else ("val", "test")
        for m in g.models():
            d = res / "lesion" / dataset / m.name
            for k in g.lesion_folds:
                for split in splits:
                    _predictions(d / f"fold{k}" / f"predictions_{split}.csv", classes, 28,
                                 0.5 + 0.03 * m.number, rng)
                epochs = np.arange(1, 5)
                pd.DataFrame({"epoch": epochs, "train_loss": 1 / epochs,
                              "val_loss": 1.2 / epochs, "accuracy": 0.5 + 0.1 * epochs,
                              "balanced_accuracy": 0.4 + 0.1 * epochs, "lr": 1e-3,
                              "seconds": 1.0}).to_csv(d / f"fold{k}" / "history.csv",
                                                     index=False)
            _localisation(d / "localisation.csv", 20, rng)
        _split_table(res / "splits" / f"{dataset}.csv", classes, 28,
                     lesion_size=2 if dataset == "ham10000" else 1)
    _overlap_summary(res / "splits" / "overlap_summary.csv")
    _hair_table(res / "figures" / "fig5_hair_removal.csv", 12, rng)


def _hair_table(path: Path, n: int, rng) -> None:
    """Figure 5's per-image table (the "Hair removal" table's input): the share of each image
    and of its lesion each filter marks as hair."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = {"image_id": [f"ISIC_{i:07d}" for i in range(n)],
             "path": [f"img{i}.jpg" for i in range(n)], "mask_path": ""}
    for method, scale in (("thesis", 0.3), ("thesis_code", 0.3), ("pigment_sparing", 0.05)):
        table[f"image_{method}"] = scale * rng.random(n)
        table[f"lesion_{method}"] = scale * rng.random(n)
    pd.DataFrame(table).to_csv(path, index=False)


def _overlap_summary(path: Path) -> None:
    """The overlap guard's summary (the "Overlaps" table's input): one pair, nothing found."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"test_set": "ham10000", "test_part": "test", "training_set": "symderm",
                   "trains": "symmetry", "outcome": "none found", "found_by_id": 0,
                   "found_by_content": 0, "by_pixels": 0, "count": 0}]).to_csv(path, index=False)


def _split_table(path: Path, classes, n: int, lesion_size: int) -> None:
    """The split table of the test images of :func:`_predictions`: ``lesion_size`` images per
    lesion (the ``group`` the statistics resample)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = np.arange(n) % len(classes)
    pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(n)],
                  "label": [classes[t] for t in target], "target": target,
                  "group": [f"L{i // lesion_size:04d}" for i in range(n)],
                  "split": "test"}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def built_report(tmp_path_factory):
    """Run the report rules on a fake results tree and build report.html (once per module)."""
    root = tmp_path_factory.mktemp("report")
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in CONFIG.items():
        raw.setdefault(key, {}).update(value)
    (root / "config.yaml").write_text(yaml.safe_dump(raw))
    cfg = validate_config(raw)
    make_results(root, cfg)
    (root / "Snakefile").write_text(
        f'configfile: "{root / "config.yaml"}"\n'
        f'include: "{REPO / "rules" / "common.smk"}"\n'
        f'include: "{REPO / "rules" / "report.smk"}"\n\n'
        "rule all:\n"
        "    input:\n"
        '        [f"results/tables/{t}.html" for t in TABLES]\n'
        '        + [f"results/figures/{f}.png" for f in REPORT_FIGURES]\n'
        '        + [f"results/figures/{f}.png" for f in calibration_figures(GRID)]\n'
        '        + findings_files(GRID),\n'
        "    default_target: True\n")
    run = run_snakemake(root, "--cores", "2", "--quiet", "rules", snakefile=root / "Snakefile")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    rep = run_snakemake(root, "--report", "results/report.html", snakefile=root / "Snakefile")
    assert rep.returncode == 0, rep.stderr[-5000:]
    # captions and the workflow description are valid reStructuredText
    problems = [line for line in (rep.stdout + rep.stderr).splitlines()
                if "(ERROR/" in line or "(WARNING/" in line or "(SEVERE/" in line]
    assert problems == [], problems
    return root, cfg


@pytest.mark.slow
def test_rules_write_every_table_with_thesis_values(built_report):
    root, cfg = built_report
    tables = root / "results" / "tables"
    names = sorted(p.stem for p in tables.glob("*.html"))
    # every registry table of this config's grid (no PH² tables: not a lesion dataset here)
    expected = {n for n in TABLES if n != "table6c_symmetry_architectures"
                and TABLE_REGISTRY[n].applies(grid(cfg))} | {
        "table6c_symmetry_architectures", "table11_per_class_model1",
        "table12_per_class_model3", "stats_vs_baseline_ham10000", "stats_vs_baseline_isic2016"}
    assert set(names) == expected
    t8_all = pd.read_csv(tables / "table8_lesion_test.csv")
    # the fold rows (mean ± std over folds, as the thesis), then one fold-ensemble row per model
    assert list(t8_all["estimate"]) == ["folds"] * 6 + ["ensemble"] * 6
    assert list(t8_all["model"]) == [1, 2, 3, 9, 10, 11] * 2
    t8 = t8_all[t8_all["estimate"] == "folds"]
    # the table is recomputable from the prediction files alone
    files = sorted(root.glob("results/lesion/ham10000/none-seg/fold*/predictions_test.csv"))
    acc = [(pd.read_csv(f)["target"] == pd.read_csv(f)["pred"]).mean() for f in files]
    assert t8.loc[t8["model"] == 3, "accuracy_mean"].item() == pytest.approx(np.mean(acc))
    page = (tables / "table8_lesion_test.html").read_text()
    assert "0.849 ± 0.012" in page and "thesis" in page     # thesis' model 1 test accuracy
    both = pd.read_csv(tables / "stats_vs_baseline_ham10000.csv")
    stats = both[both["against"] == "group"]                  # the CAM transfer alone
    assert list(stats["model"]) == [2, 3, 10, 11]
    assert list(stats["baseline"]) == [1, 1, 9, 9]
    vs1 = both[both["against"] == "model1"]                   # every model against model 1
    assert list(vs1["model"]) == [2, 3, 9, 10, 11] and set(vs1["baseline"]) == {1}
    assert set(both["unit"]) == {"lesion"} and set(both["n_lesions"]) == {14}   # 28 images
    findings = (root / "results" / "findings" / "findings_ham10000.html").read_text()
    assert "Findings — HAM10000" in findings and "Synthetic demo data" in findings
    for fig in ("heatmap_ham10000", "fig11_13_training_curves_isic2016"):
        assert (root / "results" / "figures" / f"{fig}.png").stat().st_size > 10_000


def _report_text(root: Path) -> str:
    """report.html and every HTML item it embeds (base64 data URIs) as one decoded text."""
    text = (root / "results" / "report.html").read_text()
    decoded = [text]
    for m in re.finditer(r"data:text/html;[^,\"']*base64,([A-Za-z0-9+/=]+)", text):
        decoded.append(base64.b64decode(m.group(1)).decode("utf-8", "replace"))
    return "\n".join(decoded)


@pytest.mark.slow
def test_report_contains_every_table_title(built_report):
    root, cfg = built_report
    text = _report_text(root)
    for name, spec in TABLES.items():                        # titles are HTML-escaped there
        if not TABLE_REGISTRY[name].applies(grid(cfg)):      # PH²'s: not in this grid
            continue
        assert spec.title in text or html.escape(spec.title) in text, name
    assert per_class_spec(1).title in text and per_class_spec(3).title in text
    assert "against its group's baseline" in text
    assert "synthetic" in text                                 # workflow description
    assert "heatmap_ham10000.png" in text


# ---- headless Chromium -------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000",
                  "--remote-debugging-port=0"]


def _chromium() -> str:
    """The browser's path; skips the test where none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; "
                ".ci/run installs it when run as root)")


class DevTools:
    """A minimal Chrome DevTools Protocol client over a standard-library WebSocket (RFC 6455):
    text frames only, enough to drive one page."""

    def __init__(self, ws_url: str, timeout: float = 30.0):
        url = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"DevTools handshake refused: {head[:200]!r}")
        self.next_id = 0
        self.events: list[dict] = []

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("DevTools connection closed")
        return chunk

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, data: bytes) -> None:
        n = len(data)
        header = bytearray([0x81])
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = (np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n))
        self.sock.sendall(bytes(header) + mask + masked.tobytes())

    def _message(self) -> dict:
        payload = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools connection closed by the browser")
            if opcode in (0x9, 0xA):
                continue
            payload += data
            if b0 & 0x80:
                return json.loads(payload)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = self._message()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, since: int = 0, timeout: float = 30.0) -> dict:
        """The first `event` received after the first `since` messages (see `mark`)."""
        deadline = time.monotonic() + timeout
        for msg in self.events[since:]:
            if msg.get("method") == event:
                return msg
        while time.monotonic() < deadline:
            msg = self._message()
            self.events.append(msg)
            if msg.get("method") == event:
                return msg
        raise TimeoutError(event)

    def mark(self) -> int:
        return len(self.events)

    def evaluate(self, expression: str, **kwargs):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True, **kwargs)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def console_errors(self) -> list[str]:
        errors = []
        for msg in self.events:
            method, p = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append(str(p.get("exceptionDetails", {}).get("exception", {})
                                  .get("description", p)))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", ""))
        return errors


@contextlib.contextmanager
def headless_chromium(binary: str, user_data_dir: Path):
    """Start Chromium (headless, no network) and yield a DevTools client of its page."""
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        port, deadline = None, time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {proc.returncode}")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise TimeoutError("chromium did not open its DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as fh:
            pages = [t for t in json.load(fh) if t["type"] == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            client.call(f"{domain}.enable")
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


_VISIBLE = """(() => {{
  const el = document.querySelector({selector!r});
  if (!el) return null;
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return {{width: r.width, height: r.height, top: r.top, visible: s.visibility !== 'hidden'
           && s.display !== 'none' && r.width > 0 && r.height > 0,
           natural: el.naturalWidth || 0, text: (el.innerText || '').slice(0, 2000)}};
}})()"""


def _show(client: DevTools, suffix: str, content: str) -> str:
    """Open the report item whose path ends with `suffix` the way its menu entry does."""
    path = client.evaluate(f"Object.keys(results).find(k => k.endsWith({suffix!r}))")
    assert path, f"{suffix} is not an item of the report"
    client.evaluate(f"app.setView({{content: {content!r}, resultPath: {path!r}, "
                    f"contentPath: results[{path!r}].data_uri}})")
    time.sleep(1.0)
    return path


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_headless_chromium(built_report, tmp_path):
    chromium = _chromium()
    root, _ = built_report
    ARTIFACTS.mkdir(exist_ok=True)
    report = (root / "results" / "report.html").resolve()
    with headless_chromium(chromium, tmp_path / "profile") as client:
        mark = client.mark()
        client.call("Page.navigate", url=report.as_uri())
        client.wait_for("Page.loadEventFired", since=mark, timeout=60)
        time.sleep(1.5)
        # the landing page: the workflow description is rendered and visible
        body = client.evaluate(_VISIBLE.format(selector="body"))
        assert body and body["visible"] and "SE-LCN" in body["text"], body
        client.screenshot(ARTIFACTS / "report_home.png")
        n_items = client.evaluate("Object.keys(results).length")
        assert n_items >= len(TABLES), n_items
        # a figure, shown as its menu entry shows it
        _show(client, "heatmap_ham10000.png", "img")
        img = client.evaluate(_VISIBLE.format(selector='img[src^="data:image/png"]'))
        assert img and img["visible"] and img["natural"] > 100, img
        client.screenshot(ARTIFACTS / "report_figure.png")
        # a table: the HTML item is shown in an iframe ...
        path = _show(client, "table8_lesion_test.html", "html")
        frame = client.evaluate(_VISIBLE.format(selector="iframe"))
        assert frame and frame["visible"] and frame["height"] > 100, frame
        client.screenshot(ARTIFACTS / "report.png")
        # ... whose document holds a visible table with the thesis' values
        data_uri = client.evaluate(f"results[{path!r}].data_uri")
        mark = client.mark()
        client.call("Page.navigate", url=data_uri)
        client.wait_for("Page.loadEventFired", since=mark, timeout=30)
        table = client.evaluate(_VISIBLE.format(selector="table"))
        assert table and table["visible"] and "0.849 ± 0.012" in table["text"], table
        client.screenshot(ARTIFACTS / "report_table.png")
        errors = client.console_errors()
    assert errors == [], errors
    assert (ARTIFACTS / "report.png").stat().st_size > 5_000


@pytest.mark.slow
def test_tables_follow_the_config(built_report):
    """No architecture table without compare_architectures, no ISIC 2016 tables without it."""
    root, _ = built_report
    raw = yaml.safe_load((root / "config.yaml").read_text())
    raw["symmetry"]["compare_architectures"] = []
    raw["lesion"]["datasets"] = ["ham10000"]
    small = root / "config_small.yaml"
    small.write_text(yaml.safe_dump(raw))
    run = run_snakemake(root, "-n", "--forceall", "--configfile", str(small),
                        snakefile=root / "Snakefile")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = run.stdout + run.stderr              # one block per job, naming its output files
    assert "table8_lesion" in jobs and "stats_vs_baseline" in jobs
    for absent in ("table6c_symmetry_architectures", "table13_isic2016_val",
                   "table14_isic2016_test", "table15_isic2016_cam_localisation"):
        assert absent not in jobs, absent


# ---- the registry's building blocks (selcn.report.registry), without Snakemake ----------------
def test_report_tables_follow_the_grid():
    from selcn.report.registry import report_figures, report_tables

    cfg = validate_config(CONFIG)
    names = report_tables(grid(cfg))
    assert {"table6c_symmetry_architectures", "table13_isic2016_val", "table11_per_class_model1",
            "table12_per_class_model3", "stats_vs_baseline_isic2016"} <= set(names)
    small = validate_config({**CONFIG, "symmetry": {**CONFIG["symmetry"],
                                                    "compare_architectures": []},
                             "lesion": {**CONFIG["lesion"], "datasets": ["ham10000"],
                                        "symmetry_masks": ["none"]}})
    names = report_tables(grid(small))
    assert "table6c_symmetry_architectures" not in names and "table8_lesion_test" in names
    assert not [n for n in names if "isic2016" in n]
    assert "table11_per_class_model1" not in names            # model 1 is none-off: not in grid
    assert report_figures(grid(small)) == ["heatmap_ham10000",
                                           "fig11_13_training_curves_ham10000"]


def test_per_class_number_and_reference():
    from selcn.report.registry import per_class_number, reference_table

    assert per_class_number("table12_per_class_model3") == 3
    assert per_class_number("per_class_model11") == 11
    ref = REPO / "config" / "reference"
    assert reference_table(ref, "table8_lesion_test") == str(ref / "table8_lesion_test.csv")
    assert reference_table(ref, "table6c_symmetry_architectures") == []


def test_registry_entries_and_captions_render():
    from selcn.jobs import Jobs
    from selcn.report.registry import TABLE_REGISTRY, render_caption

    entries = {n: e for n, e in TABLE_REGISTRY.items()          # HAM10000's (not PH²'s)
               if n.startswith("table8_lesion") and not n.endswith("_ph2")}
    assert list(entries) == ["table8_lesion_val", "table8_lesion_test"]
    assert all(entry.spec.name == name for name, entry in TABLE_REGISTRY.items())
    jobs = Jobs.of(validate_config(CONFIG))
    val = entries["table8_lesion_val"]
    assert val.files(jobs) == jobs.lesion_prediction_files("ham10000", "val")
    assert entries["table8_lesion_test"].files(jobs) == \
        jobs.lesion_prediction_files("ham10000", "test")
    # two-digit table numbers: the report sorts labels as text (Table 08a before Table 10)
    assert val.labels == {"table": "Table 08a", "dataset": "HAM10000",
                          "content": "SE-LCN grid, validation folds"}
    assert val.caption.template == "table8_lesion" and val.caption.wildcards == {"split": "val"}
    cfg = validate_config(CONFIG)
    captions = REPO / "workflow" / "report"
    text = render_caption(captions / "table8_lesion.rst", cfg, val.caption.wildcards)
    assert "Table 8a" in text and "{{" not in text and "2 folds" in text
    assert "Table 8b" in render_caption(captions / "table8_lesion.rst", cfg, {"split": "test"})
    for path in sorted(captions.glob("table[0-9]*.rst")):      # every thesis table caption
        assert "{{" not in render_caption(path, cfg, {"split": "val"}), path.name
    import jinja2

    with pytest.raises(jinja2.UndefinedError):                 # a wildcard the entry lacks
        render_caption(captions / "table8_lesion.rst", cfg, {})


# ---- the landing page, the order of the items, the zip (issue 23.5) ------------------------
#: the landing page's first line (the title of workflow/report/workflow.rst) in the rendered page
_FIRST_LINE = """(() => {
  const h = document.querySelector('#app .prose h1');
  if (!h) return null;
  const r = h.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, text: h.innerText, height: window.innerHeight,
          width: window.innerWidth};
})()"""


def _open_report(client: DevTools, report: Path, width: int, height: int) -> None:
    client.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                deviceScaleFactor=1, mobile=False)
    mark = client.mark()
    client.call("Page.navigate", url=report.as_uri())
    client.wait_for("Page.loadEventFired", since=mark, timeout=60)
    time.sleep(1.5)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1280, 800), (1920, 1080)])
def test_landing_page_starts_at_its_first_line(built_report, tmp_path, width, height):
    """The title of the landing page is inside the window, not above it (snakemake#3906: the
    template centres content taller than the window, the rule graph makes it so)."""
    chromium = _chromium()
    root, _ = built_report
    report = (root / "results" / "report.html").resolve()
    ARTIFACTS.mkdir(exist_ok=True)
    with headless_chromium(chromium, tmp_path / "profile") as client:
        _open_report(client, report, width, height)
        first = client.evaluate(_FIRST_LINE)
        client.screenshot(ARTIFACTS / f"report_landing_{width}x{height}.png")
        # the page is taller than the window (the rule graph and the Findings) ...
        content = client.evaluate("document.querySelector('#app div.grow.h-screen.overflow-auto')"
                                 ".scrollHeight")
        # ... and the Findings are on it, after the title
        findings = client.evaluate(
            "(() => { const f = document.querySelector('#app .selcn-findings');"
            " return f ? f.getBoundingClientRect().top : null; })()")
        errors = client.console_errors()
        # without the report's style (as before it): the title starts above the window
        client.evaluate("document.querySelectorAll('#app .prose style')"
                        ".forEach(s => s.remove())")
        time.sleep(0.5)
        unstyled = client.evaluate(_FIRST_LINE)
    assert unstyled["top"] < 0, unstyled
    assert first is not None and first["text"].startswith("SE-LCN"), first
    assert (first["width"], first["height"]) == (width, height)
    assert content > height, content
    assert 0 <= first["top"] and first["bottom"] <= height, first      # offset of the first line
    assert findings is not None and findings > first["bottom"], findings
    assert errors == [], errors


#: the thesis' order of the lesion-classification tables of the built grid (labels "table")
LESION_TABLE_ORDER = ["Table 08a", "Table 08b", "Table 09", "Table 10", "Table 11", "Table 12",
                      "Table 13", "Table 14", "Table 15"]


@pytest.mark.slow
@pytest.mark.browser
def test_tables_are_listed_in_the_thesis_order(built_report, tmp_path):
    """The report's menu sorts the items of a subcategory by their labels as text: the table
    labels have two-digit numbers, so Table 8a comes before Table 10 (and categories are
    numbered: the Findings first)."""
    chromium = _chromium()
    root, _ = built_report
    report = (root / "results" / "report.html").resolve()
    with headless_chromium(chromium, tmp_path / "profile") as client:
        _open_report(client, report, 1400, 1000)
        menu = client.evaluate("Array.from(document.querySelectorAll('nav li, nav a'))"
                               ".map(e => e.innerText.trim()).filter(t => /^[0-9]\\. /.test(t))")
        category = client.evaluate("Object.keys(categories).find(c => c.endsWith('Lesion "
                                   "classification'))")
        client.evaluate(f"app.setView({{navbarMode: 'subcategory', category: {category!r}, "
                        "subcategory: 'Tables'})")
        time.sleep(1.0)
        rows = client.evaluate("Array.from(document.querySelectorAll('nav table tbody tr'))"
                               ".map(r => r.querySelector('td').innerText.trim())")
    assert rows == LESION_TABLE_ORDER, rows
    numbered = list(dict.fromkeys(menu))
    assert numbered[0] == "1. Findings", numbered
    assert numbered == sorted(numbered), numbered


def _make_recipe(target: str) -> list[str]:
    """The arguments of the one `$(BIN)/snakemake` line of a Makefile target's recipe."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = lines.index(f"{target}: venv")
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    (command,) = [r for r in recipe if r.startswith("$(BIN)/snakemake ")]
    return command.split()[1:]


@pytest.mark.slow
def test_make_report_zip_builds_a_zip_of_the_report_and_its_items(built_report):
    """`make report-zip` runs `snakemake --report results/report.zip` (with the report's
    stylesheet): a zip holding report/report.html and every item as its own file."""
    import zipfile

    root, _ = built_report
    args = _make_recipe("report-zip")
    assert args[:2] == ["--report", "results/report.zip"]
    stylesheet = args.index("--report-stylesheet")
    args[stylesheet + 1] = str(REPO / args[stylesheet + 1])      # relative to the repository
    run = run_snakemake(root, *args, snakefile=root / "Snakefile")
    assert run.returncode == 0, run.stderr[-3000:]
    with zipfile.ZipFile(root / "results" / "report.zip") as zf:
        names = zf.namelist()
        page = zf.read("report/report.html").decode()
    items = {Path(n).name for n in names if n.startswith("report/data/raw/")}
    assert {"table8_lesion_test.html", "stats_vs_baseline_ham10000.html",
            "findings_ham10000.html", "heatmap_ham10000.png",
            "reliability_isic2016.png"} <= items, sorted(items)
    assert "report/report.html" in names
    assert "justify-content: safe center" in page          # the stylesheet is in the page
    # the Findings are embedded in the landing page (its description, a JSON string there)
    assert "selcn-findings" in page and "Findings \\u2014 HAM10000" in page


def test_the_report_stylesheet_is_the_landing_pages_style():
    """workflow/report/report.css (`--report-stylesheet`) and the style block of the workflow
    description (every `snakemake --report`) hold the same rules."""
    css = (REPO / "workflow" / "report" / "report.css").read_text()
    rst = (REPO / "workflow" / "report" / "workflow.rst").read_text()
    block = rst.split("   <style>\n", 1)[1].split("   </style>\n", 1)[0]
    assert [line.strip() for line in block.splitlines()] == \
        [line.strip() for line in css.splitlines()]
    assert "align-items: flex-start !important" in css


def test_table_labels_sort_in_the_thesis_order():
    """Without a browser: the labels of every table sort, as text, in the thesis' order."""
    from selcn.report.registry import (
        REPORT_CATEGORIES,
        per_class_labels,
        report_category,
        table_label,
    )

    labels = [e.labels["table"] for e in TABLE_REGISTRY.values()
              if e.category == "Lesion classification"] + \
        [per_class_labels(n)["table"] for n in ("table11_per_class_model1",
                                                 "table12_per_class_model3")]
    assert sorted(set(labels)) == LESION_TABLE_ORDER
    assert table_label("Table 8a") == "Table 08a" and table_label("Table 10") == "Table 10"
    assert table_label("Table 6c") == "Table 06c" and table_label("Overlaps") == "Overlaps"
    numbered = [report_category(c) for c in REPORT_CATEGORIES]
    assert numbered[0] == "1. Findings" and numbered == sorted(numbered)
    assert report_category("Differences from the thesis' code") == \
        "Differences from the thesis' code"


def test_every_report_item_has_a_numbered_category_and_a_subcategory():
    """No item of the report lands in "Other": every item of a numbered category
    (:func:`selcn.report.registry.report_category`) names its subcategory (the Findings, alone
    in theirs, need none); a category of the thesis' sections is never given unnumbered."""
    from selcn.report.registry import REPORT_CATEGORIES

    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for block in text.split("report(")[1:]:
            body = block.split("\n        ),", 1)[0]
            assert "category=" in body, (path.name, body[:200])
            if "report_category(" in body:
                if 'report_category("Findings")' not in body:
                    assert "subcategory=" in body, (path.name, body[:200])
            else:
                for name in REPORT_CATEGORIES:
                    assert f'category="{name}"' not in body, (path.name, name)


def test_the_statistics_read_the_split_table_and_the_validation_predictions():
    """Rule stats_vs_baseline's inputs: the test predictions, the validation ones (the best
    model of the Findings is chosen there) and the split table (its groups are the lesions)."""
    from selcn.jobs import Jobs
    from selcn.report.registry import calibration_figures, findings_files

    cfg = validate_config(CONFIG)
    jobs = Jobs.of(cfg)
    inputs = jobs.lesion_statistics_inputs("ham10000")
    assert inputs["splits"] == "results/splits/ham10000.csv"
    assert set(jobs.lesion_prediction_files("ham10000", "test")) <= set(inputs["files"])
    assert set(jobs.lesion_prediction_files("ham10000", "val")) <= set(inputs["val"])
    assert findings_files(grid(cfg)) == ["results/findings/findings_ham10000.html",
                                         "results/findings/findings_isic2016.html"]
    assert calibration_figures(grid(cfg)) == ["reliability_ham10000", "reliability_isic2016"]
