"""`credfix` command line (also `python -m credfix`). Honours the standard AWS environment
(profiles, `AWS_ENDPOINT_URL`, region).

Each verb lives in its own module with `register(subparsers)`, which adds its parser and
sets `func` (taking the parsed args, returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from credfix import __version__


def _verbs() -> list[str]:
    """Every module in this package is a verb (discovered, so adding one touches no shared file)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credfix", description="Find and fix stale AWS credentials.")
    parser.add_argument("--version", action="version", version=f"credfix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in _verbs():
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
