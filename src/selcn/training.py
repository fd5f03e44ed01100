"""The one training loop of the cascade (segmentation, symmetry and lesion networks).

:func:`fit` trains with Adam (``lr``, β1 = ``momentum``, ``weight_decay``) for at most
``max_epochs`` epochs, stops early when the validation loss has not improved for ``patience``
epochs and returns the model with the best epoch's weights. After every epoch it writes

- ``<out_dir>/history.csv`` —
  ``epoch,train_loss,val_loss[,train_accuracy],<metrics…>,lr,seconds`` (``train_accuracy``:
  classifiers only, counted on the fly from the training batches);
- ``<out_dir>/.resume/state.pt`` — the resume state (:mod:`selcn.resume`): everything needed
  to continue (model, optimiser, grad scaler, epoch, early-stopping counter, best weights
  unless they are the epoch's own, history, the RNG states and the training loader's
  generators): 3-4 x the size of the model's weights with Adam,

both atomically (temporary name, then rename), and one log line to stderr
(:func:`epoch_line`: ``epoch k/N``, the losses, the validation metrics, seconds per epoch and
at most how long is left). It holds the lock of ``out_dir`` while it runs
(:mod:`selcn.joblock`): a second process training into the same folder fails at once, naming
the first one's PID. A job that is killed and started again with
the same arguments continues after its last finished epoch and ends with the same history as an
uninterrupted run (bit-identical losses on the CPU). The state is keyed by the job
(:class:`selcn.resume.ResumeKey`: the settings, the model's shapes, the training set and the
caller's ``job_key``); a state written for another key, or one that cannot be read, is
discarded with one log line, and training starts afresh. Once the job's outputs are in place
the stage deletes the state (:func:`selcn.resume.clear_resume_state`).

Batches are dicts (:mod:`selcn.data.datasets`): ``image`` ``(B, 3, H, W)``, ``target``, optional
``cam`` ``(B, 1, h, w)``, ``row``. Models are called ``model(image)`` or ``model(image, cam)``
and return a tensor (logits, mask logits) or — a multi-task network such as model 13
(:mod:`selcn.multitask`) — a mapping of named tensors; a batch may then carry several targets
(:attr:`FitConfig.targets`: the loss and the metrics receive a mapping of them, and the
metrics may be a streaming :class:`BatchMetrics` that never holds the validation outputs).
Images and model in ``channels_last`` (NHWC) on every device: on CUDA it feeds the tensor
cores, on the CPU oneDNN's NHWC convolutions train most of the demo's networks 1.2-1.3x faster
at one thread (resnet34 0.96x; ``benchmarks/bench_training.py --memory-format``). On CUDA:
autocast (bfloat16 where supported, else float16 with a gradient scaler) and cuDNN autotuning
(``cudnn.benchmark``); on the CPU: float32, deterministic for a seed.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from selcn.atomic import write_csv
from selcn.joblock import job_lock
from selcn.resume import RESUME_STATE, ResumeKey, load_state, restore_random_state, save_state

__all__ = ["resolve_device", "set_seed", "FitConfig", "FitResult", "fit", "epoch_line",
           "predict", "predict_proba", "BatchMetrics"]

MetricsFn = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]
Outputs = torch.Tensor | Mapping[str, torch.Tensor]


class BatchMetrics(Protocol):
    """Validation metrics computed batch by batch (``fit(metrics_fn=...)``), for outputs too
    large to keep for the whole validation set (model 13's masks): :meth:`reset` before the
    pass, :meth:`update` with each batch's outputs and targets (on the device, detached),
    :meth:`compute` -> named floats (history columns) after it."""

    def reset(self) -> None: ...

    def update(self, outputs: Outputs, targets: Outputs) -> None: ...

    def compute(self) -> Mapping[str, float]: ...

#: history columns written by :func:`fit` itself (a ``metrics_fn`` may not return these names)
_OWN_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "lr", "seconds")
#: target dtypes of a classification (``train_accuracy`` is counted for these)
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; otherwise ``torch.device(name)``.

    Silent, and blind to what a job's rule declares: a stage job chooses its device with
    :func:`selcn.device.job_device` (logged; a declared GPU is required), which this function
    only follows.

    Raises RuntimeError when CUDA is asked for and none is available (saying why).
    """
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"config: device {name!r} is not a torch device "
                             "(auto, cpu, cuda, cuda:<k>)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        from selcn.device import cuda_status

        raise RuntimeError(f"config: device {name!r} asked for, but no CUDA GPU is available "
                           f"({cuda_status().reason}; use device: auto or cpu)")
    return device


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@dataclass
class FitConfig:
    """Settings of :func:`fit`.

    Attributes:
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without a lower validation loss.
        lr: Adam learning rate.
        momentum: Adam β1 (the thesis' "momentum"); β2 = 0.999.
        weight_decay: Adam (L2) weight decay.
        seed: seeds Python / numpy / torch at the start of a fresh run.
        device: ``auto``, ``cpu``, ``cuda`` … (:func:`resolve_device`).
        amp: autocast on CUDA (bfloat16 where supported, else float16 + grad scaler); the CPU
            always trains in float32.
        channels_last: NHWC memory format for images and model (every device).
        max_train_batches: cap on training batches per epoch (quick runs, HPO); None = all.
        progress: tqdm bar per epoch on stderr, when stderr is a terminal (never in a log
            file: one line per epoch is written there anyway).
        extra_inputs: batch keys passed to the model after ``image`` when present (the lesion
            network's symmetry ``cam``).
        targets: the batch keys the loss compares the outputs with: one key (``target``, every
            single-task network) hands that tensor over; several (model 13: ``target``,
            ``symmetry``, ``mask``, ``has_mask``) a mapping of them.
    """

    max_epochs: int
    patience: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    max_train_batches: int | None = None
    progress: bool = True
    extra_inputs: tuple[str, ...] = ("cam",)
    targets: tuple[str, ...] = ("target",)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("FitConfig: targets must name at least one batch key")
        if self.max_epochs < 1:
            raise ValueError(f"FitConfig: max_epochs must be >= 1, got {self.max_epochs}")
        if self.patience < 1:
            raise ValueError(f"FitConfig: patience must be >= 1, got {self.patience}")
        if not self.lr > 0:
            raise ValueError(f"FitConfig: lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"FitConfig: momentum (Adam beta1) must lie in [0, 1), "
                             f"got {self.momentum}")
        if self.max_train_batches is not None and self.max_train_batches < 1:
            raise ValueError(f"FitConfig: max_train_batches must be >= 1 or None, "
                             f"got {self.max_train_batches}")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model, best epoch's weights loaded, in eval mode, on the device.
        best_epoch: 1-based epoch of the lowest validation loss.
        history: the per-epoch table written to ``history.csv``.
        best_val_loss: the validation loss of ``best_epoch``.
        stopped_early: True when patience ran out before ``max_epochs``.
        timings: per epoch run by this call, ``{"epoch", "train_s", "val_s", "checkpoint_s"}``
            (wall seconds of the training pass, the validation pass + metrics, and the
            history / resume-state writes).
    """

    model: nn.Module
    best_epoch: int
    history: pd.DataFrame
    best_val_loss: float = math.nan
    stopped_early: bool = False
    timings: list[dict[str, float]] = field(default_factory=list)


# ---- helpers ---------------------------------------------------------------------------
def _on_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (tqdm bars only there: in a log file they are bars
    joined by carriage returns)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:          # a closed stream
        return False


def _duration(seconds: float) -> str:
    """``14 s``, ``12 min``, ``3.4 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _number(value: float) -> str:
    """Three decimals, or three significant digits for a value far from 1."""
    return f"{value:.3f}" if value == 0 or 1e-2 <= abs(value) < 1e4 else f"{value:.3g}"


def epoch_line(row: Mapping[str, float], cfg: FitConfig, epoch_seconds: Sequence[float],
               best: bool, stopped: bool) -> str:
    """The log line of a finished epoch, e.g. ``[training] epoch 3/15: train_loss=0.812
    val_loss=0.734 accuracy=0.712 (1.2 s/epoch, at most 14 s left) — best``.

    Args:
        row: the epoch's history row (``epoch``, ``train_loss``, ``val_loss``, the validation
            metrics; ``train_accuracy``, ``lr``, ``seconds`` are not shown).
        cfg: the settings (``max_epochs``, ``patience``).
        epoch_seconds: wall seconds of each epoch this process ran (training, validation and
            checkpoint); their mean times the epochs left is the time left — "at most", as
            early stopping can end the training sooner.
        best: the epoch has the lowest validation loss so far.
        stopped: early stopping ends the training after this epoch.
    """
    epoch = int(row["epoch"])
    metrics = " ".join(f"{k}={_number(float(v))}" for k, v in row.items()
                       if k not in _OWN_COLUMNS)
    mean = sum(epoch_seconds) / max(len(epoch_seconds), 1)
    per_epoch = f"{mean:.1f} s/epoch" if mean < 90 else f"{_duration(mean)}/epoch"
    left = cfg.max_epochs - epoch
    if stopped and left > 0:
        when = f"stopping early: val_loss not lower for {cfg.patience} epochs"
    elif left <= 0:
        when = "last epoch"
    else:
        when = f"at most {_duration(mean * left)} left"
    return (f"[training] epoch {epoch}/{cfg.max_epochs}: train_loss={_number(row['train_loss'])} "
            f"val_loss={_number(row['val_loss'])}{' ' + metrics if metrics else ''} "
            f"({per_epoch}, {when}){' — best' if best else ''}")


def _amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _inputs(batch: Mapping[str, torch.Tensor], device: torch.device, channels_last: bool,
            extra_inputs: Sequence[str]) -> list[torch.Tensor]:
    image = batch["image"].to(device, non_blocking=True)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return [image] + [batch[k].to(device, non_blocking=True) for k in extra_inputs if k in batch]


def _targets(batch: Mapping[str, torch.Tensor], keys: Sequence[str],
             device: torch.device | None = None) -> Outputs:
    """The batch's targets: the tensor of the one key of ``keys``, or a mapping of several."""
    def get(key: str) -> torch.Tensor:
        return batch[key] if device is None else batch[key].to(device, non_blocking=True)

    return get(keys[0]) if len(keys) == 1 else {k: get(k) for k in keys}


def _float(out: Outputs) -> Outputs:
    """Model outputs in float32 (a tensor, or each tensor of a mapping)."""
    return out.float() if isinstance(out, torch.Tensor) else {k: v.float()
                                                               for k, v in out.items()}


def _size(target: Outputs) -> int:
    """The batch size of a target tensor or mapping of tensors."""
    return len(target) if isinstance(target, torch.Tensor) else len(next(iter(target.values())))


def _concat(parts: list[Outputs]) -> np.ndarray | dict[str, np.ndarray]:
    """Batches (tensors, or mappings of tensors) -> one numpy array (or one per key)."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts).numpy()
    return {k: torch.cat([p[k] for p in parts]).numpy() for k in parts[0]}


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows → table, columns ``epoch, train_loss, val_loss[, train_accuracy], <metrics…>, lr,
    seconds``."""
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    first = [c for c in ("epoch", "train_loss", "val_loss", "train_accuracy") if c in table]
    last = ["lr", "seconds"]
    middle = [c for c in table.columns if c not in first + last]
    return table[first + middle + last]


@dataclass
class _Step:
    """What one optimisation / evaluation pass needs: the model, its loss and optimiser, the
    gradient scaler, and where and how batches run (device, autocast dtype, memory format,
    the batch keys the model takes after ``image``)."""

    model: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    extra_inputs: Sequence[str]
    targets: Sequence[str] = ("target",)

    def outputs(self, batch: Mapping[str, torch.Tensor]) -> tuple[Outputs, Outputs]:
        """``(model outputs in float32, targets)`` of a batch, on the device (tensors, or
        mappings of tensors: :attr:`FitConfig.targets`)."""
        inputs = _inputs(batch, self.device, self.channels_last, self.extra_inputs)
        target = _targets(batch, self.targets, self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = self.model(*inputs)
        return _float(out), target


# ---- training --------------------------------------------------------------------------
def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], out_dir: str | Path,
        cfg: FitConfig, *, metrics_fn: MetricsFn | None = None,
        job_key: Mapping | None = None) -> FitResult:
    """Train ``model``, resumably, with early stopping on the validation loss.

    Args:
        model: called ``model(image, *extras)``, extras = the batch's ``cfg.extra_inputs``
            present.
        train_loader: shuffled training batches (:func:`selcn.data.datasets.make_loader`; the
            states of its sampler's and its own generators are saved and restored).
        val_loader: validation batches (not shuffled).
        loss_fn: ``loss_fn(outputs, target)`` → mean loss of the batch (outputs in float32).
            An ``nn.Module`` (e.g. weighted cross-entropy) is moved to the device.
        out_dir: receives ``history.csv`` and ``.resume/state.pt``.
        cfg: :class:`FitConfig`.
        metrics_fn: ``metrics_fn(outputs, targets)`` on the whole validation set — numpy
            float32 outputs ``(N, …)`` and targets ``(N, …)`` (mappings of them for a model
            returning a mapping / several :attr:`FitConfig.targets`) — returning named floats
            that become history columns; or a :class:`BatchMetrics`, fed batch by batch.
        job_key: JSON-able description of the job, a mapping of named parts (e.g.
            ``{"config": <the stage's resolved section, seed, protocol, image size>,
            "inputs": selcn.resume.file_identity([...])}``); a resume state resumes only the
            same key, and the log names the parts that differ.

    Returns:
        :class:`FitResult`. Losses in the history are per-sample means (batch means weighted
        by batch size); ``train_accuracy`` (classifiers: outputs ``(B, C)``, integer targets
        ``(B,)``) is the fraction of training samples whose argmax logit is the target,
        counted during the epoch's training pass (train mode, weights changing — as Keras'
        ``accuracy``), not a second pass; ``lr`` is the learning rate of the epoch;
        ``seconds`` its wall time.

    Raises:
        selcn.joblock.JobLockedError: another process trains into ``out_dir``.
    """
    out_dir = Path(out_dir)
    with job_lock(out_dir):     # one process per job (selcn.joblock; re-entrant in a stage job)
        return _fit(model, (train_loader, val_loader), loss_fn, out_dir, cfg, metrics_fn,
                    job_key)


def _fit(model: nn.Module, loaders: tuple[DataLoader, DataLoader],
         loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], out_dir: Path,
         cfg: FitConfig, metrics_fn: MetricsFn | None, job_key: Mapping | None) -> FitResult:
    """:func:`fit`'s work, under the job's lock (``loaders``: training, validation)."""
    train_loader, val_loader = loaders
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / RESUME_STATE
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    channels_last = cfg.channels_last
    amp_dtype = _amp_dtype(device, cfg.amp)
    if cuda:  # autotuned convolutions (not bit-reproducible on the GPU; the CPU stays so)
        torch.backends.cudnn.benchmark = True

    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if isinstance(loss_fn, nn.Module):
        loss_fn = loss_fn.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.momentum, 0.999),
                                 weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    step = _Step(model, loss_fn, optimizer, scaler, device, amp_dtype, channels_last,
                 cfg.extra_inputs, cfg.targets)
    key = ResumeKey.for_job(model, cfg, train_loader, job_key)

    rows: list[dict] = []
    start_epoch, bad_epochs = 1, 0
    best_loss, best_epoch, best_state = math.inf, 0, None
    state = load_state(state_path, key)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        rows = list(state["history"])
        start_epoch, bad_epochs = state["epoch"] + 1, state["bad_epochs"]
        best_loss, best_epoch, best_state = state["best_loss"], state["best_epoch"], state["best"]
        if best_state is None and best_epoch == state["epoch"] > 0:  # saved once, as "model"
            best_state = state["model"]
        restore_random_state(state, train_loader)
        print(f"[training] resumed from {state_path} after epoch {state['epoch']}",
              file=sys.stderr, flush=True)
    else:
        set_seed(cfg.seed)

    history_path = out_dir / "history.csv"
    timings: list[dict[str, float]] = []
    stopped = bad_epochs >= cfg.patience
    epoch = start_epoch
    while epoch <= cfg.max_epochs and not stopped:
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_accuracy = _train_epoch(step, train_loader, cfg, epoch)
        trained = time.perf_counter()
        streaming = hasattr(metrics_fn, "update")
        val_loss, outputs, targets = _evaluate(step, val_loader, keep=metrics_fn is not None,
                                               metrics=metrics_fn if streaming else None)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
        if train_accuracy is not None:
            row["train_accuracy"] = train_accuracy
        if metrics_fn is not None:
            metrics = metrics_fn.compute() if streaming else metrics_fn(outputs, targets)
            clash = [k for k in metrics if k in _OWN_COLUMNS]
            if clash:
                raise ValueError(f"fit: metrics_fn returned {', '.join(clash)}, a history "
                                 "column fit() writes itself")
            row.update({k: float(v) for k, v in metrics.items()})
        if val_loss < best_loss:
            best_loss, best_epoch, best_state, bad_epochs = val_loss, epoch, _cpu_state(model), 0
        else:
            bad_epochs += 1
        validated = time.perf_counter()
        row.update(lr=lr, seconds=validated - started)
        rows.append(row)
        stopped = bad_epochs >= cfg.patience
        write_csv(_history_frame(rows), history_path)
        save_state(state_path, key, {
            "epoch": epoch, "bad_epochs": bad_epochs, "best_loss": best_loss,
            "best_epoch": best_epoch,
            # the best weights, unless they are this epoch's (then only "model")
            "best": None if best_epoch == epoch else best_state,
            "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(), "history": rows}, train_loader)
        timings.append({"epoch": epoch, "train_s": trained - started,
                         "val_s": validated - trained,
                         "checkpoint_s": time.perf_counter() - validated})
        print(epoch_line(row, cfg, [t["train_s"] + t["val_s"] + t["checkpoint_s"]
                                    for t in timings], best_epoch == epoch, stopped),
              file=sys.stderr, flush=True)
        epoch += 1

    history = _history_frame(rows)
    if not history_path.is_file() and not history.empty:
        write_csv(history, history_path)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(model=model, best_epoch=best_epoch, history=history,
                     best_val_loss=float(best_loss),
                     stopped_early=stopped and len(rows) < cfg.max_epochs, timings=timings)


def _train_epoch(step: _Step, loader: DataLoader, cfg: FitConfig,
                 epoch: int) -> tuple[float, float | None]:
    """One training pass. Returns ``(mean loss per sample, accuracy or None)``: the accuracy
    when every batch was a classification (outputs ``(B, C)``, integer targets ``(B,)``)."""
    device, optimizer, scaler = step.device, step.optimizer, step.scaler
    step.model.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = classified = 0
    n_batches = len(loader)
    if cfg.max_train_batches is not None:
        n_batches = min(n_batches, cfg.max_train_batches)
    shown = cfg.progress and _on_terminal(sys.stderr)
    bar = tqdm(loader, total=n_batches, desc=f"epoch {epoch}/{cfg.max_epochs}", unit="batch",
               file=sys.stderr, disable=not shown, mininterval=1.0, leave=True)
    for i, batch in enumerate(bar):
        if i >= n_batches:
            break
        outputs, target = step.outputs(batch)
        loss = step.loss_fn(outputs, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        size = _size(target)
        total += loss.detach().double() * size
        count += size
        if isinstance(outputs, torch.Tensor) and outputs.ndim == 2 and target.ndim == 1 \
                and target.dtype in _INT_DTYPES:
            # counted on the device: no host sync per batch
            correct += (outputs.detach().argmax(1) == target).sum()
            classified += size
        if shown and i % 20 == 0:  # a host sync, so only now and then
            bar.set_postfix(loss=f"{total.item() / count:.4f}", refresh=False)
    bar.close()
    if count == 0:
        raise ValueError("fit: the training loader yielded no batch (empty training set, or "
                         "drop_last with fewer samples than batch_size)")
    accuracy = float(correct.item() / classified) if classified == count else None
    return float(total.item() / count), accuracy


@torch.no_grad()
def _evaluate(step: _Step, loader: DataLoader, keep: bool,
              metrics: BatchMetrics | None = None) -> tuple[float, object, object]:
    """The validation pass: ``(mean loss per sample, outputs, targets)``; the outputs and
    targets (numpy, or mappings of numpy arrays) only when ``keep`` and no streaming
    ``metrics`` (fed here batch by batch) is given, else None."""
    step.model.eval()
    total = torch.zeros((), dtype=torch.float64, device=step.device)
    count = 0
    keep = keep and metrics is None
    outputs, targets = [], []
    if metrics is not None:
        metrics.reset()
    for batch in loader:
        out, target = step.outputs(batch)
        size = _size(target)
        total += step.loss_fn(out, target).double() * size
        count += size
        if metrics is not None:
            metrics.update(out, target)
        if keep:
            outputs.append(out.cpu() if isinstance(out, torch.Tensor)
                           else {k: v.cpu() for k, v in out.items()})
            targets.append(_targets(batch, step.targets))
    if count == 0:
        raise ValueError("fit: the validation loader yielded no batch (empty validation set)")
    if not keep:
        return float(total.item() / count), None, None
    return float(total.item() / count), _concat(outputs), _concat(targets)


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: str | torch.device | None = None, *,
            extra_inputs: Sequence[str] = ("cam",), amp: bool = True,
            progress: bool = False) -> dict[str, np.ndarray | None]:
    """Run ``model`` over ``loader`` in eval mode.

    Args:
        device: None = the device of the model's parameters.
        progress: a tqdm bar on stderr when it is a terminal.
        amp: autocast on CUDA (bfloat16 / float16) as in :func:`fit`.

    Returns:
        ``{"outputs": float32 (N, …) raw model outputs (logits; a mapping of them for a model
        returning a mapping), "targets": (N, …) or None when the batches carry no ``target``,
        "rows": int64 (N,) cache rows}``, in loader order.
    """
    device = (next(model.parameters()).device if device is None
              else resolve_device(device))
    model = model.to(device).eval()
    cuda = device.type == "cuda"
    amp_dtype = _amp_dtype(device, amp)
    outputs, targets, rows = [], [], []
    for batch in tqdm(loader, desc="predict", unit="batch", file=sys.stderr,
                      disable=not (progress and _on_terminal(sys.stderr)), mininterval=1.0):
        inputs = _inputs(batch, device, cuda, extra_inputs)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            out = _float(model(*inputs))
        outputs.append(out.cpu() if isinstance(out, torch.Tensor)
                       else {k: v.cpu() for k, v in out.items()})
        rows.append(batch["row"])
        if "target" in batch:
            targets.append(batch["target"])
    if not outputs:
        raise ValueError("predict: the loader yielded no batch")
    return {"outputs": _concat(outputs),
            "targets": torch.cat(targets).numpy() if targets else None,
            "rows": torch.cat(rows).numpy().astype(np.int64)}


@torch.no_grad()
def predict_proba(model: nn.Module, loader: DataLoader, expected_rows: Sequence[int],
                  device: str | torch.device | None = None) -> np.ndarray:
    """Softmax probabilities ``float32 (N, C)`` of a classifier over ``loader`` (:func:`predict`).

    Raises ``RuntimeError`` unless the loader yields exactly the cache rows ``expected_rows``
    in that order (so row ``i`` of the result belongs to ``expected_rows[i]``).
    """
    out = predict(model, loader, device=device)
    if not np.array_equal(out["rows"], np.asarray(expected_rows)):
        raise RuntimeError("predict_proba: the loader returned rows out of order")
    return torch.softmax(torch.as_tensor(out["outputs"]).float(), dim=1).cpu().numpy()
