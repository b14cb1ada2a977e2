"""Each loss against a hand computation."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ltlib.methods.losses import LongTailLoss, drw_class_weights, ldam_margins, reduce_loss

COUNTS = [100, 30, 10]
LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
TARGETS = torch.tensor([0, 2])


def hand_ce(logits_row, target):
    return -(logits_row[target] - math.log(sum(math.exp(v) for v in logits_row)))


def test_cross_entropy():
    losses = LongTailLoss("ce", COUNTS).per_sample(LOGITS, TARGETS)
    expected = [hand_ce(LOGITS[i].tolist(), int(TARGETS[i])) for i in range(2)]
    torch.testing.assert_close(losses, torch.tensor(expected))


@pytest.mark.parametrize("name", ["bsce", "la"])
def test_balanced_softmax_and_logit_adjustment_add_log_prior(name):
    losses = LongTailLoss(name, COUNTS).per_sample(LOGITS, TARGETS)
    prior = [c / sum(COUNTS) for c in COUNTS]
    expected = [hand_ce([z + math.log(p) for z, p in zip(LOGITS[i].tolist(), prior)], int(TARGETS[i]))
                for i in range(2)]
    torch.testing.assert_close(losses, torch.tensor(expected))


def test_ldam_subtracts_scaled_margin_from_the_target_logit():
    margins = [0.5 * (c ** -0.25) / (10 ** -0.25) for c in COUNTS]
    torch.testing.assert_close(ldam_margins(COUNTS), torch.tensor(margins))
    losses = LongTailLoss("ldam", COUNTS).per_sample(LOGITS, TARGETS)
    expected = []
    for i in range(2):
        row = LOGITS[i].tolist()
        target = int(TARGETS[i])
        row[target] -= margins[target]
        expected.append(hand_ce([30 * z for z in row], target))
    torch.testing.assert_close(losses, torch.tensor(expected))


def test_drw_weights_and_schedule():
    beta = 0.9999
    raw = [(1 - beta) / (1 - beta ** c) for c in COUNTS]
    expected = torch.tensor([w / sum(raw) * 3 for w in raw])
    torch.testing.assert_close(drw_class_weights(COUNTS), expected)
    loss = LongTailLoss("ldam", COUNTS, drw_epoch=160)
    assert loss.class_weights(159) is None
    torch.testing.assert_close(loss.class_weights(160), expected)
    assert LongTailLoss("ce", COUNTS).class_weights(500) is None


def test_reduce_loss_matches_torch_weighted_cross_entropy_and_eq10():
    logits = torch.randn(6, 3)
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    weights = torch.tensor([0.2, 1.0, 3.0])
    per_sample = F.cross_entropy(logits, targets, reduction="none")
    torch.testing.assert_close(reduce_loss(per_sample, targets, weights),
                               F.cross_entropy(logits, targets, weight=weights))
    omega = torch.rand(6)
    torch.testing.assert_close(reduce_loss(per_sample, targets, None, omega), (omega * per_sample).mean())


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        LongTailLoss("focal", COUNTS)


@pytest.mark.parametrize("name", ["ce", "bsce", "la", "ldam"])
def test_bf16_logits_get_their_adjustments_and_cross_entropy_in_float32(name):
    generator = torch.Generator().manual_seed(0)
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    logits = torch.randn(256, 10, generator=generator).clamp(-1, 1)  # cosine-range logits, as LDAM's
    targets = torch.randint(0, 10, (256,), generator=generator)
    loss = LongTailLoss(name, counts)
    low = logits.to(torch.bfloat16)
    losses = loss.per_sample(low, targets)
    assert losses.dtype == torch.float32
    # exactly the float32 loss of the same (bf16-rounded) logits: nothing after the logits is rounded to bf16
    assert torch.equal(losses, loss.per_sample(low.float(), targets))
    rounded_inside = F.cross_entropy(
        (low + loss.log_prior.to(torch.bfloat16)) if name in ("bsce", "la") else
        (30 * (low - (loss.margins.to(torch.bfloat16)[targets][:, None]
                      * F.one_hot(targets, 10).to(torch.bfloat16)))) if name == "ldam" else low,
        targets, reduction="none").float()
    if name != "ce":  # the old bf16 adjustment differs measurably from the float32 one
        assert (rounded_inside - losses).abs().max() > 1e-3


def test_logit_adjustment_at_tau_one_is_balanced_softmax_bit_for_bit():
    """Why SMART Table 1's Logit Adj. row reads the BSCE run: same losses and gradients, exactly."""
    generator = torch.Generator().manual_seed(3)
    counts = torch.randint(5, 5000, (10,), generator=generator).tolist()
    targets = torch.randint(0, 10, (64,), generator=generator)
    grads = []
    for name in ("la", "bsce"):
        logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(4)).requires_grad_()
        losses = LongTailLoss(name, counts).per_sample(logits, targets)
        losses.mean().backward()
        grads.append((losses.detach(), logits.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
