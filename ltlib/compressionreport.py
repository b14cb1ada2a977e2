"""REPRODUCTION.md's section on the data-sensitivity diagnostic (tier 5, :mod:`ltlib.compression`): CE on the copy
and on the copy re-encoded as JPEG, side by side, each against the copy on the same test images, and what one seed
of it can say about the gap to the papers."""
from __future__ import annotations

from ltlib.compression import QUALITIES, TIER, baseline, runs
from ltlib.significance import wilson_interval
from ltlib.storeview import StoreView, correct_count, numerics, paired_test, state_of

#: below this many points (in size) a step is not read: peers report a seed sd of about 0.3 point for CE
READABLE = 0.6


def steps(view: StoreView, profile_name: str = "paper") -> dict[int, dict]:
    """``{quality: McNemar test against the copy}`` of each re-encoding stored beside the copy."""
    copy = view.metrics(baseline(profile_name))
    found = {quality: paired_test(copy, view.metrics(config)) for quality, config in runs(profile_name)}
    return {quality: test for quality, test in found.items() if test is not None}


def reading(steps: dict[int, dict]) -> str:
    """What the stored steps (``{quality: McNemar test against the copy}``) say, in one paragraph that reads on after
    "where" (the README's status) or capitalised (REPRODUCTION.md): the first step's
    cost, and the bound it puts on the copy's own loss under the stated assumption (never below :data:`READABLE`,
    what a second seed may move a CE run)."""
    first = steps.get(QUALITIES[0])
    if first is None:
        return f"CE trained again on the copy re-encoded as JPEG q{QUALITIES[0]} (tier {TIER.split()[0]}) is pending."
    cost = -first["difference"]
    text = [f"a second JPEG loss as large as the copy's own (q{QUALITIES[0]}) changes CE's final top-1 by "
            f"{first['difference']:+.2f} points (exact McNemar p = {first['p_value']:.2g})"
            + (f", less than {READABLE} point: within what a second training seed may move a CE run." if cost < READABLE
               else "."),
            "The copy's own loss (official to copy) cannot be measured here; if it cost no more than this equal "
            "second step (as when each further loss of the kind costs at least as much as the one before), it "
            f"accounts for at most about {max(cost, READABLE):.1f} of the points the rows lie below the papers'."]
    larger = steps.get(QUALITIES[1])
    if larger is not None:
        text.append(f"The larger loss (q{QUALITIES[1]}) changes it by {larger['difference']:+.2f} points "
                    f"(p = {larger['p_value']:.2g}).")
    text.append("One seed: the next seed of CE (tier 7) says how far such a step moves by chance.")
    return " ".join(text)


def section(view: StoreView, profile_name: str = "paper") -> list[str]:
    """The report's "Data sensitivity" section: the three CE runs (the copy, then each re-encoding), each
    re-encoding against the copy, and :func:`reading`."""
    base, found = baseline(profile_name), steps(view, profile_name)
    lines = ["The only image data here is a JPEG-q75 copy of CIFAR-10 (median PSNR 30.5 dB against the official "
             "pixels). Its own cost needs the official images; the cost of one more loss of that kind does not. Tier "
             f"{TIER.split()[0]} trains SMART Table 1's CE row again on the copy re-encoded as JPEG, training and test "
             "images alike (`jpeg_quality`, ltlib.data.recompress), at quality 55 (about as far from the copy as the "
             "copy is from the official pixels) and 30 (farther). A diagnostic, not a paper row.", "",
             "| data | final top-1 [95 % CI] | best evaluated epoch | numerics | against the copy (points) | only the "
             "copy's model right / only this one | exact McNemar p |", "|---|---|---|---|---|---|---|"]
    for quality, config in [(0, base), *runs(profile_name)]:
        metrics = view.metrics(config)
        if metrics is None:
            name = f"the copy re-encoded as JPEG q{quality}" if quality else "the copy"
            lines.append(f"| {name} | {state_of(config, view)} | | | | | |")
            continue
        low, high = wilson_interval(*correct_count(metrics))
        cells = [metrics["data_source"], f"**{metrics['final_top1']:.2f}** [{low:.2f}, {high:.2f}]",
                 f"{metrics['best_top1']:.2f} (epoch {metrics['best_epoch'] + 1})", numerics(metrics)]
        test = found.get(quality)
        cells += ([f"{test['difference']:+.2f}", f"{test['only_first']} / {test['only_second']}",
                   f"{test['p_value']:.3g}"] if test else ["–", "", ""])
        lines.append("| " + " | ".join(cells) + " |")
    text = reading(found)
    return [*lines, "", text[0].upper() + text[1:]]
