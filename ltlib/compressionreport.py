"""REPRODUCTION.md's section on the data-sensitivity diagnostic (tier 5, :mod:`ltlib.compression`): CE on the copy
and on the copy changed once more (re-encoded as JPEG, its chroma grid halved again), side by side, each against the
copy on the same test images, and what one seed of it can say about the gap to the papers."""
from __future__ import annotations

from ltlib.compression import CHROMA_BLOCK, QUALITIES, TIER, baseline, runs
from ltlib.replicates import SEED
from ltlib.replicates import TIER as SEED_TIER
from ltlib.significance import LEVEL, wilson_interval
from ltlib.storeview import StoreView, correct_count, numerics, paired_test, state_of

#: below this many points (in size) a step is not read: peers report a seed sd of about 0.3 point for CE
READABLE = 0.6
#: the steps the reading bounds the copy's loss with: its quantisation (a JPEG step as large as the copy's own) and
#: its chroma subsampling (the chroma grid halved once more)
QUANTISATION, SUBSAMPLING, LARGER = f"JPEG q{QUALITIES[0]}", f"chroma {CHROMA_BLOCK} x {CHROMA_BLOCK}", f"JPEG q{QUALITIES[1]}"
#: not a data step: CE on the copy itself at the second seed (tier 7), against seed 0, for the scale of chance
SECOND_SEED = f"seed {SEED}"


def steps(view: StoreView, profile_name: str = "paper") -> dict[str, dict]:
    """``{step name: McNemar test against the copy}`` of each change stored beside the copy
    (names: :func:`ltlib.compression.step_name`), and under :data:`SECOND_SEED` the same CE on the unchanged copy at
    the second seed (tier 7), which shows how far a retraining alone moves it."""
    copy = view.metrics(baseline(profile_name))
    found = {name: paired_test(copy, view.metrics(config)) for name, config in runs(profile_name)}
    found[SECOND_SEED] = paired_test(copy, view.metrics(baseline(profile_name, seed=SEED)))
    return {name: test for name, test in found.items() if test is not None}


def _cost(test: dict, floor: bool = True) -> str:
    """A step's change and its test, with a word where the test images cannot tell it from no change
    (p >= :data:`ltlib.significance.LEVEL`) and, with ``floor``, where it is below what a second seed may move a CE run
    (:data:`READABLE`; the second seed's own change goes without that word)."""
    unread = ": not distinguishable from no change on these test images" if test["p_value"] >= LEVEL else ""
    return (f"{test['difference']:+.2f} points (exact McNemar p = {test['p_value']:.2g}{unread})"
            + (f", less than {READABLE} point" if floor and -test["difference"] < READABLE else ""))


def reading(steps: dict[str, dict]) -> str:
    """What the stored steps (``{step name: McNemar test against the copy}``) say, in one paragraph (lower-case first
    letter; REPRODUCTION.md capitalises it; the README has :func:`summary`): each step's cost, and the bound the
    quantisation step and the chroma step put together on the copy's own loss under the stated assumption (each part
    never below :data:`READABLE`, what a second seed may move a CE run)."""
    first, chroma = steps.get(QUANTISATION), steps.get(SUBSAMPLING)
    if first is None:
        return f"CE trained again on the copy re-encoded as JPEG q{QUALITIES[0]} (tier {TIER.split()[0]}) is pending."
    text = [f"a second JPEG loss as large as the copy's own (q{QUALITIES[0]}) changes CE's final top-1 by {_cost(first)}."
            " It repeats the copy's quantisation but hardly its chroma subsampling (4:2:0 left the copy's chroma "
            "without the detail a second pass would remove)"]
    if chroma is None:
        text[-1] += (f"; halving the chroma grid once more (chroma pooled over {CHROMA_BLOCK} x {CHROMA_BLOCK} pixels) "
                     "is not stored yet, so the bound below covers the quantisation alone.")
    else:
        text[-1] += (f"; halving the chroma grid once more (chroma pooled over {CHROMA_BLOCK} x {CHROMA_BLOCK} pixels) "
                     f"changes it by {_cost(chroma)}.")
    bound = _bound(steps)
    text.append("The copy's own loss (official to copy) cannot be measured here; if each part of it cost no more than "
                "the next step of its kind measured here (as when each further loss of a kind costs at least as much "
                f"as the one before; a step below {READABLE} point counts as {READABLE}, what a second seed may move a "
                f"CE run), it accounts for at most about {bound} of the points the rows lie below the papers'.")
    larger = steps.get(LARGER)
    if larger is not None:
        ratio = (f", {larger['difference'] / first['difference']:.1f} times the q{QUALITIES[0]} step's change"
                 if min(-first["difference"], -larger["difference"]) >= READABLE else "")
        text.append(f"The larger JPEG loss (q{QUALITIES[1]}) changes it by {larger['difference']:+.2f} points "
                    f"(p = {larger['p_value']:.2g}){ratio}.")
    text.append(_chance(steps))
    return " ".join(text)


def _bound(steps: dict[str, dict]) -> str:
    """The bound on the copy's own loss: the quantisation step plus the chroma step where stored, each counted as at
    least :data:`READABLE` (``"1.6 + 0.6 = 2.2"``, or ``"1.6"`` before the chroma step is stored)."""
    parts = [max(-steps[name]["difference"], READABLE) for name in (QUANTISATION, SUBSAMPLING) if name in steps]
    return f"{parts[0]:.1f} + {parts[1]:.1f} = {sum(parts):.1f}" if len(parts) == 2 else f"{parts[0]:.1f}"


def summary(steps: dict[str, dict]) -> str:
    """The README's short form of :func:`reading`, one paragraph after the gap to the papers: the steps' changes,
    the second seed's, and the bound, pointing to REPRODUCTION.md for the assumption it rests on."""
    first, chroma, seed = steps.get(QUANTISATION), steps.get(SUBSAMPLING), steps.get(SECOND_SEED)
    opening = "As far as the data goes: ours is a JPEG-q75 copy of CIFAR-10"
    if first is None:
        return (f"{opening}; CE trained again on the copy re-encoded as JPEG q{QUALITIES[0]} (tier {TIER.split()[0]}, "
                "REPRODUCTION.md, 'Data sensitivity') is pending. REPRODUCTION.md's protocol names the other suspects.")
    said = [f"one more JPEG loss as large as its own changes CE's final top-1 by {first['difference']:+.2f} points "
            f"(p = {first['p_value']:.2g})"]
    if chroma is not None:
        said.append(f"halving its chroma grid again by {chroma['difference']:+.2f} (p = {chroma['p_value']:.2g})")
    if seed is not None:
        said.append(f"a second training seed moved CE by {seed['difference']:+.2f}")
    listed = said[0] if len(said) == 1 else f"{', '.join(said[:-1])}, and {said[-1]}"
    return (f"{opening}; {listed}. Under the assumption stated in REPRODUCTION.md ('Data sensitivity'), the copy's "
            f"own loss accounts for at most about {_bound(steps)} of the points the rows lie below the papers'. "
            "REPRODUCTION.md's protocol names the other suspects.")


def _chance(steps: dict[str, dict]) -> str:
    """The closing sentence: each step is one seed; CE on the unchanged copy at the second seed says how far a
    retraining alone moves it, and each stored step's size is set against that."""
    seed = steps.get(SECOND_SEED)
    where = f"CE on the unchanged copy at seed {SEED} (tier {SEED_TIER.split()[0]})"
    if seed is None:
        return f"Each step is one training seed; {where} will say how far a retraining alone moves it."
    names = {QUANTISATION: f"q{QUALITIES[0]}", SUBSAMPLING: "chroma", LARGER: f"q{QUALITIES[1]}"}
    ratios = [(short, abs(steps[name]["difference"] / seed["difference"])) for name, short in names.items()
              if name in steps and seed["difference"] != 0]
    sizes = [f"the {short} step {'is ' if i == 0 else ''}{ratio:.1f} times{' that' if i == 0 else ''}"
             for i, (short, ratio) in enumerate(ratios)]
    return (f"Each step is one training seed: {where} moves the final top-1 by "
            f"{_cost(seed, floor=False)} against seed 0, what a retraining alone "
            "moved it here" + (f"; in size, {', '.join(sizes)}." if sizes else "."))


def section(view: StoreView, profile_name: str = "paper") -> list[str]:
    """The report's "Data sensitivity" section: the CE runs (the copy, then each change of it), each change against
    the copy, and :func:`reading`."""
    base, found = baseline(profile_name), steps(view, profile_name)
    lines = ["The only image data here is a JPEG-q75 copy of CIFAR-10 (median PSNR 30.5 dB against the official "
             "pixels). Its own cost needs the official images; the cost of one more loss of that kind does not. A "
             "JPEG encoding loses in two ways, by quantising and by halving the colour (chroma) resolution (4:2:0), "
             f"and tier {TIER.split()[0]} repeats each: it trains SMART Table 1's CE row again on the copy re-encoded "
             "as JPEG, training and test images alike (`jpeg_quality`, ltlib.data.recompress), at quality 55 (about "
             "as far from the copy as the copy is from the official pixels) and 30 (farther), and on the copy with "
             f"its chroma pooled over {CHROMA_BLOCK} x {CHROMA_BLOCK} pixel blocks (`chroma_block`: the chroma grid "
             "halved once more). A diagnostic, not a paper row.", "",
             "| data | final top-1 [95 % CI] | best evaluated epoch | numerics | against the copy (points) | only the "
             "copy's model right / only this one | exact McNemar p |", "|---|---|---|---|---|---|---|"]
    for name, config in [("", base), *runs(profile_name)]:
        metrics = view.metrics(config)
        if metrics is None:
            described = (f"the copy re-encoded as {name}" if config.jpeg_quality else
                         f"the copy with its chroma pooled over {config.chroma_block} x {config.chroma_block}"
                         if config.chroma_block else "the copy")
            lines.append(f"| {described} | {state_of(config, view)} | | | | | |")
            continue
        low, high = wilson_interval(*correct_count(metrics))
        cells = [metrics["data_source"], f"**{metrics['final_top1']:.2f}** [{low:.2f}, {high:.2f}]",
                 f"{metrics['best_top1']:.2f} (epoch {metrics['best_epoch'] + 1})", numerics(metrics)]
        test = found.get(name)
        cells += ([f"{test['difference']:+.2f}", f"{test['only_first']} / {test['only_second']}",
                   f"{test['p_value']:.3g}"] if test else ["–", "", ""])
        lines.append("| " + " | ".join(cells) + " |")
    text = reading(found)
    return [*lines, "", text[0].upper() + text[1:]]
