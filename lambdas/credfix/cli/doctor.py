"""`credfix doctor`: checks that the account can feed credfix (a logging multi-region trail)."""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import client
from credfix.adapters.readers.cloudtrail import read_trails
from credfix.cli.output import add_format_argument, emit, fail
from credfix.core.doctor import check_trails


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that CloudTrail feeds EventBridge (before deploying)"
    )
    add_format_argument(parser, json_flag=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        trails = read_trails(client("cloudtrail"))
    except (BotoCoreError, ClientError) as exc:
        return fail("doctor", 1, f"cannot read CloudTrail trails: {exc}")
    report = check_trails(trails)
    text = "\n".join(
        f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}" for check in report.checks
    )
    emit(args, {"ok": report.ok, "checks": [c.__dict__ for c in report.checks]}, text)
    return 0 if report.ok else 1
