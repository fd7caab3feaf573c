"""Timeouts mid-batch: the ingest Lambda is cut off after writing some keys and before it
returns, and SQS redelivers the whole batch (after the visibility timeout). Real
IncidentStore and Queues on the local AWS; the cut-off is a Store wrapper that raises a
BaseException after the Nth key (a Lambda timeout is not catchable by the handler).

Remediation timeouts (act) are covered with the act Lambda, not here."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.adapters.messaging.queues import Queues
from credfix.adapters.stores.incidents import IncidentStore
from credfix.core.ingest import ingest_batch
from credfix.models.observation import KeyDelta
from credfix.models.pipeline import RecordResult
from harness.pipeline import LocalPipeline
from harness.records import cloudtrail_event
from tests.reliability._support import incident_items, lambda_sqs_record, measure

pytestmark = pytest.mark.integration

KEYS = ("AKIAY34FZKBOTIMEAAAA", "AKIAY34FZKBOTIMEBBBB", "AKIAY34FZKBOTIMECCCC")


def after_visibility_timeout() -> datetime:
    """When SQS hands a timed-out invocation's messages out again: after the events queue's
    visibility timeout (6 min in the template), past the announcement lease of the cut-off run."""
    return datetime.now(UTC) + timedelta(minutes=6)


class LambdaTimedOut(BaseException):
    """The runtime stopping the function: nothing in the handler runs after it."""


class CutOffStore:
    """The real store, until the Nth key has been written: then the Lambda 'times out'."""

    def __init__(self, store: IncidentStore, cut_after: int) -> None:
        self.store, self.cut_after, self.written = store, cut_after, 0

    def record(self, delta: KeyDelta, now: datetime) -> RecordResult:
        result = self.store.record(delta, now)
        self.written += 1
        if self.written >= self.cut_after:
            raise LambdaTimedOut
        return result

    def __getattr__(self, name: str) -> Any:  # the announcement calls go to the real store
        return getattr(self.store, name)


class FailingNotifier(Queues):
    """SQS refuses the 'incident opened' message (after botocore's own retries)."""

    def incident_opened(self, access_key_id: str, incident_id: str) -> None:
        raise RuntimeError("SendMessage failed after retries")


def fresh_store(pipeline: LocalPipeline) -> IncidentStore:
    """A new execution environment: nothing cached from the one that was cut off."""
    return IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=timedelta(hours=1))


def queues(pipeline: LocalPipeline, cls: type[Queues] = Queues) -> Queues:
    return cls(
        pipeline.sqs,
        work_queue_url=pipeline.urls[pipeline.names.work_queue],
        dead_letter_url=pipeline.urls[pipeline.names.events_dlq],
    )


def batch(count: int, keys: tuple[str, ...] = KEYS) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(minutes=10)
    return [
        lambda_sqs_record(json.dumps(cloudtrail_event(keys[n % len(keys)], event_time=start)))
        for n in range(count)
    ]


def redelivered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "attributes": {**r["attributes"], "ApproximateReceiveCount": "2"}} for r in records]


def announced(pipeline: LocalPipeline) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in pipeline.queue_messages(pipeline.names.work_queue):
        body = json.loads(m["Body"])
        out.setdefault(body["access_key_id"], set()).add(body["incident_id"])
    return out


def test_batch_cut_off_after_two_keys_and_redelivered_whole_counts_once(pipeline: LocalPipeline) -> None:
    records = batch(300)
    with pytest.raises(LambdaTimedOut):
        ingest_batch(
            records, CutOffStore(fresh_store(pipeline), cut_after=2), queues(pipeline), datetime.now(UTC)
        )
    partial = {k: int(i["event_count"]) for k, i in incident_items(pipeline).items()}
    assert len(partial) == 2  # really cut off mid-batch

    report = ingest_batch(
        redelivered(records), fresh_store(pipeline), queues(pipeline), after_visibility_timeout()
    )

    assert report.failed_message_ids == []
    items = incident_items(pipeline)
    assert {k: int(i["event_count"]) for k, i in items.items()} == {k: 100 for k in KEYS}
    assert report.duplicates == 200 and report.accepted == 100  # the two written keys recognised
    # every incident announced, each with its one incident id (a re-announcement is harmless)
    assert announced(pipeline) == {k: {str(i["incident_id"])} for k, i in items.items()}
    measure(
        "timeout-same-batch",
        injects="Lambda cut off after writing 2 of 3 keys",
        load="300 records, whole batch redelivered",
        held={"event_count": sorted(int(i["event_count"]) for i in items.values()), "duplicates": 200},
    )


def test_batch_cut_off_and_redelivered_in_other_batches_is_overcounted_at_most_once(
    pipeline: LocalPipeline,
) -> None:
    """SQS does not keep a failed batch together: the redelivered messages come back mixed with
    new ones. The batch tokens then differ, so a key written before the cut-off is counted
    again: the over-count is bounded by that key's share of the cut-off batch, the incident
    stays one incident, and it is announced. (Exact counts here would need a per-message
    ledger: one write per message, which the storm bound forbids; see docs/reliability.md.)"""
    first = batch(300)
    with pytest.raises(LambdaTimedOut):
        ingest_batch(
            first, CutOffStore(fresh_store(pipeline), cut_after=1), queues(pipeline), datetime.now(UTC)
        )
    new = batch(60)
    mixed = redelivered(first[:150]) + new[:30]
    rest = redelivered(first[150:]) + new[30:]
    store = fresh_store(pipeline)
    for part in (mixed, rest):
        assert (
            ingest_batch(part, store, queues(pipeline), after_visibility_timeout()).failed_message_ids == []
        )

    items = incident_items(pipeline)
    sent = Counter({k: 120 for k in KEYS})
    counted = Counter({k: int(i["event_count"]) for k, i in items.items()})
    over = counted - sent
    assert not (sent - counted), "records lost"
    assert sum(over.values()) <= 100  # at most the cut-off key's share of the batch, once
    measure(
        "timeout-rebatched",
        injects="Lambda cut off after 1 of 3 keys; redelivery split and mixed with new records",
        load="300 + 60 records",
        held={"lost": 0, "overcounted": sum(over.values()), "bound": 100, "incidents": len(items)},
    )
    assert announced(pipeline) == {k: {str(i["incident_id"])} for k, i in items.items()}


def test_opened_message_lost_then_records_redelivered_in_another_batch_still_announces(
    pipeline: LocalPipeline,
) -> None:
    """The incident is written, the 'incident opened' message cannot be sent. The incident must
    still reach triage (else it is stuck: open, counted, never diagnosed). ingest keeps the
    count, frees the announcement lease and sends ONE record back; its redelivery (here mixed
    with new records) announces the incident. The price is that one record counted twice,
    instead of the whole batch's share (which a regrouped redelivery would recount)."""
    key = (KEYS[0],)
    first = batch(50, key)
    report = ingest_batch(first, fresh_store(pipeline), queues(pipeline, FailingNotifier), datetime.now(UTC))
    assert report.failed_message_ids == [first[0]["messageId"]]
    assert announced(pipeline) == {}
    later = redelivered(first[:1]) + batch(10, key)
    report = ingest_batch(later, fresh_store(pipeline), queues(pipeline), datetime.now(UTC))
    assert report.failed_message_ids == []

    (item,) = incident_items(pipeline).values()
    assert announced(pipeline) == {key[0]: {str(item["incident_id"])}}, "incident never announced to triage"
    assert int(item["event_count"]) == 50 + 10 + 1  # the one record sent back is counted again
