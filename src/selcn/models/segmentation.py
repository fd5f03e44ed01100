"""Segmentation networks: DeepLabV3+ and U-Net from segmentation-models-pytorch.

``model(image)`` takes ``(B, 3, H, W)`` normalised images (H, W divisible by 16) and returns
``(B, 1, H, W)`` lesion **logits** (apply a sigmoid for the lesion probability).
"""

from __future__ import annotations

from pathlib import Path

import segmentation_models_pytorch as smp
from torch import nn

from selcn.weights import load_pretrained

__all__ = ["SEGMENTATION_ARCHS", "create_segmentation_model", "encoder_weights_name"]

#: config name -> segmentation-models-pytorch architecture
SEGMENTATION_ARCHS = {"deeplabv3plus": "DeepLabV3Plus", "unet": "Unet"}


def encoder_weights_name(encoder: str) -> str:
    """Name of the encoder's file in the weights cache (``<cache_dir>/smp-<encoder>.pth``)."""
    return f"smp-{encoder}"


def create_segmentation_model(arch: str, encoder: str = "resnet34",
                              pretrained_cache: str | Path | None = None) -> nn.Module:
    """A DeepLabV3+ or U-Net with one output channel (lesion logit).

    Args:
        arch: ``deeplabv3plus`` or ``unet``.
        encoder: an encoder name of segmentation-models-pytorch, e.g. ``resnet34``.
        pretrained_cache: directory holding ``smp-<encoder>.pth`` / ``.safetensors``, the
            encoder's ImageNet state dict (keys as in ``model.encoder.state_dict()``, which for
            ResNets are torchvision's keys without ``fc``). ``None``: random initialisation.
            Nothing is ever downloaded.

    Raises:
        ValueError: unknown ``arch``; FileNotFoundError: the cache lacks the encoder file.
    """
    if arch not in SEGMENTATION_ARCHS:
        raise ValueError(f"unknown segmentation architecture {arch!r} "
                         f"(one of {', '.join(SEGMENTATION_ARCHS)})")
    model = smp.create_model(SEGMENTATION_ARCHS[arch], encoder_name=encoder,
                             encoder_weights=None, in_channels=3, classes=1)
    if pretrained_cache is not None:
        load_pretrained(model.encoder, encoder_weights_name(encoder), pretrained_cache)
    return model
