"""`credfix mute KEY --for 7d --reason TEXT`: hold back a known-noisy key's alerts (e-mail,
machine subscribers and chat) until the time is up; `--off` lifts the mute. Alerts only: the
act and verify steps still decide and act behind every guardrail, and record what they did
on the incident (`credfix incidents show KEY`), including each alert the mute held back.

KEY is the access key ID of an incident credfix has (a mute lives on the key's item and
outlives a re-opened incident). The change is conditional on the mute as it was read, and is
recorded with your identity ARN and the reason on the key's incident. Exit codes: 0 done;
1 AWS failed; 2 bad arguments; 3 nothing changed (no incident for the key, or the mute
changed meanwhile).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
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

MAX_MUTE = timedelta(days=90)
_DURATION = re.compile(r"^(\d{1,4})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    found = _DURATION.match(value.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration like 30m, 12h, 7d, 2w")
    amount, unit = found.groups()
    length = timedelta(**{_UNITS[unit]: int(amount)})
    if not timedelta(0) < length <= MAX_MUTE:
        raise argparse.ArgumentTypeError(f"a mute lasts more than 0 and at most {MAX_MUTE.days} days")
    return length


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mute",
        help="hold back a key's alerts for a while (actions still follow the guardrails)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("key", metavar="KEY", help="the access key ID")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--for", dest="length", type=duration, metavar="DURATION", help="30m, 12h, 7d, 2w")
    length.add_argument("--off", action="store_true", help="lift the mute")
    reason_argument(parser)
    add_deployment_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.keys import is_access_key_id, redact
        from credfix.models.operator import Conflict
        from credfix.timefmt import iso_z

        if not is_access_key_id(args.key):
            raise NotDeployed(f"{redact(args.key)} is not an access key ID")
        reason = checked_reason(args.reason)
        seen = op.store.get(f"key#{args.key}")
        if seen is None:
            raise Conflict(f"no incident for {redact(args.key)}: nothing to mute")
        if args.off and seen.get("mute_until") is None:
            raise Conflict(f"{redact(args.key)} is not muted")
        now = datetime.now(UTC)
        until = None if args.off else now + args.length
        who = caller(op.client_for)
        op.store.mute(args.key, seen, until=until, by=who, reason=reason, now=now)
        text = (
            f"Alerts of {redact(args.key)} unmuted by {who}."
            if until is None
            else f"Alerts of {redact(args.key)} muted until {until:%Y-%m-%d %H:%M} UTC by {who} "
            "(actions still follow the guardrails)."
        )
        emit(
            args,
            {
                "schema": "credfix.operator-change/v1",
                "change": "unmute" if until is None else "mute",
                "access_key_id": args.key,
                "until": iso_z(until) if until else None,
                "by": who,
                "reason": reason,
                "at": iso_z(now),
                "incident_id": seen.get("incident_id"),
            },
            text,
        )
        return 0

    return run_operator("mute", args, body)
