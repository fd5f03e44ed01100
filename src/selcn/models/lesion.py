"""The lesion classification network: a timm EfficientNet encoder with the E-Layer (thesis 4.1.3).

``model(image, cam)`` takes ``image`` float ``(B, 3, H, W)`` (ImageNet-normalised) and, for a
model built with ``use_cam=True``, ``cam`` float ``(B, 1, h, w)`` in [0, 1] (the symmetry
network's Grad-CAM++, any side ``h, w``); it returns class **logits** ``(B, num_classes)``.

With the E-Layer (Figure 4 of the thesis)::

    features = encoder.forward_features(image)            # (B, C, H/32, W/32)
    cam'     = bilinear(cam, size=features.shape[-2:])     # (B, 1, H/32, W/32)
    fused    = ReLU(BN(Conv1x1(cat[features, cam'])))     # (B, C, H/32, W/32)
    logits   = Linear(Dropout(GlobalAvgPool(fused)))       # (B, num_classes)

Without it (``use_cam=False``, the baselines: models 1, 5, 9) the encoder's features are pooled
and classified directly; ``cam`` must then be ``None``.

The dropout before the head (``drop_rate``, config ``lesion.dropout``): the project puts
Dropout(0.2) before every head; the thesis' code has none on the E-Layer models and timm's 0.4
on the baselines (``protocol: thesis``, ``docs/differences.md``). A rate of 0 builds no dropout
module (``nn.Identity``).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from selcn.weights import load_pretrained

__all__ = ["CAM_LAYERS", "ELayer", "LesionClassifier", "create_lesion_model", "cam_target_layer"]


class ELayer(nn.Module):
    """Fuses a one-channel CAM into a feature map: concat -> 1x1 conv (C+1 -> C) -> BN -> ReLU.

    Args:
        channels: ``C``, the channels of the feature map.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels + 1, channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, features: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """``features`` ``(B, C, h, w)``, ``cam`` ``(B, 1, h', w')`` or ``(B, h', w')``
        -> ``(B, C, h, w)``."""
        if cam.dim() == 3:
            cam = cam.unsqueeze(1)
        if cam.dim() != 4 or cam.shape[1] != 1 or cam.shape[0] != features.shape[0]:
            raise ValueError(f"ELayer: cam must be (B, 1, h, w) with B={features.shape[0]}, "
                             f"got {tuple(cam.shape)}")
        if features.shape[1] != self.channels:
            raise ValueError(f"ELayer: expected {self.channels} feature channels, "
                             f"got {features.shape[1]}")
        cam = F.interpolate(cam.to(features.dtype), size=features.shape[-2:], mode="bilinear",
                            align_corners=False)
        return self.act(self.bn(self.conv(torch.cat([features, cam], dim=1))))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class LesionClassifier(nn.Module):
    """Encoder -> (E-Layer) -> global average pool -> dropout -> linear head.

    Attributes:
        encoder: a timm model without pooling or classifier (``forward_features``).
        elayer: the :class:`ELayer`, or ``None`` for a baseline.
        dropout: ``nn.Dropout(drop_rate)``, or ``nn.Identity`` for ``drop_rate`` 0.
        head: ``nn.Linear(C, num_classes)``.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, use_cam: bool = True,
                 drop_rate: float = 0.2) -> None:
        super().__init__()
        if not 0 <= drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        channels = int(encoder.num_features)
        self.encoder = encoder
        self.elayer = ELayer(channels) if use_cam else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.drop_rate = float(drop_rate)
        self.head = nn.Linear(channels, num_classes)
        self.num_classes = num_classes

    @property
    def use_cam(self) -> bool:
        return self.elayer is not None

    def forward_features(self, image: torch.Tensor,
                         cam: torch.Tensor | None = None) -> torch.Tensor:
        """The (fused) last feature map ``(B, C, H/32, W/32)``."""
        features = self.encoder.forward_features(image)
        if self.elayer is None:
            if cam is not None:
                raise ValueError("this lesion model has no E-Layer (use_cam=False) but got a cam")
            return features
        if cam is None:
            raise ValueError("this lesion model has an E-Layer (use_cam=True) and needs a cam")
        return self.elayer(features, cam)

    def forward(self, image: torch.Tensor, cam: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, num_classes)``."""
        pooled = self.pool(self.forward_features(image, cam)).flatten(1)
        return self.head(self.dropout(pooled))


def create_lesion_model(arch: str = "efficientnet_b4", num_classes: int = 7, use_cam: bool = True,
                        pretrained_cache: str | Path | None = None,
                        drop_rate: float = 0.2, output_stride: int = 32) -> LesionClassifier:
    """The lesion classifier on a timm encoder.

    Args:
        arch: a timm model name, e.g. ``efficientnet_b4`` (thesis) or ``efficientnet_b0`` (demo).
        num_classes: 7 (HAM10000) or 2 (ISIC 2016).
        use_cam: with the E-Layer (``symmetry_mask != off``) or the plain baseline.
        pretrained_cache: directory holding ``<arch>.pth`` / ``.safetensors`` (timm's ImageNet
            state dict); ``None`` = random initialisation. The timm model is always created with
            ``pretrained=False``; nothing is downloaded.
        drop_rate: dropout before the linear head (0: none; the thesis' code: 0 with the
            E-Layer, 0.4 without; the project: 0.2).
        output_stride: 32 (timm's default: the last feature map is ``H/32``), 16 or 8 (the
            last stages are dilated instead of strided: ``H/16`` or ``H/8``, a finer CAM at a
            higher cost; the ImageNet weights still load, the receptive field grows alike).
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    kwargs = {} if output_stride == 32 else {"output_stride": output_stride}
    encoder = timm.create_model(arch, pretrained=False, num_classes=0, global_pool="", **kwargs)
    if pretrained_cache is not None:
        load_pretrained(encoder, arch, pretrained_cache)
    return LesionClassifier(encoder, num_classes, use_cam=use_cam, drop_rate=drop_rate)


CAM_LAYERS = ("own", "encoder")


def cam_target_layer(model: LesionClassifier, layer: str = "own") -> nn.Module:
    """The layer whose activations Grad-CAM++ explains (Table 9).

    ``layer="own"`` (the thesis): the E-Layer's output for CAM models; for baselines the
    encoder's last feature module (timm EfficientNet: ``bn2`` after ``conv_head``, i.e. the same
    feature map the E-Layer would receive), else the encoder's last block.
    ``layer="encoder"``: that encoder layer for every model, before the E-Layer (the
    like-for-like comparison: a gain there cannot come from the input CAM copied through).
    """
    if layer not in CAM_LAYERS:
        raise ValueError(f"cam_target_layer: layer must be one of {CAM_LAYERS}, got {layer!r}")
    if model.elayer is not None and layer == "own":
        return model.elayer
    encoder = model.encoder
    for name in ("bn2", "conv_head"):
        layer = getattr(encoder, name, None)
        if isinstance(layer, nn.Module) and not isinstance(layer, nn.Identity):
            return layer
    blocks = getattr(encoder, "blocks", None) or getattr(encoder, "stages", None)
    if blocks is not None and len(blocks):
        return blocks[-1]
    raise ValueError(f"cam_target_layer: no last feature layer found in {type(encoder).__name__}")
