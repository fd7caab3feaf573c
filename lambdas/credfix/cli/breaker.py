"""`credfix breaker reset --reason TEXT`: close the circuit breaker after the failures that
opened it are understood (it also closes by itself an hour after the last failure, or after
an action succeeds). Enforcement resumes for new decisions; every other guardrail applies.

The reset is conditional on the breaker as it was read, and is recorded with your identity
ARN and the reason on the breaker's item and on the timelines of the incidents whose failed
actions counted. Exit codes: 0 reset; 1 AWS failed; 2 bad arguments; 3 nothing changed
(no failures counted, or the breaker changed meanwhile).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from credfix.cli.deployment import (
    Operator,
    add_deployment_arguments,
    caller,
    checked_reason,
    reason_argument,
    run_operator,
)
from credfix.cli.output import add_format_argument, emit


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "breaker",
        help="reset the circuit breaker (credfix targets shows its state)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="breaker_verb", metavar="reset", required=True)
    reset = verbs.add_parser("reset", help="close the circuit breaker")
    reason_argument(reset)
    add_deployment_arguments(reset)
    add_format_argument(reset)
    reset.set_defaults(func=run_reset)


def run_reset(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.core.remediate.guardrails import BREAKER_WINDOW_SECONDS
        from credfix.models.operator import Conflict
        from credfix.timefmt import iso_z

        reason = checked_reason(args.reason)
        now = datetime.now(UTC)
        items = list(op.store.scan())
        seen = next((i for i in items if i.get("pk") == "breaker"), None)
        if not seen or int(seen.get("failures", 0)) == 0:
            raise Conflict("the circuit breaker is closed (no failures counted)")
        who = caller(op.client_for)
        op.store.reset_breaker(seen, by=who, reason=reason, now=now)
        # The incidents whose failed actions the breaker counted (within its window).
        since = iso_z(now - timedelta(seconds=BREAKER_WINDOW_SECONDS))
        failed_ids = {
            str(i.get("incident_id"))
            for i in items
            if str(i.get("pk", "")).startswith("target#")
            and i.get("outcome") == "failed"
            and str(i.get("settled_at", "")) >= since
        }
        noted = [
            str(i["incident_id"])
            for i in items
            if str(i.get("pk", "")).startswith("key#")
            and i.get("incident_id") in failed_ids
            and op.store.note(
                str(i["access_key_id"]),
                str(i["incident_id"]),
                by=who,
                what=f"circuit breaker reset: {reason}",
                now=now,
            )
        ]
        text = f"Circuit breaker reset from {int(seen['failures'])} failure(s) by {who}."
        if noted:
            text += f" Recorded on incident(s) {', '.join(noted)}."
        emit(
            args,
            {
                "schema": "credfix.operator-change/v1",
                "change": "breaker-reset",
                "by": who,
                "reason": reason,
                "at": iso_z(now),
                "failures_before": int(seen["failures"]),
                "recorded_on_incidents": noted,
            },
            text,
        )
        return 0

    return run_operator("breaker reset", args, body)
