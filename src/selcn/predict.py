"""Run an exported SE-LCN bundle (:mod:`selcn.export`) on new dermoscopic images.

The cascade is applied exactly as in training, batch by batch (no per-image model call):

1. decode (JPEG / PNG / BMP, any size; grey -> 3 channels, RGBA -> RGB, alpha dropped),
   hair removal at the original resolution and resize to the cache side ``S``
   (:func:`selcn.data.preprocess.preprocess_image`) — in worker threads, the next batch
   prepared while the networks run on the current one;
2. segmentation -> binary lesion mask at ``S`` (:func:`selcn.segmentation.predict_masks`);
3. the symmetry network's input masked by its mask (none / seg / LAE box,
   :class:`selcn.data.datasets.CachedImageDataset`, the training datasets), its prediction and
   Grad-CAM++ (:func:`selcn.cams.gradcam_plus_plus`) resized to the CAM side ``R`` and stored as
   float16, as the workflow's CAM files are;
4. the lesion network's input masked by the classifier mask, each fold model's softmax with the
   CAM fed to the E-Layer; the prediction is the **mean probability of the K fold models**,
   their disagreement the std (over folds) of the predicted class' probability;
5. the lesion network's Grad-CAM++ for the ensemble's class (mean of the folds' CAMs).

Outputs in ``out_dir``: ``predictions.csv`` (:data:`FIXED_COLUMNS` + ``prob_<class>``), one PNG
panel per image under ``panels/`` and ``index.html``, a self-contained gallery (inline CSS/JS,
panels embedded up to :data:`EMBED_LIMIT` images) with the table, sortable by any column and
filterable by class. A file that cannot be used (unreadable, truncated, not an image, smaller
than :data:`MIN_SIDE` px) gets its message in the ``error`` column and on stderr; the others
complete.
"""

from __future__ import annotations

import base64
import html
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selcn.atomic import atomic_path, write_csv
from selcn.cams import gradcam_plus_plus, resize_cams
from selcn.data.datasets import CachedImageDataset
from selcn.data.preprocess import load_image, preprocess_image
from selcn.data.readers import DataFormatError
from selcn.export import Bundle
from selcn.masks import apply_mask, lae_box
from selcn.models.lesion import cam_target_layer as lesion_target_layer
from selcn.models.symmetry import cam_target_layer as symmetry_target_layer
from selcn.segmentation import predict_masks

__all__ = ["IMAGE_SUFFIXES", "MIN_SIDE", "EMBED_LIMIT", "FIXED_COLUMNS", "CascadeOutput",
           "PredictionSummary", "list_inputs", "read_input", "run_cascade", "draw_panel",
           "write_gallery", "predict_images"]

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
#: images with a side below this (px) are reported, not classified
MIN_SIDE = 32
#: the gallery embeds the panels (base64) up to this many images, else links them
EMBED_LIMIT = 500
#: columns of ``predictions.csv`` besides ``prob_<class>`` (which follow ``pred``)
FIXED_COLUMNS: tuple[str, ...] = ("file", "pred", "disagreement", "symmetry", "symmetry_prob",
                                  "lesion_area", "panel", "error")
_TILE = 224          # panel tile side (px)
_BAR = 22            # title bar height (px)


# ---- inputs ---------------------------------------------------------------------------------
def list_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The files to predict: each file as given, each folder's files (not hidden, not in
    sub-folders, sorted by name). Non-image files in a folder are kept so that they are
    reported; a path that does not exist is kept too (reported as not found)."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            out.append(path)
    return out


def read_input(path: str | Path, size: int, hair_removal: bool,
               min_side: int = MIN_SIDE) -> np.ndarray:
    """One file -> uint8 ``(size, size, 3)`` RGB, preprocessed as the cache was.

    Raises:
        DataFormatError: missing, unreadable, truncated or non-image file, or an image with a
            side below ``min_side`` px; the message names the file.
    """
    image = load_image(path)            # grey / palette / RGBA -> RGB (Pillow's convert)
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise DataFormatError(f"{path}: image too small ({w} x {h} px; at least {min_side} px "
                              "per side)")
    return preprocess_image(image, size, hair_removal)


# ---- the cascade on one batch ---------------------------------------------------------------
@dataclass
class CascadeOutput:
    """What the cascade computed for a batch of ``B`` images (numpy, on the CPU).

    Attributes:
        masks: uint8 ``(B, S, S)`` predicted lesion masks.
        symmetry_input, lesion_input: uint8 ``(B, S, S, 3)`` the images as each network saw
            them (masked), before resizing to its input size.
        symmetry_probs: float32 ``(B, 2)`` or None (no symmetry network).
        symmetry_cams: float32 ``(B, R, R)`` in [0, 1], the CAMs fed to the E-Layer, or None.
        fold_probs: float32 ``(K, B, C)`` softmax of each fold model.
        probs: float32 ``(B, C)`` their mean.
        lesion_cams: float32 ``(B, h, w)`` in [0, 1] Grad-CAM++ of the lesion network for the
            ensemble's class (mean over folds), or None when not asked for.
    """

    masks: np.ndarray
    symmetry_input: np.ndarray
    lesion_input: np.ndarray
    symmetry_probs: np.ndarray | None
    symmetry_cams: np.ndarray | None
    fold_probs: np.ndarray
    probs: np.ndarray
    lesion_cams: np.ndarray | None


def _network_input(images: np.ndarray, masks: np.ndarray, strategy: str, size: int,
                   cams: np.ndarray | None, device: torch.device):
    """Masked, resized, normalised batch exactly as the training datasets build it."""
    dataset = CachedImageDataset(images, np.arange(len(images)),
                                 masks=masks if strategy != "none" else None,
                                 mask_strategy=strategy, cams=cams, size=size)
    items = [dataset[i] for i in range(len(dataset))]
    image = torch.stack([it["image"] for it in items]).to(device)
    cam = torch.stack([it["cam"] for it in items]).to(device) if cams is not None else None
    masked = apply_mask(images, masks, strategy) if strategy != "none" else images
    return image, cam, masked


def _forward(model: torch.nn.Module, image: torch.Tensor, cam: torch.Tensor | None) -> torch.Tensor:
    """Softmax of ``model`` (bfloat16 autocast on CUDA, as the training core predicts)."""
    cuda = image.device.type == "cuda"
    with torch.inference_mode(), torch.autocast(image.device.type, dtype=torch.bfloat16,
                                                enabled=cuda):
        logits = model(image, cam) if cam is not None else model(image)
    return torch.softmax(logits.float(), dim=1)


def run_cascade(bundle: Bundle, images: np.ndarray, *, cams: bool = True) -> CascadeOutput:
    """The cascade on preprocessed images ``uint8 (B, S, S, 3)`` (see the module docstring).

    ``cams``: also compute the lesion network's Grad-CAM++ (for the panels).
    """
    pre = bundle.preprocessing
    model_cfg = bundle.manifest["model"]
    device = bundle.device
    images = np.ascontiguousarray(images)
    seg_model, seg_meta = bundle.segmentation
    masks = predict_masks(seg_model, images, input_size=seg_meta["input_size"],
                          threshold=seg_meta["threshold"], batch_size=max(1, len(images)),
                          device=device)
    sym_probs = sym_cams = None
    sym_input = images
    if bundle.symmetry is not None:
        sym_model, sym_meta = bundle.symmetry
        x, _, sym_input = _network_input(images, masks, sym_meta["mask"],
                                         sym_meta["input_size"], None, device)
        heat, logits = gradcam_plus_plus(sym_model, x, symmetry_target_layer(sym_model,
                                                                             sym_meta["arch"]),
                                         return_logits=True)
        sym_probs = torch.softmax(logits.float(), 1).cpu().numpy()
        # the workflow stores CAMs as float16 (results/cams/*.npy): the E-Layer saw those
        sym_cams = resize_cams(heat, int(pre["cam_size"])).cpu().numpy().astype(np.float16)
    x, cam_in, lesion_input = _network_input(images, masks, model_cfg["classifier_mask"],
                                             int(pre["lesion_input_size"]), sym_cams, device)
    fold_probs = torch.stack([_forward(m, x, cam_in) for m, _ in bundle.lesion])
    probs = fold_probs.mean(0)
    lesion_cams = None
    if cams:
        target = probs.argmax(1)
        heats = [gradcam_plus_plus(m, x, lesion_target_layer(m), targets=target, cam=cam_in)
                 for m, _ in bundle.lesion]
        lesion_cams = torch.stack(heats).mean(0)
        lesion_cams = (lesion_cams / lesion_cams.flatten(1).amax(1).clamp_min(1e-7)[:, None, None])
        lesion_cams = lesion_cams.cpu().numpy().astype(np.float32)
    return CascadeOutput(
        masks=masks, symmetry_input=np.asarray(sym_input), lesion_input=np.asarray(lesion_input),
        symmetry_probs=sym_probs,
        symmetry_cams=None if sym_cams is None else sym_cams.astype(np.float32),
        fold_probs=fold_probs.cpu().numpy(), probs=probs.cpu().numpy(), lesion_cams=lesion_cams)


# ---- panels ---------------------------------------------------------------------------------
def _overlay(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    from selcn.report.cam_figures import overlay

    return overlay(image, cam)


def _tile(image: np.ndarray, title: str) -> np.ndarray:
    """``image`` resized to the tile side under a white title bar."""
    body = cv2.resize(np.ascontiguousarray(image), (_TILE, _TILE),
                      interpolation=cv2.INTER_NEAREST if image.shape[0] < _TILE else cv2.INTER_AREA)
    tile = np.full((_TILE + _BAR, _TILE, 3), 255, np.uint8)
    tile[_BAR:] = body
    cv2.putText(tile, title[:34], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return tile


def draw_panel(image: np.ndarray, mask: np.ndarray, *, symmetry_input: np.ndarray,
               symmetry_cam: np.ndarray | None, symmetry: str | None,
               symmetry_prob: float | None, lesion_input: np.ndarray,
               lesion_cam: np.ndarray | None, probs: np.ndarray, class_names: Sequence[str],
               disagreement: float, title: str, lae_scale: float = 1.4) -> np.ndarray:
    """One image's panel, uint8 RGB ``(H, W, 3)``: the (hair-removed) image with the predicted
    mask's outline (green) and LAE box (yellow); the symmetry CAM over the symmetry network's
    input; the lesion network's CAM over its input; the top-3 classes with probabilities."""
    scale = _TILE / image.shape[0]
    first = cv2.resize(np.ascontiguousarray(image), (_TILE, _TILE), interpolation=cv2.INTER_LINEAR)
    contours, _ = cv2.findContours((mask != 0).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    contours = [(c.astype(np.float64) * scale).astype(np.int32) for c in contours]
    cv2.drawContours(first, contours, -1, (0, 255, 0), 2)
    box = lae_box(mask, lae_scale)
    if box is not None:
        y0, y1, x0, x1 = (int(round(v * scale)) for v in box)
        cv2.rectangle(first, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 220, 0), 2)
    area = float((mask != 0).mean())
    tiles = [_tile(first, f"mask + LAE box (area {100 * area:.0f}%)")]
    if symmetry_cam is not None:
        tiles.append(_tile(_overlay(symmetry_input, symmetry_cam),
                           f"symmetry: {symmetry} {symmetry_prob:.2f}"))
    else:
        tiles.append(_tile(np.full_like(image, 235), "no symmetry network"))
    top = int(np.argmax(probs))
    tiles.append(_tile(_overlay(lesion_input, lesion_cam) if lesion_cam is not None
                       else lesion_input, f"lesion CAM: {class_names[top]}"))
    text = np.full((_TILE + _BAR, _TILE, 3), 255, np.uint8)
    cv2.putText(text, "top-3 classes", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    for rank, c in enumerate(np.argsort(-probs, kind="stable")[:3]):
        y = _BAR + 30 + 52 * rank
        cv2.putText(text, f"{class_names[c]}  {probs[c]:.3f}", (8, y), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55, (0, 0, 0), 1, cv2.LINE_AA)
        width = int(round((_TILE - 16) * float(probs[c])))
        cv2.rectangle(text, (8, y + 8), (8 + max(width, 1), y + 22),
                      (200, 60, 60) if rank == 0 else (120, 120, 200), -1)
    cv2.putText(text, f"fold std {disagreement:.3f}", (8, _TILE + _BAR - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    tiles.append(text)
    gap = np.full((_TILE + _BAR, 6, 3), 255, np.uint8)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    header = np.full((26, row.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title[:110], (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([header, row], axis=0)


def _write_png(rgb: np.ndarray, path: Path) -> None:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


# ---- gallery --------------------------------------------------------------------------------
_GALLERY_JS = """
function sortBy(col, numeric) {
  const body = document.querySelector('#results tbody');
  const rows = Array.from(body.rows);
  const head = document.querySelectorAll('#results th')[col];
  const dir = head.dataset.dir === 'asc' ? -1 : 1;
  document.querySelectorAll('#results th').forEach(h => delete h.dataset.dir);
  head.dataset.dir = dir === 1 ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    if (numeric) return dir * ((parseFloat(x) || -1) - (parseFloat(y) || -1));
    return dir * x.localeCompare(y);
  });
  rows.forEach(r => body.appendChild(r));
}
function filterClass(value) {
  document.querySelectorAll('#results tbody tr').forEach(r => {
    r.style.display = (value === '' || r.dataset.cls === value) ? '' : 'none';
  });
}
"""

_GALLERY_CSS = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-dir=asc]::after { content: ' \\25B2'; } th[data-dir=desc]::after { content: ' \\25BC'; }
td.err { color: #b00; } img { max-width: 940px; }
"""


def write_gallery(table: pd.DataFrame, out_dir: str | Path, class_names: Sequence[str], *,
                  title: str, embed: bool | None = None) -> Path:
    """Write ``out_dir/index.html``: one row per image (panel, file, class, probability of the
    class, fold disagreement, symmetry, lesion area, error), sortable by clicking a column
    header, filterable by class. No external resource: panels are embedded as base64 PNG
    (``embed``, default: up to :data:`EMBED_LIMIT` images) or linked relative to ``out_dir``."""
    out_dir = Path(out_dir)
    embed = len(table) <= EMBED_LIMIT if embed is None else embed
    cols = [("panel", False), ("file", False), ("class", False), ("probability", True),
            ("fold std", True), ("symmetry", False), ("lesion area", True), ("error", False)]
    head = "".join(f'<th onclick="sortBy({i}, {str(num).lower()})">{name}</th>'
                   for i, (name, num) in enumerate(cols))
    rows = []
    for _, r in table.iterrows():
        cls = "" if pd.isna(r["pred"]) else str(r["pred"])
        prob = r.get(f"prob_{cls}", float("nan")) if cls else float("nan")
        img = ""
        if isinstance(r["panel"], str) and r["panel"]:
            src = r["panel"]
            if embed:
                src = "data:image/png;base64," + base64.b64encode(
                    (out_dir / r["panel"]).read_bytes()).decode()
            img = f'<img loading="lazy" src="{src}" alt="{html.escape(str(r["file"]))}">'

        def cell(value, shown=None, extra=""):
            v = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
            text = html.escape(str(v if shown is None else shown))
            return f'<td data-v="{html.escape(str(v))}"{extra}>{text}</td>'

        sym = "" if pd.isna(r["symmetry"]) else f'{r["symmetry"]} ({r["symmetry_prob"]:.2f})'
        area = r["lesion_area"]
        err = "" if pd.isna(r["error"]) else str(r["error"])
        rows.append(
            f'<tr data-cls="{html.escape(cls)}"><td data-v="">{img}</td>'
            + cell(str(r["file"])) + cell(cls)
            + cell(prob, "" if pd.isna(prob) else f"{prob:.3f}")
            + cell(r["disagreement"], "" if pd.isna(r["disagreement"])
                   else f'{r["disagreement"]:.3f}')
            + cell(sym) + cell(area, "" if pd.isna(area) else f"{100 * area:.1f}%")
            + cell(err, extra=' class="err"' if err else "") + "</tr>")
    options = "".join(f'<option value="{html.escape(c)}">{html.escape(c)}</option>'
                      for c in class_names)
    n_bad = int(table["error"].notna().sum())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_GALLERY_CSS}</style><script>{_GALLERY_JS}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{len(table)} files, {n_bad} failed. Click a column "
            "header to sort. Class: <select onchange='filterClass(this.value)'>"
            f"<option value=''>all</option>{options}</select></p>"
            f"<table id='results'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></body></html>\n")
    path = out_dir / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


# ---- the whole run --------------------------------------------------------------------------
@dataclass
class PredictionSummary:
    """Result of :func:`predict_images`: the ``predictions.csv`` table and timings."""

    table: pd.DataFrame
    n_images: int
    n_failed: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.n_images / max(self.seconds, 1e-9)


def _prepared(paths: Sequence[Path], batch_size: int, pool: ThreadPoolExecutor,
              prepare: Callable[[Path], np.ndarray]) -> Iterator[list[tuple[Path, Future]]]:
    """Batches of ``(path, future of the preprocessed image)``, one batch prepared ahead."""
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    ahead: deque = deque()
    for chunk in chunks:
        ahead.append([(p, pool.submit(prepare, p)) for p in chunk])
        if len(ahead) > 1:
            yield ahead.popleft()
    while ahead:
        yield ahead.popleft()


def _unique_name(path: Path, used: set[str]) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem) or "image"
    name, k = f"{stem}.png", 1
    while name in used:
        name, k = f"{stem}_{k}.png", k + 1
    used.add(name)
    return name


def predict_images(bundle: Bundle, inputs: Iterable[str | Path], out_dir: str | Path, *,
                   batch_size: int = 16, workers: int | None = None, panels: bool = True,
                   progress: bool = True, embed: bool | None = None,
                   log: Callable[[str], None] | None = None) -> PredictionSummary:
    """Predict every file of ``inputs`` (files or folders) and write the outputs to ``out_dir``.

    Args:
        bundle: a loaded bundle (:func:`selcn.export.load_bundle`).
        batch_size: images per network call.
        workers: threads decoding / hair-removing / drawing (default: ``min(8, CPUs)``).
        panels: draw the panels and the lesion CAMs (skip for raw speed).
        progress: a tqdm progress bar on stderr.
        embed: embed the panels in ``index.html`` (default: up to :data:`EMBED_LIMIT` images).
        log: where per-file errors are reported (default: stderr).

    Returns:
        :class:`PredictionSummary`; ``predictions.csv``: :data:`FIXED_COLUMNS` with
        ``prob_<class>`` after ``pred``, one row per file in input order, failed files with
        empty predictions and their ``error``.
    """
    if batch_size < 1:
        raise ValueError(f"predict_images: batch_size must be >= 1, got {batch_size}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out_dir = Path(out_dir)
    (out_dir / "panels").mkdir(parents=True, exist_ok=True)
    pre = bundle.preprocessing
    names = bundle.class_names
    sym_names = (list(bundle.symmetry[1]["class_names"]) if bundle.symmetry is not None
                 else None)
    paths = list_inputs(inputs)
    if not paths:
        raise FileNotFoundError("selcn predict: no input file found")
    workers = workers or min(8, os.cpu_count() or 1)
    size, hair = int(pre["image_size"]), bool(pre["hair_removal"])
    cv2.setNumThreads(1)

    def prepare(path: Path) -> np.ndarray:
        return read_input(path, size, hair)

    records: list[dict] = []
    used: set[str] = set()
    started = time.perf_counter()
    bar = tqdm(total=len(paths), unit="img", desc="selcn predict", file=sys.stderr,
               disable=not progress, mininterval=0.5)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        drawing: list[Future] = []
        for batch in _prepared(paths, batch_size, pool, prepare):
            good, images = [], []
            for path, future in batch:
                try:
                    images.append(future.result())
                    good.append(path)
                except Exception as err:        # one bad file must not stop the rest
                    message = str(err) if isinstance(err, DataFormatError) else \
                        f"{path}: cannot be used ({type(err).__name__}: {err})"
                    log(f"error: {message}")
                    records.append({"file": str(path), "error": message})
            if good:
                out = run_cascade(bundle, np.stack(images), cams=panels)
                pred = out.probs.argmax(1)
                disagreement = out.fold_probs[:, np.arange(len(pred)), pred].std(0)
                for i, path in enumerate(good):
                    rec = {"file": str(path), "pred": names[pred[i]],
                           **{f"prob_{c}": float(out.probs[i, j]) for j, c in enumerate(names)},
                           "disagreement": float(disagreement[i]),
                           "lesion_area": float((out.masks[i] != 0).mean()), "error": None}
                    if out.symmetry_probs is not None:
                        s = int(out.symmetry_probs[i].argmax())
                        rec["symmetry"] = sym_names[s]
                        rec["symmetry_prob"] = float(out.symmetry_probs[i, s])
                    if panels:
                        rec["panel"] = f"panels/{_unique_name(path, used)}"
                        panel_args = dict(
                            mask=out.masks[i], symmetry_input=out.symmetry_input[i],
                            symmetry_cam=None if out.symmetry_cams is None
                            else out.symmetry_cams[i], symmetry=rec.get("symmetry"),
                            symmetry_prob=rec.get("symmetry_prob"),
                            lesion_input=out.lesion_input[i], lesion_cam=out.lesion_cams[i],
                            probs=out.probs[i], class_names=names,
                            disagreement=float(disagreement[i]),
                            title=f"{path.name}: {names[pred[i]]} {out.probs[i, pred[i]]:.3f} "
                                  f"(model {bundle.manifest['model']['number']})",
                            lae_scale=float(pre.get("lae_scale", 1.4)))
                        drawing.append(pool.submit(
                            lambda img, p, kw: _write_png(draw_panel(img, **kw), p),
                            images[i], out_dir / rec["panel"], panel_args))
                    records.append(rec)
            bar.update(len(batch))
        for future in drawing:
            future.result()
    bar.close()
    seconds = time.perf_counter() - started

    order = {str(p): k for k, p in enumerate(paths)}
    columns = ["file", "pred", *[f"prob_{c}" for c in names], *FIXED_COLUMNS[2:]]
    table = pd.DataFrame.from_records(records, columns=columns)
    table = table.iloc[np.argsort([order[f] for f in table["file"]], kind="stable")]
    table = table.reset_index(drop=True)
    write_csv(table, out_dir / "predictions.csv")
    model = bundle.manifest["model"]
    write_gallery(table, out_dir, names, embed=embed,
                  title=f"SE-LCN model {model['number']} ({model['classifier_mask']}-"
                        f"{model['symmetry_mask']}, {model['dataset']}): {len(table)} images")
    n_failed = int(table["error"].notna().sum())
    return PredictionSummary(table=table, n_images=len(table), n_failed=n_failed,
                             seconds=seconds)
