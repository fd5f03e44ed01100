"""Pretrained weights from a local cache directory — never a download inside a job.

The cache holds one file per architecture, ``<cache_dir>/<arch>.pth`` (a state dict
saved with ``torch.save``) or ``<cache_dir>/<arch>.safetensors``. ``arch`` is the name
used in config, e.g. ``efficientnet_b4``, ``squeezenet1_0`` or ``resnet34`` (for a
segmentation encoder: ``smp-<encoder>``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

SUFFIXES = (".pth", ".safetensors")


def weight_file(cache_dir: str | Path, arch: str) -> Path | None:
    """The cached weight file of ``arch``, or None when the cache has none."""
    for suffix in SUFFIXES:
        path = Path(cache_dir) / f"{arch}{suffix}"
        if path.is_file():
            return path
    return None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pth`` or ``.safetensors``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_pretrained(model: nn.Module, arch: str, cache_dir: str | Path | None,
                    strict: bool = False) -> nn.Module:
    """Load ImageNet weights of ``arch`` from ``cache_dir`` into ``model`` (in place).

    ``cache_dir=None`` means random initialisation and returns ``model`` unchanged.
    Parameters whose shapes differ (a replaced classification head) are skipped.
    Raises FileNotFoundError naming the expected file when the cache lacks it.
    """
    if cache_dir is None:
        return model
    path = weight_file(cache_dir, arch)
    if path is None:
        raise FileNotFoundError(
            f"pretrained weights for '{arch}' not found in weights.cache_dir={cache_dir} "
            f"(expected {arch}.pth or {arch}.safetensors); run `snakemake fetch_weights` on a "
            "machine with network access, or set weights.cache_dir: null for random init")
    state = read_state_dict(path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f"{path}: no parameter matches the {arch} model (wrong file?)")
    model.load_state_dict(usable, strict=strict)
    return model
