"""`credfix` command line (also `python -m credfix`). Honours the standard AWS environment
(profiles, `AWS_ENDPOINT_URL`, region).

Each verb lives in its own module with `register(subparsers)`, which adds its parser and
sets `func` (taking the parsed args, returning the exit code). Modules without `register`
(output.py, inputs.py, deployment.py) are shared helpers, not verbs. Verb modules import
only the standard library and boto3 at the top, so `credfix --help` and `credfix preflight`
work on the base install; the rest import what they need when they run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from credfix import __version__

# Modules that only the `lambda` extra brings (pydantic, Powertools): a verb that needs one
# says which extra to install instead of printing a traceback.
_EXTRA_MODULES = {"pydantic": "lambda", "pydantic_core": "lambda", "aws_lambda_powertools": "lambda"}


def _verbs() -> list[str]:
    """Every module in this package that defines `register` is a verb (discovered, so adding
    one touches no shared file)."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [n for n in names if hasattr(importlib.import_module(f"credfix.cli.{n}"), "register")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credfix", description="Find and fix stale AWS credentials.")
    parser.add_argument("--version", action="version", version=f"credfix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in _verbs():
        importlib.import_module(f"credfix.cli.{verb}").register(subparsers)
    return parser


def _quiet_stdout() -> None:
    """The reader went away (`credfix … | head -1`): drop whatever is still buffered, so that
    neither this run nor the interpreter's exit prints a BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"credfix {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        extra = _EXTRA_MODULES.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"credfix {args.command}: needs the '{extra}' extra (missing module {exc.name}): "
            f"pip install 'credfix[{extra}]'",
            file=sys.stderr,
        )
        return 2
    return code
