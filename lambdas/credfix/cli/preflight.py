"""`credfix preflight`: fail fast when the workload's credentials are not the intended ones.

Runs in the workload (health check, init container, CI step, deploy gate), not in Lambda.
Exit codes: 0 pass, 1 STS unreachable (nothing verified), 2 bad arguments, 3 identity
mismatch, 4 credentials rejected / unobtainable / absent. See docs/preflight.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, get_args

from credfix.cli.output import add_format_argument, chosen_format
from credfix.keys import Partition
from credfix.preflight.checks import Expectations
from credfix.preflight.render import to_json, to_text
from credfix.preflight.run import DEFAULT_TIMEOUT, run_preflight
from credfix.preflight.sources import provider_methods

_ACCOUNT = re.compile(r"^\d{12}$")


def _account(value: str) -> str:
    if not _ACCOUNT.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a 12-digit AWS account ID")
    return value


def _arn_pattern(value: str) -> str:
    if not value.startswith(("arn:", "*")):
        raise argparse.ArgumentTypeError(f"{value!r} is not an ARN pattern (it should start with 'arn:')")
    return value


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds <= 60:
        raise argparse.ArgumentTypeError("timeout must be between 0 and 60 seconds")
    return seconds


def register(subparsers: Any) -> None:
    sources = provider_methods()
    parser = subparsers.add_parser(
        "preflight",
        help="check which credentials this runtime uses and whom AWS takes them for",
        description=(
            "Resolve the credential chain as the AWS SDK does, report the winning provider and every "
            "competing source, flag mixed auth modes and profile overrides, then call "
            "sts:GetCallerIdentity and assert the identity. Exit codes: 0 pass; 1 STS unreachable "
            "(nothing verified); 2 bad arguments; 3 identity mismatch (account, ARN, partition, source); "
            "4 credentials rejected, unobtainable or absent."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="credential sources (botocore provider names): " + ", ".join(sources),
    )
    parser.add_argument(
        "--expect-account",
        metavar="ID",
        nargs="+",
        action="extend",
        type=_account,
        default=[],
        help="the account (or any of the accounts) the caller must be in; repeatable",
    )
    parser.add_argument(
        "--expect-arn",
        metavar="PATTERN",
        type=_arn_pattern,
        help="fnmatch glob the caller ARN must match (case-sensitive; * also matches /), "
        "e.g. 'arn:aws:sts::*:assumed-role/deploy/*' for a role session",
    )
    parser.add_argument(
        "--expect-partition",
        metavar="P",
        choices=list(get_args(Partition)),
        help="aws, aws-cn, aws-us-gov, …",
    )
    parser.add_argument(
        "--expect-source",
        metavar="SOURCE",
        choices=sources,
        help="the credential provider that must win: " + ", ".join(sources),
    )
    add_format_argument(parser, json_flag=True)
    parser.add_argument(
        "--offline",
        action="store_true",
        help="no network at all: skip STS, the container endpoint and instance metadata "
        "(checks the chain, offline-decoded accounts and the region's partition only)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="warnings (e.g. mixed auth modes) fail with exit 3"
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"STS connect and read timeout (default {DEFAULT_TIMEOUT:g}; 2 attempts)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    expectations = Expectations(
        accounts=tuple(dict.fromkeys(args.expect_account)),
        arn_pattern=args.expect_arn,
        partition=args.expect_partition,
        source=args.expect_source,
    )
    report = run_preflight(expectations, offline=args.offline, strict=args.strict, timeout=args.timeout)
    if chosen_format(args) == "json":
        print(to_json(report), file=sys.stdout)
    else:
        print(to_text(report), file=sys.stdout)
    return report.exit_code
