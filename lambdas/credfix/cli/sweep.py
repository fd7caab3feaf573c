"""`credfix sweep --secret NAME|ARN [--mode observe|enforce] [--table NAME] [--topic-arn ARN]`:
the rotation watch from the command line. Checks the watched secret's rotation as the
rotation Lambda does; when a consumer still runs the previous version (or the old key is
still used), builds the rotation-drift incident and runs the act step on it with the same
guardrails as the act Lambda, then prints the usual `credfix.report/v1` report (no incident
when nothing drifted).

Default mode is observe (actions are `planned`). Rate and idempotency state is kept in memory
for this run, or in the deployed incidents table with `--table NAME` (a CLI run and the act
Lambda then never act twice on one target). Exit codes: 0 report printed; 1 AWS failed;
2 bad input (unknown secret, not a watched secret, no previous version); 3 report printed,
an action failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.actions.ssm import KillSwitch
from credfix.adapters.cli_clients import environment_clients
from credfix.adapters.stores.guardrails import DynamoGuardrailStore, MemoryGuardrailStore
from credfix.cli.remediate import build_cli_alerter
from credfix.cli.rotation_check import CheckFailed, add_secret_arguments, run_check
from credfix.config import from_environ
from credfix.core.remediate import GuardrailStore, remediate, timeline_for
from credfix.core.rotation.check import drifted
from credfix.core.rotation.incident import incident_of
from credfix.models.incident import REPORT_SCHEMA


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="the rotation watch for one secret: find consumers on the previous version, restart them "
        "behind guardrails (observe by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_secret_arguments(parser)
    parser.add_argument("--mode", choices=("observe", "enforce"), default="observe")
    parser.add_argument("--table", metavar="NAME", help="the deployed incidents table, for shared rate state")
    parser.add_argument("--topic-arn", metavar="ARN", help="publish the incident to this SNS topic")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def fail(code: int, reason: str) -> int:
        print(f"credfix sweep: {reason}", file=sys.stderr)
        return code

    settings = from_environ().model_copy(update={"mode": args.mode})
    try:
        client_for = environment_clients()
        checked = run_check(args, settings, client_for)
    except BotoCoreError as exc:
        return fail(1, f"AWS configuration: {exc}")
    except CheckFailed as exc:
        return fail(exc.code, str(exc))
    documents: list[dict[str, object]] = []
    failed = False
    if not drifted(checked.report):
        print(f"credfix sweep: {checked.report.rotation.secret_name}: no drift", file=sys.stderr)
    else:
        now = datetime.now(UTC)
        incident = incident_of(checked, now)
        store: GuardrailStore = (
            DynamoGuardrailStore(client_for("dynamodb"), args.table) if args.table else MemoryGuardrailStore()
        )
        kill_switch = (
            KillSwitch(client_for("ssm"), settings.kill_switch_parameter)
            if settings.kill_switch_parameter
            else None
        )
        try:
            actions = remediate(incident, client_for, settings, store, kill_switch=kill_switch, now=now)
        except (ClientError, BotoCoreError) as exc:
            return fail(1, f"guardrail state unavailable: {exc}")
        acted = incident.model_copy(
            update={
                "actions": actions,
                "status": "acted",
                "timeline": incident.timeline + timeline_for(actions, now),
            }
        )
        failed = any(a.status == "failed" for a in actions)
        try:
            build_cli_alerter(args.topic_arn, client_for).incident_remediated(acted)
        except (ClientError, BotoCoreError) as exc:
            print(f"credfix sweep: alert not published: {exc}", file=sys.stderr)
            failed = True
        documents.append(acted.document())
    report = {"schema": REPORT_SCHEMA, "incidents": documents, "rejected": {"count": 0, "reasons": {}}}
    print(json.dumps(report, indent=2))
    return 3 if failed else 0
