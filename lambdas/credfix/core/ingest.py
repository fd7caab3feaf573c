"""Ingest: a batch of SQS messages (each an EventBridge CloudTrail event) becomes one
incident update per access key, and at most one "incident opened" message per incident.

Each record ends in exactly one place: counted in an incident, set aside in the DLQ with
its reason, or reported back to SQS as a batch item failure to be retried (and, after
the queue's maxReceiveCount, moved to the DLQ by the redrive policy).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from credfix.adapters.incidents import RecordResult
from credfix.adapters.queues import SetAside
from credfix.core.aggregate import KeyDelta, aggregate
from credfix.keys import redact
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, CloudTrailEvent, Rejected, parse_event


class Store(Protocol):
    def record(self, delta: KeyDelta, now: datetime) -> RecordResult: ...


class Notifier(Protocol):
    def incident_opened(self, access_key_id: str, incident_id: str) -> None: ...
    def set_aside(self, records: list[SetAside]) -> list[str]: ...


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    opened: list[str] = field(default_factory=list)  # incident ids
    failed_message_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        """The ReportBatchItemFailures answer Lambda gives back to SQS."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.failed_message_ids]}


def ingest_batch(
    records: list[dict[str, Any]],
    store: Store,
    notifier: Notifier,
    now: datetime,
    accepted_errors: tuple[str, ...] = CREDENTIAL_ERRORS,
) -> IngestReport:
    report = IngestReport()
    events: list[tuple[str, CloudTrailEvent]] = []
    set_aside: list[SetAside] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        body = record.get("body")
        try:
            if not isinstance(body, str):
                raise Rejected("SQS message has no text body")
            try:
                raw = json.loads(body)
            except ValueError:
                raise Rejected("body is not JSON") from None
            events.append((message_id, parse_event(raw, accepted_errors=accepted_errors)))
        except Rejected as rejected:
            set_aside.append(SetAside(message_id, body if isinstance(body, str) else "", rejected.reason))

    if set_aside:
        unsent = set(notifier.set_aside(set_aside))
        for item in set_aside:
            if item.message_id in unsent:
                report.failed_message_ids.append(item.message_id)
            else:
                report.rejected[item.reason] += 1

    for key, delta in aggregate(events).items():
        try:
            result = store.record(delta, now)
            if result.outcome == "opened" or result.announce:
                notifier.incident_opened(key, result.incident_id)
                if result.outcome == "opened":
                    report.opened.append(result.incident_id)
        except Exception as exc:
            report.failed_message_ids.extend(delta.message_ids)
            report.errors.append(f"{redact(key)}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if result.outcome == "duplicate":
            report.duplicates += delta.count
        else:
            report.accepted += delta.count
    return report
