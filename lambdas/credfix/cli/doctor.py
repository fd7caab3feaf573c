"""`credfix doctor`: checks that the account can feed credfix (a logging multi-region trail, and
the runtime-log signal's account policy in this region)."""

from __future__ import annotations

import argparse
from typing import Any

from credfix.cli.output import add_format_argument, emit, fail


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that CloudTrail feeds EventBridge (before deploying)"
    )
    add_format_argument(parser, json_flag=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.aws import client
    from credfix.adapters.readers.cloudtrail import read_trails
    from credfix.adapters.readers.log_policies import read_subscription_policies
    from credfix.core.doctor import LOG_SIGNAL, Check, check_log_policy, check_trails
    from credfix.errortext import error_text

    try:
        trails = read_trails(client("cloudtrail"))
    except (BotoCoreError, ClientError) as exc:
        return fail("doctor", 1, f"cannot read CloudTrail trails: {error_text(exc)}")
    report = check_trails(trails)
    logs = client("logs")
    try:
        report.checks.append(check_log_policy(read_subscription_policies(logs), logs.meta.region_name))
    except (BotoCoreError, ClientError) as exc:
        report.checks.append(Check(LOG_SIGNAL, False, f"cannot read account policies: {type(exc).__name__}"))
    text = "\n".join(
        f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}" for check in report.checks
    )
    emit(args, {"ok": report.ok, "checks": [c.__dict__ for c in report.checks]}, text)
    return 0 if report.ok else 1
