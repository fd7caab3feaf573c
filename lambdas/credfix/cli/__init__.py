"""`credfix` command line (also `python -m credfix`). Honours the standard AWS environment
(profiles, `AWS_ENDPOINT_URL`, region).

Each verb lives in its own module with `register(subparsers)`, which adds its parser and
sets `func` (taking the parsed args, returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from credfix import __version__

VERBS: tuple[str, ...] = ()  # module names under credfix.cli, e.g. "diagnose"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credfix", description="Find and fix stale AWS credentials.")
    parser.add_argument("--version", action="version", version=f"credfix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in VERBS:
        importlib.import_module(f"credfix.cli.{verb}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))
