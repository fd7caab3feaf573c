"""`credfix diagnose --event FILE`: triage failure records read-only, without the pipeline.

FILE (or `-` for stdin) is one CloudTrail record, one EventBridge event, a JSON list of
either, or a CloudTrail log file (`{"Records": [...]}`, gzip-compressed as CloudTrail
delivers it, or not). Records are aggregated per key as ingest does; each key is triaged
against whatever AWS the standard environment points at. Exit codes: 0 report printed;
1 AWS failed in a way that prevents a verdict; 2 bad input.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.cli_clients import environment_clients
from credfix.config import Settings, from_environ
from credfix.core.aggregate import aggregate
from credfix.core.triage import TriageFailed, incident_from_delta, triage
from credfix.errortext import error_text
from credfix.keys import redact
from credfix.models.cloudtrail import DETAIL_TYPE, Rejected, parse_failure
from credfix.models.incident import REPORT_SCHEMA, Incident
from credfix.models.observation import Failure

SHAPES = "a CloudTrail record, an EventBridge event, a JSON list of either, or a CloudTrail log file"


class BadInput(Exception):
    pass


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="triage CloudTrail failure records read-only and print the verdicts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--event", required=True, metavar="FILE", help=f"{SHAPES} ('-' for stdin)")
    parser.set_defaults(func=run)


def _read(path: str) -> Any:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise BadInput(f"{path} looks gzip-compressed but is not valid gzip: {exc}") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except ValueError as exc:
        raise BadInput(f"{path} is not JSON: {exc}") from None


def _is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and "detail-type" not in obj and ("eventSource" in obj or "eventName" in obj)


def wrap_record(record: dict[str, Any]) -> dict[str, Any]:
    """A bare CloudTrail record in the EventBridge shape the rule delivers it in."""
    source = record.get("eventSource")
    service = source.split(".")[0] if isinstance(source, str) and source else "cloudtrail"
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    return {
        "version": "0",
        "id": str(record.get("eventID") or uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": f"aws.{service}",
        "account": record.get("recipientAccountId") or identity.get("accountId") or "unknown",
        # A missing eventTime/awsRegion is reported against detail.*, where it belongs.
        "time": record.get("eventTime") or datetime.now(UTC).isoformat(),
        "region": record.get("awsRegion") or "unknown",
        "resources": [],
        "detail": record,
    }


def candidate_events(doc: Any) -> list[Any]:
    """The EventBridge-shaped events in a file, whichever of the accepted shapes it has."""
    if isinstance(doc, dict) and "Records" in doc:
        if not isinstance(doc["Records"], list):
            raise BadInput('"Records" is not a list: not a CloudTrail log file')
        items = doc["Records"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and ("detail-type" in doc or _is_record(doc)):
        items = [doc]
    else:
        raise BadInput(f"the file is not {SHAPES}")
    return [wrap_record(item) if _is_record(item) else item for item in items]


class DiagnoseFailed(Exception):
    pass


def diagnose_incidents(
    path: str, client_for: ClientFactory, settings: Settings
) -> tuple[list[Incident], Counter[str]]:
    """`credfix diagnose`'s steps (its input loading, ingest's aggregation, triage), returning
    the triaged incidents and the rejected-record reasons instead of printing them."""
    candidates = candidate_events(_read(path))
    failures: list[Failure] = []
    rejected: Counter[str] = Counter()
    for n, raw in enumerate(candidates):
        try:
            failures.append(parse_failure(raw, ref=str(n), accepted_errors=settings.accepted_errors))
        except Rejected as why:
            rejected[why.reason] += 1
    now = datetime.now(UTC)
    incidents: list[Incident] = []
    for key, delta in aggregate(failures).items():
        assert delta.first_seen
        incident = incident_from_delta(
            delta, now, incident_id=f"diagnose-{delta.first_seen:%Y%m%dT%H%M%SZ}-{key[-4:]}"
        )
        try:
            incidents.append(triage(incident, client_for, settings).incident)
        except TriageFailed as exc:
            raise DiagnoseFailed(f"cannot triage {redact(key)}: AWS call failed: {exc}") from exc
    return incidents, rejected


def run(args: argparse.Namespace) -> int:
    def fail(code: int, reason: str) -> int:
        print(f"credfix diagnose: {reason}", file=sys.stderr)
        return code

    settings = from_environ()
    try:
        client_for = environment_clients()
    except BotoCoreError as exc:
        return fail(1, f"AWS configuration: {error_text(exc)}")
    try:
        incidents, rejected = diagnose_incidents(args.event, client_for, settings)
    except BadInput as exc:
        return fail(2, str(exc))
    except DiagnoseFailed as exc:
        return fail(1, str(exc))
    report = {
        "schema": REPORT_SCHEMA,
        "incidents": [incident.document() for incident in incidents],
        "rejected": {"count": sum(rejected.values()), "reasons": dict(rejected)},
    }
    print(json.dumps(report, indent=2))
    return 0
