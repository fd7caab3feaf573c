"""`credfix redrive`: move the messages of credfix's dead-letter queues back to the queues they
came from, with counts per queue (after fixing what sent them there: the alarm on each DLQ's
depth says when; the sweep announces again incidents whose "opened" message is stuck).

Records ingest refused with a reason stay in the events DLQ unless --include-rejected: sending
them again would only refuse them again."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.cli_clients import environment_clients
from credfix.adapters.messaging.redrive import DeadLetterQueues
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
    parser.add_argument("--json", action="store_true", help="machine-readable output")
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
        print(f"credfix redrive: {error_text(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "queues": rows}, indent=2))
    else:
        for row in rows:
            line = f"{row['dlq']}: {row['waiting']} waiting"
            if "note" in row:
                line += f" ({row['note']})"
            elif "moved" in row:
                line += f" -> {row['source']}: {row['moved']} moved"
                if row["kept_rejected"]:
                    line += f", {row['kept_rejected']} refused by ingest kept"
                if row["failed"]:
                    line += f", {row['failed']} could not be sent (kept)"
            else:
                line += f" (would go to {row['source']})"
            print(line)
    return 1 if any(row.get("failed") for row in rows) else 0
