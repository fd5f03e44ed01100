"""Pretrained weights from a local cache directory — never a download inside a job.

The cache holds one file per architecture, ``<cache_dir>/<arch>.pth`` (a state dict
saved with ``torch.save``) or ``<cache_dir>/<arch>.safetensors``. ``arch`` is the name
used in config, e.g. ``efficientnet_b4``, ``squeezenet1_0`` or ``resnet34`` (for a
segmentation encoder: ``smp-<encoder>``).

Where each network's ImageNet weights come from (:func:`required_weights`):

============  ==========================================  =====================  ==============
network       config key                                  cache file             library
============  ==========================================  =====================  ==============
segmentation  ``segmentation.encoder``                    ``smp-<encoder>.pth``  smp encoder
symmetry      ``symmetry.architecture``, ``compare_…``    ``<arch>.pth``         torchvision
lesion        ``lesion.architecture``                     ``<arch>.pth``         timm
============  ==========================================  =====================  ==============

:func:`fetch_weights` fills the cache on a machine with network access (the ``fetch_weights``
localrule, run on a login node); jobs only ever read it (:func:`load_pretrained`).
This module imports torch lazily, so the Snakefile can use it without slowing down a dry run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selcn.atomic import atomic_path

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["SUFFIXES", "LIBRARIES", "WeightSpec", "weight_file", "read_state_dict",
           "load_pretrained", "required_weights", "missing_weights", "download_state_dict",
           "fetch_weights", "pretrained_cache"]

SUFFIXES = (".pth", ".safetensors")
#: libraries the ImageNet weights are taken from
LIBRARIES = ("timm", "torchvision", "smp")
#: prefix of a segmentation encoder's cache name
#: (``selcn.models.segmentation.encoder_weights_name``)
SMP_PREFIX = "smp-"


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
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def pretrained_cache(cfg: Mapping[str, Any], stage: str,
                     pretrained: bool | None = None) -> str | None:
    """The ``weights.cache_dir`` a ``stage`` network (``segmentation`` / ``symmetry`` /
    ``lesion``) loads ImageNet weights from, or ``None`` when it starts from scratch.

    ``pretrained`` defaults to ``cfg[stage]["pretrained"]``. Raises ``ValueError`` when it is
    true but ``weights.cache_dir`` is null.
    """
    pretrained = cfg[stage]["pretrained"] if pretrained is None else pretrained
    if not pretrained:
        return None
    cache = cfg["weights"]["cache_dir"]
    if cache is None:
        raise ValueError(f"config: a pretrained {stage} network needs ImageNet weights but "
                         f"weights.cache_dir is null (set weights.cache_dir, or "
                         f"{stage}.pretrained: false)")
    return cache


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


@dataclass(frozen=True)
class WeightSpec:
    """One file of the weight cache: ``<cache_dir>/<name>.pth`` holds ``library``'s ImageNet
    weights of ``model``; ``network`` is the config section that asked for it."""

    name: str
    library: str
    model: str
    network: str


def required_weights(cfg: Mapping[str, Any]) -> list[WeightSpec]:
    """The cache files a validated config needs, one per name, in config order.

    Empty when ``weights.cache_dir`` is null (random initialisation everywhere) and for every
    network whose ``pretrained`` is false. Raises ValueError when two networks need the same
    name from different libraries (e.g. ``efficientnet_b0`` for both the lesion network, timm,
    and the symmetry comparison, torchvision): one cache file cannot hold both.
    """
    if cfg["weights"]["cache_dir"] is None:
        return []
    specs: list[WeightSpec] = []
    seg, sym, les = cfg["segmentation"], cfg["symmetry"], cfg["lesion"]
    if seg["pretrained"]:
        specs.append(WeightSpec(SMP_PREFIX + seg["encoder"], "smp", seg["encoder"], "segmentation"))
    if sym["pretrained"]:
        for arch in [sym["architecture"], *sym["compare_architectures"]]:
            specs.append(WeightSpec(arch, "torchvision", arch, "symmetry"))
    if les["pretrained"]:
        specs.append(WeightSpec(les["architecture"], "timm", les["architecture"], "lesion"))
    unique: dict[str, WeightSpec] = {}
    for spec in specs:
        seen = unique.setdefault(spec.name, spec)
        if seen.library != spec.library:
            raise ValueError(
                f"weights.cache_dir: '{spec.name}' is needed from {seen.library} ({seen.network}) "
                f"and from {spec.library} ({spec.network}); one cache file cannot hold both — "
                f"set {spec.network}.pretrained or {seen.network}.pretrained to false, or pick "
                "another architecture")
    return list(unique.values())


def missing_weights(cache_dir: str | Path, archs: Iterable[str]) -> list[str]:
    """The names of ``archs`` (in order, without repeats) that ``cache_dir`` has no file for."""
    return [arch for arch in dict.fromkeys(archs) if weight_file(cache_dir, arch) is None]


def download_state_dict(library: str, model: str) -> dict[str, torch.Tensor]:
    """ImageNet state dict of ``model`` from ``library``'s hub (needs network access).

    ``timm``: ``timm.create_model(model, pretrained=True)`` (its default pretrained tag);
    ``torchvision``: the ``DEFAULT`` weights of ``torchvision.models.get_model``;
    ``smp``: the encoder ``model`` of segmentation-models-pytorch with ``imagenet`` weights
    (keys as in ``smp_model.encoder.state_dict()``).
    """
    if library == "timm":
        import timm

        net = timm.create_model(model, pretrained=True)
    elif library == "torchvision":
        import torchvision

        net = torchvision.models.get_model(model, weights="DEFAULT")
    elif library == "smp":
        import segmentation_models_pytorch as smp

        net = smp.encoders.get_encoder(model, weights="imagenet")
    else:
        raise ValueError(f"unknown weights library {library!r} (one of {', '.join(LIBRARIES)})")
    return net.state_dict()


def fetch_weights(arch: str, cache_dir: str | Path, library: str, model: str | None = None,
                  download=download_state_dict) -> Path:
    """Put ``library``'s ImageNet weights of ``model`` (default: ``arch``) into
    ``<cache_dir>/<arch>.pth`` and return that path; nothing is done when the cache already
    has ``arch`` (``.pth`` or ``.safetensors``). The file is written to a temporary name and
    renamed, so a broken download never looks like a cached file.

    ``download(library, model)`` returns the state dict; the default goes to the network.
    """
    if library not in LIBRARIES:
        raise ValueError(f"unknown weights library {library!r} (one of {', '.join(LIBRARIES)})")
    cached = weight_file(cache_dir, arch)
    if cached is not None:
        return cached
    import torch

    state = download(library, model or arch)
    target = Path(cache_dir) / f"{arch}.pth"
    # a unique temporary: the cache may be shared by workflows fetching at the same time
    with atomic_path(target, unique=True) as tmp:
        torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
    return target
