"""Issue-15 decisions, pinned: the papers' schedules, SMART's batches, its scale-free Eq. 4 and 11, the
divergence of the literal formulas, H2T's table rows and the stage-I weights stage II starts from."""
from __future__ import annotations

import math

import pytest
import torch

from ltlib.config import profile
from ltlib.methods.smart import SmartObjective, share_weights, transfer_covariance
from ltlib.models import build_model
from ltlib.results import save_result
from ltlib.schedules import config_learning_rate, schedule_of
from ltlib.train import NonFiniteLossError, train_stage_one
from test_train import tiny_config, tiny_data


def ldam_drw_learning_rate(epoch: int, lr: float = 0.1) -> float:
    """Independent transcription of CMO's / LDAM-DRW's CIFAR ``adjust_learning_rate`` (1-based epochs)."""
    epoch = epoch + 1
    if epoch <= 5:
        return lr * epoch / 5
    if epoch > 180:
        return lr * 0.0001
    if epoch > 160:
        return lr * 0.01
    return lr


def test_cmo_schedule_equals_the_code_smart_follows_at_every_epoch():
    config = profile("paper", schedule="cmo")
    assert schedule_of(config) == "cmo"
    for epoch in range(200):
        assert config_learning_rate(config, epoch) == pytest.approx(ldam_drw_learning_rate(epoch), rel=1e-12), epoch
    assert config_learning_rate(config, 159) == pytest.approx(0.1) and config_learning_rate(config, 160) == pytest.approx(1e-3)


def test_mislas_schedule_is_h2ts_and_the_default():
    config = profile("paper")
    assert schedule_of(config) == "mislas"
    rates = [config_learning_rate(config, e) for e in (4, 159, 160, 179, 180, 199)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    with pytest.raises(ValueError, match="unknown schedule 'step'; allowed: mislas, cmo"):
        profile("paper", schedule="step")


@pytest.mark.parametrize("mode, width", [("full", 16), ("half", 8)])
def test_smart_draws_two_batches_of_the_chosen_size(mode, width):
    config = tiny_config(method="smart", smart_head_rule="half", smart_batches=mode)  # batch_size 8
    data = tiny_data()
    torch.manual_seed(0)
    objective = SmartObjective.from_config(config, data, build_model("resnet32", 3), torch.Generator().manual_seed(0))
    steps = objective.start_epoch(0)
    assert steps == data.train_labels.numel() // 8 and objective.batches.shape == (steps, width)


def random_transfer(n=64, channels=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, channels, generator=generator) * torch.rand(n, 1, 1, generator=generator) * 50


def test_share_weights_are_at_least_one_and_grow_with_cross_channel_mass():
    weights = share_weights(random_transfer())
    assert (weights >= 1).all() and (weights < 2).all()
    assert share_weights(torch.diag_embed(torch.rand(3, 6) + 0.1)) == pytest.approx(torch.ones(3))
    assert float(share_weights(torch.full((1, 6, 6), 3.0))[0]) == pytest.approx(2 - 1 / 6)
    base = torch.eye(6)[None]
    weaker, stronger = base + 0.1 * (1 - base), base + 0.5 * (1 - base)
    assert float(share_weights(weaker)[0]) < float(share_weights(stronger)[0])
    torch.testing.assert_close(share_weights(random_transfer() * 1e4), share_weights(random_transfer()))  # scale-free


def random_covariance(n=8, channels=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    roots = torch.randn(n, channels, channels, generator=generator)
    return roots @ roots.transpose(1, 2) + 0.1 * torch.eye(channels)


@pytest.mark.parametrize("scale", [1e-2, 3.0, 1e2])
def test_tau_means_the_same_at_any_feature_scale(scale):
    tail, head = random_covariance(seed=1), random_covariance(seed=2)
    # features scaled by s scale covariances by s^2
    reference = transfer_covariance(tail, head, tau=2.0, normalize=True)
    scaled = transfer_covariance(tail * scale ** 2, head * scale ** 2, tau=2.0, normalize=True)
    torch.testing.assert_close(scaled, reference, rtol=1e-4, atol=1e-5)
    literal = transfer_covariance(tail * scale ** 2, head * scale ** 2, tau=2.0)
    assert not torch.allclose(literal / literal.norm(), transfer_covariance(tail, head, tau=2.0) /
                              transfer_covariance(tail, head, tau=2.0).norm(), rtol=1e-3)


def test_literal_formulas_diverge_while_the_scale_free_form_stays_finite():
    data = tiny_data(counts=(48, 24, 12))
    settings = dict(method="smart", smart_head_rule="half", epochs=6, lr=0.02, warmup_epochs=0)
    with pytest.raises(NonFiniteLossError, match="epoch 0"):  # within the first 10 steps
        train_stage_one(tiny_config(smart_normalize=False, **settings), data, progress=False)
    losses = train_stage_one(tiny_config(**settings), data, progress=False).metrics["history"]["loss"]
    assert len(losses) == 6 and all(math.isfinite(loss) for loss in losses)  # 60 steps


def test_stage_two_can_start_from_the_best_stage_one_epoch(tmp_path, monkeypatch):
    import ltlib.train

    config = tiny_config(epochs=4)
    accuracies, real_top1 = iter([10.0, 40.0, 30.0, 20.0]), ltlib.train.top1
    monkeypatch.setattr(ltlib.train, "top1", lambda *a: next(accuracies, None) or real_top1(*a))  # best: epoch 1
    output = train_stage_one(config, tiny_data(), progress=False)
    history = output.history
    assert history.test_top1 == [10.0, 40.0, 30.0, 20.0] and output.metrics["best_epoch"] == 1
    result = save_result(config, output.model, output.metrics, tmp_path, best_state=history.best_state)
    best, final = result.load_model(weights="best"), result.load_model(weights="final")
    for name, value in best.state_dict().items():
        torch.testing.assert_close(value, history.best_state[name])
    # two epochs later the weights have moved: "best" is epoch 1's, not the final ones
    assert any(not torch.equal(value, final.state_dict()[name]) for name, value in best.state_dict().items())
    (result.folder / "model_best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="cached before ltlib kept its best-epoch weights"):
        result.load_model(weights="best")


def test_every_compared_row_names_where_its_paper_number_comes_from():
    from ltlib import tables

    for table, rows in (("SMART Table 1", tables.smart_table1_rows("paper")),
                        ("H2T Table 6", tables.h2t_table6_rows("paper"))):
        for label, value, _ in rows:
            assert tables.reference_source(table, label), (table, label)
    six = {label: (value, tables.reference_source("H2T Table 6", label))
           for label, value, _ in tables.h2t_table6_rows("paper")}
    value, source = six["CE (stage I: CE + mixup)"]
    assert value == 70.70 and "says only 'CE loss'" in source
    value, source = six["CE without mixup (the other reading of 'CE loss')"]  # the same number, read otherwise
    assert value == 70.70 and "the other reading" in source and "plain CE" in source


def test_cifar100_source_notes_speak_of_cifar100():
    """On CIFAR-100-LT the ablation tables' numbers are on the benchmark ours runs, and H2T Table 1's numbers are
    CIFAR-100's: no note may call ours CIFAR-10-LT or quote a CIFAR-10 number there."""
    from ltlib import tables

    pairs = [("H2T Table 6", label) for label, _, _ in tables.h2t_table6_rows("paper", dataset="cifar100")]
    pairs += [(table, label) for table, rows in (("H2T Table 5", tables.h2t_table5_rows), ("H2T Table 7",
              tables.h2t_table7_rows), ("SMART Table 4", tables.smart_table4_rows), ("SMART Table 5",
              tables.smart_table5_rows), ("SMART Table 1", tables.smart_table1_rows))
              for label, _, _ in rows("paper", dataset="cifar100")]
    for table, label in pairs:
        note = tables.reference_source(table, label, "cifar100")
        assert note and "CIFAR-10-LT" not in note and "CIFAR-10 " not in note and "77.03" not in note, (table, label)
    assert "direction only" in tables.reference_source("H2T Table 5", "BS+")  # on CIFAR-10-LT it stays
    assert "p = 0.25" in tables.reference_source("H2T Table 6", "DR+H2T (p=0.25", "cifar100")


def test_the_logit_adjustment_row_reads_the_bsce_run_and_says_so():
    from ltlib import plans, tables

    for profile_name in ("paper", "quick"):
        one = {label: (value, config) for label, value, config in tables.smart_table1_rows(profile_name)}
        assert one["Logit Adj."][1].hash() == one["BSCE"][1].hash()
        assert one["Logit Adj."][0] == 77.7  # the paper's number stays the row's
    source = tables.reference_source("SMART Table 1", "Logit Adj.")
    assert "Menon" in source and "reads the BSCE run" in source
    planned = [c for _, group in plans.cpu_core_tiers("paper") for c in group]
    assert all(getattr(c, "loss", "") != "la" for c in planned)
