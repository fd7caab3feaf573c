"""Ingest: a batch of SQS messages (each an EventBridge CloudTrail event) becomes one
incident update per access key, and at most one "incident opened" message per incident.

Each record ends in exactly one place: counted in an incident, counted in the window's storm
record (a new key beyond the storm caps, credfix.core.storm), set aside in the DLQ with its
reason, or reported back to SQS as a batch item failure to be retried (and, after the queue's
maxReceiveCount, moved to the DLQ by the redrive policy).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from credfix.core.aggregate import Groups
from credfix.core.storm import StormGate
from credfix.errortext import error_text
from credfix.keys import redact
from credfix.models.cloudtrail import (
    CREDENTIAL_ERRORS,
    DETAIL_TYPE,
    CloudTrailRecord,
    Rejected,
    classify,
    read_body,
    session_issuer,
    validate_record_json,
)
from credfix.models.observation import SIGNATURE_FIELDS, Failure, KeyDelta, Signature
from credfix.models.pipeline import RecordResult, SetAside

DESCRIBE_LIMIT = 150


def describe(exc: Exception) -> str:
    """An error for the report and the logs, through the one redactor (credfix.errortext):
    messages can quote hostile input or values from the request (AWS echoes them). Short:
    the report's lines carry a key or a count before it."""
    return error_text(exc, limit=DESCRIBE_LIMIT)


def _announce(store: Store, notifier: Notifier, key: str, incident_id: str, lane: str = "priority") -> None:
    """Send the "opened" message; if that fails, free the lease so the retried records'
    next delivery announces at once, and fail them (re-raise)."""
    try:
        notifier.incident_opened(key, incident_id, lane)
    except Exception:
        with contextlib.suppress(Exception):
            store.release_announcement(key, incident_id)
        raise


class Store(Protocol):
    def knows_open(self, access_key_id: str) -> bool: ...
    def record(self, delta: KeyDelta, now: datetime) -> RecordResult: ...
    def claim_announcement(self, access_key_id: str, incident_id: str, now: datetime) -> bool: ...
    def release_announcement(self, access_key_id: str, incident_id: str) -> None: ...
    def mark_announced(self, access_key_id: str, incident_id: str) -> None: ...


class Notifier(Protocol):
    def incident_opened(self, access_key_id: str, incident_id: str, lane: str = "priority") -> None: ...
    def set_aside(self, records: list[SetAside]) -> list[str]: ...
    def storm_summary_due(self, window: datetime, at: datetime) -> None: ...


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    stormed: int = 0  # counted in the window's storm record (credfix.core.storm), not an incident
    rejected: Counter[str] = field(default_factory=Counter)
    opened: list[str] = field(default_factory=list)  # incident ids
    failed_message_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        """The ReportBatchItemFailures answer Lambda gives back to SQS."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.failed_message_ids]}


def group_bodies(
    records: Sequence[Mapping[str, Any]], accepted_errors: Collection[str] = CREDENTIAL_ERRORS
) -> tuple[Groups, list[SetAside]]:
    """Each SQS record's body parsed, classified and grouped for counting as a Failure, or set
    aside with the reason `parse_body` gives. The storm's hot loop: one pass per record, no
    objects but the validated dicts and the Failure tuple."""
    groups = Groups()
    signatures = groups.signatures
    key_ids = groups.key_ids
    accepted = frozenset(accepted_errors)
    checked_keys: set[str] = set()  # key IDs classify() let through in this batch
    set_aside: list[SetAside] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        body = record.get("body")
        try:
            if not isinstance(body, str):
                raise Rejected("SQS message has no text body")
            try:
                event: CloudTrailRecord = validate_record_json(body)
            except ValidationError:
                event = read_body(body)  # the slow path: clips, or words the rejection
            detail = event["detail"]
            identity = detail.get("userIdentity")
            key = identity.get("accessKeyId") if identity else None
            code = detail.get("errorCode")
            # Records like one classify() passed in this batch skip its key-shape regex.
            if not (
                key in checked_keys
                and code in accepted
                and event["detail-type"] == DETAIL_TYPE
                and event["source"][:4] == "aws."
            ):
                reason = classify(event, accepted)
                if reason:
                    raise Rejected(reason)
                assert key  # classify() guarantees it
                checked_keys.add(key)
        except Rejected as rejected:
            set_aside.append(SetAside(message_id, body if isinstance(body, str) else "", rejected.reason))
            continue
        assert identity and key  # classify() guarantees both
        at = detail["eventTime"]
        failure = Failure(
            key,
            detail.get("sourceIPAddress"),
            detail.get("userAgent"),
            code,
            detail["awsRegion"],
            detail["eventSource"],
            detail.get("recipientAccountId") or event.get("account") or "unknown",
            session_issuer(identity) if "sessionContext" in identity or "arn" in identity else None,
            detail.get("vpcEndpointId"),
            "cloudtrail",
            None,
            at if at.tzinfo else at.replace(tzinfo=UTC),  # CloudTrail times are UTC (as_utc)
            message_id,
        )  # what to_failure() builds, from the fields already read here (the storm's hot path)
        # Groups.add, inline (about a tenth of this loop's time on a storm)
        sig: Signature = failure[:SIGNATURE_FIELDS]  # type: ignore[assignment]  # signature(), inline
        group = signatures.get(sig)
        if group is None:
            group = signatures[sig] = ([], key_ids.setdefault(key, []))
        group[0].append(failure.event_time)
        group[1].append(message_id)
    return groups, set_aside


def _admitted(
    deltas: list[KeyDelta], store: Store, gate: StormGate | None, now: datetime, report: IngestReport
) -> tuple[list[KeyDelta], list[KeyDelta]]:
    """(deltas to count into incidents, in the order to handle them; deltas for the storm
    record). New keys pass the storm gate; the account's own (and those through a VPC
    endpoint) are handled before keys known to be open, and those before the rest."""
    if gate is None:
        return deltas, []
    known = [d for d in deltas if store.knows_open(d.access_key_id)]
    new = [d for d in deltas if not store.knows_open(d.access_key_id)]
    try:
        admitted = gate.admit(new, now)
    except Exception as exc:  # the budgets could not be read: SQS delivers these records again
        report.failed_message_ids.extend(m for d in new for m in d.message_ids)
        report.errors.append(f"storm budget unreadable ({len(new)} new keys): {describe(exc)}")
        return known, []
    taken = {d.access_key_id for d in admitted}
    first = [d for d in admitted if gate.rank(d) < 2]
    rest = [d for d in admitted if gate.rank(d) == 2]
    return first + known + rest, [d for d in new if d.access_key_id not in taken]


def ingest_batch(
    records: Sequence[Mapping[str, Any]],
    store: Store,
    notifier: Notifier,
    now: datetime,
    accepted_errors: Collection[str] = CREDENTIAL_ERRORS,
    gate: StormGate | None = None,
) -> IngestReport:
    """`gate`: the storm caps on new incidents (none: every new key opens one)."""
    report = IngestReport()
    groups, set_aside = group_bodies(records, accepted_errors)
    if set_aside:
        unsent = set(notifier.set_aside(set_aside))
        for item in set_aside:
            if item.message_id in unsent:
                report.failed_message_ids.append(item.message_id)
            else:
                report.rejected[item.reason] += 1

    handled, stormed = _admitted(list(groups.deltas().values()), store, gate, now, report)
    for delta in handled:
        key = delta.access_key_id
        announce = False
        try:
            result = store.record(delta, now)
        except Exception as exc:  # any failure: retry this key's records, keep the rest
            report.failed_message_ids.extend(delta.message_ids)
            report.errors.append(f"{redact(key)}: {describe(exc)}")
            continue
        try:
            # The opener holds the announcement lease from its write; anyone else finding the
            # incident unannounced (a lost send) must win the lease first.
            announce = result.outcome == "opened" or (
                result.announce and store.claim_announcement(key, result.incident_id, now)
            )
            if announce:
                # Keys from the account's addresses or through an endpoint: triage's priority
                # lane; anything else its bulk lane, so a storm never queues ahead of them.
                lane = "bulk" if gate is not None and gate.rank(delta) == 2 else "priority"
                _announce(store, notifier, key, result.incident_id, lane)
                if result.outcome == "opened":
                    report.opened.append(result.incident_id)
        except Exception as exc:
            # Counted, not announced. One record goes back: its redelivery announces the
            # incident (the lease was freed), at the cost of counting that one record twice;
            # failing all of them would recount the whole batch's share if SQS regroups them.
            announce = False
            report.failed_message_ids.append(delta.message_ids[0])
            report.errors.append(f"{redact(key)}: counted but not announced: {describe(exc)}")
        if announce:
            try:
                store.mark_announced(key, result.incident_id)
            except Exception as exc:  # counted and sent; at worst a later batch sends again
                report.errors.append(f"{redact(key)}: announced mark not saved: {describe(exc)}")
        if result.outcome == "duplicate":
            report.duplicates += delta.count
        else:
            report.accepted += delta.count
    if stormed and gate is not None:
        try:
            report.stormed += gate.divert(stormed, notifier, now).records
        except Exception as exc:  # not counted anywhere yet: SQS delivers them again
            report.failed_message_ids.extend(m for d in stormed for m in d.message_ids)
            report.errors.append(f"storm record not written ({len(stormed)} keys): {describe(exc)}")
    return report
