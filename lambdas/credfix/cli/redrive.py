"""`credfix redrive`: move the messages of credfix's dead-letter queues back to the queues they
came from, with counts per queue (after fixing what sent them there: the alarm on each DLQ's
depth says when; the sweep announces again incidents whose "opened" message is stuck).

Records ingest refused with a reason stay in the events DLQ unless --include-rejected: sending
them again would only refuse them again."""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.cli_clients import environment_clients
from credfix.adapters.messaging.redrive import DeadLetterQueues
from credfix.cli.output import add_format_argument, emit, fail
from credfix.errortext import error_text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redrive", help="move credfix's dead-letter queue messages back to their queues, with counts"
    )
    parser.add_argument(
        "--prefix",
        default="credfix-",
        help="queue name prefix of the deployment (default: credfix-, as the stacks name them)",
    )
    parser.add_argument("--queue", action="append", default=[], help="only this DLQ (by name); repeatable")
    parser.add_argument("--dry-run", action="store_true", help="count only, move nothing")
    parser.add_argument(
        "--include-rejected",
        action="store_true",
        help="also move records ingest refused with a reason (they will be refused again)",
    )
    add_format_argument(parser, json_flag=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        queues = DeadLetterQueues(environment_clients()("sqs"))
        found = [q for q in queues.find(args.prefix) if not args.queue or q.name in args.queue]
        rows: list[dict[str, Any]] = []
        for dlq in found:
            row: dict[str, Any] = {"dlq": dlq.name, "source": dlq.source_name, "waiting": dlq.waiting}
            if dlq.source_url is None:
                row["note"] = "no credfix queue redrives into it: left as is"
            elif not args.dry_run:
                moved = queues.move(dlq, include_rejected=args.include_rejected)
                row.update(
                    moved=moved.moved,
                    kept_rejected=moved.kept_rejected,
                    failed=moved.failed,
                    reasons=moved.reasons,
                )
            rows.append(row)
    except (BotoCoreError, ClientError) as exc:
        return fail("redrive", 1, error_text(exc))
    text = "\n".join(_line(row) for row in rows) or f"no dead-letter queue named {args.prefix}*-dlq found"
    emit(args, {"dry_run": args.dry_run, "queues": rows}, text)
    return 1 if any(row.get("failed") for row in rows) else 0


def _line(row: dict[str, Any]) -> str:
    line = f"{row['dlq']}: {row['waiting']} waiting"
    if "note" in row:
        return line + f" ({row['note']})"
    if "moved" in row:
        line += f" -> {row['source']}: {row['moved']} moved"
        if row["kept_rejected"]:
            line += f", {row['kept_rejected']} refused by ingest kept"
        if row["failed"]:
            line += f", {row['failed']} could not be sent (kept)"
        return line
    return line + f" (would go to {row['source']})"
