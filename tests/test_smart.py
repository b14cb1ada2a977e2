"""SMART's equations on random tensors, its edge cases, and an end-to-end run."""
from __future__ import annotations


import pytest
import torch

from ltlib.methods.smart import (ClassStatistics, SmartTransfer, augment_features, batch_class_moments,
                                 normalized_transfer, semantic_weights, smart_seam, transfer_covariance)
from ltlib.methods.smart_heads import (RELATIVE_DRAW_RANGE, draw_head_picks, head_class_mask, head_classes_of,
                                       relative_candidates, relative_heads)
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
    # the covariance is that of the two batches' positions weighted 0.9 / 0.1 about their weighted mean
    old, new = rows_of(first, torch.tensor([0, 0]), 0), rows_of(second, torch.tensor([0]), 0)
    weights = torch.cat([torch.full((len(old),), 0.9 / len(old)), torch.full((len(new),), 0.1 / len(new))])
    rows = torch.cat([old, new])
    centred = rows - (weights[:, None] * rows).sum(0)
    torch.testing.assert_close(stats.covariance[0], (weights[:, None] * centred).T @ centred, atol=1e-5, rtol=1e-5)


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


def test_eq6_multiplies_each_row_by_an_unsymmetric_sigma_th_from_the_right():
    """Eq. 6 is ``F~ = z Sigma_th + mu`` for the rows ``z`` of the whitened map (HW, C): with a triangular
    ``Sigma_th`` (as unsymmetric as Gamma's row softmax makes it) ``Sigma_th^T`` would give another map."""
    rows, mean, variance = torch.randn(2, 6, 3), torch.randn(2, 3), torch.rand(2, 3) + 0.5
    sigma_th = torch.triu(torch.randn(2, 3, 3)) + 2 * torch.eye(3)
    out = augment_features(rows, mean, variance, sigma_th)
    for n in range(2):
        for p in range(6):
            z = [float(rows[n, p, j] - mean[n, j]) / (float(variance[n, j]) + 1e-8) ** 0.5 for j in range(3)]
            for k in range(3):
                expected = sum(z[j] * float(sigma_th[n, j, k]) for j in range(3)) + float(mean[n, k])
                assert float(out[n, p, k]) == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_an_augmented_tail_map_is_eq6_of_the_running_statistics():
    """SmartTransfer.apply rebuilt by hand: the running mean and diag(Sigma_t) whiten, ``N(Gamma ⊙ N(S))``
    times the tail's RMS standard deviation mixes (the module docstring's scale-free form); head samples and
    samples outside the tail batch keep their map."""
    smart = transfer(tau=0.7)
    labels = torch.tensor([0, 1, 2, 3, 4, 3, 4, 0])
    from_tail_batch = torch.tensor([True] * 6 + [False] * 2)
    features = maps_of(labels, seed=4)
    picks = smart.draw_picks(labels, torch.Generator().manual_seed(9))
    out = smart.apply(features, labels, from_tail_batch, picks)
    heads = head_classes_of(labels, smart.table, smart.sizes, picks)
    stats = smart.statistics
    for i in range(8):
        if not (from_tail_batch[i] and labels[i] >= 3):
            assert torch.equal(out[i], features[i])
            continue
        sigma_t, sigma_h = stats.covariance[labels[i]], stats.covariance[heads[i]]
        s = sigma_t.T @ sigma_h
        s = s * 2.0 / torch.linalg.matrix_norm(s)
        sigma_th = torch.softmax(0.7 * s, -1) * s
        sigma_th = sigma_th * 2.0 / torch.linalg.matrix_norm(sigma_th)
        variance = sigma_t.diagonal()
        rows = features[i].reshape(4, -1).T
        expected = (rows - stats.mean[labels[i]]) / (variance + 1e-8).sqrt() @ (sigma_th * variance.mean().sqrt())
        expected = (expected + stats.mean[labels[i]]).T.reshape(4, 3, 3)
        torch.testing.assert_close(out[i], expected, atol=1e-4, rtol=1e-4)


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
    heads = head_classes_of(labels, smart.table, smart.sizes, picks)
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
    sizes = torch.full((5,), 3)
    online = head_classes_of(torch.full((3000,), 4), heads, sizes, draw_head_picks(3000, 3, generator, "cpu"))
    assert set(online.tolist()) == {0, 1, 2} and abs((online == 1).float().mean() - 1 / 3) < 0.03
    candidates = torch.tensor([[0, 1]] * 4 + [[2, 2]])
    offline = head_classes_of(torch.tensor([4, 3, 3, 3]), candidates, torch.full((5,), 2),
                              draw_head_picks(4, 2, generator, "cpu"))
    assert offline[0] == 2 and set(offline[1:].tolist()) <= {0, 1}


@pytest.mark.parametrize("rule, heads", [("many", 3), ("half", 4), ("offline", 2)])
def test_the_many_and_half_rules_draw_as_before_the_relative_rule(rule, heads):
    """Runs stored before the relative rule existed drew ``randint(0, width)`` (online: the head classes; offline:
    the top-k) and took that position: their draws are unchanged, with data parallelism's layout too."""
    from ltlib.data.streaming import Layout

    counts = [500, 300, 150, 90, 40, 10, 5]  # many: 3 head classes; half: 4
    candidates = (torch.tensor([[0, 1]] * 3 + [[1, 2], [2, 0], [0, 2], [1, 0]]), torch.full((7,), 2))
    smart = SmartTransfer("layer3", counts, head_rule="many" if rule == "offline" else rule,
                          candidates=candidates if rule == "offline" else None)
    labels = torch.tensor([3, 4, 6, 5, 4, 6])
    picks = smart.draw_picks(labels, torch.Generator().manual_seed(3))
    assert torch.equal(picks, torch.randint(0, heads, (6,), generator=torch.Generator().manual_seed(3)))
    expected = candidates[0][labels, picks] if rule == "offline" else picks  # online heads are classes 0..heads-1
    assert torch.equal(head_classes_of(labels, smart.table, smart.sizes, picks), expected)
    layout = Layout(total=10, positions=torch.tensor([1, 3, 5, 7, 8, 9]))
    shared = smart.draw_picks(labels, torch.Generator().manual_seed(4), layout)
    whole = torch.randint(0, heads, (10,), generator=torch.Generator().manual_seed(4))
    assert torch.equal(shared, whole[layout.positions])


def test_head_rules():
    assert head_class_mask([500, 300, 150, 40, 10], "many").tolist() == [True, True, True, False, False]
    assert head_class_mask([500, 300, 150, 40, 10], "half").tolist() == [True, True, True, False, False]
    assert head_class_mask([500, 300, 150, 40], "half").tolist() == [True, True, False, False]
    assert head_class_mask([300, 500, 500, 40], "relative").tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="SMART needs head and tail classes"):
        SmartTransfer("layer3", [50, 40, 30])
    with pytest.raises(ValueError, match="SMART needs head and tail classes; head rule 'relative'"):
        SmartTransfer("layer3", [30, 30, 30], head_rule="relative")
    with pytest.raises(ValueError, match="smart_head_rule='tail'"):
        head_class_mask([3, 2, 1], "tail")


def test_relative_heads_are_the_classes_with_more_images():
    counts = [40, 500, 150, 150, 10, 300]
    order, sizes = relative_heads(counts)
    for k, n in enumerate(counts):
        assert set(order[: sizes[k]].tolist()) == {c for c, m in enumerate(counts) if m > n}


def test_relative_online_draws_are_uniform_over_each_class_s_own_heads():
    counts = [500, 300, 150, 40, 10]
    smart = SmartTransfer("layer3", counts, head_rule="relative")
    assert smart.choices == RELATIVE_DRAW_RANGE and smart.is_head.tolist() == [True, False, False, False, False]
    labels = torch.tensor([1, 2, 4] * 4000)
    heads = head_classes_of(labels, smart.table, smart.sizes, smart.draw_picks(labels, torch.Generator().manual_seed(0)))
    assert set(heads[labels == 1].tolist()) == {0}
    assert set(heads[labels == 2].tolist()) == {0, 1}
    of_4 = heads[labels == 4]
    assert set(of_4.tolist()) == {0, 1, 2, 3}
    assert all(abs(float((of_4 == c).float().mean()) - 0.25) < 0.03 for c in range(4))


def test_relative_offline_candidates_rank_each_class_s_own_heads_by_similarity():
    counts = [500, 300, 150, 40, 10]
    similarity = torch.tensor([[1.0, 0.2, 0.9, 0.4, 0.3],
                               [0.2, 1.0, 0.5, 0.6, 0.7],
                               [0.9, 0.5, 1.0, 0.1, 0.8],
                               [0.4, 0.6, 0.1, 1.0, 0.6],
                               [0.3, 0.7, 0.8, 0.6, 1.0]])
    table, sizes = relative_candidates(similarity, counts, top_k=2)
    assert sizes.tolist() == [0, 1, 2, 2, 2]
    assert table[1, :1].tolist() == [0]
    assert table[2].tolist() == [0, 1]  # 0.9 before 0.5
    assert table[3].tolist() == [1, 0]  # 0.6 before 0.4, class 2 (0.1) not among the top 2
    assert table[4].tolist() == [2, 1]  # 0.8, 0.7; class 3 ties nothing and ranks below
    smart = SmartTransfer("layer3", counts, head_rule="relative", candidates=(table, sizes))
    labels = torch.tensor([1, 2, 3] * 500)
    heads = head_classes_of(labels, smart.table, smart.sizes, smart.draw_picks(labels, torch.Generator().manual_seed(1)))
    assert set(heads[labels == 1].tolist()) == {0} and set(heads[labels == 3].tolist()) == {0, 1}


def test_relative_rule_augments_every_class_but_the_largest_with_a_larger_class():
    counts = [500, 300, 150, 40, 10]
    smart = SmartTransfer("layer3", counts, head_rule="relative")
    labels = torch.tensor([0, 1, 2, 3, 4] * 4)
    features = maps_of(labels, seed=2)
    picks = smart.draw_picks(labels, torch.Generator().manual_seed(5))
    out = smart.apply(features, labels, torch.ones(20, dtype=torch.bool), picks)
    heads = head_classes_of(labels, smart.table, smart.sizes, picks)
    changed = (out != features).flatten(1).any(1)
    assert changed.tolist() == (labels != 0).tolist()
    assert all(counts[h] > counts[y] for h, y in zip(heads[labels != 0].tolist(), labels[labels != 0].tolist()))
    assert (smart.last_weights[labels == 0] == 1).all() and (smart.last_weights[labels != 0] >= 1).all()


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
    from ltlib.methods.smart_heads import head_class_mask

    def tail_share(n_max, classes, sampler):
        counts = long_tailed_counts(n_max, classes, 100)
        return float(class_probabilities(sampler, counts)[~head_class_mask(counts, "many")].sum())

    cifar10 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # FACTS: n_i = int(5000 * 0.01 ** (i / 9))
    assert list(long_tailed_counts(5000, 10, 100)) == cifar10
    assert tail_share(5000, 10, "balanced") == pytest.approx(2 / 10)
    reverse = (1 / 83 + 1 / 50) / sum(1 / n for n in cifar10)
    assert tail_share(5000, 10, "reverse") == pytest.approx(reverse) and round(100 * reverse) == 64
    assert tail_share(500, 100, "balanced") == pytest.approx(0.65)  # 35 many-shot classes of 100
