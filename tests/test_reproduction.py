"""REPRODUCTION.md from the store: intervals and paired tests against scipy, per-image outcomes round-trip,
rows and verdicts filled from stored metrics only, the prose outside the markers kept."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltlib import readmestatus, reproduction, storeview
from ltlib.evaluate import decode_outcomes, encode_outcomes
from ltlib.significance import binomial_two_sided, direction_reading, holm, mcnemar, wilson_interval


@pytest.mark.parametrize("correct, total", [(0, 10), (3, 10), (7312, 10000), (9999, 10000), (50, 50)])
def test_the_wilson_interval_is_scipys(correct, total):
    reference = stats.binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(correct, total) == pytest.approx((100 * reference.low, 100 * reference.high), abs=1e-9)
    with pytest.raises(ValueError, match="correct must be in 0..10"):
        wilson_interval(11, 10)


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_images():
    rng = np.random.default_rng(0)
    first = rng.random(10000) < 0.75
    second = np.where(rng.random(10000) < 0.1, ~first, first) | (rng.random(10000) < 0.02)
    test = mcnemar(first, second)
    b, c = int((first & ~second).sum()), int((~first & second).sum())
    assert (test["only_first"], test["only_second"]) == (b, c)
    assert test["p_value"] == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    assert test["difference"] == pytest.approx(100 * (second.mean() - first.mean()))
    assert binomial_two_sided(0, 0) == 1.0 and binomial_two_sided(5, 10) == 1.0
    with pytest.raises(ValueError, match="different test sets"):
        mcnemar(first, second[:10])


def test_holm_steps_down_from_the_smallest_p_and_stops_at_the_first_that_fails():
    # sorted 0.005 < 0.05/4, 0.01 < 0.05/3, then 0.03 >= 0.05/2 stops: 0.04 is not kept although 0.04 < 0.05/1
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    assert holm([0.01, 0.02, 0.03]) == [True, True, True]  # 0.01 < 0.05/3, 0.02 < 0.05/2, 0.03 < 0.05
    assert holm([0.02, 0.001]) == [True, True] and holm([0.03, 0.03]) == [False, False] and holm([]) == []


def test_a_direction_reading_follows_the_sign_and_the_level():
    assert direction_reading(-6.9, 1e-10, -1).startswith("the paper's direction, beyond")
    assert direction_reading(+6.9, 1e-10, -1).startswith("against the paper's direction")
    assert direction_reading(+0.4, 1e-10, +1).startswith("the paper's direction")
    assert direction_reading(+6.9, 0.05, +1) == "not told apart on these test images (p = 0.05)"
    with pytest.raises(ValueError, match="expected must be"):
        direction_reading(1.0, 0.01, 0)


def test_the_multiplicity_note_counts_each_pair_of_runs_once():
    items = [{"pair": ("a", "b"), "p_value": 0.001, "method": "M1", "base": "B"},
             {"pair": ("a", "b"), "p_value": 0.001, "method": "M1", "base": "B"},  # the same runs in a second table
             {"pair": ("a", "c"), "p_value": 0.03, "method": "M2", "base": "B"},
             {"pair": ("a", "d"), "p_value": 0.5, "method": "M3", "base": "B"}]
    note = reproduction.multiplicity_note(items)
    assert ("3 distinct pairs of runs; 2 lie below 0.05, and 1 stay below under Holm's correction over all 3" in note
            and note.endswith("those that do not: M2 vs B (p = 0.03)."))
    assert reproduction.multiplicity_note([]) == ""


@pytest.mark.parametrize("classes", [10, 1000])
def test_per_image_outcomes_round_trip(classes):
    rng = np.random.default_rng(classes)
    labels, predictions = rng.integers(0, classes, 10001), rng.integers(0, classes, 10001)
    predictions[:5000] = labels[:5000]
    encoded = encode_outcomes(predictions, labels)
    decoded_predictions, correct = decode_outcomes(encoded)
    assert np.array_equal(decoded_predictions, predictions) and np.array_equal(correct, predictions == labels)
    assert encoded["dtype"] == ("<u1" if classes <= 256 else "<u2")


def fake_metrics(correct: np.ndarray, best: float) -> dict:
    top1 = 100 * correct.mean()
    predictions = np.where(correct, 0, 1)
    return {"final_top1": top1, "best_top1": best, "best_epoch": 171, "test_images": correct.size,
            "test_outcomes": encode_outcomes(predictions, np.zeros(correct.size, dtype=int)),
            "final": {"splits": {"many": 90.0, "medium": 70.5, "few": None}}, "train_seconds": 6000.0,
            "device_name": "cpu (test)"}


def test_the_report_reads_rows_and_comparisons_from_the_store_only(tmp_path, monkeypatch):
    rows = reproduction.table_rows()
    dr = next(c for label, _, c in rows["H2T Table 6"] if label.startswith("DR (p=0, wd 0.0005"))
    h2t = next(c for label, _, c in rows["H2T Table 6"] if label.startswith("DR+H2T (p=0.25, wd 0.0005"))
    rng = np.random.default_rng(1)
    base = rng.random(10000) < 0.78
    method = base | (rng.random(10000) < 0.2)
    stored = {dr.hash(): fake_metrics(base, 79.0), h2t.hash(): fake_metrics(method, 83.0)}
    reads = []

    def read(config, root=None):
        reads.append(config.hash())
        return stored.get(config.hash())

    monkeypatch.setattr(storeview, "stored_metrics", read)
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    report, readme = tmp_path / "REPRODUCTION.md", tmp_path / "README.md"
    report.write_text("# Title\n\nintro\n\n" + reproduction.BEGIN + "\nold\n" + reproduction.END + "\n\n## Prose kept\n")
    readme.write_text(f"# ltlib\n\n{readmestatus.BEGIN}\nstale\n{readmestatus.END}\n\n## Two commands\n")
    figures = tmp_path / "figures"
    figures.mkdir()
    for name in ("03_tail_prediction_frequency_cifar10.png", "02_confusion_cifar10.png"):
        (figures / name).write_bytes(b"png")
    (figures / "notebooks").mkdir()
    for name in ("09_mechanisms_in_2d", "03_tail_prediction_frequency"):  # one trains nothing, one is a runs notebook
        (figures / "notebooks" / f"{name}.ipynb").write_text("{}")
    monkeypatch.setattr(reproduction, "notebook_progress",
                        lambda view: {"02_confusion_tail_vs_similar_heads": (1, 3), "03_tail_prediction_frequency": (3, 3)})
    view = reproduction.StoreView(None)
    reproduction.write(report, view, today="2026-12-01")
    readmestatus.write(readme, view, today="2026-12-01", figures=figures)
    assert len(reads) == len(set(reads))  # each store entry read once for both files
    text = report.read_text()
    assert "\nold\n" not in text and text.startswith("# Title\n\nintro\n") and text.endswith("## Prose kept\n")
    low, high = wilson_interval(int(method.sum()), 10000)
    assert f"| **{100 * method.mean():.2f}** [{low:.2f}, {high:.2f}] | 83.00 (epoch 172) | 90.00 / 70.50 / – |" in text
    test = mcnemar(base, method)
    assert (f"| DR+H2T vs DR (H2T Table 6) | DR (p=0, wd 0.0005, stage-I final epoch) | DR+H2T (p=0.25, wd 0.0005, "
            f"stage-I final epoch) | +3.72 | {test['difference']:+.2f} | {test['only_first']} / {test['only_second']} |"
            in text)
    assert "supports the direction beyond the test set's sampling" in text
    assert "The table tests 1 distinct pairs of runs; 1 lie below 0.05, and 1 stay below under Holm's" in text
    assert "| 2 / 7 | 3.3 |" in text  # tier 1: two stored runs of 6,000 s each
    assert "the paper's number is" in text and "one training seed (0) per row: an interval covers" in text
    below = [(paper - 100 * correct.mean(), paper - best) for correct, paper, best in ((base, 79.15, 79.0),
             (method, 82.87, 83.0)) if paper > wilson_interval(int(correct.sum()), 10000)[1]]
    assert below and (f"{len(below)} of the 2 stored rows that have one lie below the paper's number beyond our "
                      f"interval (paper minus ours: {min(b[0] for b in below):.2f} to {max(b[0] for b in below):.2f}"
                      f" points at the final epoch, {min(b[1] for b in below):.2f} to") in text
    assert text.count("pending") > 20  # every other row

    status = readme.read_text()
    assert "stale" not in status and status.startswith("# ltlib\n\n" + readmestatus.BEGIN)
    assert status.endswith(readmestatus.END + "\n\n## Two commands\n")
    assert f"| H2T Table 6 | DR+H2T (p=0.25, wd 0.0005, stage-I final epoch) | 82.87 | **{100 * method.mean():.2f}** " in status
    assert status.count("| H2T Table 6 |") == 2 and "| pending" not in status  # stored rows only
    assert f"| **{test['difference']:+.2f}** | {test['p_value']:.2g} | +3.72 |" in status
    planned = sum(len(configs) for _, configs in reproduction.plans.cpu_core_tiers("paper"))
    assert f"2 of {planned} runs of its plan are stored (tier 1: 2 / " in status
    # figures of the notebook whose runs are all stored, none of the one still pending
    assert 'src="figures/03_tail_prediction_frequency_cifar10.png"' in status and "02_confusion" not in status
    assert "(figures/notebooks/03_tail_prediction_frequency.ipynb)" in status
    assert ("notebooks that train nothing (class semantics, the 2-D mechanisms): [`09_mechanisms_in_2d`]"
            "(figures/notebooks/09_mechanisms_in_2d.ipynb)." in status)
    assert ("As far as the data goes: ours is a JPEG-q75 copy of CIFAR-10; CE trained again on the copy re-encoded "
            "as JPEG q55 (tier 5, REPRODUCTION.md, 'Data sensitivity') is pending. REPRODUCTION.md's protocol names the "
            "other suspects." in status)


def test_a_readme_without_the_status_markers_is_an_error_naming_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))  # an empty store
    readme = tmp_path / "README.md"
    readme.write_text("# ltlib\n")
    with pytest.raises(ValueError, match="no generated section: put the lines"):
        readmestatus.write(readme, reproduction.StoreView(None))
    assert readme.read_text() == "# ltlib\n"


def test_a_verdict_follows_the_sign_of_the_papers_difference(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))  # an empty store: the comparisons' lines only
    view = reproduction.StoreView(None)
    item = {"name": "x", "method": "m", "base": "b", "difference": -1.0, "p_value": 1e-4}
    assert "supports the direction" in reproduction.verdicts([{**item, "paper_delta": "-0.40"}], view)[0]
    assert "contradicts the direction beyond" in reproduction.verdicts([{**item, "paper_delta": "+0.40"}], view)[0]
    unstated = reproduction.verdicts([{**item, "paper_delta": "–"}], view)[0]
    assert "contradicts the expected direction (the method better; the paper gives no Δ) beyond" in unstated
    assert "supports the expected direction" in reproduction.verdicts(
        [{**item, "paper_delta": "–", "difference": 1.0}], view)[0]
    assert "cannot tell" in reproduction.verdicts([{**item, "paper_delta": "-0.40", "p_value": 0.2}], view)[0]
    mixed = reproduction.verdicts([{**item, "paper_delta": "+0.40", "numerics": ("float32", "bfloat16")}], view)[0]
    assert "the two runs were computed differently (bfloat16 vs float32), which the difference holds too" in mixed
    same = reproduction.verdicts([{**item, "paper_delta": "+0.40", "numerics": ("float32", "float32")}], view)[0]
    assert "computed differently" not in same
    for name in reproduction.READINGS:  # two readings of one paper number: whether they differ, no direction
        readings = {**item, "name": name, "paper_delta": "–"}
        assert "the two readings differ on the test set (-1.00 points" in reproduction.verdicts([readings], view)[0]
        assert "the two readings cannot be told apart" in reproduction.verdicts([{**readings, "p_value": 0.2}], view)[0]


def test_the_final_epoch_jitter_is_the_spread_of_the_last_five_epochs(tmp_path, monkeypatch):
    rows = reproduction.table_rows()["SMART Table 1"]
    ce = next(c for label, _, c in rows if label == "CE")
    cmo = next(c for label, _, c in rows if label == "CE+CMO")
    curve = {ce.hash(): [60.0, 61.0, 64.0, 63.5, 64.25, 63.0, 62.5], cmo.hash(): [66.0, 65.0, 66.0, 66.0, 65.5, 66.0, 64.0]}

    def read(config, root=None):
        if config.hash() not in curve:
            return None
        return {"history": {"eval_epochs": list(range(193, 200)), "test_top1": curve[config.hash()]}}

    monkeypatch.setattr(storeview, "stored_metrics", read)
    text = reproduction.final_jitter(reproduction.StoreView(tmp_path))
    assert text.startswith("* **Final-epoch jitter**")
    assert "CE 1.75;" in text  # epochs 195-199: 64.0 .. 62.5 (a max-min over the last five, not seven)
    assert "CE+CMO 2.00 (its last 3 epochs train without mixing, CMO's protocol)" in text
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: None)
    assert reproduction.final_jitter(reproduction.StoreView(tmp_path)) is None


def test_the_readme_status_names_the_run_in_progress_and_its_epochs(tmp_path, monkeypatch):
    import json

    from ltlib import plans
    from ltlib.results import describe
    from ltlib.store import partial_path

    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: None)
    view = reproduction.StoreView(None)
    assert "in progress" not in readmestatus.status(view, today="2026-12-02", figures=tmp_path)
    smart = plans.cpu_core_tiers("paper")[2][1][-1]
    record = partial_path(smart).with_suffix(".json")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"epochs_done": 57, "epochs": 200}))
    text = readmestatus.status(reproduction.StoreView(None), today="2026-12-02", figures=tmp_path)
    assert f"; in progress: {describe(smart)}, 57/200 epochs. Scope:" in text


def test_the_two_readings_of_h2ts_ce_row_are_compared_without_a_paper_difference(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))  # an empty store: every comparison pending
    pairs = [(base, method) for name, base, method in reproduction.comparison_pairs()
             if name == reproduction.MIXUP_READINGS]
    assert len(pairs) == 1
    (base_label, base_value, base_config), (label, value, config) = pairs[0]
    assert base_value == value == 70.70  # one paper number for both readings
    assert base_config.mixup_alpha == 0 < config.mixup_alpha
    assert base_config.replace(mixup_alpha=config.mixup_alpha) == config  # mixup is their only difference
    lines, _ = reproduction.comparisons_section(reproduction.StoreView(None))
    assert f"| {reproduction.MIXUP_READINGS} | {base_label} | {label} | – | pending | | |" in lines


@pytest.mark.parametrize("name, loss, rule", [(reproduction.HEAD_RULES, "ce", "half"),
                                              (reproduction.BSCE_HEAD_RULES, "bsce", "half"),
                                              (reproduction.RELATIVE_HEADS, "ce", "relative"),
                                              (reproduction.BSCE_RELATIVE_HEADS, "bsce", "relative")])
def test_smarts_head_rules_are_compared_as_readings_of_one_paper_number(name, loss, rule, tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))  # an empty store: every comparison pending
    pairs = [(base, method) for found, base, method in reproduction.comparison_pairs() if found == name]
    assert len(pairs) == 1
    (base_label, base_value, base_config), (label, value, config) = pairs[0]
    assert base_value == value is not None and "head = many" in base_label and f"head = {rule}" in label
    assert (base_config.loss, base_config.smart_head_rule, config.smart_head_rule) == (loss, "many", rule)
    assert base_config.replace(smart_head_rule=rule) == config  # the head rule is their only difference
    lines, _ = reproduction.comparisons_section(reproduction.StoreView(None))
    assert f"| {name} | {base_label} | {label} | – | pending | | |" in lines


def test_the_second_seed_sits_beside_the_first_run_by_run_and_pair_by_pair(tmp_path, monkeypatch):
    from ltlib import replicates, seedreport

    zero = {label: config for _, label, config in replicates.runs("paper", 0)}
    one = {label: config for _, label, config in replicates.runs("paper", 1)}
    smart = next(label for label in zero if label.startswith("BSCE+SMART"))
    rng = np.random.default_rng(3)
    bsce0, bsce1 = rng.random(10000) < 0.72, rng.random(10000) < 0.73
    smart0 = bsce0 & (rng.random(10000) < 0.97)  # below BSCE at seed 0
    smart1 = bsce1 | (rng.random(10000) < 0.03)  # above it at seed 1: the direction reverses
    stored = {zero["BSCE"].hash(): fake_metrics(bsce0, 72.0), one["BSCE"].hash(): fake_metrics(bsce1, 73.0),
              zero[smart].hash(): fake_metrics(smart0, 70.0), one[smart].hash(): fake_metrics(smart1, 74.0)}
    stored[one[smart].hash()]["fast_path"] = {"dtype": "bfloat16", "channels_last": True}
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: stored.get(config.hash()))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))
    view = reproduction.StoreView(None)
    at_zero, at_one = reproduction.second_seed_comparisons(view)
    assert [(item["method"], item["base"]) for item in at_one] == [(smart, "BSCE")]  # the one pair stored at seed 1
    lines = seedreport.section(view, at_zero, at_one)
    shift = mcnemar(bsce0, bsce1)
    assert any(line.startswith("| SMART Table 1, BSCE | ") and f"| {shift['difference']:+.2f} | "
               f"{shift['p_value']:.3g} |" in line for line in lines)
    assert any(line.startswith("| SMART Table 1, CE | pending | pending |") for line in lines)
    before, after = mcnemar(bsce0, smart0), mcnemar(bsce1, smart1)
    assert f"| {smart} vs BSCE | – | {before['difference']:+.2f} (p = {before['p_value']:.2g}) | " \
           f"{after['difference']:+.2f} (p = {after['p_value']:.2g}) | reversed, beyond the test set's sampling at " \
           "both seeds |" in lines
    assert not any(" vs CE |" in line for line in lines)  # a pair not stored at seed 0 is not compared
    verdict = next(line for line in reproduction.verdicts(at_zero, view, at_one) if smart in line)
    assert f"at seed 1: {after['difference']:+.2f} points" in verdict and "one seed cannot say" not in verdict
    note = seedreport.seed_note(view)
    assert (f"BSCE {100 * (bsce1.mean() - bsce0.mean()):+.2f}; {smart} "
            f"{100 * (smart1.mean() - smart0.mean()):+.2f} (numerics differ too)") in note and "2 of the 7" in note


def test_the_second_seed_compares_each_pair_of_runs_once(tmp_path, monkeypatch):
    from ltlib import replicates

    zero = {label: config for _, label, config in replicates.runs("paper", 0)}
    rng = np.random.default_rng(4)
    stored = {zero["CE"].hash(): fake_metrics(rng.random(10000) < 0.65, 65.0),
              zero["BSCE"].hash(): fake_metrics(rng.random(10000) < 0.72, 72.0)}
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: stored.get(config.hash()))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))
    named = [name for name, (_, _, base), (_, _, method) in reproduction.comparison_pairs()
             if (base.hash(), method.hash()) == (zero["CE"].hash(), zero["BSCE"].hash())]
    assert len(named) == 2  # SMART Table 1's BSCE vs CE and Table 4's, on the same two runs
    at_zero = reproduction.second_seed_comparisons(reproduction.StoreView(None))[0]
    assert [(item["name"], item["base"], item["method"]) for item in at_zero] == [(named[0], "CE", "BSCE")]


def test_the_direction_across_seeds_names_the_seed_that_cannot_tell_the_pair_apart():
    from ltlib.replicates import direction

    clear, unclear = {"difference": 1.0, "p_value": 0.001}, {"difference": 0.2, "p_value": 0.4}
    assert direction(clear, clear).startswith("kept")
    assert direction(clear, unclear) == "the same sign; not told apart at seed 1"
    assert direction({**unclear, "difference": -0.2}, clear) == "reversed in sign; not told apart at seed 0"
    assert direction(clear, {**clear, "difference": -1.0}).startswith("reversed, beyond")


def test_the_per_class_table_lists_each_stored_run_once_with_the_rows_that_share_it(tmp_path, monkeypatch):
    from ltlib import classreport

    rows = reproduction.table_rows()
    smart1 = {label: config for label, _, config in rows["SMART Table 1"]}
    names, counts = ["middle", "head", "tail"], [50, 500, 5]  # columns go from head to tail whatever the order
    confusion = [[60, 30, 10], [10, 90, 0], [30, 20, 50]]  # 100 test images per class
    stored = {config.hash(): {"class_names": names, "class_counts": counts,
                              "final": {"per_class_accuracy": accuracy, "confusion": confusion}}
              for config, accuracy in ((smart1["CE"], [60.0, 90.0, 50.0]), (smart1["BSCE"], [66.5, 85.04, 71.96]))}
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: stored.get(config.hash()))
    lines = classreport.section(reproduction.StoreView(tmp_path), rows)
    low, high = wilson_interval(50, 100)
    assert lines[0].startswith(f"Final-epoch top-1 on each test class (100 test images per class: a cell's 95 % "
                               f"interval is at most ±{(high - low) / 2:.1f} points)")
    assert "| table | row | head (500) | middle (50) | tail (5) |" in lines
    body = [line for line in lines if line.startswith("| SMART") or line.startswith("| H2T")]
    assert body[0] == "| SMART Table 1 | CE (also SMART Table 4: CE; SMART's parts (ltlib): CE) | 90.0 | 60.0 | 50.0 |"
    assert body[1] == ("| SMART Table 1 | BSCE (also SMART Table 1: Logit Adj.; SMART Table 4: BSCE) "
                       "| 85.0 | 66.5 | 72.0 |")
    assert len(body) == 2  # every other row is pending: not in the table
    assert classreport.section(reproduction.StoreView(tmp_path), {}) == ["No run is stored yet."]


def test_the_data_sensitivity_section_sets_each_change_against_the_copy_and_bounds_by_both_parts(tmp_path, monkeypatch):
    from ltlib import compression, compressionreport

    copy, ((_, q55_config), _, (chroma_name, chroma_config)) = compression.baseline(), compression.runs()
    assert chroma_name == "chroma 4 x 4" and chroma_config.chroma_block == 4
    rng = np.random.default_rng(5)
    plain = rng.random(10000) < 0.65
    second = plain & (rng.random(10000) < 0.97)  # about 2 points lower
    chroma = plain & (rng.random(10000) < 0.99)  # about 0.7 point lower
    stored = {copy.hash(): {**fake_metrics(plain, 66.0), "data_source": "CIFAR-10 (JPEG-q75 copy)"}}
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: stored.get(config.hash()))
    pending = compressionreport.section(reproduction.StoreView(tmp_path))
    assert "| the copy re-encoded as JPEG q55 | pending | | | | | |" in pending
    assert "| the copy with its chroma pooled over 4 x 4 | pending | | | | | |" in pending
    assert pending[-1] == "CE trained again on the copy re-encoded as JPEG q55 (tier 5) is pending."

    stored[q55_config.hash()] = {**fake_metrics(second, 64.0), "data_source": "CIFAR-10 (JPEG-q75 copy), re-encoded"}
    lines = compressionreport.section(reproduction.StoreView(tmp_path))
    test = mcnemar(plain, second)
    assert any(line.startswith("| CIFAR-10 (JPEG-q75 copy), re-encoded | ") and line.endswith(
        f"| {test['difference']:+.2f} | {test['only_first']} / {test['only_second']} | {test['p_value']:.3g} |")
        for line in lines)
    assert "| the copy re-encoded as JPEG q30 | pending |" in "\n".join(lines)
    assert lines[-1].startswith(f"A second JPEG loss as large as the copy's own (q55) changes CE's final top-1 by "
                                f"{test['difference']:+.2f} points")
    assert "(chroma pooled over 4 x 4 pixels) is not stored yet, so the bound below covers the quantisation alone" in lines[-1]
    assert f"accounts for at most about {-test['difference']:.1f} of the points" in lines[-1]
    assert lines[-1].endswith("Each step is one training seed; CE on the unchanged copy at seed 1 (tier 7) will say "
                              "how far a retraining alone moves it.")

    stored[chroma_config.hash()] = {**fake_metrics(chroma, 65.0), "data_source": "CIFAR-10 (JPEG-q75 copy), chroma"}
    text = compressionreport.section(reproduction.StoreView(tmp_path))[-1]
    step = mcnemar(plain, chroma)
    assert f"(chroma pooled over 4 x 4 pixels) changes it by {step['difference']:+.2f} points" in text
    both = -test["difference"] + max(-step["difference"], compressionreport.READABLE)
    # CE on the unchanged copy at the second seed sets the scale of chance for every stored step
    reseeded = plain ^ (rng.random(10000) < 0.02)
    stored[compression.baseline(seed=1).hash()] = fake_metrics(reseeded, 65.0)
    chance = mcnemar(plain, reseeded)
    closing = compressionreport.section(reproduction.StoreView(tmp_path))[-1].split("papers'. ")[1]
    assert closing.startswith(f"Each step is one training seed: CE on the unchanged copy at seed 1 (tier 7) moves the "
                              f"final top-1 by {chance['difference']:+.2f} points")
    assert closing.endswith(f"against seed 0, what a retraining alone moved it here; in size, the q55 step is "
                            f"{abs(test['difference'] / chance['difference']):.1f} times that, the chroma step "
                            f"{abs(step['difference'] / chance['difference']):.1f} times.")
    assert (f"at most about {-test['difference']:.1f} + {max(-step['difference'], 0.6):.1f} = {both:.1f} of the points"
            in text)
    larger = {"JPEG q55": {"difference": -1.5, "p_value": 0.01}, "JPEG q30": {"difference": -4.5, "p_value": 1e-9}}
    assert "The larger JPEG loss (q30) changes it by -4.50 points (p = 1e-09), 3.0 times the q55 step's change." in (
        compressionreport.reading(larger))
    assert "not distinguishable" not in compressionreport.reading(larger)
    reseeded = {**larger, "seed 1": {"difference": 0.5, "p_value": 0.2}}
    assert compressionreport.summary({**reseeded, "chroma 4 x 4": {"difference": -0.3, "p_value": 0.4}}) == (
        "As far as the data goes: ours is a JPEG-q75 copy of CIFAR-10; one more JPEG loss as large as its own changes "
        "CE's final top-1 by -1.50 points (p = 0.01), halving its chroma grid again by -0.30 (p = 0.4), and a second "
        "training seed moved CE by +0.50. Under the assumption stated in REPRODUCTION.md ('Data sensitivity'), the "
        "copy's own loss accounts for at most about 1.5 + 0.6 = 2.1 of the points the rows lie below the papers'. "
        "REPRODUCTION.md's protocol names the other suspects.")
    assert compressionreport.reading(reseeded).endswith(
        "moves the final top-1 by +0.50 points (exact McNemar p = 0.2: not distinguishable from no change on these test "
        "images) against seed 0, what a retraining alone moved it here; in size, the q55 step is 3.0 times that, the "
        "q30 step 9.0 times.")
    # a step smaller than a second seed may move CE bounds nothing below that spread
    small = {"JPEG q55": {"difference": -0.1, "p_value": 0.8}, "chroma 4 x 4": {"difference": 0.2, "p_value": 0.6}}
    text = compressionreport.reading(small)
    assert text.count("less than 0.6 point") == 2 and "at most about 0.6 + 0.6 = 1.2 of" in text
    assert "(exact McNemar p = 0.8: not distinguishable from no change on these test images)" in text
    assert text.count("not distinguishable from no change") == 2


def test_smarts_ablation_tables_compare_each_row_with_the_full_method_on_its_one_difference(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path))  # an empty store: every comparison pending
    pairs = {name: (base, method) for name, base, method in reproduction.comparison_pairs()
             if "SMART Table 4" in name or "SMART Table 5" in name}
    assert len(pairs) == 14
    changed = {}
    for name, ((base_label, base_value, base), (label, value, method)) in pairs.items():
        differs = {key for key, old in vars(base).items() if vars(method)[key] != old}
        changed[name] = (differs, round(value - base_value, 2))
    assert changed["Minority Aug. vs CE (SMART Table 4; paper Δ on CIFAR-100-LT)"] == (
        {"method", "smart_weights"}, 13.50)  # CE's config keeps the SMART fields' defaults (weights on)
    for loss, delta in (("CE", 3.30), ("BSCE", 1.32)):
        assert changed[f"Eq. 11 weights vs none, with {loss} (SMART Table 4; paper Δ on CIFAR-100-LT)"] == (
            {"smart_weights"}, delta)
    assert changed["BSCE vs CE (SMART Table 4; paper Δ on CIFAR-100-LT)"] == ({"loss"}, 12.18)  # §4.3's gap
    assert changed["BSCE vs CE, both with Minority Aug. (SMART Table 4; paper Δ on CIFAR-100-LT)"] == ({"loss"}, 2.69)
    assert changed["Minority Aug. vs none, with BSCE (SMART Table 4; paper Δ on CIFAR-100-LT)"] == (
        {"method", "smart_weights"}, 4.01)
    assert changed["Eq. 11 weights alone vs CE (SMART Table 4; paper Δ on CIFAR-100-LT)"] == (
        {"method", "smart_augment"}, 12.11)
    assert changed["Eq. 11 weights alone vs none, with BSCE (SMART Table 4; paper Δ on CIFAR-100-LT)"] == (
        {"method", "smart_augment"}, 3.09)
    for layer, delta in ((1, 6.85), (2, 3.70), (3, 2.44)):
        assert changed[f"feature layer 4 vs layer {layer} (SMART Table 5; paper Δ on CIFAR-100-LT)"] == (
            {"smart_layer"}, delta)
    for momentum, delta in ((0.01, 19.21), (0.05, 20.10), (0.1, 19.80)):
        assert changed[f"dynamic momentum vs {momentum} (SMART Table 5; paper Δ on CIFAR-100-LT)"] == (
            {"smart_momentum"}, delta)


def test_the_status_scope_separates_each_runs_numerics_by_semicolons():
    resumed = {"device": "cpu", "history": {"fast_paths": [[0, "bfloat16+channels_last"], [75, "float32"]]}}
    plain = {"device": "cpu", "fast_path": {"dtype": "float32"}}
    gpu = {"device": "cuda", "fast_path": {"dtype": "bfloat16", "channels_last": True}}
    assert readmestatus.scope([resumed, plain, plain, gpu]) == (
        "cpu (numerics per row in REPRODUCTION.md: bfloat16+channels_last from epoch 1, float32 from epoch 76; "
        "float32), cuda (numerics per row in REPRODUCTION.md: bfloat16+channels_last)")
    assert readmestatus.scope([]) == "no run stored yet"
