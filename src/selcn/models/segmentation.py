"""Segmentation networks of segmentation-models-pytorch: U-Net, DeepLabV3+ (the thesis' two),
UNet++, FPN, SegFormer and the other architectures of :data:`selcn.grid.SEGMENTERS`.

``model(image)`` takes ``(B, 3, H, W)`` normalised images and returns ``(B, 1, H, W)`` lesion
**logits** (apply a sigmoid for the lesion probability). ``H`` and ``W`` must be multiples of
the architecture's :data:`selcn.grid.SEGMENTER_STRIDES` entry (16 or 32: the config's
``segmentation.input_size`` is checked against it by :func:`selcn.grid.grid`); DeepLabV3,
DeepLabV3+ and UPerNet normalise a pooled branch over the batch, so they train on batches of at
least two images (``config/schema.yaml``). A SegFormer is built on the encoder the config gives
it (``segmentation.encoders: {segformer: mit_b0}`` for its own Mix Transformer; any
segmentation-models-pytorch encoder works).
"""

from __future__ import annotations

from pathlib import Path

import segmentation_models_pytorch as smp
from torch import nn

from selcn.grid import SEGMENTERS
from selcn.weights import load_pretrained

__all__ = ["SEGMENTATION_ARCHS", "create_segmentation_model", "encoder_weights_name"]

#: config name (:data:`selcn.grid.SEGMENTERS`) -> segmentation-models-pytorch architecture
SEGMENTATION_ARCHS: dict[str, str] = {
    "deeplabv3plus": "DeepLabV3Plus", "unet": "Unet", "unetplusplus": "UnetPlusPlus",
    "fpn": "FPN", "segformer": "Segformer", "deeplabv3": "DeepLabV3", "pspnet": "PSPNet",
    "linknet": "Linknet", "manet": "MAnet", "upernet": "UPerNet"}
if tuple(SEGMENTATION_ARCHS) != SEGMENTERS:          # one vocabulary (selcn.grid)
    raise ImportError("selcn.models.segmentation: SEGMENTATION_ARCHS must list "
                      "selcn.grid.SEGMENTERS in order")


def encoder_weights_name(encoder: str) -> str:
    """Name of the encoder's file in the weights cache (``<cache_dir>/smp-<encoder>.pth``)."""
    return f"smp-{encoder}"


def create_segmentation_model(arch: str, encoder: str = "resnet34",
                              pretrained_cache: str | Path | None = None) -> nn.Module:
    """A segmentation network of :data:`SEGMENTATION_ARCHS` with one output channel (lesion
    logit).

    Args:
        arch: a name of :data:`selcn.grid.SEGMENTERS`, e.g. ``unet``, ``deeplabv3plus``,
            ``unetplusplus``, ``fpn``, ``segformer``.
        encoder: an encoder name of segmentation-models-pytorch, e.g. ``resnet34``, ``mit_b0``.
        pretrained_cache: directory holding ``smp-<encoder>.pth`` / ``.safetensors``, the
            encoder's ImageNet state dict (keys as in ``model.encoder.state_dict()``, which for
            ResNets are torchvision's keys without ``fc``). ``None``: random initialisation.
            Nothing is ever downloaded.

    Raises:
        ValueError: unknown ``arch``, or an encoder the architecture cannot take (naming both);
        FileNotFoundError: the cache lacks the encoder file.
    """
    if arch not in SEGMENTATION_ARCHS:
        raise ValueError(f"unknown segmentation architecture {arch!r} "
                         f"(one of {', '.join(SEGMENTATION_ARCHS)})")
    try:
        model = smp.create_model(SEGMENTATION_ARCHS[arch], encoder_name=encoder,
                                 encoder_weights=None, in_channels=3, classes=1)
    except (ValueError, KeyError) as err:
        raise ValueError(f"segmentation architecture {arch!r} cannot be built on encoder "
                         f"{encoder!r} ({err}); set another in segmentation.encoders") from None
    if pretrained_cache is not None:
        load_pretrained(model.encoder, encoder_weights_name(encoder), pretrained_cache)
    return model
