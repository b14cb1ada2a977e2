"""What every figure notebook and table trains, as configs: one source for the notebooks and the campaign.

Each notebook asks one function here for its runs (``runsets.margins("paper", ...)``) and then
reads them with :func:`ltlib.results.get_or_train` / :func:`ltlib.results.sweep`; the campaign
(:mod:`ltlib.campaign`) calls the same functions to plan what the GPU must train. A function returns
``{label: config}``; ``None`` parameters mean the profile's default grid, as in the notebooks.

:data:`NOTEBOOK_RUNSETS` maps each notebook to its function; :data:`PAPER_VARIANTS` lists the
imbalance factors the papers' other CIFAR-LT columns need beside the default IF 100.
"""
from __future__ import annotations

from ltlib.config import RunConfig, StageTwoConfig, profile, stage_one, stage_two_profile
from ltlib import tables


def _common(dataset: str, imbalance_factor: float, seed: int) -> dict:
    return dict(dataset=dataset, imbalance_factor=imbalance_factor, seed=seed)


def quickstart(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0) -> dict:
    """00: the plain CE baseline (MiSLAS schedule)."""
    return {"CE": profile(profile_name, **_common(dataset, imbalance_factor, seed))}


def confusion(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0) -> dict:
    """02 (SMART Fig. 3): CE and SMART on CMO's schedule."""
    base = tables.smart_base(profile_name, **_common(dataset, imbalance_factor, seed))
    return {"CE": base, "SMART": base.replace(method="smart")}


def h2t_stage_two(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0, p=0.25) -> dict:
    """03 and 04 (H2T Fig. 3, 5, 7-10): stage I (CE + mixup), DR and DR+H2T on it."""
    stage1 = tables.h2t_stage_one(profile_name, **_common(dataset, imbalance_factor, seed))
    return {"stage I": stage1, "DR": stage_two_profile(profile_name, stage1, seed=seed, h2t_p=0.0),
            "DR+H2T": stage_two_profile(profile_name, stage1, seed=seed, h2t_p=p)}


def margins(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0) -> dict:
    """05 (SMART Fig. 4b): CE, CMO and SMART on CMO's schedule."""
    base = tables.smart_base(profile_name, **_common(dataset, imbalance_factor, seed))
    return {"CE": base, "CMO": base.replace(method="cmo", cmo_skip_epochs=3 if profile_name == "paper" else 0),
            "SMART": base.replace(method="smart")}


def tau_grid(profile_name: str, taus=None, head_choices=None) -> tuple[list, list]:
    taus = taus or ([1.0, 10.0] if profile_name == "quick" else [0.1, 1.0, 10.0, 100.0])
    head_choices = head_choices or (["online", "wordnet"] if profile_name == "quick" else ["online", "wordnet", "glove"])
    return list(taus), list(head_choices)


def tau_sweep(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0, taus=None, head_choices=None) -> dict:
    """06 (SMART Fig. 4a): SMART over tau for each head choice, ``{(choice, tau): config}``."""
    taus, head_choices = tau_grid(profile_name, taus, head_choices)
    base = tables.smart_base(profile_name, method="smart", **_common(dataset, imbalance_factor, seed))
    return {(choice, tau): base.replace(smart_head_choice=choice, smart_tau=tau)
            for choice in head_choices for tau in taus}


def p_grid(profile_name: str, ps=None) -> list:
    return list(ps or ([0.0, 0.25, 0.5, 1.0] if profile_name == "quick" else [round(0.1 * i, 1) for i in range(11)]))


def p_sweep(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0, ps=None) -> dict:
    """07 (H2T Fig. 6, 11): stage II at every p on one stage I, ``{p: config}``."""
    stage1 = tables.h2t_stage_one(profile_name, **_common(dataset, imbalance_factor, seed))
    return {p: stage_two_profile(profile_name, stage1, seed=seed, h2t_p=p) for p in p_grid(profile_name, ps)}


def table_rows(profile_name: str, dataset="cifar10", imbalance_factor=100, seed=0, ablations=None) -> dict:
    """08: every table's rows, ``{table name: [(label, paper value, config), ...]}``. The ablations (SMART Tables
    4-5 and SMART's parts, H2T Tables 5 and 7) run by default only in the paper profile."""
    common = _common(dataset, imbalance_factor, seed)
    ablations = profile_name == "paper" if ablations is None else ablations
    found = {"SMART Table 1": tables.smart_table1_rows(profile_name, **common),
             "H2T Table 6": tables.h2t_table6_rows(profile_name, **common)}
    if ablations:
        found.update({"H2T Table 5": tables.h2t_table5_rows(profile_name, **common),
                      "H2T Table 7": tables.h2t_table7_rows(profile_name, **common),
                      "SMART Table 4": tables.smart_table4_rows(profile_name, **common),
                      "SMART Table 5": tables.smart_table5_rows(profile_name, **common),
                      "SMART's parts": tables.smart_parts_rows(profile_name, **common)})
    return found


def _table_configs(profile_name: str, only_tables=None, **params) -> dict:
    return {f"{table}: {label}": config for table, rows in table_rows(profile_name, **params).items()
            if only_tables is None or table in only_tables for label, _, config in rows}


def _other_columns(profile_name: str, imbalance_factor: float, **params) -> dict:
    """The papers' other CIFAR-10-LT columns: H2T Table 6 at IF 200 and 50, SMART Table 1 at IF 50."""
    tables_needed = {200: ("H2T Table 6",), 50: ("H2T Table 6", "SMART Table 1")}[int(imbalance_factor)]
    return _table_configs(profile_name, only_tables=tables_needed, imbalance_factor=imbalance_factor,
                          ablations=False, **params)


#: notebook stem -> function of (profile, dataset=, imbalance_factor=, seed=) giving {label: config}
NOTEBOOK_RUNSETS = {
    "00_quickstart": quickstart,
    "02_confusion_tail_vs_similar_heads": confusion,
    "03_tail_prediction_frequency": h2t_stage_two,
    "04_tsne_decision_boundaries": h2t_stage_two,
    "05_margins": margins,
    "06_tau_sweep": tau_sweep,
    "07_p_sweep": p_sweep,
    "08_tables": _table_configs,
}
#: notebooks that render at the paper profile from the runs stored so far (their missing rows say pending), not
#: only once every run is stored: the tables, whose rows arrive one campaign run at a time
RENDERS_PARTIALLY = ("08_tables",)
#: (imbalance factor, run set) the paper profile also needs beside IF 100, per notebook: the papers' other
#: CIFAR-LT columns (H2T Table 6 / Table 1 for CIFAR-100: IF 200 and 50; SMART Table 1: IF 50)
PAPER_VARIANTS = {"08_tables": [(200, _other_columns), (50, _other_columns)]}


def notebook_configs(name: str, profile_name: str, seed: int = 0, dataset: str = "cifar10",
                     imbalance_factor: float = 100, runset=None) -> list[RunConfig | StageTwoConfig]:
    """Every config notebook ``name`` asks for (or ``runset`` gives), with the stage-I runs its
    stage-II runs need."""
    runset = runset or NOTEBOOK_RUNSETS[name]
    return with_stage_one(runset(profile_name, dataset=dataset, imbalance_factor=imbalance_factor, seed=seed).values())


def with_stage_one(configs) -> list[RunConfig | StageTwoConfig]:
    """``configs`` in training order, each once: a stage II right after the stage I it needs."""
    ordered, seen = [], set()
    for config in configs:
        for needed in (stage_one(config), config):
            if needed.hash() not in seen:
                seen.add(needed.hash())
                ordered.append(needed)
    return ordered
