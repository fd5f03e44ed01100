"""Model 13: one end-to-end symmetry-enhanced network (the thesis' future work, 7.2 (2)).

One shared timm encoder (the lesion network's: ``lesion.architecture``, ``output_stride``)
feeds three heads in **one forward pass**::

    final, skips = encoder.forward_intermediates(image)  # final (B, C, h, w): conv_head + bn2
                                                          # skips: the 5 stage outputs
    mask     = up2(mask_head(UnetDecoder(skips)))        # (B, 1, H, W) lesion logits
    symmetry = symmetry_head(Dropout(GAP(final)))        # (B, 2) logits
    k        = argmax(symmetry)                           # no gradient through the choice
    cam      = minmax(ReLU(sum_c W_sym[k, c] final_c))    # (B, 1, h, w) in [0, 1]: the CAM
    fused    = ELayer(final, cam)                         # ReLU(BN(Conv1x1(cat[final, cam])))
    fused    = fused * (1 + p)  (gate_with_mask only; p = sigmoid(mask) pooled to h x w, detached)
    logits   = head(Dropout(GAP(lesion_features(fused)))) # (B, num_classes)

``model(image)`` returns ``{"logits": (B, K), "symmetry": (B, 2), "mask": (B, 1, H, W),
"cam": (B, 1, h, w)}`` (``H, W`` = the input's side; ``h, w`` = the encoder's last feature map,
``H / output_stride``).

Design choices (docs/multitask.md says more):

- **The encoder is the lesion network's own timm model** (``num_classes=0``, no pooling,
  the same ``output_stride``), not segmentation-models-pytorch's ``tu-`` encoder: smp's
  ``TimmUniversalEncoder`` builds timm's ``features_only`` wrapper, which drops
  ``conv_head`` / ``bn2`` — the very layer the lesion network's heads, its E-Layer and its
  Grad-CAM++ "encoder" column (Table 9) use — and renames the state dict, so the ImageNet file of
  the lesion network would not load. timm's ``forward_intermediates`` returns the five stage
  outputs (the U-Net's skips, as ``features_only`` would) *and* the final ``bn2`` features in
  one pass, so the encoder runs once per image. The decoder is smp's own ``UnetDecoder``
  (the U-Net of the segmentation stage), which upsamples to each skip's exact side: any input
  side works, also a dilated encoder (output stride 8 or 16: several skips share a side).
- **The mask is decoded to half the input side** (the first skip's, stride 2) and its logits
  upsampled bilinearly (DeepLabV3+ upsamples its stride-4 logits so): a U-Net's last block at
  full resolution costs as much as a fifth of EfficientNet-B4 at 384 px for a boundary the
  bilinear logits already place within a pixel; the Dice is scored at the cache side anyway.
- **The symmetry CAM is the class activation map of a pooled linear head** (Zhou et al.
  2016): for ``logit_k = W_k . GAP(F) + b_k`` the map ``sum_c W_kc F_c`` is exactly what the
  logit averages, so it needs no gradient, no second backward pass, and it stays
  differentiable: the lesion loss reaches the encoder and the symmetry head through it
  (end to end). The class is the predicted one (as the cascade's Grad-CAM++ targets the
  predicted symmetry class); ReLU and a per-image min-max bring it to [0, 1], the range of the
  Grad-CAM++ maps the cascade's E-Layer was trained on.
- **The mask gate is optional** (``multitask.gate_with_mask``): a residual attention
  ``F (1 + p)`` keeps the whole image's context (the thesis' best lesion models use no input
  mask) while it weights the lesion; ``p`` is detached so the mask head learns from the mask
  labels alone.
- ``lesion_features`` (an identity after the E-Layer and the gate) is the lesion head's input:
  Grad-CAM++'s "own" layer, as the E-Layer output is the grid models'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from torch import nn

from selcn.cams import normalize_cams
from selcn.models.lesion import ELayer
from selcn.weights import load_pretrained

__all__ = ["OUTPUTS", "MultitaskSettings", "MultitaskNetwork", "create_multitask_model",
           "class_activation_map", "multitask_cam_layers", "LogitsOnly", "parameter_count"]

#: the keys of the network's output mapping
OUTPUTS: tuple[str, ...] = ("logits", "symmetry", "mask", "cam")


@dataclass(frozen=True)
class MultitaskSettings:
    """How model 13 is built (recorded in its ``model.pt``).

    Attributes:
        arch: the timm encoder (``lesion.architecture``).
        output_stride: 8, 16 or 32 (``lesion.output_stride``).
        decoder_channels: the five U-Net decoder blocks' channels, deepest first.
        gate_with_mask: multiply the lesion head's features by ``1 + p`` (predicted mask).
        dropout: dropout before the lesion and the symmetry head (0: none).
        symmetry_classes: 2 (asymmetric, symmetric).
    """

    arch: str
    output_stride: int = 32
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 16)
    gate_with_mask: bool = False
    dropout: float = 0.2
    symmetry_classes: int = 2

    def __post_init__(self) -> None:
        if self.output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {self.output_stride}")
        if len(self.decoder_channels) != 5 or min(self.decoder_channels) < 1:
            raise ValueError(f"decoder_channels must be 5 positive integers, got "
                             f"{list(self.decoder_channels)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def record(self) -> dict:
        """The ``model.pt`` fields that rebuild the network."""
        return {"arch": self.arch, "output_stride": self.output_stride,
                "decoder_channels": list(self.decoder_channels),
                "gate_with_mask": self.gate_with_mask, "dropout": self.dropout,
                "symmetry_classes": self.symmetry_classes}


def class_activation_map(features: torch.Tensor, weight: torch.Tensor,
                         classes: torch.Tensor) -> torch.Tensor:
    """The class activation map of a pooled linear head, before ReLU / normalisation:
    ``cam[b] = sum_c weight[classes[b], c] * features[b, c]`` ``(B, h, w)``.

    Args:
        features: ``(B, C, h, w)`` the map the head pools.
        weight: ``(K, C)`` the head's weights.
        classes: ``(B,)`` int64 class per image.
    """
    return torch.einsum("bc,bchw->bhw", weight[classes].to(features.dtype), features)


class MultitaskNetwork(nn.Module):
    """Encoder -> {U-Net mask decoder, symmetry head, CAM -> E-Layer [-> gate] -> lesion head}
    (the module docstring).

    Attributes:
        encoder: the timm model (``forward_intermediates``; ``bn2`` is its last feature layer).
        decoder, mask_head: the U-Net decoder and its 3x3 convolution to one lesion logit.
        symmetry_head: ``nn.Linear(C, 2)`` on the pooled last features.
        elayer: the :class:`selcn.models.lesion.ELayer`.
        lesion_features: identity; its output is the lesion head's input (Grad-CAM++'s layer).
        head: ``nn.Linear(C, num_classes)``.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, settings: MultitaskSettings) -> None:
        super().__init__()
        channels = int(encoder.num_features)
        skips = [int(f["num_chs"]) for f in encoder.feature_info]
        if len(skips) != 5:
            raise ValueError(f"{settings.arch}: a U-Net decoder needs 5 encoder stages, the "
                             f"timm model has {len(skips)}")
        self.settings = settings
        self.num_classes = int(num_classes)
        self.encoder = encoder
        self.decoder = UnetDecoder(encoder_channels=[3, *skips],
                                   decoder_channels=list(settings.decoder_channels), n_blocks=5)
        self.mask_head = nn.Conv2d(settings.decoder_channels[-1], 1, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(settings.dropout) if settings.dropout > 0 else nn.Identity()
        self.symmetry_head = nn.Linear(channels, settings.symmetry_classes)
        self.elayer = ELayer(channels)
        self.lesion_features = nn.Identity()
        self.head = nn.Linear(channels, num_classes)

    def symmetry_cam(self, features: torch.Tensor, symmetry: torch.Tensor) -> torch.Tensor:
        """The symmetry head's CAM of its predicted class: ReLU, then min-max per image
        (:func:`selcn.cams.normalize_cams`) -> ``(B, 1, h, w)`` in [0, 1]."""
        classes = symmetry.detach().argmax(1)
        raw = class_activation_map(features, self.symmetry_head.weight, classes)
        return normalize_cams(raw.clamp_min(0))[:, None]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``image`` ``(B, 3, H, W)`` -> :data:`OUTPUTS` (shapes in the module docstring)."""
        final, skips = self.encoder.forward_intermediates(image)
        mask = self.mask_head(self.decoder([skips[0], *skips]))     # decoded to stride 2
        mask = F.interpolate(mask, size=image.shape[-2:], mode="bilinear", align_corners=False)
        symmetry = self.symmetry_head(self.dropout(self.pool(final).flatten(1)))
        cam = self.symmetry_cam(final, symmetry)
        fused = self.elayer(final, cam)
        if self.settings.gate_with_mask:
            gate = F.adaptive_avg_pool2d(torch.sigmoid(mask.detach().float()),
                                         fused.shape[-2:]).to(fused.dtype)
            fused = fused * (1 + gate)
        pooled = self.pool(self.lesion_features(fused)).flatten(1)
        return {"logits": self.head(self.dropout(pooled)), "symmetry": symmetry, "mask": mask,
                "cam": cam}


def create_multitask_model(settings: MultitaskSettings, num_classes: int,
                           pretrained_cache: str | Path | None = None) -> MultitaskNetwork:
    """Model 13 on a timm encoder built as the lesion network builds its own
    (:func:`selcn.models.lesion.create_lesion_model`: ``pretrained=False``, ImageNet weights
    only from ``pretrained_cache`` — the lesion network's ``<arch>.pth`` — never downloaded;
    the decoder and the heads start random)."""
    kwargs = {} if settings.output_stride == 32 else {"output_stride": settings.output_stride}
    encoder = timm.create_model(settings.arch, pretrained=False, num_classes=0, global_pool="",
                                **kwargs)
    if pretrained_cache is not None:
        load_pretrained(encoder, settings.arch, pretrained_cache)
    return MultitaskNetwork(encoder, num_classes, settings)


def multitask_cam_layers(model: MultitaskNetwork) -> dict[str, nn.Module]:
    """Grad-CAM++'s layers of model 13 (Table 9): ``own`` = the lesion head's input
    (:attr:`MultitaskNetwork.lesion_features`), ``encoder`` = the encoder's last feature layer
    (``bn2``, as for the grid models: :func:`selcn.models.lesion.cam_target_layer`)."""
    from selcn.models.lesion import cam_target_layer

    return {"own": model.lesion_features, "encoder": cam_target_layer(model, "encoder")}


class LogitsOnly(nn.Module):
    """Model 13 seen as a classifier, ``model(image) -> logits (B, K)`` (for Grad-CAM++ and the
    engine's prediction and localisation), sharing its parameters. The whole output mapping of
    the latest forward is kept in :attr:`last` (detached), so one forward pass serves the
    lesion CAM, the mask and the symmetry prediction."""

    def __init__(self, network: MultitaskNetwork) -> None:
        super().__init__()
        self.network = network
        self.last: dict[str, torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return self.network.num_classes

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.network(image)
        self.last = {k: v.detach() for k, v in out.items()}
        return out["logits"]


def parameter_count(module: nn.Module, parts: Sequence[str] = ()) -> dict[str, int]:
    """Parameters of ``module`` (``total``) and of its named sub-modules ``parts``."""
    out = {"total": sum(p.numel() for p in module.parameters())}
    for name in parts:
        out[name] = sum(p.numel() for p in getattr(module, name).parameters())
    return out
