"""Rank loss and hybrid loss against direct (loop) references."""

import pytest
import torch

from selcn.losses import HybridLoss, rank_loss


def rank_loss_reference(prob: torch.Tensor, target: torch.Tensor, k: int, margin: float) -> float:
    """Eq. 4 of the thesis written out with Python loops, image by image."""
    losses = []
    for p, t in zip(prob.reshape(prob.shape[0], -1), target.reshape(target.shape[0], -1)):
        bg = sorted(p[t < 0.5].tolist(), reverse=True)[:k]      # hardest background: highest p
        les = sorted(p[t > 0.5].tolist())[:k]                   # hardest lesion: lowest p
        if not bg or not les:
            continue
        total = 0.0
        for h0 in bg:
            for h1 in les:
                total += max(0.0, h0 - h1 + margin)
        losses.append(total / (len(bg) * len(les)))
    return sum(losses) / len(losses) if losses else 0.0


def random_case(seed, batch=3, side=8, lesion_fraction=0.4):
    g = torch.Generator().manual_seed(seed)
    prob = torch.rand(batch, 1, side, side, generator=g)
    target = (torch.rand(batch, 1, side, side, generator=g) < lesion_fraction).float()
    return prob, target


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 30])
def test_rank_loss_matches_loop_reference(seed, k):
    prob, target = random_case(seed)
    got = rank_loss(prob, target, k=k, margin=0.3, from_logits=False)
    assert got.item() == pytest.approx(rank_loss_reference(prob, target, k, 0.3), rel=1e-5)


def test_rank_loss_fewer_than_k_pixels_uses_all_available():
    prob, target = random_case(3, batch=2, side=6)
    target.zero_()
    target[0, 0, 1, 1] = 1        # image 0: one lesion pixel, 35 background pixels
    target[0, 0, 2, 3] = 1        # two lesion pixels
    target[1] = 1
    target[1, 0, 0, :4] = 0       # image 1: four background pixels
    got = rank_loss(prob, target, k=10, margin=0.3, from_logits=False)
    want = rank_loss_reference(prob, target, 10, 0.3)
    assert want > 0
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_rank_loss_skips_images_without_lesion_or_background():
    prob, target = random_case(4, batch=3, side=6)
    target[0] = 0                 # no lesion: contributes nothing
    target[2] = 1                 # no background: contributes nothing
    got = rank_loss(prob, target, k=4, margin=0.3, from_logits=False)
    only_middle = rank_loss_reference(prob[1:2], target[1:2], 4, 0.3)
    assert got.item() == pytest.approx(only_middle, rel=1e-5)


def test_rank_loss_without_any_pair_is_zero_and_differentiable():
    logits = torch.randn(2, 1, 4, 4, requires_grad=True)
    loss = rank_loss(logits, torch.zeros(2, 1, 4, 4), k=3)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_rank_loss_from_logits_and_gradient_reaches_hard_pixels_only():
    prob, target = random_case(5, batch=1, side=5)
    logits = torch.logit(prob).requires_grad_(True)
    loss = rank_loss(logits, target, k=2, margin=1.0)        # margin 1: every pair is active
    assert loss.item() == pytest.approx(rank_loss_reference(prob, target, 2, 1.0), rel=1e-5)
    loss.backward()
    assert int((logits.grad != 0).sum()) == 4                # 2 background + 2 lesion pixels


def test_rank_loss_is_zero_when_separated_by_margin():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    prob = torch.where(target > 0, torch.tensor(0.9), torch.tensor(0.1))
    assert rank_loss(prob, target, k=30, margin=0.3, from_logits=False).item() == 0.0
    assert rank_loss(prob, target, k=30, margin=0.9, from_logits=False).item() == pytest.approx(0.1)


def test_rank_loss_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        rank_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4))


def test_hybrid_loss_is_dice_plus_weighted_rank():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 1, 8, 8, generator=g)
    target = (torch.rand(2, 1, 8, 8, generator=g) < 0.3).float()
    p = torch.sigmoid(logits)
    dice = 1 - 2 * (p * target).sum() / (p.sum() + target.sum())   # over the whole batch
    rank = rank_loss_reference(p, target, 30, 0.3)
    assert (HybridLoss(rank_weight=0.0)(logits, target).item()
            == pytest.approx(dice.item(), rel=1e-5))
    got = HybridLoss(rank_weight=0.05, k=30, margin=0.3)(logits, target)
    assert got.item() == pytest.approx(dice.item() + 0.05 * rank, rel=1e-5)


def test_hybrid_loss_perfect_prediction_is_near_zero():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    logits = (target * 2 - 1) * 20
    assert HybridLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-4)


# ---- model 13's partial-label loss ------------------------------------------------------------
def _partial_batch():
    """Four samples: 0 has every label, 1 a class and a mask, 2 a symmetry label and a mask
    (a symmetry-only image), 3 only a class (a dataset without masks)."""
    g = torch.Generator().manual_seed(3)
    outputs = {"logits": torch.randn(4, 3, generator=g), "symmetry": torch.randn(4, 2, generator=g),
               "mask": torch.randn(4, 1, 4, 4, generator=g)}
    mask = (torch.rand(4, 1, 4, 4, generator=g) < 0.4).float()
    targets = {"target": torch.tensor([2, 0, -1, 1]), "symmetry": torch.tensor([1, -1, 0, -1]),
               "mask": mask, "has_mask": torch.tensor([True, True, True, False])}
    return outputs, targets


def _weighted_ce(logits, labels, weight):
    """sum_i w_{y_i} (-log softmax(x_i)_{y_i}) / sum_i w_{y_i}, by hand."""
    num = den = 0.0
    for x, y in zip(logits, labels):
        log_p = x[y] - torch.logsumexp(x, 0)
        num += -weight[y].item() * log_p.item()
        den += weight[y].item()
    return num / den


def test_multitask_loss_against_a_hand_computation():
    """Each term over the samples that carry its label only, weighted as the config says: Dice
    over samples 0-2 pooled, symmetry cross-entropy over 0 and 2, lesion over 0, 1, 3."""
    from selcn.losses import HybridLoss, MultitaskLoss

    outputs, targets = _partial_batch()
    lesion_w, sym_w = torch.tensor([0.5, 1.0, 2.0]), torch.tensor([3.0, 1.0])
    loss = MultitaskLoss({"mask": 0.5, "symmetry": 2.0, "lesion": 1.5},
                         HybridLoss(rank_weight=0.0),
                         {"lesion": lesion_w, "symmetry": sym_w})
    p = torch.sigmoid(outputs["mask"][:3])
    t = targets["mask"][:3]
    dice = 1 - 2 * (p * t).sum().item() / (p.sum().item() + t.sum().item())
    sym = _weighted_ce(outputs["symmetry"][[0, 2]], [1, 0], sym_w)
    les = _weighted_ce(outputs["logits"][[0, 1, 3]], [2, 0, 1], lesion_w)
    terms = loss.terms(outputs, targets)
    assert terms["mask"][1] == 3 and terms["symmetry"][1] == 2 and terms["lesion"][1] == 3
    assert terms["mask"][0].item() == pytest.approx(dice, rel=1e-5)
    assert terms["symmetry"][0].item() == pytest.approx(sym, rel=1e-5)
    assert terms["lesion"][0].item() == pytest.approx(les, rel=1e-5)
    assert loss(outputs, targets).item() == pytest.approx(0.5 * dice + 2.0 * sym + 1.5 * les,
                                                          rel=1e-5)


def test_multitask_loss_mask_term_is_the_segmentation_stages_on_the_masked_samples():
    """With the rank loss on, the mask term is HybridLoss of the samples with a mask only (the
    unlabelled sample's prediction changes nothing)."""
    from selcn.losses import HybridLoss, MultitaskLoss

    outputs, targets = _partial_batch()
    hybrid = HybridLoss(rank_weight=0.05, k=3, margin=0.3)
    loss = MultitaskLoss({"mask": 1.0, "symmetry": 0.0, "lesion": 0.0}, hybrid)
    expected = hybrid(outputs["mask"][:3], targets["mask"][:3]).item()
    assert loss(outputs, targets).item() == pytest.approx(expected, rel=1e-6)
    changed = {**outputs, "mask": outputs["mask"].clone()}
    changed["mask"][3] += 5.0                                    # sample 3 has no mask
    assert loss(changed, targets).item() == pytest.approx(expected, rel=1e-6)


def test_multitask_loss_without_a_label_in_the_batch_is_zero_and_backpropagates():
    from selcn.losses import MISSING, HybridLoss, MultitaskLoss

    outputs, targets = _partial_batch()
    outputs = {k: v.requires_grad_(True) for k, v in outputs.items()}
    none = {"target": torch.full((4,), MISSING), "symmetry": torch.full((4,), MISSING),
            "mask": targets["mask"], "has_mask": torch.zeros(4, dtype=torch.bool)}
    loss = MultitaskLoss({"mask": 1.0, "symmetry": 1.0, "lesion": 1.0}, HybridLoss())
    value = loss(outputs, none)
    assert value.item() == 0.0
    value.backward()                                             # connected, no error
    assert all(t[1] == 0 for t in loss.terms(outputs, none).values())
    with pytest.raises(ValueError, match="weights lack"):
        MultitaskLoss({"mask": 1.0}, HybridLoss())
