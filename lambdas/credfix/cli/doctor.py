"""`credfix doctor`: checks that the account can feed credfix (a logging multi-region trail)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import client
from credfix.adapters.readers.cloudtrail import read_trails
from credfix.core.doctor import check_trails
from credfix.errortext import error_text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that CloudTrail feeds EventBridge (before deploying)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        trails = read_trails(client("cloudtrail"))
    except (BotoCoreError, ClientError) as exc:
        print(f"credfix doctor: cannot read CloudTrail trails: {error_text(exc)}", file=sys.stderr)
        return 1
    report = check_trails(trails)
    if args.json:
        print(json.dumps({"ok": report.ok, "checks": [c.__dict__ for c in report.checks]}, indent=2))
    else:
        for check in report.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return 0 if report.ok else 1
