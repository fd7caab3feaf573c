"""`credfix unblock TARGET --reason TEXT`: clear the block verify put on a target after a fix
that did not hold, so enforcement may act on it again (its cool-down and every other
guardrail still apply; the incident that was blocked does not act twice on one target, so
a new failure opens the way).

TARGET is the target's ARN (or ID) as `credfix targets` lists it, or the unique end of it
(`orders-api`). The change is conditional on the block as it was read, and is recorded with
your identity ARN and the reason on the target's item and on the blocked incident's
timeline. Exit codes: 0 cleared; 1 AWS failed; 2 no such blocked target, or ambiguous;
3 nothing changed (it was cleared, or re-blocked, meanwhile).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from credfix.cli.deployment import (
    NotDeployed,
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
        "unblock",
        help="clear a target's block so that enforcement may act on it again",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="the target's ARN or ID, or its unique end")
    reason_argument(parser)
    add_deployment_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(func=run)


def find_target(items: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """The target item named exactly, else the one whose ID ends in `wanted` (after / or :)."""
    targets = {
        str(i["pk"]).removeprefix("target#"): i for i in items if str(i.get("pk", "")).startswith("target#")
    }
    if wanted in targets:
        return targets[wanted]
    matches = [t for t in targets if t.endswith(("/" + wanted, ":" + wanted))]
    if len(matches) == 1:
        return targets[matches[0]]
    if not matches:
        raise NotDeployed(f"no target {wanted!r} (`credfix targets` lists them)")
    raise NotDeployed(
        f"{wanted!r} names {len(matches)} targets: give the whole ARN ({', '.join(sorted(matches)[:3])})"
    )


def run(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.core.operations import target_state

        reason = checked_reason(args.reason)
        now = datetime.now(UTC)
        seen = find_target(list(op.store.scan()), args.target)
        target = str(seen["pk"]).removeprefix("target#")
        state = target_state(seen, now, op.deployment.settings)
        if state.block is None:
            from credfix.models.operator import Conflict

            raise Conflict(f"{target} is not blocked (`credfix targets` lists the blocked ones)")
        who = caller(op.client_for)
        op.store.unblock(target, seen, by=who, reason=reason, now=now)
        noted = False
        if state.block.access_key_id and state.block.incident_id:
            noted = op.store.note(
                state.block.access_key_id,
                state.block.incident_id,
                by=who,
                what=f"block on {target} cleared: {reason}",
                now=now,
            )
        text = (
            f"Cleared the block on {target} (was until {state.block.until:%Y-%m-%d %H:%M} UTC), by {who}."
            if state.block.until
            else f"Cleared the block on {target}, by {who}."
        )
        if not noted:
            text += " The blocked incident is no longer the key's current one: recorded on the target only."
        emit(
            args,
            {
                "schema": "credfix.operator-change/v1",
                "change": "unblock",
                "target": target,
                "by": who,
                "reason": reason,
                "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "incident_id": state.block.incident_id,
                "recorded_on_incident": noted,
            },
            text,
        )
        return 0

    return run_operator("unblock", args, body)
