"""Model files (``model.pt``) of every trained stage: a state dict plus the metadata needed to
rebuild the network.

:func:`save_model_file` writes atomically (temporary name, then rename) so a half-written file
never looks finished; :func:`load_model_file` checks the file exists and holds the expected
keys, and raises one clear error naming the file otherwise. Files are read with
``torch.load(weights_only=True)``: tensors and plain values only, so a file holding any other
pickled object (code) is refused unread. The stages
(:mod:`selcn.segmentation`, :mod:`selcn.symmetry`, :mod:`selcn.lesion`) rebuild their own
networks from the returned dictionary.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selcn.atomic import atomic_path

__all__ = ["save_model_file", "load_model_file", "describe_load_error"]


def save_model_file(path: str | Path, model: nn.Module, *, required: Sequence[str] = (),
                    **meta: Any) -> None:
    """Write ``{**meta, "state_dict": <CPU tensors of model>}`` to ``path`` atomically.

    Args:
        required: metadata keys that must be in ``meta`` (a ``ValueError`` lists the missing).
        meta: plain values (str / int / float / bool / lists) loadable with
            ``torch.load(weights_only=True)``.
    """
    missing = [k for k in required if k not in meta]
    if missing:
        raise ValueError(f"cannot write {path}: missing metadata {', '.join(missing)}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({**meta, "state_dict": state}, tmp)


def load_model_file(path: str | Path, *, required: Sequence[str], what: str) -> dict[str, Any]:
    """The dictionary written by :func:`save_model_file`, loaded on the CPU (weights only).

    Args:
        required: keys the file must hold (``state_dict`` is always required).
        what: the kind of file for messages, e.g. ``"lesion model"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read as weights only (not a torch file, truncated, or
            holding a pickled object other than tensors and plain values:
            ``<path>: not a loadable <what> file (<reason>)``), or a required key is missing
            (``<path>: not a <what> file (missing ...)``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():     # a foreign pickle protocol: refused below anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:    # any unreadable content: one message naming the file
        raise ValueError(f"{path}: not a loadable {what} file "
                         f"({describe_load_error(err)})") from None
    keys = list(required) + (["state_dict"] if "state_dict" not in required else [])
    missing = [k for k in keys if not isinstance(blob, dict) or k not in blob]
    if missing:
        raise ValueError(f"{path}: not a {what} file (missing {', '.join(missing)})")
    return blob


def describe_load_error(err: BaseException) -> str:
    """One line for a ``torch.load`` failure: ``weights_only``'s long refusal shrinks to its
    reason (``refused to unpickle: Unsupported global: GLOBAL builtins.open ...``), other
    messages to at most 300 characters, prefixed with the exception's type."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(err)).split())
    if "WeightsUnpickler error:" in text:
        reason = text.split("WeightsUnpickler error:", 1)[1]
        reason = reason.split(" Check the documentation", 1)[0].split(". Please use", 1)[0]
        text = f"refused to unpickle: {reason.strip()}"
    elif len(text) > 300:
        text = text[:299] + "\u2026"
    return f"{type(err).__name__}: {text}"
