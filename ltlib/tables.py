"""The papers' tables as data: reference rows (labelled as the paper's) and the configs of our rows.

Each table is a list of rows ``(label, paper value or None, config or None)``. :func:`table_frame`
runs (or loads) our configs and returns a pandas DataFrame with the paper's number beside ours.
Paper numbers are copied from the papers' text (top-1 %, best epoch, official CIFAR); ours are
final-epoch and best-epoch top-1 on the data named in the ``data`` column.
"""
from __future__ import annotations

from ltlib.config import RunConfig, profile, stage_one, stage_two_profile
from ltlib.schedules import schedule_of

#: SMART Table 1, CIFAR-10-LT columns (IF 100, IF 50): the paper's numbers
SMART_TABLE1_CIFAR10 = {"CE": (None, None), "BSCE": (None, None), "LDAM+DRW": (77.0, 79.3), "Logit Adj.": (77.7, None),
                        "CE+CMO": (None, None), "SMART": (84.0, 87.2), "BSCE+SMART": (84.5, 87.9)}
#: SMART Table 4 (CIFAR-100-LT, IF 100): (Minority Aug., W, CE, BSCE) -> accuracy, in the paper's order. The
#: check marks of its third panel are lost in our copy of the table; §4.3's text places them: 50.80 is BSCE alone
#: ("a 12.18% accuracy gap between the use of BSCE against CE": 50.80 - 38.62), 50.73 is W + CE ("similar with
#: each other (50.80% vs. 50.73%)": W as the alternative to BSCE) and 53.89 is W + BSCE ("re-weighting BSCE
#: according to semantic cues"). ltlib runs W without the augmentation in SMART's pipeline (Algorithm 1's two
#: batches and class statistics, Eq. 6 off), as its other SMART rows; BSCE alone is the plain BSCE run.
SMART_TABLE4 = {("CE",): 38.62, ("aug", "CE"): 52.12, ("aug", "BSCE"): 54.81, ("BSCE",): 50.80, ("W", "CE"): 50.73,
                ("W", "BSCE"): 53.89, ("aug", "W", "CE"): 55.42, ("aug", "W", "BSCE"): 56.13}
#: SMART Table 5 (CIFAR-100-LT, IF 100): layer -> accuracy, EMA momentum -> accuracy
SMART_TABLE5_LAYER = {1: 48.57, 2: 51.72, 3: 52.98, 4: 55.42}
SMART_TABLE5_MOMENTUM = {0.01: 36.21, 0.05: 35.32, 0.10: 35.62, 0.0: 55.42}  # 0.0 = dynamic
#: H2T Table 6 (CIFAR-10-LT; IF 200, 100, 50)
H2T_TABLE6 = {"CE": (67.24, 70.70, 74.81), "LDAM-DRW": (73.52, 77.03, 81.03), "DR": (73.06, 79.15, 84.21),
              "DR+H2T": (78.59, 82.87, 86.35)}
#: SMART Table 1, CIFAR-100-LT columns (IF 100, IF 50); "–" in the paper is None
SMART_TABLE1_CIFAR100 = {"CE": (None, None), "BSCE": (None, None), "LDAM+DRW": (42.0, 45.1), "Logit Adj.": (43.9, None),
                         "CE+CMO": (43.9, 48.3), "SMART": (55.4, 60.4), "BSCE+SMART": (56.1, 61.2)}
#: H2T Table 1 (CIFAR-100-LT; IF 200, 100, 50); its DR row is printed "DR+MU" (DR on a mixup stage I)
H2T_TABLE1 = {"CE": (35.99, 39.55, 45.40), "LDAM-DRW": (38.91, 42.04, 47.62), "DR": (41.73, 45.68, 50.86),
              "DR+H2T": (43.95, 47.73, 52.95)}
#: the paper numbers of SMART's Table 1 and H2T's CIFAR table (Table 6 / Table 1), by dataset
SMART_TABLE1 = {"cifar10": SMART_TABLE1_CIFAR10, "cifar100": SMART_TABLE1_CIFAR100}
H2T_CIFAR_TABLE = {"cifar10": H2T_TABLE6, "cifar100": H2T_TABLE1}
#: H2T Table 5 (CIFAR-100-LT IF 100): fusing sampler -> (head, med, tail, all)
H2T_TABLE5 = {"DR (no H2T)": (63.67, 46.63, 22.21, 45.68), "reverse": (63.56, 48.60, 24.07, 46.87),
              "balanced": (62.72, 49.14, 25.93, 47.30), "instance": (62.00, 50.17, 27.07, 47.73)}
#: H2T Table 7 (CIFAR-100-LT IF 100, p = 0.3): selection -> accuracy (random: mean of its 5 seeds)
H2T_TABLE7 = {"first": 47.22, "middle": 47.23, "last": 47.41, "random": round((47.73 + 47.75 + 47.80 + 47.71 + 47.66) / 5, 2)}


#: where each table's reference number comes from and under which protocol, beside the protocol of ours
#: (``(table, row label prefix) -> text``; :func:`reference_source` finds a row's entry)
_CMO_PROTOCOL = "CMO's 200-epoch protocol (ResNet-32, x0.01 after epoch 160, x0.0001 after 180)"
#: the source note of a row whose paper number is on CIFAR-100-LT, run here on CIFAR-10-LT
DIRECTION_ONLY = "the paper's CIFAR-100-LT IF 100 result; ours runs on CIFAR-10-LT: the direction only"
REFERENCE_SOURCES = {
    ("SMART Table 1", "CE"): "no number in the paper's columns of this benchmark. Ours: " + _CMO_PROTOCOL,
    ("SMART Table 1", "BSCE"): "no number in the paper's columns of this benchmark. Ours: " + _CMO_PROTOCOL,
    ("SMART Table 1", "LDAM+DRW"): "LDAM-DRW's published result (Cao et al. 2019), its code's protocol: 200 epochs, "
                                   "x0.01 after 160, x0.0001 after 180, DRW from 160, best epoch. Ours: the same",
    ("SMART Table 1", "Logit Adj."): "the logit-adjustment paper's result (Menon et al. 2021), another protocol: a "
                                     "bottleneck ResNet-32 with conv shortcuts, Nesterov SGD, L2 1e-4, ~1,241 epochs "
                                     "on a step schedule, inputs x/255 - 0.5. Ours: " + _CMO_PROTOCOL + "; its "
                                     "logit-adjusted loss at the tau = 1 of its CIFAR results is the balanced softmax "
                                     "term for term (z + log pi), so this row reads the BSCE run (one training of the "
                                     "same computation, not two)",
    ("SMART Table 1", "CE+CMO"): "CMO's published result (Park et al. 2022; CIFAR-100-LT columns only). Ours: "
                                 + _CMO_PROTOCOL,
    ("SMART Table 1", "SMART"): "SMART's own result (ResNet-32, 200 epochs, CMO's strategy, its ref. [45]). Ours: "
                                + _CMO_PROTOCOL + ", ltlib's scale-free form of Eq. 4-6 and 11",
    ("SMART Table 1", "BSCE+SMART"): "SMART's own result (as the SMART row). Ours: " + _CMO_PROTOCOL
                                     + ", ltlib's scale-free form",
    ("H2T Table 6", "CE"): "H2T's table (it re-runs prior methods that publish hyper-parameters, quotes the rest); "
                           "its row says only 'CE loss', read as H2T's stage I: CE + mixup, MiSLAS's schedule (x0.1 at "
                           "160 and 180), best epoch. Ours: the same",
    ("H2T Table 6", "CE without mixup"): "the same 'CE loss' number under the other reading of that row (plain CE, "
                                         "no mixup; MiSLAS's schedule), so that a reader can compare it with either "
                                         "run. Ours: plain CE, MiSLAS's schedule",
    ("H2T Table 6", "LDAM-DRW"): "LDAM-DRW's published result (Cao et al. 2019; 77.03 at IF 100 is its own number), "
                                 "LDAM-DRW's schedule (x0.01 after 160, x0.0001 after 180). Ours: the same schedule",
    ("H2T Table 6", "DR+H2T"): "H2T's own result; H2T publishes no CIFAR-10 stage-II p or weight decay. Ours: stage II "
                               "(10 epochs, cosine from 0.02) on our stage I, at each (p, weight decay) of the grid",
    ("H2T Table 6", "DR"): "H2T's re-run of decoupling with a mixup stage I (DR+MU, Kang et al. 2020). Ours: stage II "
                           "(cRT, 10 epochs) on our stage I, p = 0",
    ("H2T Table 5", ""): DIRECTION_ONLY,
    ("H2T Table 7", ""): DIRECTION_ONLY,
    ("SMART Table 4", ""): DIRECTION_ONLY,
    ("SMART Table 4", "W"): DIRECTION_ONLY + ". "
                            "Ours: Eq. 11's weights in SMART's pipeline (Algorithm 1's two batches and class "
                            "statistics) with Eq. 6's augmentation off",
    ("SMART Table 5", ""): DIRECTION_ONLY,
    ("SMART Table 5", "layer"): DIRECTION_ONLY + ". The paper's ResNet-32 has three stages and its four layers are "
                                "not defined; ours: layers 1-4 = the stem, layer1, layer2 and layer3 (the map before "
                                "pooling)",
    ("SMART Table 5", "momentum"): DIRECTION_ONLY + ". Eq. 2-3 with a fixed gamma: ours weighs each new batch by "
                                   "gamma, a class's first batch sets its statistics and a class absent from a batch "
                                   "keeps them (the paper states neither); dynamic = M / N (Eq. 2-3)",
}


#: on CIFAR-100-LT the ablation tables' numbers are on the benchmark ours runs
SAME_BENCHMARK = "the paper's CIFAR-100-LT IF 100 result, on the benchmark ours runs"
#: entries that differ on CIFAR-100-LT, where H2T's CIFAR table is its Table 1
REFERENCE_SOURCES_CIFAR100 = {
    ("H2T Table 6", "LDAM-DRW"): "LDAM-DRW's published result (Cao et al. 2019; 42.04 at IF 100 is its own number), "
                                 "LDAM-DRW's schedule (x0.01 after 160, x0.0001 after 180). Ours: the same schedule",
    ("H2T Table 6", "DR+H2T"): "H2T's own result; H2T's code publishes CIFAR-100-LT's stage-II setting (p = 0.25, "
                               "weight decay 5e-4 at IF 100). Ours: stage II (10 epochs, cosine from 0.02) on our "
                               "stage I, at that setting and the rest of the grid",
}


def reference_source(table: str, label: str, dataset: str = "cifar10") -> str:
    """Where ``table``'s number for row ``label`` comes from, under which protocol, and ours (the longest
    matching entry of :data:`REFERENCE_SOURCES`, or on ``cifar100`` of :data:`REFERENCE_SOURCES_CIFAR100`, where
    the ablation tables' CIFAR-100-LT numbers are on ours' benchmark; "" when the table has none, e.g. ltlib-only
    rows)."""
    sources = REFERENCE_SOURCES if dataset != "cifar100" else {**REFERENCE_SOURCES, **REFERENCE_SOURCES_CIFAR100}
    found = [(len(prefix), text) for (name, prefix), text in sources.items()
             if name == table and label.startswith(prefix)]
    text = max(found)[1] if found else ""
    return text.replace(DIRECTION_ONLY, SAME_BENCHMARK) if dataset == "cifar100" else text


def paper_column(imbalance_factor: float, columns=(100, 50)):
    return list(columns).index(int(imbalance_factor)) if int(imbalance_factor) in columns else None


#: how every SMART number is labelled: ltlib's scale-free reading of Eq. 4-6 and 11 (see the docstring
#: of ltlib.methods.smart), not the paper's literal formulas, which diverge
SMART_LABEL = "SMART (ltlib scale-free form)"


def smart_base(profile_name: str, **common) -> RunConfig:
    """SMART's rows follow CMO's schedule (x0.01 after 160, x0.0001 after 180; ltlib.schedules)."""
    return profile(profile_name, schedule="cmo", **common)


def smart_table1_rows(profile_name: str, **common):
    """SMART Table 1 on our data: baselines and SMART variants (CIFAR-10-LT columns of the paper), all on
    CMO's schedule. The paper does not say which CIFAR-10 classes are head for SMART, so the ``paper``
    profile runs three rules (many-shot; the largest half; relative, every class more frequent than the tail
    class, as in §3.2's example; ``ltlib.methods.smart_heads``); ``quick`` runs the default (many).

    The Logit Adj. row is the BSCE run: the logit-adjusted loss (Menon et al. 2021) at the ``tau = 1`` of its
    CIFAR results adds ``log pi`` to the logits exactly as the balanced softmax does, so a second run would repeat
    the same computation bit for bit (``loss='la'`` stays a name one can train under; it computes the same loss)."""
    base = smart_base(profile_name, **common)
    drw = 160 if profile_name == "paper" else base.epochs - 1
    column = paper_column(base.imbalance_factor)
    ref = lambda key: None if column is None else SMART_TABLE1[base.dataset][key][column]  # noqa: E731
    rows = [("CE", ref("CE"), base), ("BSCE", ref("BSCE"), base.replace(loss="bsce")),
            ("LDAM+DRW", ref("LDAM+DRW"), base.replace(loss="ldam", drw_epoch=drw)),
            ("Logit Adj.", ref("Logit Adj."), base.replace(loss="bsce")),  # LA at tau = 1 is BSCE (docstring)
            ("CE+CMO", ref("CE+CMO"), base.replace(method="cmo", cmo_skip_epochs=3 if profile_name == "paper" else 0))]
    rules = ("many", "half", "relative") if profile_name == "paper" else ("many",)
    for loss, key in (("ce", "SMART"), ("bsce", "BSCE+SMART")):
        label = SMART_LABEL if key == "SMART" else f"BSCE+{SMART_LABEL}"
        rows += [(f"{label}, head = {rule}", ref(key), base.replace(method="smart", loss=loss, smart_head_rule=rule))
                 for rule in rules]
    return rows


def smart_table4_rows(profile_name: str, **common):
    base = smart_base(profile_name, **common)
    rows = []
    for key, value in SMART_TABLE4.items():
        config = base.replace(loss="bsce" if "BSCE" in key else "ce")
        if "aug" in key or "W" in key:
            config = config.replace(method="smart", smart_augment="aug" in key, smart_weights="W" in key)
        rows.append((" + ".join(k.replace("aug", "Minority Aug.") for k in key), value, config))
    return rows


def smart_table5_rows(profile_name: str, **common):
    base = smart_base(profile_name, **common).replace(method="smart")
    rows = [(f"layer {layer}", value, base.replace(smart_layer=layer)) for layer, value in SMART_TABLE5_LAYER.items()]
    rows += [(f"momentum {'dynamic' if m == 0 else m}", value, base.replace(smart_momentum=m))
             for m, value in SMART_TABLE5_MOMENTUM.items()]
    return rows


#: the rows of :func:`smart_parts_rows` that add one part of SMART at a time
TWO_BATCHES = "SMART's two batches alone (no Eq. 6 augmentation, no Eq. 11 weights)"
WITH_AUGMENTATION = "SMART's two batches + Minority Aug. (Eq. 6), no Eq. 11 weights"
#: SMART with its tail-dominated batch drawn by the reverse sampler: the other reading of "tail-class dominated"
REVERSE_TAIL = f"{SMART_LABEL}, tail batch by the reverse sampler (q ∝ 1/n)"


def smart_parts_rows(profile_name: str, **common):
    """SMART built up one part at a time (ltlib; no paper number), all with CE on CMO's schedule: CE; Algorithm 1's
    two batches (tail-dominated + instance-sampled) with neither Eq. 6's augmentation nor Eq. 11's weights; the
    two batches with the augmentation (= SMART Table 4's "Minority Aug. + CE"); all three (SMART, ltlib's ``share``
    form of Eq. 11); the earlier ``frobenius`` form of Eq. 11; and SMART with its tail-dominated batch drawn by the
    reverse sampler (:data:`REVERSE_TAIL`: on CIFAR-10-LT the default class-balanced batch is 20 % tail classes under
    the many rule, the reverse one 64 %; ``ltlib.methods.smart``, "Batches"). Side by side they say which part moves
    the accuracy, and which way: the paper ablates the augmentation and the weights (Table 4) but not the sampling."""
    base = smart_base(profile_name, **common)
    smart = base.replace(method="smart")
    return [("CE", None, base),
            (TWO_BATCHES, None, smart.replace(smart_augment=False, smart_weights=False)),
            (WITH_AUGMENTATION, None, smart.replace(smart_weights=False)),
            *((f"{SMART_LABEL}, Eq. 11 {form}", None, smart.replace(smart_weight_form=form))
              for form in ("share", "frobenius")),
            (REVERSE_TAIL, None, smart.replace(smart_tail_sampler="reverse"))]


def h2t_stage_one(profile_name: str, **common) -> RunConfig:
    """H2T's stage I: CE with mixup (alpha = 1) on every batch, MiSLAS's schedule."""
    return profile(profile_name, mixup_alpha=1.0, **common)


#: H2T's official configs cover CIFAR-100 only: CIFAR-10's stage-II p and weight decay are not published,
#: so the paper profile runs every pair of these and the tables name the pair of each row
CIFAR10_STAGE_TWO_GRID = {"h2t_p": (0.25, 0.3), "weight_decay": (2e-4, 5e-4)}


def stage_two_label(config) -> str:
    return f"p={config.h2t_p:g}, wd {config.effective_weight_decay:g}, stage-I {config.stage1_weights} epoch"


def h2t_table6_rows(profile_name: str, **common):
    """H2T Table 6 (CIFAR-10-LT; for ``dataset="cifar100"`` the same rows of its Table 1). The paper's "CE loss" row
    does not say whether mixup was on: it is read as the official stage-I model (CE with mixup, the backbone of its
    DR+MU and DR+H2T rows), and plain CE without mixup, the other reading, is its own labelled row. The LDAM-DRW
    row's number is LDAM-DRW's own published result, so it trains on LDAM-DRW's schedule (``cmo``: x0.01 after 160,
    x0.0001 after 180; the same run as SMART Table 1's LDAM+DRW row), not on MiSLAS's. ``paper`` runs DR at both
    weight decays and DR+H2T at every (p, weight decay) of :data:`CIFAR10_STAGE_TWO_GRID`; ``quick`` one of each."""
    stage1 = h2t_stage_one(profile_name, **common)
    column = [200, 100, 50].index(int(stage1.imbalance_factor)) if int(stage1.imbalance_factor) in (200, 100, 50) else None
    ref = lambda label: None if column is None else H2T_CIFAR_TABLE[stage1.dataset][label][column]  # noqa: E731
    drw = 160 if profile_name == "paper" else stage1.epochs - 1
    plain = profile(profile_name, **common)
    rows = [("CE (stage I: CE + mixup)", ref("CE"), stage1),
            ("CE without mixup (the other reading of 'CE loss')", ref("CE"), plain),
            ("LDAM-DRW (LDAM-DRW's schedule)", ref("LDAM-DRW"),
             smart_base(profile_name, **common).replace(loss="ldam", drw_epoch=drw))]
    decays = CIFAR10_STAGE_TWO_GRID["weight_decay"] if profile_name == "paper" else (0.0,)
    ps = CIFAR10_STAGE_TWO_GRID["h2t_p"] if profile_name == "paper" else (0.25,)
    h2t_default = stage_two_profile(profile_name, stage1).effective_weight_decay

    def stage_two(weight_decay, **changes):  # H2T's own decay stays 0 (= "H2T's"), so each run has one hash
        return stage_two_profile(profile_name, stage1, seed=stage1.seed,
                                 weight_decay=0.0 if weight_decay == h2t_default else weight_decay, **changes)

    rows += [(f"DR ({stage_two_label(c)})", ref("DR"), c) for c in (stage_two(weight_decay=wd) for wd in decays)]
    rows += [(f"DR+H2T ({stage_two_label(c)})", ref("DR+H2T"), c)
             for c in (stage_two(h2t_p=p, weight_decay=wd) for p in ps for wd in decays)]
    return rows


def h2t_table5_rows(profile_name: str, **common):
    """H2T Table 5 (fusing samplers). The paper's 47.73 is its p = 0.3 result, so every fused row uses p = 0.3."""
    stage1 = h2t_stage_one(profile_name, **common)
    rows = [("DR (no H2T)", H2T_TABLE5["DR (no H2T)"][3], stage_two_profile(profile_name, stage1, seed=stage1.seed))]
    rows += [(f"BS+{s[0].upper()}S ({s}), p=0.3", H2T_TABLE5[s][3],
              stage_two_profile(profile_name, stage1, seed=stage1.seed, h2t_p=0.3, h2t_fusing_sampler=s))
             for s in ("reverse", "balanced", "instance")]
    return rows


def h2t_table7_rows(profile_name: str, **common):
    stage1 = h2t_stage_one(profile_name, **common)
    return [(f"{selection}, p=0.3", value, stage_two_profile(profile_name, stage1, seed=stage1.seed, h2t_p=0.3,
                                                             h2t_selection=selection))
            for selection, value in H2T_TABLE7.items()]


def table_frame(rows, paper_dataset: str, table: str = "", pending: bool = False):
    """Run or load every row's config; a DataFrame with the paper's number beside ours (and, when ``table``
    is named, where the paper's number comes from: :func:`reference_source`). With ``pending`` (the paper profile,
    rendered from the store) a row whose run is neither cached nor stored is kept with empty numbers and says so in
    ``status``; without it every such run is trained, or named at once where training is off."""
    import pandas as pd

    from ltlib.results import missing_runs, sweep

    configs = [config for _, _, config in rows]
    absent = {config.hash() for config in missing_runs(configs)} if pending else set()
    present = [config for config in configs if config.hash() not in absent]
    results = dict(zip((c.hash() for c in present), sweep(present, notebook="08_tables")))  # names every missing run
    records = []
    for label, paper_value, config in rows:
        record = {"row": label, f"paper ({paper_dataset})": paper_value}
        stage1 = stage_one(config)
        result = results.get(config.hash())
        if result is None:
            record.update({"ours final": None, "ours best epoch": None, "many": None, "medium": None, "few": None,
                           "schedule": schedule_of(stage1),
                           "data": None, "status": "pending: not stored yet"})
        else:
            splits = result.splits("counts")
            record.update({"ours final": round(result.final_top1, 2), "ours best epoch": round(result.best_top1, 2),
                           **{split: None if splits[split] is None else round(splits[split], 2)
                              for split in ("many", "medium", "few")},
                           "schedule": schedule_of(result.stage1), "data": result.data_source,
                           **({"status": "stored"} if pending else {})})
        record["config"] = config.hash()
        if table:
            record["paper's number: source; ours"] = reference_source(table, label, stage1.dataset)
        records.append(record)
    return pd.DataFrame.from_records(records).set_index("row")
