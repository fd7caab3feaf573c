"""`credfix remediate --event FILE`: diagnose as `credfix diagnose` does, then run the act
step with the same guardrails as the act Lambda and print the report with `actions` filled.

Default mode is observe (nothing is changed; actions are `planned`). `--mode enforce`
changes things, still behind opt-out tags, cooldowns, the hourly cap, the circuit breaker
and the kill switch (CREDFIX_KILL_SWITCH_PARAMETER). Rate and idempotency state is kept in
memory for this run, or in the deployed incidents table with `--table NAME` (so a CLI run
and the act Lambda never act twice on one target). Exit codes: 0 report printed; 1 AWS
failed in a way that prevents a verdict; 2 bad input; 3 report printed, an action failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.actions.ssm import KillSwitch
from credfix.adapters.aws import ClientFactory
from credfix.adapters.cli_clients import environment_clients
from credfix.adapters.messaging.sns import SnsTopic
from credfix.adapters.stores.guardrails import DynamoGuardrailStore, MemoryGuardrailStore
from credfix.cli.diagnose import BadInput, DiagnoseFailed, diagnose_incidents
from credfix.config import from_environ
from credfix.core.alerts.alerter import TopicAlerter
from credfix.core.remediate import Alerter, GuardrailStore, NullAlerter, remediate, timeline_for
from credfix.errortext import error_text
from credfix.models.incident import REPORT_SCHEMA


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "remediate",
        help="diagnose failure records, then remediate behind guardrails (observe by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--event", required=True, metavar="FILE", help="same input as `credfix diagnose`")
    parser.add_argument("--mode", choices=("observe", "enforce"), default="observe")
    parser.add_argument(
        "--topic-arn", metavar="ARN", help="publish the remediated incident to this SNS topic"
    )
    parser.add_argument("--table", metavar="NAME", help="the deployed incidents table, for shared rate state")
    parser.set_defaults(func=run)


def build_cli_alerter(topic_arn: str | None, client_for: ClientFactory) -> Alerter:
    """The SNS alerter for --topic-arn, else a no-op."""
    return TopicAlerter(SnsTopic(client_for("sns"), topic_arn).publish) if topic_arn else NullAlerter()


def run(args: argparse.Namespace) -> int:
    def fail(code: int, reason: str) -> int:
        print(f"credfix remediate: {reason}", file=sys.stderr)
        return code

    settings = from_environ().model_copy(update={"mode": args.mode})
    try:
        client_for = environment_clients()
    except BotoCoreError as exc:
        return fail(1, f"AWS configuration: {error_text(exc)}")
    try:
        alerter = build_cli_alerter(args.topic_arn, client_for)
        incidents, rejected = diagnose_incidents(args.event, client_for, settings)
    except (BadInput, ValueError) as exc:
        return fail(2, str(exc))
    except DiagnoseFailed as exc:
        return fail(1, str(exc))

    store: GuardrailStore = (
        DynamoGuardrailStore(client_for("dynamodb"), args.table) if args.table else MemoryGuardrailStore()
    )
    kill_switch = (
        KillSwitch(client_for("ssm"), settings.kill_switch_parameter)
        if settings.kill_switch_parameter
        else None
    )
    documents: list[dict[str, object]] = []
    failed = False
    for incident in incidents:
        now = datetime.now(UTC)
        try:
            actions = remediate(incident, client_for, settings, store, kill_switch=kill_switch, now=now)
        except (ClientError, BotoCoreError) as exc:  # guardrail state unreachable (e.g. --table)
            return fail(1, f"guardrail state unavailable: {error_text(exc)}")
        acted = incident.model_copy(
            update={
                "actions": actions,
                "status": "acted",
                "timeline": incident.timeline + timeline_for(actions, now),
            }
        )
        failed = failed or any(a.status == "failed" for a in actions)
        try:
            alerter.incident_remediated(acted)
        except (ClientError, BotoCoreError) as exc:
            print(f"credfix remediate: alert not published: {error_text(exc)}", file=sys.stderr)
            failed = True
        documents.append(acted.document())
    report = {
        "schema": REPORT_SCHEMA,
        "incidents": documents,
        "rejected": {"count": sum(rejected.values()), "reasons": dict(rejected)},
    }
    print(json.dumps(report, indent=2))
    return 3 if failed else 0
