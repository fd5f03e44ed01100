"""Resume states of training jobs: what :func:`selcn.training.fit` keeps so that a killed job,
started again, continues after its last finished epoch.

A resume state is one file, ``<out_dir>/.resume/state.pt`` (:data:`RESUME_STATE`; not a
Snakemake output), rewritten atomically after every epoch (:func:`save_state`). It holds the
training loop's progress (model, optimiser and grad-scaler states, epoch, early-stopping
counter, best weights, history), the Python / numpy / torch / CUDA RNG states, the states of
the training loader's generators, and the key it was written for. It is loaded with
``torch.load(..., weights_only=True)``: only tensors and plain Python values (dicts, lists,
tuples, str, int, float, bool, None) are read back, so no pickled object, and no code, ever
runs — the RNG states are stored in such plain forms.

The key (:class:`ResumeKey`) is what must match for a state to be reused: the whole
:class:`~selcn.training.FitConfig` but ``progress`` / ``device``, the model's parameter shapes,
the training set's size and batch size, and the caller's ``job_key`` (the stage's resolved
config and the :func:`file_identity` of its input files). A state written for another key, or
one that cannot be read (torn, not a resume state, or holding anything but plain values), is
discarded by :func:`load_state` with one log line naming the file and why — which parts of the
key differ, or the read error — and training starts afresh. Once the job's outputs are in
place the stage deletes the state (:func:`clear_resume_state`), so a forced rerun always trains
from epoch 1.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from selcn.atomic import atomic_path
from selcn.checkpoints import describe_load_error
from selcn.data.datasets import loader_generators

__all__ = ["RESUME_STATE", "PROGRESS_KEYS", "ResumeKey", "load_state", "save_state",
           "restore_random_state", "file_identity", "clear_resume_state"]

#: the resume state, relative to ``out_dir`` (not a Snakemake output)
RESUME_STATE = Path(".resume") / "state.pt"
#: the training loop's entries of a state (:func:`save_state`'s ``progress``)
PROGRESS_KEYS = ("epoch", "bad_epochs", "best_loss", "best_epoch", "best", "model", "optimizer",
                 "scaler", "history")
#: entries every resume state holds (a state without one of them is treated as unreadable)
_STATE_KEYS = ("fingerprint", *PROGRESS_KEYS, "rng", "loader")


# ---- the key ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ResumeKey:
    """What a resume state is bound to: the canonical JSON of a job spec (built by
    :meth:`for_job`); a state is reused only when its fingerprint is this key's.

    Attributes:
        canonical: ``json.dumps(spec, sort_keys=True)`` of the JSON-normalised spec.
    """

    canonical: str

    @classmethod
    def for_job(cls, model: nn.Module, cfg: Any, loader: DataLoader,
                job_key: Mapping | None = None) -> ResumeKey:
        """The key of training ``model`` with ``cfg`` (the training settings, a dataclass:
        :class:`selcn.training.FitConfig`) on ``loader``: the whole ``cfg`` but
        ``progress`` and ``device``, the model's parameter shapes, the loader's size and batch
        size, and the caller's ``job_key`` (the job's config and the identity of its input
        files), JSON-normalised (tuples → lists, unknown objects → ``str``)."""
        spec: dict[str, Any] = {k: v for k, v in asdict(cfg).items()
                                if k not in ("progress", "device")}
        spec["params"] = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        spec["n_train"] = len(loader.dataset) if hasattr(loader.dataset, "__len__") else None
        spec["batch_size"] = loader.batch_size
        spec["job_key"] = job_key
        normalised = json.loads(json.dumps(spec, sort_keys=True, default=str))
        return cls(json.dumps(normalised, sort_keys=True))

    @property
    def spec(self) -> dict[str, Any]:
        """The job spec (a fresh copy: ``params``, ``n_train``, ``batch_size``, ``job_key`` and
        the training settings)."""
        return json.loads(self.canonical)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of :attr:`canonical`."""
        return hashlib.sha256(self.canonical.encode()).hexdigest()


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[:width - 1] + "…"


def _key_parts(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec's top-level parts: the caller's ``job_key`` parts (``config``, ``inputs`` …) first
    under their own names (``job_key.<name>`` should one clash with a training setting), then
    the training settings (``lr``, ``max_epochs``, ``params`` …)."""
    job_key = spec.get("job_key")
    settings = {k: v for k, v in spec.items() if k != "job_key"}
    parts: dict[str, Any] = {}
    if isinstance(job_key, Mapping):
        parts.update({(f"job_key.{k}" if k in settings else k): v for k, v in job_key.items()})
    else:
        parts["job_key"] = job_key
    parts.update(settings)
    return parts


def _differing_leaves(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the entries in which two JSON values differ, descending into mappings
    present on both sides (``["train.lr", "seed"]``)."""
    if a == b:
        return []
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
        return [prefix or "(whole)"]
    out: list[str] = []
    for k in list(b) + [k for k in a if k not in b]:
        name = f"{prefix}.{k}" if prefix else str(k)
        if (k in a) != (k in b):  # present on one side only (even when None on the other)
            out.append(name)
        else:
            out += _differing_leaves(a[k], b[k], name)
    return out


def _key_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Which parts of two job specs differ, e.g. ``inputs (cache/masks.npy), lr (0.01 → 0.1)``:
    every differing top-level part, each with its first differing entry (a mapping) or its
    two values (a scalar)."""
    described = []
    if (old.get("job_key") is None) != (new.get("job_key") is None):
        described.append("job_key (" + ("none in this job" if new.get("job_key") is None
                                        else "none in the state") + ")")
        old, new = ({k: v for k, v in d.items() if k != "job_key"} for d in (old, new))
    old_parts, new_parts = _key_parts(old), _key_parts(new)
    missing = object()
    for name in list(new_parts) + [k for k in old_parts if k not in new_parts]:
        a, b = old_parts.get(name, missing), new_parts.get(name, missing)
        if a == b:
            continue
        if a is missing or b is missing:
            described.append(f"{name} ({'new' if a is missing else 'absent'} in this job)")
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            leaves = _differing_leaves(a, b)
            more = f" and {len(leaves) - 1} more" if len(leaves) > 1 else ""
            described.append(f"{name} ({leaves[0]}{more})")
        elif isinstance(a, list) or isinstance(b, list):
            described.append(name)
        else:
            described.append(f"{name} ({_short(a)} → {_short(b)})")
    return ", ".join(described)


# ---- random state ----------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    """The process' RNG states in plain forms (``weights_only`` loads them): ``python``
    (``random.getstate()``: nested tuples of ints, None / a float), ``numpy``
    (``{"bit_generator": str, "key": int64 tensor (624,), "pos", "has_gauss": int,
    "gauss": float}``), ``torch`` (a uint8 tensor) and, with a GPU, ``cuda`` (a list of them)."""
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state = {"python": random.getstate(),
             "numpy": {"bit_generator": str(name), "key": torch.from_numpy(key.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state(saved: Mapping[str, Any]) -> tuple:
    """The legacy ``np.random.get_state()`` tuple of a saved ``numpy`` entry."""
    key = np.asarray(saved["key"].numpy(), dtype=np.uint32)
    return (saved["bit_generator"], key, int(saved["pos"]), int(saved["has_gauss"]),
            float(saved["gauss"]))


def restore_random_state(state: Mapping[str, Any], loader: DataLoader) -> None:
    """Set the Python / numpy / torch (/ CUDA) RNGs and the generators of the training
    ``loader`` (:func:`selcn.data.datasets.loader_generators`) to those of a loaded state.

    Raises:
        RuntimeError: the state holds another number of loader generators than ``loader``.
    """
    generators = loader_generators(loader)
    if len(generators) != len(state["loader"]):
        raise RuntimeError(f"resume state: saved {len(state['loader'])} loader generator(s), "
                           f"the training loader has {len(generators)}")
    rng = state["rng"]
    random.setstate(tuple(rng["python"]))
    np.random.set_state(_numpy_state(rng["numpy"]))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    for generator, saved in zip(generators, state["loader"]):
        generator.set_state(saved)


# ---- reading and writing ---------------------------------------------------------------
def load_state(path: Path, key: ResumeKey) -> dict[str, Any] | None:
    """The resume state at ``path`` when it was written for ``key``, else None — after one log
    line naming ``path`` and why it is not used (unreadable, or which part of the key differs).

    The state is a dict with ``fingerprint`` (of its key), ``key`` (its job spec),
    :data:`PROGRESS_KEYS` (as given to :func:`save_state`), ``rng`` and ``loader`` (for
    :func:`restore_random_state`). It is read with ``weights_only=True``: a file holding any
    other object than tensors and plain values is refused unread, as a torn one.
    """
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():     # a foreign pickle protocol: refused below anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise TypeError(f"holds a {type(state).__name__}, not a dict")
        absent = [k for k in _STATE_KEYS if k not in state]
        if absent:
            raise KeyError(f"lacks {', '.join(absent)}")
        _numpy_state(state["rng"]["numpy"])  # an RNG state in an unknown form is unreadable
    except Exception as err:  # a corrupt file cannot be resumed; start afresh
        print(f"[training] not resuming from {path}: unreadable ({describe_load_error(err)}); "
              "starting afresh", file=sys.stderr, flush=True)
        return None
    if state["fingerprint"] != key.fingerprint:
        old = state.get("key")
        why = (_key_difference(old, key.spec) if isinstance(old, Mapping)
               else "written by an older version that stored no job key")
        print(f"[training] not resuming from {path}: written for another job, differs in "
              f"{why or 'the fingerprint'}; starting afresh", file=sys.stderr, flush=True)
        return None
    return dict(state)


def save_state(path: Path, key: ResumeKey, progress: Mapping[str, Any],
               loader: DataLoader) -> None:
    """Write the resume state to ``path`` atomically (temporary name, then rename).

    Args:
        path: ``<out_dir>/`` :data:`RESUME_STATE`.
        key: the job's key; the file keeps its ``fingerprint`` and its spec (``key``, so that
            :func:`load_state` can name what differs from a later job).
        progress: the training loop's entries, :data:`PROGRESS_KEYS`: ``epoch`` (the last
            finished one), ``bad_epochs``, ``best_loss``, ``best_epoch``, ``best`` (the best
            weights, or None when they are ``model``), ``model``, ``optimizer``, ``scaler``
            (state dicts) and ``history`` (a list of row dicts) — tensors and plain values only.
        loader: the training loader; the states of its generators are saved (``loader``)
            together with the process' RNG states (``rng``).

    Raises:
        ValueError: ``progress`` lacks an entry of :data:`PROGRESS_KEYS`.
    """
    absent = [k for k in PROGRESS_KEYS if k not in progress]
    if absent:
        raise ValueError(f"save_state: progress lacks {', '.join(absent)}")
    state = {"fingerprint": key.fingerprint, "key": key.spec, **progress,
             "rng": _rng_state(), "loader": [g.get_state() for g in loader_generators(loader)]}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# ---- a job's files ---------------------------------------------------------------------
def file_identity(paths: Iterable[str | Path | None]) -> dict[str, list[int]]:
    """``{path: [size in bytes, mtime in ns]}`` of the files ``paths`` (None entries skipped).

    Part of a job key (:func:`selcn.training.fit`'s ``job_key``): a rerun of an upstream job
    rewrites its outputs, which changes their mtime, so a resume state written before cannot
    match. Paths are keyed as given (Snakemake's relative paths), not resolved.

    Raises:
        FileNotFoundError: a path does not exist (a job's inputs must).
        IsADirectoryError: a path is a directory (its stat says nothing of its files).
    """
    out: dict[str, list[int]] = {}
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        if path.is_dir():
            raise IsADirectoryError(f"file_identity: {p} is a directory; pass its files")
        try:
            st = path.stat()
        except FileNotFoundError as err:
            raise FileNotFoundError(f"file_identity: input {p} does not exist") from err
        out[str(p)] = [int(st.st_size), int(st.st_mtime_ns)]
    return out


def clear_resume_state(out_dir: str | Path) -> bool:
    """Delete ``<out_dir>/.resume/`` (call once the job's outputs are in place): the resume
    state and the second name of the job's log (:data:`selcn.joblog.KEPT_LOG`; the log
    itself stays).

    Returns True when there was one to delete. Afterwards a rerun of the job (``-f``, changed
    inputs) trains from epoch 1.
    """
    state_dir = (Path(out_dir) / RESUME_STATE).parent
    if not state_dir.is_dir():
        return False
    shutil.rmtree(state_dir)
    return True
