"""`credfix targets`: the guardrails as they stand in the deployed table: blocked targets
(with `blocked_until`), targets in their cool-down, the action caps' last hour, pending
capped actions (status `pending`, with the time they run), the circuit breaker, recent storm
windows and muted keys. Read-only; `credfix unblock`, `breaker reset` and `mute` change them.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credfix.cli.deployment import Operator, add_deployment_arguments, run_operator
from credfix.cli.output import add_format_argument, emit, table

if TYPE_CHECKING:
    from credfix.models.operator import GuardrailView

SCHEMA = "credfix.targets/v1"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "targets",
        help="blocks, cool-downs, caps, pending actions, the breaker, storms and mutes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_deployment_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(func=run)


def _t(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else "-"


def view_text(view: GuardrailView, table_name: str) -> str:
    from credfix.core.alerts.render import short_name
    from credfix.core.alerts.sanitise import sanitise
    from credfix.keys import redact

    out: list[str] = []
    blocked = [t for t in view.targets if t.block]
    cooling = [t for t in view.targets if not t.block and t.cooldown_until]
    out.append(
        f"BLOCKED TARGETS ({len(blocked)}): enforcement is off for them until the block ends "
        "or `credfix unblock`"
    )
    out.append(
        table(
            [
                [short_name(t.target), _t(t.block.until), t.block.incident_id, sanitise(t.block.reason, 80)]
                for t in blocked
                if t.block
            ],
            ["TARGET", "BLOCKED UNTIL", "INCIDENT", "WHY"],
        ).rstrip()
        or "  none"
    )
    out.append(f"\nCOOLING DOWN ({len(cooling)}): one action per target per cool-down")
    out.append(
        table(
            [
                [short_name(t.target), _t(t.cooldown_until), t.action, t.outcome, t.incident_id]
                for t in cooling
            ],
            ["TARGET", "UNTIL", "LAST ACTION", "OUTCOME", "INCIDENT"],
        ).rstrip()
        or "  none"
    )
    out.append(f"\nPENDING ACTIONS ({len(view.pending)}): held by a full cap, they run when its window frees")
    out.append(
        table(
            [
                [p.type, short_name(p.target), _t(p.retry_at), redact(p.access_key_id), p.incident_id]
                for p in view.pending
            ],
            ["ACTION", "TARGET", "RUNS AT", "KEY", "INCIDENT"],
        ).rstrip()
        or "  none"
    )
    out.append("\nACTION CAPS (actions in the last hour)")
    out.append(
        table(
            [[sanitise(r.scope.replace("#", " "), 60), str(r.in_window)] for r in view.rates],
            ["SCOPE", "ACTIONS"],
        ).rstrip()
        or "  none taken in the last hour"
    )
    b = view.breaker
    state = "OPEN: enforcement paused, observe only" if b.open else "closed"
    out.append(
        f"\nCIRCUIT BREAKER: {state} ({b.failures} of {b.threshold} failures, last {_t(b.last_failure_at)})"
    )
    if b.reset:
        out.append(f"  last reset {b.reset}")
    out.append(f"\nSTORM WINDOWS ({len(view.storms)} recent)")
    out.append(
        table(
            [
                [
                    s.window,
                    f"{s.keys:,}",
                    f"{s.records:,}",
                    str(s.sources),
                    "yes" if s.alerted else "no",
                    ", ".join(f"{sanitise(ip, 40)} ({n:,})" for ip, n in s.top_sources),
                ]
                for s in view.storms
            ],
            ["WINDOW", "KEYS", "RECORDS", "SOURCES", "ALERTED", "TOP SOURCES"],
        ).rstrip()
        or "  none"
    )
    out.append(f"\nMUTED KEYS ({len(view.mutes)}): no alerts; actions still follow the guardrails")
    out.append(
        table(
            [[redact(k), _t(m.until), sanitise(m.by, 80), sanitise(m.reason, 60)] for k, m in view.mutes],
            ["KEY", "UNTIL", "BY", "WHY"],
        ).rstrip()
        or "  none"
    )
    out.append(f"\n(table {table_name})")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.core.operations import guardrail_view

        view = guardrail_view(op.store.scan(), datetime.now(UTC), op.deployment.settings)
        document = {
            "schema": SCHEMA,
            "table": op.deployment.table,
            **asdict(view),
            "breaker_open": view.breaker.open,
        }
        emit(args, _jsonable(document), view_text(view, op.deployment.table))
        return 0

    return run_operator("targets", args, body)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
