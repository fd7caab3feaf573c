"""Runtime-log intake: the lines a workload's own runtime wrote into the account's log groups,
as the account's subscription filter policy delivers them, become `Failure`s (source_kind
"log") and are counted exactly as CloudTrail records are (credfix.core.ingest.count_groups):
one incident per key, a count, the storm gate, the "opened" message to triage.

A line is keyed by the key ID it prints in full (rare: S3's error body, a SigV4 credential
scope in a debug log), so that it joins the key's CloudTrail incident; otherwise by the
workload its log group and stream name (credfix.models.logs.workload_of). A burst of lines
from one task is one incident with a count, as a burst of CloudTrail records is.

Every line ends counted (an incident or the storm record) or ignored with a reason (the
report's `rejected`, in the Lambda's log and metrics); a payload whose counting failed is
retried whole (its lines' ids make the retry count nothing twice) and after the retries lands
in the intake's dead-letter queue.

Home region: CloudWatch Logs invokes the intake directly. Other regions and member accounts:
a relay Lambda (credfix.handlers.relay) sends the recognised lines as EventBridge events
(`relayed_events`) that the forwarding rules bring to the home intake's queue; EventBridge
sets each event's `account`, so a relayed payload is accepted only for the account that sent it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credfix.core.aggregate import Groups
from credfix.core.ingest import IngestReport, Notifier, Store, count_groups
from credfix.core.storm import StormGate
from credfix.keys import is_access_key_id
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS, Rejected
from credfix.models.logs import (
    DATA_MESSAGE,
    LineMatch,
    LogsPayload,
    LogWorkload,
    event_source_of,
    log_source,
    read_payload,
    recognise,
    workload_of,
)
from credfix.models.observation import Failure, Signature, signature

RELAY_SOURCE = "credfix.logs"  # EventBridge source of relayed lines (custom: only aws.* is AWS's)
RELAY_DETAIL_TYPE = "credfix runtime log failures"
MAX_RELAY_BYTES = 200_000  # per EventBridge entry (the limit is 256 KB with the envelope)
ACCOUNT_DIGITS = 12


@dataclass
class LogLines:
    """Recognised lines of one invocation, grouped for counting, and what was not counted."""

    groups: Groups = field(default_factory=Groups)
    lines: int = 0  # log events read
    counted: int = 0  # recognised as credential failures (counted or stormed next)
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> lines (or payloads)
    origin: dict[str, str] = field(default_factory=dict)  # log event id -> SQS message id (relayed)


def _not_counted(code: str) -> str:
    if code in TEMPORARY_CREDENTIAL_ERRORS:
        return f"errorCode {code!r} is not counted: expired sessions only with include_expired_token"
    return f"errorCode {code!r} is not a credential failure"


def read_lines(
    payload: LogsPayload,
    region: str,
    accepted_errors: Collection[str],
    into: LogLines,
    *,
    origin: str | None = None,
) -> None:
    """Add one payload's recognised lines to `into` (`origin`: the SQS message it came in)."""
    account = payload["owner"]
    if len(account) != ACCOUNT_DIGITS or not account.isdigit():
        into.ignored["payload owner is not an account ID"] += len(payload["logEvents"])
        into.lines += len(payload["logEvents"])
        return
    log_group, stream = payload["logGroup"], payload["logStream"]
    workload = workload_of(log_group, stream, region, account)
    hint = log_source(log_group, stream)
    signatures, key_ids = into.groups.signatures, into.groups.key_ids
    # A flood repeats its lines: each distinct text is read once, to the group of its signature
    # (or the reason it is not counted), and each distinct time is converted once.
    seen: dict[str, tuple[list[datetime], list[str]] | str] = {}
    times: dict[int, datetime] = {}
    ignored = into.ignored
    events = payload["logEvents"]
    counted = 0
    for event in events:
        message = event["message"]
        group = seen.get(message)
        if group is None:
            sig = _signature(recognise(message), accepted_errors, workload, region, account, into, hint)
            if isinstance(sig, str):
                group = seen[message] = sig
            else:
                grouped = signatures.get(sig)
                if grouped is None:
                    grouped = signatures[sig] = ([], key_ids.setdefault(sig[0], []))
                group = seen[message] = grouped
        if isinstance(group, str):
            ignored[group] += 1
            continue
        millis = event["timestamp"]
        at = times.get(millis)
        if at is None:
            try:
                at = times[millis] = datetime.fromtimestamp(millis / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                ignored["log event timestamp out of range"] += 1
                continue
        # Groups.add of Failure(*signature, at, the event's id), inline (as ingest's hot loop does)
        group[0].append(at)
        group[1].append(event["id"])
        counted += 1
        if origin is not None:
            into.origin[event["id"]] = origin
    into.lines += len(events)
    into.counted += counted


def _signature(
    found: LineMatch | str,
    accepted_errors: Collection[str],
    workload: LogWorkload,
    region: str,
    account: str,
    into: LogLines,
    hint: str,
) -> Signature | str:
    """What the Failure of a recognised line is grouped by (credfix.models.observation), or why
    the line is not counted. Keyed by the whole key ID the line prints, else by the workload."""
    if not isinstance(found, LineMatch):
        return found
    if found.error_code not in accepted_errors:
        return _not_counted(found.error_code)
    whole = found.access_key_id if found.access_key_id and is_access_key_id(found.access_key_id) else None
    subject = whole or workload.subject
    if found.masked_key and not whole:
        into.groups.known_keys.setdefault(subject, found.masked_key)
    failure = Failure(
        subject,
        None,  # no address: the line was written inside the account
        None,
        found.error_code,
        region,
        event_source_of(found.service),
        account,
        None,
        None,
        "log",
        hint,
        datetime.min.replace(tzinfo=UTC),  # not in the signature: each line's own time is kept
        "",
    )
    return signature(failure)


def count_lines(
    lines: LogLines, store: Store, notifier: Notifier, now: datetime, gate: StormGate | None = None
) -> IngestReport:
    """The recognised lines counted into incidents (ingest's counting, unchanged); the lines
    not counted are in the report's `rejected`, with their reasons."""
    report = count_groups(lines.groups, [], store, notifier, now, gate)
    report.rejected.update(lines.ignored)
    return report


def intake_payload(
    raw: Any,
    *,
    region: str,
    store: Store,
    notifier: Notifier,
    now: datetime,
    accepted_errors: Collection[str] = CREDENTIAL_ERRORS,
    gate: StormGate | None = None,
) -> tuple[IngestReport, LogLines]:
    """One invocation of CloudWatch Logs' delivery (`{"awslogs": {"data": …}}`)."""
    lines = LogLines()
    try:
        read_lines(read_payload(raw), region, accepted_errors, lines)
    except Rejected as why:
        lines.ignored[why.reason] += 1  # a CONTROL_MESSAGE, or not a payload: one payload ignored
    return count_lines(lines, store, notifier, now, gate), lines


# --- Relayed payloads (other regions, member accounts) ------------------------------------


def relayed_events(
    raw: Any, region: str, accepted_errors: Collection[str] = CREDENTIAL_ERRORS
) -> tuple[list[dict[str, Any]], LogLines]:
    """The EventBridge entries (Source, DetailType, Detail) a relay sends home for one payload:
    only the recognised lines (the home intake reads them again), a few hundred KB per entry."""
    lines = LogLines()
    try:
        payload = read_payload(raw)
    except Rejected as why:
        lines.ignored[why.reason] += 1
        return [], lines
    read_lines(payload, region, accepted_errors, lines)
    kept = [e for e in payload["logEvents"] if isinstance(recognise(e["message"]), LineMatch)]
    entries: list[dict[str, Any]] = []
    chunk: list[Any] = []
    size = 0
    for event in kept:
        event_size = len(event["message"]) + 128
        if chunk and size + event_size > MAX_RELAY_BYTES:
            entries.append(_relay_entry(payload, region, chunk))
            chunk, size = [], 0
        chunk.append(event)
        size += event_size
    if chunk:
        entries.append(_relay_entry(payload, region, chunk))
    return entries, lines


def _relay_entry(payload: LogsPayload, region: str, events: list[Any]) -> dict[str, Any]:
    detail = {
        "messageType": DATA_MESSAGE,
        "owner": payload["owner"],
        "logGroup": payload["logGroup"],
        "logStream": payload["logStream"],
        "region": region,
        "logEvents": events,
    }
    return {"Source": RELAY_SOURCE, "DetailType": RELAY_DETAIL_TYPE, "Detail": json.dumps(detail)}


def read_relayed(
    records: Iterable[Mapping[str, Any]], accepted_errors: Collection[str], into: LogLines
) -> None:
    """SQS messages, each an EventBridge event a relay sent: its lines into `into`. EventBridge
    sets `account` to the account that put the event, so a payload naming another account's
    log groups is refused."""
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            event = json.loads(str(record.get("body", "")))
        except ValueError:
            into.ignored["relayed message is not JSON"] += 1
            continue
        if not isinstance(event, dict) or event.get("source") != RELAY_SOURCE:
            into.ignored["relayed message is not a credfix.logs event"] += 1
            continue
        detail = event.get("detail")
        if not isinstance(detail, dict) or detail.get("owner") != event.get("account"):
            into.ignored["relayed payload names another account than the one that sent it"] += 1
            continue
        region = detail.get("region") if isinstance(detail.get("region"), str) else event.get("region")
        try:
            payload = read_payload({k: v for k, v in detail.items() if k != "region"})
        except Rejected as why:
            into.ignored[why.reason] += 1
            continue
        read_lines(payload, str(region or "unknown"), accepted_errors, into, origin=message_id)


def failed_messages(report: IngestReport, lines: LogLines) -> list[str]:
    """The SQS messages to retry: those whose lines' counting failed."""
    return sorted({lines.origin[ref] for ref in report.failed_message_ids if ref in lines.origin})
