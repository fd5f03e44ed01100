"""``selcn predict``'s driver: every input image through the cascade, then the outputs.

Worker threads decode, hair-remove and resize the next batch while the networks run on the
current one (:func:`selcn.predict.cascade.run_cascade`), and draw the panels
(:mod:`selcn.predict.gallery`). Outputs in ``out_dir``: ``predictions.csv``
(:data:`FIXED_COLUMNS` + ``prob_<class>``), one PNG panel per image under ``panels/`` with its
thumbnail under ``panels/thumbs/``, ``index.html`` and ``run.json``
(:mod:`selcn.predict.outputs`). An image that cannot be used (unreadable, truncated, not an
image, smaller than :data:`selcn.predict.cascade.MIN_SIDE` px) gets its message in the
``error`` column and on stderr; the others complete. Files in the input folders that are not
images (by their ending) are skipped and listed once.

Memory is bounded whatever the number of images: at most ``workers`` images are decoded at
full resolution at a time (each bounded by the image loader's pixel limit), at most two
batches of preprocessed ``S x S`` images wait for the networks, and at most
``max(batch_size, 2 x workers)`` finished images wait for their panel to be drawn (the
networks pause while the panels catch up).

One run at a time per output folder (:class:`selcn.predict.outputs.OutputLock`); every file is
written under a unique temporary name and renamed when complete. Without ``resume`` a run
replaces an earlier run's results in ``out_dir`` (its ``predictions.csv``, ``index.html``,
``run.json`` and the panels its rows list are removed first, so results of two runs never mix);
with ``resume`` (``--continue``) it keeps the rows and panels of the images that an earlier
run of the same bundle finished (interrupted or not) and predicts only the rest; rows of
images that failed or are no longer among the inputs are dropped.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selcn.atomic import atomic_path
from selcn.data.readers import DataFormatError
from selcn.export import Bundle, package_versions
from selcn.predict.cascade import (
    IMAGE_SUFFIXES,
    CascadeOutput,
    read_input,
    run_cascade,
    scan_inputs,
)
from selcn.predict.gallery import (
    SYNTHETIC_WARNING,
    ImageResult,
    PanelSettings,
    thumbnail_of,
    write_gallery,
    write_panel,
)
from selcn.predict.outputs import (
    GALLERY,
    PANELS,
    PREDICTIONS,
    RUN_FILE,
    Journal,
    OutputLock,
    PredictError,
    PreviousRun,
    prepare_out_dir,
    read_previous,
    remove_panels,
    remove_temporaries,
    writing,
)

__all__ = ["FIXED_COLUMNS", "PredictOptions", "PredictionSummary", "PredictError",
           "image_results", "predict_images"]

#: columns of ``predictions.csv`` besides ``prob_<class>`` (which follow ``pred``); ``warning``
#: holds :data:`selcn.predict.gallery.SYNTHETIC_WARNING` on every row when the bundle was
#: trained on synthetic demo data, else it is empty
FIXED_COLUMNS: tuple[str, ...] = ("file", "pred", "disagreement", "symmetry", "symmetry_prob",
                                  "lesion_area", "panel", "error", "warning")
#: how many skipped non-image files the message names (the rest are counted)
_NAMED_SKIPPED = 20


@dataclass(frozen=True)
class PredictOptions:
    """How :func:`predict_images` runs.

    Attributes:
        batch_size: images per network call.
        workers: threads decoding / hair-removing / drawing (default: ``min(8, usable CPUs)``).
        panels: draw the panels and the lesion CAMs (skip for raw speed).
        progress: a tqdm progress bar on stderr.
        embed: inline the full panels in ``index.html`` (one file to send; large) instead of
            linking their thumbnails.
        log: where messages (per-file errors, skipped files, a stale lock) go (default:
            stderr).
        recursive: also predict the images in the sub-folders of the input folders.
        resume: keep what an earlier run of the same bundle into ``out_dir`` finished
            (``--continue``).
    """

    batch_size: int = 16
    workers: int | None = None
    panels: bool = True
    progress: bool = True
    embed: bool = False
    log: Callable[[str], None] | None = None
    recursive: bool = False
    resume: bool = False


@dataclass
class PredictionSummary:
    """Result of :func:`predict_images`: the ``predictions.csv`` table and timings.

    Attributes:
        table: ``predictions.csv``.
        n_images: its rows (images kept from an earlier run included).
        n_failed: rows with an ``error``.
        seconds: wall time of this run's predictions (s).
        n_kept: rows kept from an earlier run (``resume``), not predicted again.
        skipped: non-image files of the input folders, not predicted.
    """

    table: pd.DataFrame
    n_images: int
    n_failed: int
    seconds: float
    n_kept: int = 0
    skipped: list[Path] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Images predicted by this run per second."""
        return (self.n_images - self.n_kept) / max(self.seconds, 1e-9)


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
              prepare: Callable[[Path], np.ndarray],
              submitted: list[Future] | None = None) -> Iterator[list[tuple[Path, Future]]]:
    """Batches of ``(path, future of the preprocessed image)``, one batch prepared ahead
    (each future also appended to ``submitted``, so that a failed run can cancel them)."""
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    ahead: deque = deque()
    for chunk in chunks:
        ahead.append([(p, pool.submit(prepare, p)) for p in chunk])
        if submitted is not None:
            submitted[:] = [f for f in submitted if not f.done()]
            submitted += [f for _, f in ahead[-1]]
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


def _key(file: Any) -> str:
    """An input's identity across runs: its real path."""
    return str(Path(str(file)).resolve())


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _draw(path: Path, result: ImageResult, settings: PanelSettings, title: str) -> None:
    """:func:`write_panel`; a failed write is a :class:`PredictError` naming the panel."""
    with writing(path):
        write_panel(path, result, settings, title)


@dataclass(frozen=True)
class _Run:
    """What the loop over the images of one run shares."""

    bundle: Bundle
    out_dir: Path
    opts: PredictOptions
    settings: PanelSettings
    journal: Journal
    log: Callable[[str], None]


def _predict(run: _Run, paths: Sequence[Path], used: set[str]) -> list[dict]:
    """The cascade on ``paths`` in batches; returns their ``predictions.csv`` rows (each also
    written to the journal once its panel is on disk)."""
    bundle, opts = run.bundle, run.opts
    pre = bundle.preprocessing
    names = bundle.class_names
    sym_names = bundle.symmetry_class_names
    size, hair = int(pre["image_size"]), bool(pre["hair_removal"])
    number = bundle.manifest["model"]["number"]
    workers = opts.workers or min(8, _usable_cpus())
    max_waiting = max(opts.batch_size, 2 * workers)

    def prepare(path: Path) -> np.ndarray:
        return read_input(path, size, hair)

    records: list[dict] = []
    waiting: deque[tuple[dict, Future]] = deque()      # rows whose panel is being drawn

    def finish(block_until: int) -> None:
        """Journal the rows whose panel is done, oldest first; block while more than
        ``block_until`` wait."""
        while waiting and (waiting[0][1].done() or len(waiting) > block_until):
            rec, future = waiting.popleft()
            future.result()
            run.journal.add(rec)

    bar = tqdm(total=len(paths), unit="img", desc="selcn predict", file=sys.stderr,
               disable=not (opts.progress and sys.stderr.isatty()), mininterval=0.5)
    pool = ThreadPoolExecutor(max_workers=workers)
    decoding: list[Future] = []
    try:
        for batch in _prepared(paths, opts.batch_size, pool, prepare, decoding):
            good, images = [], []
            for path, future in batch:
                try:
                    images.append(future.result())
                    good.append(path)
                except Exception as err:        # one bad file must not stop the rest
                    message = str(err) if isinstance(err, DataFormatError) else \
                        f"{path}: cannot be used ({type(err).__name__}: {err})"
                    run.log(f"error: {message}")
                    records.append({"file": str(path), "error": message})
                    run.journal.add(records[-1])
            if good:
                try:
                    out = run_cascade(bundle, np.stack(images), cams=opts.panels)
                except torch.cuda.OutOfMemoryError:
                    raise PredictError(f"out of GPU memory with --batch-size {opts.batch_size}"
                                       ": use a smaller one") from None
                for path, result in zip(good, image_results(out, images, sym_names)):
                    rec = _csv_record(path, result, names)
                    records.append(rec)
                    if not opts.panels:
                        run.journal.add(rec)
                        continue
                    rec["panel"] = f"{PANELS}/{_unique_name(path, used)}"
                    title = (f"{path.name}: {names[result.top]} "
                             f"{result.probs[result.top]:.3f} (model {number})")
                    waiting.append((rec, pool.submit(_draw, run.out_dir / rec["panel"], result,
                                                     run.settings, title)))
                    finish(max_waiting)
                del out, images
            finish(max_waiting)
            bar.update(len(batch))
        finish(0)
    except BaseException:
        for future in decoding:                     # stop decoding; let the panels finish
            future.cancel()
        pool.shutdown(wait=True)
        _journal_drawn(run.journal, waiting)        # keep what finished, for --continue
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    return records


def _journal_drawn(journal: Journal, waiting: Iterable[tuple[dict, Future]]) -> None:
    """After a failure: journal the rows whose panel was written (best effort)."""
    try:
        for rec, future in waiting:
            if future.done() and not future.cancelled() and future.exception() is None:
                journal.add(rec)
    except PredictError:
        pass


def _kept(previous: PreviousRun, paths: Sequence[Path], identity: dict, out_dir: Path,
          panels: bool) -> dict[str, dict]:
    """``--continue``: input key -> the earlier row to keep (same bundle, no error, its panel
    and thumbnail on disk when panels are drawn). PredictError when the earlier run used
    another bundle."""
    if not previous.records:
        return {}
    if previous.identity is None or previous.identity.get("bundle") != identity["bundle"]:
        what = (f"model {previous.model['number']}" if isinstance(previous.model, dict)
                and "number" in previous.model else "a bundle it does not name")
        if previous.identity is not None:
            what = f"another bundle ({what})"
        raise PredictError(f"--continue: {out_dir} holds predictions of {what}, not of this "
                           "bundle; drop --continue to replace them, or choose another --out")
    wanted = {_key(p) for p in paths}
    kept = {}
    for rec in previous.records:
        key = _key(rec["file"])
        if key not in wanted or rec.get("error") or not rec.get("pred"):
            continue
        if panels:
            panel = rec.get("panel")
            if not isinstance(panel, str) or not (out_dir / panel).is_file() \
                    or not thumbnail_of(out_dir / panel).is_file():
                continue
        kept[key] = rec
    return kept


def _table(records: Sequence[dict], paths: Sequence[Path], names: Sequence[str],
           warning: str | None) -> pd.DataFrame:
    """``predictions.csv`` of ``records``, rows in input order."""
    order = {_key(p): k for k, p in enumerate(paths)}
    columns = ["file", "pred", *[f"prob_{c}" for c in names], *FIXED_COLUMNS[2:]]
    table = pd.DataFrame.from_records(list(records), columns=columns)
    table["warning"] = warning
    table = table.iloc[np.argsort([order[_key(f)] for f in table["file"]], kind="stable")]
    return table.reset_index(drop=True)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with writing(path), atomic_path(path, unique=True) as tmp:
        table.to_csv(tmp, index=False)


def _write_run(out_dir: Path, info: dict) -> None:
    path = out_dir / RUN_FILE
    with writing(path), atomic_path(path, unique=True) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=str) + "\n")


def _skipped_message(skipped: Sequence[Path]) -> str:
    named = ", ".join(str(p) for p in skipped[:_NAMED_SKIPPED])
    more = f" and {len(skipped) - _NAMED_SKIPPED} more" if len(skipped) > _NAMED_SKIPPED else ""
    return (f"skipped {len(skipped)} file(s) that are not images "
            f"({' / '.join(IMAGE_SUFFIXES)}): {named}{more}")


def _no_image_message(inputs: Sequence[Any], subfolders: Sequence[Path]) -> str:
    text = (f"no image file ({' / '.join(IMAGE_SUFFIXES)}) found in "
            f"{', '.join(str(i) for i in inputs)}")
    if subfolders:
        text += (f"; {', '.join(str(f) for f in subfolders)} has sub-folders: add --recursive "
                 "to search them")
    return text


def predict_images(bundle: Bundle, inputs: Iterable[str | Path], out_dir: str | Path,
                   options: PredictOptions | None = None) -> PredictionSummary:
    """Predict every image of ``inputs`` (files or folders) and write the outputs to ``out_dir``.

    Args:
        bundle: a loaded bundle (:func:`selcn.export.load_bundle`).
        options: batch size, threads, panels, progress bar, gallery embedding, message log,
            recursive search, ``--continue`` (:class:`PredictOptions`; default: its defaults).

    Returns:
        :class:`PredictionSummary`; ``predictions.csv``: :data:`FIXED_COLUMNS` with
        ``prob_<class>`` after ``pred``, one row per image in input order, failed images with
        empty predictions and their ``error``.

    Raises:
        PredictError: no image among the inputs, ``out_dir`` not a writable folder or in use
            by another run, an output that cannot be written (the message names it and says
            why, e.g. ``No space left on device``), a ``resume`` into results of another
            bundle, or the GPU out of memory.
    """
    opts = options or PredictOptions()
    if opts.batch_size < 1:
        raise ValueError(f"predict_images: batch_size must be >= 1, got {opts.batch_size}")
    log = opts.log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    inputs = list(inputs)
    out_dir = Path(out_dir)
    try:
        scan = scan_inputs(inputs, recursive=opts.recursive, exclude=[out_dir])
    except OSError as err:                          # an input folder that cannot be listed
        raise PredictError(f"cannot read {err.filename}: {err.strerror or err}") from None
    if scan.skipped:
        log(_skipped_message(scan.skipped))
    if not scan.images:
        raise PredictError(_no_image_message(inputs, scan.subfolders))
    paths = scan.images
    prepare_out_dir(out_dir)
    names = bundle.class_names
    warning = SYNTHETIC_WARNING if bundle.trained_on_synthetic else None
    lae_scale = None if bundle.multitask else float(bundle.preprocessing.get("lae_scale", 1.4))
    settings = PanelSettings(class_names=tuple(names), lae_scale=lae_scale, warning=warning)
    identity = {"bundle": bundle.digest, "panels": bool(opts.panels)}
    cv2.setNumThreads(1)
    with OutputLock(out_dir, log):
        remove_temporaries(out_dir)
        previous = read_previous(out_dir)
        kept = _kept(previous, paths, identity, out_dir, opts.panels) if opts.resume else {}
        journal = Journal(out_dir, identity, kept.values())
        try:
            for name in (PREDICTIONS, GALLERY, RUN_FILE):   # an earlier run's results go
                with writing(out_dir / name):
                    (out_dir / name).unlink(missing_ok=True)
            kept_panels = {r.get("panel") for r in kept.values()}
            remove_panels(out_dir, [r for r in previous.records
                                    if r.get("panel") not in kept_panels])
            if kept:
                log(f"--continue: {len(kept)} of {len(paths)} images already predicted in "
                    f"{out_dir}, {len(paths) - len(kept)} to do")
            todo = [p for p in paths if _key(p) not in kept]
            used = {Path(str(r["panel"])).name for r in kept.values() if r.get("panel")}
            started = time.perf_counter()
            run = _Run(bundle=bundle, out_dir=out_dir, opts=opts, settings=settings,
                       journal=journal, log=log)
            records = [*kept.values(), *_predict(run, todo, used)]
            seconds = time.perf_counter() - started
            table = _table(records, paths, names, warning)
            _write_csv(table, out_dir / PREDICTIONS)
            model = bundle.manifest["model"]
            title = (f"SE-LCN model {model['number']} ({model['classifier_mask']}-"
                     f"{model['symmetry_mask']}, {model['dataset']}): {len(table)} images")
            with writing(out_dir / GALLERY):
                write_gallery(table, out_dir, names, embed=opts.embed, title=title,
                              warning=warning)
            n_failed = int(table["error"].notna().sum())
            _write_run(out_dir, {
                "identity": identity, "bundle": str(bundle.root), "model": model,
                "data": bundle.manifest["data"], "panels": bool(opts.panels),
                "images": len(table), "failed": n_failed, "kept": len(kept),
                "skipped": [str(p) for p in scan.skipped],
                "selcn": package_versions(("selcn",))["selcn"],
                "finished": datetime.now(UTC).isoformat(timespec="seconds")})
        finally:
            journal.close()
        journal.remove()
    return PredictionSummary(table=table, n_images=len(table), n_failed=n_failed,
                             seconds=seconds, n_kept=len(kept), skipped=list(scan.skipped))
