"""`credfix diagnose --event FILE`: triage failure records read-only, without the pipeline.

Reads one CloudTrail record, one EventBridge event, a JSON list of either, a CloudTrail log
file (`{"Records": [...]}`, gzip-compressed as CloudTrail delivers it, or not), or a
CloudWatch Logs subscription payload of a workload's log lines (as Lambda receives it,
`{"awslogs": {"data": ...}}`, or decoded; a list of them too), from files, directories, globs
or stdin (`--event`, repeatable), or a trail's log files in S3 (`--from s3://BUCKET/PREFIX
--since 24h`). Files are streamed: a 200 MB log file is read record by record. Records and
lines are aggregated per key (or workload) as ingest does; each is triaged against whatever
AWS the standard environment points at (a payload's region: its default).

On a terminal it prints a short summary per incident; piped (or with `--format json`) the
`credfix.report/v1` document. Exit codes: 0 report printed; 1 AWS failed in a way that
prevents a verdict; 2 bad input.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credfix.cli.inputs import BadInput, add_input_arguments, read_deltas
from credfix.cli.output import Progress, add_format_argument, emit, fail

if TYPE_CHECKING:
    from credfix.adapters.aws import ClientFactory
    from credfix.config import Settings
    from credfix.core.logfiles import ReadStats
    from credfix.models.incident import Incident
    from credfix.models.observation import KeyDelta

MAX_REASONS_SHOWN = 5


class DiagnoseFailed(Exception):
    pass


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="triage CloudTrail failure records read-only and print the verdicts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(func=run)


def triage_all(deltas: dict[str, KeyDelta], client_for: ClientFactory, settings: Settings) -> list[Incident]:
    """Each key's (or workload's) delta as an incident, triaged (progress on a terminal: one
    AWS round per key)."""
    from credfix.core.triage import TriageFailed, incident_from_delta, triage_any
    from credfix.keys import subject_label

    now = datetime.now(UTC)
    incidents: list[Incident] = []
    progress = Progress("triage")
    try:
        for n, (key, delta) in enumerate(deltas.items(), 1):
            progress.update(f"{n} of {len(deltas)} ({subject_label(key)})")
            assert delta.first_seen
            tail = "".join(c for c in key if c.isalnum())[-4:]
            incident = incident_from_delta(
                delta, now, incident_id=f"diagnose-{delta.first_seen:%Y%m%dT%H%M%SZ}-{tail}"
            )
            try:
                incidents.append(triage_any(incident, client_for, settings).incident)
            except TriageFailed as exc:
                raise DiagnoseFailed(f"cannot triage {subject_label(key)}: AWS call failed: {exc}") from exc
    finally:
        progress.done()
    return incidents


def report_document(documents: list[dict[str, object]], stats: ReadStats) -> dict[str, Any]:
    from credfix.models.incident import REPORT_SCHEMA

    return {
        "schema": REPORT_SCHEMA,
        "incidents": documents,
        "rejected": {"count": sum(stats.rejected.values()), "reasons": dict(stats.rejected)},
        "read": {
            "files": stats.files,
            "records": stats.records,
            "log_lines": stats.log_lines,
            "failures": stats.failures,
        },
    }


def report_text(incidents: list[Incident], stats: ReadStats, kind: str, settings: Settings) -> str:
    """Per incident the alert's first screen, then one line on what was read."""
    from credfix.core.alerts.render import first_screen

    blocks = ["\n".join(first_screen(incident, kind, settings.docs_base_url)) for incident in incidents]
    summary = (
        f"{len(incidents)} incident(s) from {stats.failures:,} credential failure(s) in "
        f"{stats.records:,} record(s)"
        + (f" and {stats.log_lines:,} log line(s)" if stats.log_lines else "")
        + f", {stats.files} file(s)"
    )
    rejected: Counter[str] = stats.rejected
    if rejected:
        top = "; ".join(f"{n:,} x {reason}" for reason, n in rejected.most_common(MAX_REASONS_SHOWN))
        summary += f"; not counted: {top}"
    if not incidents:
        blocks.append("No credential failure to diagnose.")
    blocks.append(summary + ". --format json prints the whole report (credfix.report/v1).")
    return "\n\n".join(blocks) + "\n"


def diagnose(args: argparse.Namespace, verb: str) -> tuple[list[Incident], ReadStats, Settings] | int:
    """What diagnose and remediate share: read, aggregate, triage (or an exit code)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.cli_clients import environment_clients
    from credfix.config import from_environ
    from credfix.errortext import error_text

    settings = from_environ()
    if getattr(args, "mode", None):
        settings = settings.model_copy(update={"mode": args.mode})
    try:
        client_for = environment_clients()
    except BotoCoreError as exc:
        return fail(verb, 1, f"AWS configuration: {error_text(exc)}")
    try:
        deltas, stats = read_deltas(args, client_for, settings)
        incidents = triage_all(deltas, client_for, settings)
    except BadInput as exc:
        return fail(verb, 2, str(exc))
    except DiagnoseFailed as exc:
        return fail(verb, 1, str(exc))
    except (ClientError, BotoCoreError) as exc:  # reading the trail's bucket
        return fail(verb, 1, f"cannot read {args.source}: {error_text(exc)}")
    return incidents, stats, settings


def run(args: argparse.Namespace) -> int:
    done = diagnose(args, "diagnose")
    if isinstance(done, int):
        return done
    incidents, stats, settings = done
    document = report_document([incident.document() for incident in incidents], stats)
    emit(args, document, report_text(incidents, stats, "diagnosed", settings))
    return 0
