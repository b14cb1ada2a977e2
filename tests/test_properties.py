"""Property-based tests (hypothesis) of the method math over random shapes and edge cases."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlib.methods.h2t import fuse, fusion_channels
from ltlib.methods.smart import ClassStatistics, SmartTransfer, batch_class_moments

FAST = settings(max_examples=40, deadline=None)


@st.composite
def labelled_maps(draw, max_classes=6):
    classes = draw(st.integers(1, max_classes))
    batch = draw(st.integers(1, 9))
    channels = draw(st.integers(1, 6))
    size = draw(st.integers(1, 3))
    labels = torch.tensor(draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    seed = draw(st.integers(0, 2**16))
    features = torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))
    return classes, labels, features


@FAST
@given(labelled_maps())
def test_moments_are_finite_psd_and_zero_for_absent_classes(sample):
    classes, labels, features = sample
    counts, means, covariances = batch_class_moments(features, labels, classes)
    assert counts.sum() == len(labels) and torch.isfinite(covariances).all()
    eigenvalues = torch.linalg.eigvalsh(covariances.double())
    assert (eigenvalues > -1e-5).all()  # covariance matrices are positive semi-definite
    absent = counts == 0
    assert (means[absent] == 0).all() and (covariances[absent] == 0).all()


@FAST
@given(labelled_maps(), st.floats(0.0, 1.0))
def test_statistics_stay_finite_under_any_momentum(sample, momentum):
    classes, labels, features = sample
    stats = ClassStatistics(classes, features.shape[1], "cpu", momentum)
    for _ in range(3):
        stats.update(features, labels)
    assert torch.isfinite(stats.mean).all() and torch.isfinite(stats.covariance).all()
    assert stats.seen.sum() == 3 * len(labels)


@FAST
@given(labelled_maps(max_classes=5), st.floats(1e-3, 1e3), st.booleans(), st.sampled_from(["both", "head", "tail"]))
def test_smart_output_shape_finiteness_and_head_samples_untouched(sample, tau, normalize, source):
    _, labels, features = sample
    counts = [500, 300, 150, 40, 10]  # head 0-2, tail 3-4; one-sample classes arise from the labels
    smart = SmartTransfer("layer3", counts, tau=tau, covariance_source=source, normalize=normalize)
    augmentable = torch.ones(len(labels), dtype=torch.bool)
    picks = smart.draw_picks(labels, torch.Generator().manual_seed(0))
    out = smart.apply(features, labels, augmentable, picks)
    assert out.shape == features.shape and torch.isfinite(smart.last_weights).all()
    head = labels < 3
    assert torch.equal(out[head], features[head]) and (smart.last_weights[head] == 1).all()
    if normalize:
        assert torch.isfinite(out).all()


@FAST
@given(st.integers(1, 5), st.integers(1, 70), st.floats(0.0, 1.0), st.sampled_from(["random", "first", "middle", "last"]))
def test_fusion_replaces_exactly_int_p_d_channels(batch, channels, p, selection):
    fused, fusing = torch.randn(batch, channels, 2, 2), torch.randn(batch, channels, 2, 2) + 100
    picked = fusion_channels(p, channels, selection, torch.Generator().manual_seed(1))
    out = fuse(fused, fusing, picked)
    from_fusing = (out == fusing).all(dim=(0, 2, 3))
    assert int(from_fusing.sum()) == int(p * channels) == picked.unique().numel()
    assert torch.equal(out[:, ~from_fusing], fused[:, ~from_fusing])


def test_a_single_class_dataset_has_no_smart_but_moments_work():
    labels = torch.zeros(4, dtype=torch.long)
    counts, means, covariances = batch_class_moments(torch.randn(4, 3, 2, 2), labels, 1)
    assert counts.tolist() == [4] and covariances.shape == (1, 3, 3)
    import pytest

    with pytest.raises(ValueError, match="SMART needs head and tail classes"):
        SmartTransfer("layer3", [500])
