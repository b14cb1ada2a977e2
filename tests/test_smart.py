"""SMART's equations on random tensors, its edge cases, and an end-to-end run."""
from __future__ import annotations


import pytest
import torch

from ltlib.methods.smart import (ClassStatistics, SmartTransfer, augment_features, batch_class_moments,
                                 draw_head_picks, head_class_mask, head_classes_of, normalized_transfer,
                                 semantic_weights, smart_seam, transfer_covariance)
from ltlib.models import build_model


def maps_of(labels, channels=4, size=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(len(labels), channels, size, size, generator=generator) * 2 + 1


def rows_of(features, labels, cls):
    chosen = features[labels == cls]
    return chosen.reshape(chosen.shape[0], chosen.shape[1], -1).transpose(1, 2).reshape(-1, chosen.shape[1])


def test_batch_moments_equal_population_statistics_over_positions():
    labels = torch.tensor([0, 1, 1, 2, 1])
    features = maps_of(labels)
    counts, means, covs = batch_class_moments(features, labels, 4)
    assert counts.tolist() == [1, 3, 1, 0]
    for cls in (0, 1, 2):
        rows = rows_of(features, labels, cls)
        torch.testing.assert_close(means[cls], rows.mean(0))
        torch.testing.assert_close(covs[cls], torch.cov(rows.T, correction=0), atol=1e-5, rtol=1e-5)
    assert (means[3] == 0).all() and (covs[3] == 0).all()


def test_dynamic_momentum_gives_exact_statistics_of_everything_seen():
    stats = ClassStatistics(3, 4, "cpu", momentum=0.0)
    seen = []
    for step in range(5):
        labels = torch.randint(0, 3, (7,), generator=torch.Generator().manual_seed(step))
        features = maps_of(labels, seed=step) * (step + 1)  # batches with different means and scales
        stats.update(features, labels)
        seen.append((features, labels))
    features = torch.cat([f for f, _ in seen])
    labels = torch.cat([l for _, l in seen])
    for cls in range(3):
        rows = rows_of(features, labels, cls)
        assert stats.seen[cls] == (labels == cls).sum()
        torch.testing.assert_close(stats.mean[cls], rows.mean(0), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(stats.covariance[cls], torch.cov(rows.T, correction=0), atol=1e-3, rtol=1e-4)


def test_fixed_momentum_initialises_then_mixes():
    stats = ClassStatistics(2, 4, "cpu", momentum=0.1)
    first = maps_of(torch.tensor([0, 0]), seed=1)
    stats.update(first, torch.tensor([0, 0]))
    torch.testing.assert_close(stats.mean[0], rows_of(first, torch.tensor([0, 0]), 0).mean(0))
    second = maps_of(torch.tensor([0]), seed=2)
    before = stats.mean[0].clone()
    stats.update(second, torch.tensor([0]))
    torch.testing.assert_close(stats.mean[0], 0.9 * before + 0.1 * rows_of(second, torch.tensor([0]), 0).mean(0))
    assert stats.seen[1] == 0 and (stats.mean[1] == 0).all()


@pytest.mark.parametrize("momentum, block", [(0.0, 0), (0.3, 0), (0.0, 2)])
def test_updating_every_class_at_once_equals_updating_the_batch_classes(momentum, block):
    """The static-shape update (every class, alpha = 0 for absent ones: no host read-back on a GPU) gives
    bit for bit what the gather of the batch's classes gives, absent and first-seen classes included."""
    static, gathered = (ClassStatistics(5, 4, "cpu", momentum=momentum, block=block) for _ in range(2))
    gathered.every_class = False
    assert static.every_class
    for step in range(6):
        labels = torch.randint(0, 3 if step < 2 else 5, (9,), generator=torch.Generator().manual_seed(step))
        features = maps_of(labels, seed=step) * (step + 1)
        static.update(features, labels)
        gathered.update(features, labels)
        for name in ("seen", "mean", "covariance"):
            assert torch.equal(getattr(static, name), getattr(gathered, name)), (step, name)
    assert (static.seen > 0).all()


def random_spd(n, channels, seed):
    a = torch.randn(n, channels, channels, generator=torch.Generator().manual_seed(seed))
    return a @ a.transpose(1, 2) / channels


def test_gamma_rows_sum_to_one_and_tau_controls_sharpness():
    sigma_t, sigma_h = random_spd(3, 5, 0), random_spd(3, 5, 1)
    similarity = sigma_t.transpose(1, 2) @ sigma_h
    result = transfer_covariance(sigma_t, sigma_h, tau=1.0)
    gamma = result / similarity
    torch.testing.assert_close(gamma.sum(-1), torch.ones(3, 5))
    flat = transfer_covariance(sigma_t, sigma_h, tau=1e-6) / similarity
    torch.testing.assert_close(flat, torch.full_like(flat, 0.2), atol=1e-4, rtol=0)
    sharp = transfer_covariance(sigma_t, sigma_h, tau=1e4) / similarity
    top = similarity.argmax(-1, keepdim=True)
    torch.testing.assert_close(sharp.gather(-1, top), torch.ones(3, 5, 1), atol=1e-4, rtol=0)


def test_covariance_sources():
    sigma_t, sigma_h = random_spd(2, 4, 0), random_spd(2, 4, 1)
    head = transfer_covariance(sigma_t, sigma_h, 1.0, "head")
    torch.testing.assert_close(head, torch.softmax(sigma_h, -1) * sigma_h)
    tail = transfer_covariance(sigma_t, sigma_h, 1.0, "tail")
    torch.testing.assert_close(tail, torch.softmax(sigma_t, -1) * sigma_t)
    with pytest.raises(ValueError, match="smart_covariance='mixed'"):
        transfer_covariance(sigma_t, sigma_h, 1.0, "mixed")
    with pytest.raises(ValueError, match="smart_tau=0"):
        transfer_covariance(sigma_t, sigma_h, 0, "both")


def test_eq6_with_the_batch_mean_keeps_the_mean():
    rows = torch.randn(1, 50, 4) * 3 + 2
    mean = rows.mean(1)
    variance = rows.var(1, unbiased=False)
    out = augment_features(rows, mean, variance, random_spd(1, 4, 3))
    torch.testing.assert_close(out.mean(1), mean, atol=1e-5, rtol=1e-5)
    identity = augment_features(rows, mean, variance, torch.diag_embed(variance.sqrt()))
    torch.testing.assert_close(identity, rows, atol=1e-4, rtol=1e-4)  # Sigma_th = diag(sigma): no change


def test_eq11_weights_against_an_independent_sum():
    sigma_th = torch.randn(3, 4, 4)
    expected = torch.tensor([sum(float(sigma_th[n, j, k]) for j in range(4) for k in range(4)) / 4 for n in range(3)])
    torch.testing.assert_close(semantic_weights(sigma_th), expected)


def test_normalized_transfer_has_the_identity_norm_and_keeps_direction():
    sigma_th = random_spd(4, 6, 2) * 1000
    hat = normalized_transfer(sigma_th)
    torch.testing.assert_close(torch.linalg.matrix_norm(hat), torch.full((4,), 6 ** 0.5))
    torch.testing.assert_close(hat / hat[:, :1, :1], sigma_th / sigma_th[:, :1, :1])
    assert semantic_weights(normalized_transfer(torch.eye(6)[None]))[0] == pytest.approx(1.0)


@pytest.mark.parametrize("normalize, form", [(True, "share"), (True, "frobenius"), (False, "share")])
def test_weights_match_eq11_recomputed_from_the_statistics(normalize, form):
    smart = transfer(tau=0.7, normalize=normalize, weight_form=form)
    labels = torch.tensor([0, 1, 2, 3, 4, 3, 4, 0])
    features = maps_of(labels, seed=4)
    picks = smart.draw_picks(labels, torch.Generator().manual_seed(9))
    smart.apply(features, labels, torch.ones(8, dtype=torch.bool), picks)
    heads = head_classes_of(labels, smart.head_classes, picks)
    cov = smart.statistics.covariance
    for i in (3, 4, 5, 6):  # tail samples
        s = cov[labels[i]].T @ cov[heads[i]]
        if normalize:
            s = s * 2.0 / torch.linalg.matrix_norm(s)  # sqrt(C) = 2
        sigma_th = torch.softmax(0.7 * s, -1) * s
        if normalize:
            sigma_th = sigma_th * 2.0 / torch.linalg.matrix_norm(sigma_th)
        if normalize and form == "share":
            total = float(sigma_th.abs().sum())
            expected = 1 + (total - float(sigma_th.diagonal().abs().sum())) / total
        else:
            expected = float(sigma_th.sum() / 4)
        assert float(smart.last_weights[i]) == pytest.approx(expected, rel=1e-4)


def transfer(**kwargs):
    counts = [500, 300, 150, 40, 10]  # head (many, >100): classes 0-2; tail: 3, 4
    return SmartTransfer("layer3", counts, **kwargs)


def test_weights_are_one_for_head_and_eq11_for_augmented_tail_samples():
    smart = transfer(tau=0.5)
    labels = torch.tensor([3, 4, 0, 1, 3, 0, 2, 4])
    from_tail_batch = torch.tensor([True] * 4 + [False] * 4)
    features = maps_of(labels)
    smart.apply(features, labels, from_tail_batch, smart.draw_picks(labels, torch.Generator().manual_seed(0)))
    weights = smart.last_weights
    augmented = from_tail_batch & (labels >= 3)
    assert (weights[~augmented] == 1).all()
    assert torch.isfinite(weights).all() and (weights[augmented] != 1).all()


def test_head_choice_online_and_offline():
    generator = torch.Generator().manual_seed(0)
    heads = torch.tensor([0, 1, 2])
    online = head_classes_of(torch.full((3000,), 4), heads, draw_head_picks(3000, 3, generator, "cpu"))
    assert set(online.tolist()) == {0, 1, 2} and abs((online == 1).float().mean() - 1 / 3) < 0.03
    candidates = torch.tensor([[0, 1]] * 4 + [[2, 2]])
    offline = head_classes_of(torch.tensor([4, 3, 3, 3]), heads, draw_head_picks(4, 2, generator, "cpu"), candidates)
    assert offline[0] == 2 and set(offline[1:].tolist()) <= {0, 1}


def test_head_rules():
    assert head_class_mask([500, 300, 150, 40, 10], "many").tolist() == [True, True, True, False, False]
    assert head_class_mask([500, 300, 150, 40, 10], "half").tolist() == [True, True, True, False, False]
    assert head_class_mask([500, 300, 150, 40], "half").tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="SMART needs head and tail classes"):
        SmartTransfer("layer3", [50, 40, 30])


def test_a_class_seen_once_and_batches_without_tail_or_head_stay_finite():
    smart = transfer()
    one = torch.ones(1, 4, 3, 3)  # a single constant map: zero variance
    tail = torch.tensor([4])
    out = smart.apply(one, tail, torch.tensor([True]), smart.draw_picks(tail, torch.Generator()))
    assert torch.isfinite(out).all() and torch.equal(out, one)  # no head statistics yet: unchanged
    head_only = torch.tensor([0, 1, 2, 0])
    out = smart.apply(maps_of(head_only), head_only, torch.ones(4, dtype=torch.bool),
                      smart.draw_picks(head_only, torch.Generator()))
    assert torch.isfinite(out).all() and (smart.last_weights == 1).all()
    tail_only = torch.tensor([4, 4, 3])
    out = smart.apply(maps_of(tail_only, seed=5), tail_only, torch.ones(3, dtype=torch.bool),
                      smart.draw_picks(tail_only, torch.Generator()))
    assert torch.isfinite(out).all() and torch.isfinite(smart.last_weights).all()


def test_layers_map_to_the_last_four_stages():
    model = build_model("resnet32", 10)
    assert [smart_seam(model, k) for k in (1, 2, 3, 4)] == ["stem", "layer1", "layer2", "layer3"]
    assert smart_seam(build_model("resnet50", 10), 1) == "layer1"
    with pytest.raises(ValueError, match="smart_layer=5"):
        smart_seam(model, 5)


def test_gradients_reach_the_backbone_through_augmented_features_and_eval_is_untouched():
    torch.manual_seed(0)
    model = build_model("resnet32", 5)
    smart = transfer(tau=0.1)
    labels = torch.tensor([0, 1, 2, 3, 4, 3, 0, 1])
    images = torch.randn(8, 3, 32, 32)
    mask = torch.tensor([True] * 4 + [False] * 4)
    hook = smart.hook(model, labels, mask, smart.draw_picks(labels, torch.Generator().manual_seed(1)))
    model.train()
    model(images, hook=hook)  # first pass fills statistics for every class
    rows = {}

    def grab(seam, h):
        out = hook(seam, h)
        if seam == "layer3":
            rows["in"], rows["out"] = h, out
        return out

    loss = torch.nn.functional.cross_entropy(model(images, hook=grab), labels)
    loss.backward()
    assert not torch.equal(rows["in"][3], rows["out"][3])  # a tail sample of the tail batch was augmented
    assert model.stages["stem"][0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        seen_before = smart.statistics.seen.clone()
        assert torch.equal(model(images, hook=hook), model(images))  # SMART costs nothing at inference
        assert torch.equal(smart.statistics.seen, seen_before)  # and learns nothing from test data


def test_how_tail_dominated_the_tail_batch_is_as_the_docstring_says():
    """The shares of tail classes in the tail-dominated batch that ltlib.methods.smart ("Batches") states, under the
    many rule: 65 % (balanced) on CIFAR-100-LT IF 100; 20 % (balanced) and 64 % (reverse) on CIFAR-10-LT IF 100."""
    from ltlib.data.longtail import long_tailed_counts
    from ltlib.data.samplers import class_probabilities
    from ltlib.methods.smart import head_class_mask

    def tail_share(n_max, classes, sampler):
        counts = long_tailed_counts(n_max, classes, 100)
        return float(class_probabilities(sampler, counts)[~head_class_mask(counts, "many")].sum())

    cifar10 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # FACTS: n_i = int(5000 * 0.01 ** (i / 9))
    assert list(long_tailed_counts(5000, 10, 100)) == cifar10
    assert tail_share(5000, 10, "balanced") == pytest.approx(2 / 10)
    reverse = (1 / 83 + 1 / 50) / sum(1 / n for n in cifar10)
    assert tail_share(5000, 10, "reverse") == pytest.approx(reverse) and round(100 * reverse) == 64
    assert tail_share(500, 100, "balanced") == pytest.approx(0.65)  # 35 many-shot classes of 100
