"""Losses of the segmentation network (MB-DCNN's rank loss and the hybrid Dice + rank loss) and
of model 13 (:class:`MultitaskLoss`: the four terms over partially labelled batches).

The Dice part is segmentation-models-pytorch's :class:`~segmentation_models_pytorch.losses.DiceLoss`
(binary mode, computed over the whole batch: ``1 - 2 sum(p t) / (sum(p) + sum(t))``); the
rank loss (Xie et al., "A mutual bootstrapping model for automated skin lesion segmentation
and classification", IEEE TMI 2020, eq. 4 of the thesis) is implemented here, vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import nn

__all__ = ["rank_loss", "HybridLoss", "MISSING", "MULTITASK_TERMS", "MultitaskLoss"]

#: the label value of a sample that lacks a class / a symmetry label (model 13's batches)
MISSING = -1
#: the terms of :class:`MultitaskLoss`, as the config's ``multitask.weights`` names them
MULTITASK_TERMS: tuple[str, ...] = ("mask", "symmetry", "lesion")


def rank_loss(logits_or_probs: torch.Tensor, target: torch.Tensor, k: int = 30,
              margin: float = 0.3, *, from_logits: bool = True) -> torch.Tensor:
    """MB-DCNN rank loss on the lesion probability.

    For every image ``n`` the ``K`` *hard* background pixels (highest lesion probability,
    ``H0``) and the ``K`` hard lesion pixels (lowest lesion probability, ``H1``) are picked, and

    ``L_n = 1 / K^2 * sum_i sum_j max(0, H0_i - H1_j + margin)``;

    the loss is the mean of ``L_n`` over the images of the batch.

    Edge cases: an image with fewer than ``K`` pixels on one side uses all the pixels it has
    there (``K_bg`` and ``K_les`` ≤ ``K``; the hinge is averaged over the ``K_bg x K_les``
    pairs). An image without any lesion pixel or without any background pixel has no pair and
    contributes nothing: it is left out of the mean over images. A batch where no image has
    a pair gives a loss of 0 (still connected to the graph, so ``backward()`` works).

    Args:
        logits_or_probs: ``(B, 1, H, W)`` or ``(B, H, W)`` lesion logits (``from_logits=True``)
            or probabilities in [0, 1].
        target: same shape, lesion mask in {0, 1} (any dtype; ``> 0.5`` is lesion).
        k: hard pixels per side and image.
        margin: hinge margin ``m`` (in probability units).
        from_logits: apply a sigmoid to ``logits_or_probs`` first.

    Returns:
        A scalar tensor.
    """
    if logits_or_probs.shape != target.shape:
        raise ValueError(f"rank_loss: prediction shape {tuple(logits_or_probs.shape)} != "
                         f"target shape {tuple(target.shape)}")
    if k < 1:
        raise ValueError(f"rank_loss: k must be >= 1, got {k}")
    batch = logits_or_probs.shape[0]
    prob = logits_or_probs.reshape(batch, -1)
    if from_logits:
        prob = torch.sigmoid(prob.float())
    lesion = target.reshape(batch, -1) > 0.5
    k_eff = min(k, prob.shape[1])

    # indices of the hard pixels, picked on detached probabilities; the other side is pushed
    # out of reach with +-inf so that it is never picked before a pixel of the right side
    with torch.no_grad():
        p = prob.detach()
        bg_key = p.masked_fill(lesion, float("-inf"))          # highest background prob first
        les_key = (-p).masked_fill(~lesion, float("-inf"))     # lowest lesion prob first
        bg_idx = bg_key.topk(k_eff, dim=1).indices
        les_idx = les_key.topk(k_eff, dim=1).indices
        ranks = torch.arange(k_eff, device=prob.device)
        n_les = lesion.sum(dim=1, keepdim=True)
        n_bg = lesion.shape[1] - n_les
        bg_valid = ranks[None] < n_bg                          # (B, K)
        les_valid = ranks[None] < n_les                        # (B, K)
        pair_valid = bg_valid[:, :, None] & les_valid[:, None, :]   # (B, K, K)
        n_pairs = pair_valid.sum(dim=(1, 2))                   # (B,)

    h0 = prob.gather(1, bg_idx)                                # (B, K) background
    h1 = prob.gather(1, les_idx)                               # (B, K) lesion
    hinge = (h0[:, :, None] - h1[:, None, :] + margin).clamp_min(0.0)
    hinge = torch.where(pair_valid, hinge, torch.zeros_like(hinge))
    has_pairs = n_pairs > 0
    if not bool(has_pairs.any()):
        return prob.sum() * 0.0
    per_image = hinge.sum(dim=(1, 2))[has_pairs] / n_pairs[has_pairs].to(hinge.dtype)
    return per_image.mean()


class HybridLoss(nn.Module):
    """``L = L_dice + rank_weight * L_rank`` on lesion logits (the thesis' eq. 2).

    ``forward(logits, target)``: ``logits`` ``(B, 1, H, W)``, ``target`` ``(B, 1, H, W)`` in
    {0, 1}; returns a scalar.
    """

    def __init__(self, rank_weight: float = 0.05, k: int = 30, margin: float = 0.3) -> None:
        super().__init__()
        self.rank_weight = float(rank_weight)
        self.k = int(k)
        self.margin = float(margin)
        self.dice = DiceLoss(mode="binary", from_logits=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        target = target.to(logits.dtype)
        loss = self.dice(logits, target)
        if self.rank_weight:
            loss = loss + self.rank_weight * rank_loss(logits, target, self.k, self.margin)
        return loss

    def extra_repr(self) -> str:
        return f"rank_weight={self.rank_weight}, k={self.k}, margin={self.margin}"


class MultitaskLoss(nn.Module):
    """Model 13's loss on a batch whose samples carry some of the three labels:

    ``L = w_mask L_mask + w_symmetry L_symmetry + w_lesion L_lesion``, each term over the
    samples that carry its label only:

    - ``L_mask``: :class:`HybridLoss` (Dice over the batch's masked samples pooled, plus
      ``rank_weight`` x the rank loss, as the segmentation stage) of ``outputs["mask"]``
      ``(B, 1, H, W)`` against ``targets["mask"]`` on the samples with ``targets["has_mask"]``;
    - ``L_symmetry``: cross-entropy of ``outputs["symmetry"]`` ``(B, 2)`` against
      ``targets["symmetry"]`` on the samples whose label is not :data:`MISSING`, weighted per
      class (``symmetry_weight``, thesis eq. 5; PyTorch's weighted mean: ``sum w_y l / sum w_y``);
    - ``L_lesion``: the same of ``outputs["logits"]`` ``(B, K)`` against ``targets["target"]``
      with ``lesion_weight``.

    A term whose label no sample of the batch carries is 0 (and its graph still connected, so
    ``backward()`` works). :meth:`terms` gives each term and its sample count.

    Args:
        weights: ``{"mask", "symmetry", "lesion"}`` (config ``multitask.weights``).
        mask_loss: the segmentation loss (:func:`selcn.segmentation.segmentation_loss`).
        class_weights: ``{"symmetry": (2,), "lesion": (K,)}`` float tensors, or None entries
            (unweighted cross-entropy).
    """

    def __init__(self, weights: Mapping[str, float], mask_loss: HybridLoss,
                 class_weights: Mapping[str, torch.Tensor | None] | None = None) -> None:
        super().__init__()
        missing = [t for t in MULTITASK_TERMS if t not in weights]
        if missing:
            raise ValueError(f"MultitaskLoss: weights lack {missing}")
        self.weights = {t: float(weights[t]) for t in MULTITASK_TERMS}
        self.mask_loss = mask_loss
        class_weights = dict(class_weights or {})
        for task in ("symmetry", "lesion"):
            w = class_weights.get(task)
            self.register_buffer(f"{task}_weight",
                                 None if w is None else torch.as_tensor(w, dtype=torch.float32))

    def terms(self, outputs: Mapping[str, torch.Tensor],
              targets: Mapping[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, int]]:
        """``{term: (loss of the term, samples that carry its label)}`` of one batch."""
        anchor = outputs["logits"].float().sum() * 0.0          # a connected zero
        has_mask = targets["has_mask"].bool()
        out = {}
        n = int(has_mask.sum())
        out["mask"] = (self.mask_loss(outputs["mask"][has_mask].float(),
                                      targets["mask"][has_mask]) if n else anchor, n)
        for term, key, target_key in (("symmetry", "symmetry", "symmetry"),
                                      ("lesion", "logits", "target")):
            labels = targets[target_key].long()
            known = labels != MISSING
            n = int(known.sum())
            weight = getattr(self, f"{term}_weight")
            if n and weight is not None and not bool(weight[labels[known]].sum() > 0):
                n = 0           # only classes of weight 0 (absent from training): no term
            out[term] = (F.cross_entropy(outputs[key][known].float(), labels[known],
                                         weight=weight) if n else anchor, n)
        return out

    def forward(self, outputs: Mapping[str, torch.Tensor],
                targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
        terms = self.terms(outputs, targets)
        return sum(self.weights[t] * terms[t][0] for t in MULTITASK_TERMS)

    def extra_repr(self) -> str:
        return ", ".join(f"{t}={w}" for t, w in self.weights.items())
