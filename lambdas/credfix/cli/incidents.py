"""`credfix incidents list|show`: the deployed table's incidents, for people on call.

    credfix incidents list [--status escalated,acted] [--since 24h] [--archived]
    credfix incidents show ID|KEY

`list` prints one line per incident (newest first); `show` prints the incident as its alert
reads, with its whole timeline (what the stages and people did) and any mute on its key.
The table comes from the home stack's outputs (`--stack`) or `--table`. Read-only.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credfix.cli.deployment import Operator, add_deployment_arguments, run_operator
from credfix.cli.inputs import when
from credfix.cli.output import add_format_argument, emit, table

if TYPE_CHECKING:
    from credfix.models.incident import Incident

STATUSES = ("open", "triaged", "acted", "resolved", "escalated")
LIST_SCHEMA = "credfix.incidents/v1"
SHOW_SCHEMA = "credfix.incident-status/v1"
_KIND_OF_STATUS = {"escalated": "escalated", "resolved": "resolved", "acted": "remediated"}


def _statuses(value: str) -> set[str]:
    wanted = {s.strip() for s in value.split(",") if s.strip()}
    unknown = wanted - set(STATUSES)
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"statuses are {', '.join(STATUSES)} (comma-separated)")
    return wanted


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "incidents",
        help="list the deployed table's incidents, or show one with its timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="incidents_verb", metavar="list|show", required=True)
    listing = verbs.add_parser("list", help="one line per incident, newest first")
    listing.add_argument(
        "--status", type=_statuses, metavar="S[,S]", help="only these: " + ", ".join(STATUSES)
    )
    listing.add_argument("--since", type=when, metavar="TIME", help="opened since: 24h, 7d, 2026-11-03")
    listing.add_argument("--archived", action="store_true", help="also incidents a re-opened key replaced")
    add_deployment_arguments(listing)
    add_format_argument(listing)
    listing.set_defaults(func=run_list)
    show = verbs.add_parser("show", help="one incident: the alert's view and its whole timeline")
    show.add_argument(
        "which", metavar="ID|KEY", help="an incident ID, or an access key ID (its current incident)"
    )
    add_deployment_arguments(show)
    add_format_argument(show)
    show.set_defaults(func=run_show)


def _row(incident: Incident) -> list[str]:
    from credfix.core.alerts.render import action_status, workload_name
    from credfix.keys import redact

    return [
        f"{incident.opened_at.astimezone(UTC):%Y-%m-%d %H:%M}",
        incident.status,
        incident.verdict or "-",
        incident.severity or "-",
        redact(incident.access_key_id),
        workload_name(incident),
        action_status(incident),
        incident.incident_id,
    ]


def run_list(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.core.operations import incidents

        found = incidents(op.store.scan(archived=args.archived), statuses=args.status, since=args.since)
        rows = [_row(i) for i in found]
        text = table(
            rows, ["OPENED (UTC)", "STATUS", "VERDICT", "SEVERITY", "KEY", "WORKLOAD", "ACTION", "INCIDENT"]
        )
        text = (text or "No incident matches.\n") + f"{len(found)} incident(s) in {op.deployment.table}."
        emit(
            args,
            {"schema": LIST_SCHEMA, "table": op.deployment.table, "incidents": [i.document() for i in found]},
            text,
        )
        return 0

    return run_operator("incidents list", args, body)


def find_item(op: Operator, which: str) -> dict[str, Any] | None:
    """The item of an incident: the key's current one, or by ID (archived, or current)."""
    from credfix.core.operations import CURRENT_INCIDENTS
    from credfix.keys import is_access_key_id

    if is_access_key_id(which):
        return op.store.get(f"key#{which}")
    if which.startswith("arn:"):  # a workload's runtime-log incident
        return op.store.get(f"workload#{which}")
    archived = op.store.get(f"incident#{which}")
    if archived:
        return archived
    return next(
        (
            i
            for i in op.store.scan()
            if str(i.get("pk", "")).startswith(CURRENT_INCIDENTS) and i.get("incident_id") == which
        ),
        None,
    )


def run_show(args: argparse.Namespace) -> int:
    def body(op: Operator) -> int:
        from credfix.adapters.stores.incidents import to_incident
        from credfix.cli.deployment import NotDeployed
        from credfix.config import from_environ
        from credfix.core.alerts.render import email_text
        from credfix.core.operations import mute_of

        item = find_item(op, args.which)
        if item is None:
            raise NotDeployed(f"no incident {args.which!r} in {op.deployment.table}")
        incident = to_incident(item)
        mute = mute_of(item)
        now = datetime.now(UTC)
        text = email_text(
            incident, _KIND_OF_STATUS.get(incident.status, "diagnosed"), from_environ().docs_base_url
        )
        if mute is not None:
            state = "muted" if mute.active(now) else "was muted"
            text = (
                f"Alerts of this key: {state} until {mute.until:%Y-%m-%d %H:%M} UTC by {mute.by}: "
                f"{mute.reason}\n\n" + text
            )
        document = {
            "schema": SHOW_SCHEMA,
            "incident": incident.document(),
            "mute": None
            if mute is None
            else {
                "until": mute.until.isoformat(),
                "by": mute.by,
                "reason": mute.reason,
                "active": mute.active(now),
            },
        }
        emit(args, document, text)
        return 0

    return run_operator("incidents show", args, body)
