"""``selcn predict``'s driver: every input file through the cascade, then the outputs.

Worker threads decode, hair-remove and resize the next batch while the networks run on the
current one (:func:`selcn.predict.cascade.run_cascade`), and draw the panels
(:mod:`selcn.predict.gallery`). Outputs in ``out_dir``: ``predictions.csv``
(:data:`FIXED_COLUMNS` + ``prob_<class>``), one PNG panel per image under ``panels/`` and
``index.html``. A file that cannot be used (unreadable, truncated, not an image, smaller than
:data:`selcn.predict.cascade.MIN_SIDE` px) gets its message in the ``error`` column and on
stderr; the others complete.
"""

from __future__ import annotations

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
from tqdm import tqdm

from selcn.atomic import write_csv
from selcn.data.readers import DataFormatError
from selcn.export import Bundle
from selcn.predict.cascade import CascadeOutput, list_inputs, read_input, run_cascade
from selcn.predict.gallery import ImageResult, PanelSettings, write_gallery, write_panel

__all__ = ["FIXED_COLUMNS", "PredictOptions", "PredictionSummary", "image_results",
           "predict_images"]

#: columns of ``predictions.csv`` besides ``prob_<class>`` (which follow ``pred``)
FIXED_COLUMNS: tuple[str, ...] = ("file", "pred", "disagreement", "symmetry", "symmetry_prob",
                                  "lesion_area", "panel", "error")


@dataclass(frozen=True)
class PredictOptions:
    """How :func:`predict_images` runs.

    Attributes:
        batch_size: images per network call.
        workers: threads decoding / hair-removing / drawing (default: ``min(8, CPUs)``).
        panels: draw the panels and the lesion CAMs (skip for raw speed).
        progress: a tqdm progress bar on stderr.
        embed: embed the panels in ``index.html`` (default: up to
            :data:`selcn.predict.gallery.EMBED_LIMIT` images).
        log: where per-file errors are reported (default: stderr).
    """

    batch_size: int = 16
    workers: int | None = None
    panels: bool = True
    progress: bool = True
    embed: bool | None = None
    log: Callable[[str], None] | None = None


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


def image_results(out: CascadeOutput, images: Sequence[np.ndarray],
                  symmetry_names: Sequence[str] | None) -> list[ImageResult]:
    """One :class:`ImageResult` per image of a batch: the cascade's arrays, the symmetry class
    (``symmetry_names``) and the fold disagreement of the predicted class."""
    pred = out.probs.argmax(1)
    disagreement = out.fold_probs[:, np.arange(len(pred)), pred].std(0)
    results = []
    for i in range(len(pred)):
        symmetry = symmetry_prob = None
        if out.symmetry_probs is not None:
            s = int(out.symmetry_probs[i].argmax())
            symmetry, symmetry_prob = symmetry_names[s], float(out.symmetry_probs[i, s])
        results.append(ImageResult(
            image=images[i], mask=out.masks[i], symmetry_input=out.symmetry_input[i],
            symmetry_cam=None if out.symmetry_cams is None else out.symmetry_cams[i],
            symmetry=symmetry, symmetry_prob=symmetry_prob, lesion_input=out.lesion_input[i],
            lesion_cam=None if out.lesion_cams is None else out.lesion_cams[i],
            probs=out.probs[i], disagreement=float(disagreement[i])))
    return results


def _csv_record(path: Path, result: ImageResult, names: Sequence[str]) -> dict:
    """The ``predictions.csv`` row of one predicted image (without its panel)."""
    rec = {"file": str(path), "pred": names[result.top],
           **{f"prob_{c}": float(result.probs[j]) for j, c in enumerate(names)},
           "disagreement": result.disagreement, "lesion_area": result.lesion_area,
           "error": None}
    if result.symmetry is not None:
        rec["symmetry"] = result.symmetry
        rec["symmetry_prob"] = result.symmetry_prob
    return rec


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


def predict_images(bundle: Bundle, inputs: Iterable[str | Path], out_dir: str | Path,
                   options: PredictOptions | None = None) -> PredictionSummary:
    """Predict every file of ``inputs`` (files or folders) and write the outputs to ``out_dir``.

    Args:
        bundle: a loaded bundle (:func:`selcn.export.load_bundle`).
        options: batch size, threads, panels, progress bar, gallery embedding, error log
            (:class:`PredictOptions`; default: its defaults).

    Returns:
        :class:`PredictionSummary`; ``predictions.csv``: :data:`FIXED_COLUMNS` with
        ``prob_<class>`` after ``pred``, one row per file in input order, failed files with
        empty predictions and their ``error``.
    """
    opts = options or PredictOptions()
    batch_size, panels = opts.batch_size, opts.panels
    if batch_size < 1:
        raise ValueError(f"predict_images: batch_size must be >= 1, got {batch_size}")
    log = opts.log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out_dir = Path(out_dir)
    (out_dir / "panels").mkdir(parents=True, exist_ok=True)
    pre = bundle.preprocessing
    names = bundle.class_names
    sym_names = (list(bundle.symmetry[1]["class_names"]) if bundle.symmetry is not None
                 else None)
    paths = list_inputs(inputs)
    if not paths:
        raise FileNotFoundError("selcn predict: no input file found")
    workers = opts.workers or min(8, os.cpu_count() or 1)
    size, hair = int(pre["image_size"]), bool(pre["hair_removal"])
    settings = PanelSettings(class_names=tuple(names),
                             lae_scale=float(pre.get("lae_scale", 1.4)))
    number = bundle.manifest["model"]["number"]
    cv2.setNumThreads(1)

    def prepare(path: Path) -> np.ndarray:
        return read_input(path, size, hair)

    records: list[dict] = []
    used: set[str] = set()
    started = time.perf_counter()
    bar = tqdm(total=len(paths), unit="img", desc="selcn predict", file=sys.stderr,
               disable=not opts.progress, mininterval=0.5)
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
                for path, result in zip(good, image_results(out, images, sym_names)):
                    rec = _csv_record(path, result, names)
                    if panels:
                        rec["panel"] = f"panels/{_unique_name(path, used)}"
                        title = (f"{path.name}: {names[result.top]} "
                                 f"{result.probs[result.top]:.3f} (model {number})")
                        drawing.append(pool.submit(write_panel, out_dir / rec["panel"], result,
                                                   settings, title))
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
    write_gallery(table, out_dir, names, embed=opts.embed,
                  title=f"SE-LCN model {model['number']} ({model['classifier_mask']}-"
                        f"{model['symmetry_mask']}, {model['dataset']}): {len(table)} images")
    n_failed = int(table["error"].notna().sum())
    return PredictionSummary(table=table, n_images=len(table), n_failed=n_failed,
                             seconds=seconds)
