"""``python -m charlm``: the command-line face of the same core calls the app uses."""

from __future__ import annotations

import argparse
import importlib
import sys

from charlm.cli.common import apply_caps
from charlm.errors import CharlmError

# Each command module exposes ``add_parser(subparsers)``, which registers its sub-command and sets
# ``func(args) -> int`` as the parser default. Keeping commands in their own modules keeps this file small.
COMMAND_MODULES = (
    "charlm.cli.train",
    "charlm.cli.sample",
    "charlm.cli.poem",
    "charlm.cli.score",
    "charlm.cli.eval",
    "charlm.cli.backprop",
    "charlm.cli.inspect",
    "charlm.cli.compare",
    "charlm.cli.search",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m charlm",
        description="Train, sample, score and evaluate small character-level language models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        apply_caps(args)
        return int(args.func(args) or 0)
    except CharlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
