"""`credfix remediate --event FILE`: diagnose as `credfix diagnose` does (same inputs), then
run the act step with the same guardrails as the act Lambda and print the report with
`actions` filled.

Default mode is observe (nothing is changed; actions are `planned`). `--mode enforce`
changes things, still behind opt-out tags, cooldowns, the hourly cap, the circuit breaker
and the kill switch (CREDFIX_KILL_SWITCH_PARAMETER). Rate and idempotency state is kept in
memory for this run, or in the deployed incidents table with `--table NAME` (so a CLI run
and the act Lambda never act twice on one target). Exit codes: 0 report printed; 1 AWS
failed in a way that prevents a verdict; 2 bad input; 3 report printed, an action failed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credfix.cli.diagnose import diagnose, report_document, report_text
from credfix.cli.inputs import add_input_arguments
from credfix.cli.output import Progress, add_format_argument, emit, fail

if TYPE_CHECKING:
    from credfix.adapters.actions.ssm import KillSwitch
    from credfix.adapters.aws import ClientFactory
    from credfix.config import Settings
    from credfix.core.remediate import Alerter, GuardrailStore
    from credfix.models.incident import Incident


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "remediate",
        help="diagnose failure records, then remediate behind guardrails (observe by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument("--mode", choices=("observe", "enforce"), default="observe")
    parser.add_argument(
        "--topic-arn", metavar="ARN", help="publish the remediated incident to this SNS topic"
    )
    parser.add_argument("--table", metavar="NAME", help="the deployed incidents table, for shared rate state")
    add_format_argument(parser)
    parser.set_defaults(func=run)


def build_cli_alerter(topic_arn: str | None, client_for: ClientFactory, docs_base_url: str) -> Alerter:
    """The SNS alerter for --topic-arn, else a no-op."""
    from credfix.adapters.messaging.sns import SnsTopic
    from credfix.core.alerts.alerter import TopicAlerter
    from credfix.core.remediate import NullAlerter

    if not topic_arn:
        return NullAlerter()
    return TopicAlerter(SnsTopic(client_for("sns"), topic_arn).publish, docs_base_url=docs_base_url)


class GuardrailsUnavailable(Exception):
    """The guardrail state (the --table) could not be read or written: exit 1."""


@dataclass
class Acting:
    """What the act step needs in a CLI run, built once: the same guardrails as the act Lambda."""

    client_for: ClientFactory
    settings: Settings
    store: GuardrailStore
    kill_switch: KillSwitch | None
    alerter: Alerter
    verb: str

    @classmethod
    def build(
        cls, args: argparse.Namespace, client_for: ClientFactory, settings: Settings, verb: str
    ) -> Acting:
        """Raises ValueError for a --topic-arn that is not a topic's ARN."""
        from credfix.adapters.actions.ssm import KillSwitch
        from credfix.adapters.stores.guardrails import DynamoGuardrailStore, MemoryGuardrailStore

        alerter = build_cli_alerter(args.topic_arn, client_for, settings.docs_base_url)
        store = (
            DynamoGuardrailStore(client_for("dynamodb"), args.table) if args.table else MemoryGuardrailStore()
        )
        kill_switch = (
            KillSwitch(client_for("ssm"), settings.kill_switch_parameter)
            if settings.kill_switch_parameter
            else None
        )
        return cls(client_for, settings, store, kill_switch, alerter, verb)

    def act(self, incident: Incident) -> tuple[Incident, bool]:
        """The incident with its actions, alerted; whether an action (or the alert) failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        from credfix.core.remediate import remediate, timeline_for
        from credfix.errortext import error_text

        now = datetime.now(UTC)
        try:
            actions = remediate(
                incident, self.client_for, self.settings, self.store, kill_switch=self.kill_switch, now=now
            )
        except (ClientError, BotoCoreError) as exc:  # guardrail state unreachable (e.g. --table)
            raise GuardrailsUnavailable(f"guardrail state unavailable: {error_text(exc)}") from exc
        acted = incident.model_copy(
            update={
                "actions": actions,
                "status": "acted",
                "timeline": incident.timeline + timeline_for(actions, now),
            }
        )
        failed = any(a.status == "failed" for a in actions)
        try:
            self.alerter.incident_remediated(acted)
        except (ClientError, BotoCoreError) as exc:
            print(f"credfix {self.verb}: alert not published: {error_text(exc)}", file=sys.stderr)
            failed = True
        return acted, failed


def run(args: argparse.Namespace) -> int:
    from credfix.adapters.cli_clients import environment_clients

    done = diagnose(args, "remediate")
    if isinstance(done, int):
        return done
    incidents, stats, settings = done
    try:
        acting = Acting.build(args, environment_clients(), settings, "remediate")
    except ValueError as exc:
        return fail("remediate", 2, str(exc))
    acted_incidents = []
    failed = False
    progress = Progress("remediate")
    try:
        for n, incident in enumerate(incidents, 1):
            progress.update(f"incident {n} of {len(incidents)}")
            acted, action_failed = acting.act(incident)
            failed = failed or action_failed
            acted_incidents.append(acted)
    except GuardrailsUnavailable as exc:
        return fail("remediate", 1, str(exc))
    finally:
        progress.done()
    document = report_document([i.document() for i in acted_incidents], stats)
    emit(args, document, report_text(acted_incidents, stats, "remediated", settings))
    return 3 if failed else 0
