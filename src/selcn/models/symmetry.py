"""The symmetry classification network (thesis 4.1.2) and its architecture comparison.

All four are torchvision models with the ImageNet classification head replaced by a
``num_classes`` head (2: asymmetric / symmetric). ``model(image)`` takes ``image`` float
``(B, 3, H, W)`` (ImageNet-normalised) and returns **logits** ``(B, num_classes)``.

==================== ==================================== ===================================
arch                 new head                             Grad-CAM++ target layer
==================== ==================================== ===================================
``squeezenet1_0``    ``classifier[1] = Conv2d(512, C, 1)`` ``features[12]`` (last Fire module)
``resnet34``         ``fc = Linear(512, C)``               ``layer4``
``efficientnet_b0``  ``classifier[1] = Linear(1280, C)``   ``features[8]`` (last conv block)
``shufflenet_v2_x1_0`` ``fc = Linear(1024, C)``            ``conv5``
==================== ==================================== ===================================

SqueezeNet 1.0 with a ``Conv2d(512, 2, 1)`` head is the thesis' own code; the new head is
initialised like torchvision's ``final_conv`` (normal, std 0.01, zero bias). Its target layer is
the Fire module's **output** (the concatenation of both expand branches after their ReLUs):
a hook on ``features[12].expand3x3`` would see the activation after the in-place ReLU but the
gradient before it.

Models are always built with ``weights=None`` (nothing is downloaded); ImageNet weights come
from the local cache (:func:`selcn.weights.load_pretrained`) and are loaded **before** the head
is replaced, so the cache holds torchvision's unchanged state dict.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torchvision import models as tvm

from selcn.weights import load_pretrained

__all__ = ["SYMMETRY_ARCHS", "create_symmetry_model", "cam_target_layer"]

#: the architectures of the thesis' comparison (torchvision names)
SYMMETRY_ARCHS: tuple[str, ...] = ("squeezenet1_0", "resnet34", "efficientnet_b0",
                                   "shufflenet_v2_x1_0")


def _replace_head(model: nn.Module, arch: str, num_classes: int) -> None:
    if arch == "squeezenet1_0":
        head = nn.Conv2d(512, num_classes, kernel_size=1)
        # torchvision's own init of SqueezeNet's final conv: with PyTorch's default init the
        # ReLU'd 2-logit head of a from-scratch model often dies (val loss stuck at ln 2)
        nn.init.normal_(head.weight, mean=0.0, std=0.01)
        nn.init.zeros_(head.bias)
        model.classifier[1] = head
        model.num_classes = num_classes
    elif arch in ("resnet34", "shufflenet_v2_x1_0"):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif arch == "efficientnet_b0":
        model.classifier[1] = nn.Linear(model.classifier[1].in_features, num_classes)
    else:  # pragma: no cover - guarded by create_symmetry_model
        raise AssertionError(arch)


def create_symmetry_model(arch: str = "squeezenet1_0", num_classes: int = 2,
                          pretrained_cache: str | Path | None = None) -> nn.Module:
    """A symmetry classifier.

    Args:
        arch: one of :data:`SYMMETRY_ARCHS`.
        num_classes: classes of the new head (2 for SymDerm: asymmetric, symmetric).
        pretrained_cache: directory holding ``<arch>.pth`` / ``.safetensors`` (torchvision's
            ImageNet state dict); ``None`` = random initialisation.

    Returns:
        the torchvision model with its head replaced (training mode), attribute ``arch`` set.
    """
    if arch not in SYMMETRY_ARCHS:
        raise ValueError(f"unknown symmetry architecture {arch!r} "
                         f"(one of {', '.join(SYMMETRY_ARCHS)})")
    if num_classes < 2:
        raise ValueError(f"create_symmetry_model: num_classes must be >= 2, got {num_classes}")
    model = getattr(tvm, arch)(weights=None)
    if pretrained_cache is not None:
        load_pretrained(model, arch, pretrained_cache)
    _replace_head(model, arch, num_classes)
    model.arch = arch
    return model


def cam_target_layer(model: nn.Module, arch: str | None = None) -> nn.Module:
    """The layer whose output Grad-CAM++ explains (see the module table).

    ``arch`` defaults to the ``arch`` attribute set by :func:`create_symmetry_model`.
    """
    arch = arch or getattr(model, "arch", None)
    if arch == "squeezenet1_0":
        return model.features[12]
    if arch == "resnet34":
        return model.layer4
    if arch == "efficientnet_b0":
        return model.features[-1]
    if arch == "shufflenet_v2_x1_0":
        return model.conv5
    raise ValueError(f"cam_target_layer: unknown symmetry architecture {arch!r} "
                     f"(one of {', '.join(SYMMETRY_ARCHS)})")
