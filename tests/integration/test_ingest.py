"""Ingest on the local AWS: the rule from the synthesized template routes put_events to the
events queue, a poller invokes the real handler with Lambda's SQS event shape."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters.messaging.queues import Queues
from credfix.adapters.stores.incidents import IncidentStore, key_pk
from credfix.core.aggregate import aggregate
from credfix.core.ingest import ingest_batch
from credfix.models.cloudtrail import parse_failure
from harness.pipeline import LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration
KEY = "AKIAY34FZKBOKMUTVV7A"


def incident_item(pipeline: LocalPipeline, key: str = KEY) -> dict[str, Any]:
    from credfix.adapters.stores.incidents import from_item

    item = pipeline.ddb.get_item(TableName=pipeline.names.table, Key={"pk": {"S": key_pk(key)}}).get("Item")
    assert item is not None, "no incident item"
    return from_item(item)


def opened_messages(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.work_queue)]


def test_thousand_failures_from_three_sources_make_one_incident(pipeline: LocalPipeline) -> None:
    ips = ["10.0.1.25", "10.0.2.31", "2600:1f18:4a3:6901::10"]
    events = [cloudtrail_event(KEY, source_ip=ips[i % 3]) for i in range(1000)]
    pipeline.put_events(events)
    handler = load_handler("ingest").handler
    stats = pipeline.ingest_poller(handler, batch_size=100).drain()

    assert stats.delivered == 1000 and stats.item_failures == 0
    assert stats.invocations >= 10  # really in batches
    item = incident_item(pipeline)
    assert item["event_count"] == 1000
    assert len(item["source_info"]) == 3
    assert sorted(v["ip"] for v in item["source_info"].values()) == sorted(ips)
    assert sum(item["source_counts"].values()) == 1000
    assert item["error_codes"] == {"InvalidClientTokenId"}
    assert item["status"] == "open"
    messages = opened_messages(pipeline)
    assert messages == [{"type": "incident-opened", "access_key_id": KEY, "incident_id": item["incident_id"]}]
    assert pipeline.queue_messages(pipeline.names.events_dlq) == []


def test_rule_from_template_lets_only_credential_failures_through(pipeline: LocalPipeline) -> None:
    pipeline.put_events(
        [
            cloudtrail_event(KEY, error_code="AccessDenied"),
            cloudtrail_event(KEY, error_code="ThrottlingException"),
            cloudtrail_event(
                KEY, error_code="UnrecognizedClientException", event_source="dynamodb.amazonaws.com"
            ),
            cloudtrail_event(KEY, error_code="InvalidAccessKeyId", event_source="s3.amazonaws.com"),
        ]
    )
    bodies = [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.events_queue)]
    assert sorted(b["detail"]["errorCode"] for b in bodies) == [
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
    ]


def test_malformed_and_foreign_records_are_set_aside_with_reasons(pipeline: LocalPipeline) -> None:
    good = [cloudtrail_event(KEY) for _ in range(5)]
    pipeline.put_events(good)
    no_key = cloudtrail_event(KEY)
    del no_key["detail"]["userIdentity"]["accessKeyId"]
    forged = cloudtrail_event(KEY)
    forged["source"] = "my.app"
    pipeline.send_raw(
        [
            "not json {",
            json.dumps([1, 2]),
            json.dumps(no_key),
            json.dumps(forged),
            json.dumps(cloudtrail_event("AKIA-bogus")),
        ]
    )
    stats = pipeline.ingest_poller(load_handler("ingest").handler).drain()

    assert stats.delivered == 10 and stats.item_failures == 0
    assert incident_item(pipeline)["event_count"] == 5
    dlq = pipeline.queue_messages(pipeline.names.events_dlq)
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in dlq)
    assert reasons == sorted(
        [
            "body is not JSON",
            "not a JSON object (list)",
            "no userIdentity.accessKeyId: the failing credential cannot be identified",
            "source is not an aws.* service",
            "userIdentity.accessKeyId does not have the shape of an access key ID",
        ]
    )
    assert {m["Body"] for m in dlq} >= {"not json {"}  # the original record is kept, untouched


def _batch(events: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [{"messageId": f"{prefix}-{i}", "body": json.dumps(e)} for i, e in enumerate(events)]


def _store(pipeline: LocalPipeline, reopen_after: timedelta = timedelta(hours=1)) -> IncidentStore:
    return IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=reopen_after)


def _queues(pipeline: LocalPipeline) -> Queues:
    return Queues(
        pipeline.sqs,
        work_queue_url=pipeline.urls[pipeline.names.work_queue],
        dead_letter_url=pipeline.urls[pipeline.names.events_dlq],
    )


def test_racing_workers_open_one_incident(pipeline: LocalPipeline) -> None:
    """Two ingest workers (own clients, own caches) take batches of the same new key at the
    same moment, for 15 keys in a row: each key gets exactly one 'opened' message."""
    keys = [f"AKIAY34FZKBOKMUTV{n:03d}".replace("0", "A").replace("1", "B") for n in range(15)]
    counts: dict[str, int] = {}
    for key in keys:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker(n: int, key: str = key, barrier: threading.Barrier = barrier) -> None:
            try:
                session = boto3.session.Session()
                ddb = session.client("dynamodb")
                store = IncidentStore(ddb, pipeline.names.table, reopen_after=timedelta(hours=1))
                queues = Queues(
                    session.client("sqs"),
                    work_queue_url=pipeline.urls[pipeline.names.work_queue],
                    dead_letter_url=pipeline.urls[pipeline.names.events_dlq],
                )
                batch = _batch([cloudtrail_event(key) for _ in range(20)], f"w{n}")
                barrier.wait()
                report = ingest_batch(batch, store, queues, datetime.now(UTC))
                assert not report.failed_message_ids, report.errors
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        counts[key] = int(incident_item(pipeline, key)["event_count"])
    opened = opened_messages(pipeline)
    assert sorted(m["access_key_id"] for m in opened) == sorted(keys)
    assert set(counts.values()) == {40}


def test_redelivered_batch_is_not_counted_twice(pipeline: LocalPipeline) -> None:
    batch = _batch([cloudtrail_event(KEY) for _ in range(30)], "m")
    store, queues, now = _store(pipeline), _queues(pipeline), datetime.now(UTC)
    first = ingest_batch(batch, store, queues, now)
    again = ingest_batch(batch, _store(pipeline), queues, now)  # a new worker gets the same batch
    assert (first.accepted, first.duplicates) == (30, 0)
    assert (again.accepted, again.duplicates) == (0, 30)
    assert incident_item(pipeline)["event_count"] == 30
    # The opening batch's send succeeded and was marked: its redelivery does not announce again.
    assert len(opened_messages(pipeline)) == 1


def test_late_batch_moves_first_seen_back_and_keeps_last_seen(pipeline: LocalPipeline) -> None:
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    store, queues = _store(pipeline), _queues(pipeline)
    ingest_batch(
        _batch([cloudtrail_event(KEY, event_time=t0 + timedelta(minutes=10))], "new"), store, queues, t0
    )
    ingest_batch(_batch([cloudtrail_event(KEY, event_time=t0)], "old"), store, queues, t0)
    item = incident_item(pipeline)
    assert item["first_seen"] == "2026-11-03T11:05:00Z"
    assert item["last_seen"] == "2026-11-03T11:15:00Z"
    assert item["event_count"] == 2


def test_resolved_incident_reopens_after_cooldown_and_is_archived(pipeline: LocalPipeline) -> None:
    store, queues = _store(pipeline, reopen_after=timedelta(minutes=30)), _queues(pipeline)
    t0 = datetime.now(UTC)
    ingest_batch(_batch([cloudtrail_event(KEY)], "a"), store, queues, t0)
    first_id = incident_item(pipeline)["incident_id"]
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(KEY)}},
        UpdateExpression="SET #s = :r, closed_at = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "resolved"}, ":c": {"S": t0.strftime("%Y-%m-%dT%H:%M:%SZ")}},
    )
    # Inside the cool-down: a late delivery is counted into the resolved incident.
    ingest_batch(_batch([cloudtrail_event(KEY)], "b"), store, queues, t0 + timedelta(minutes=5))
    assert incident_item(pipeline)["incident_id"] == first_id
    assert incident_item(pipeline)["event_count"] == 2
    # After it: a new incident, and the old one kept as the audit trail.
    ingest_batch(_batch([cloudtrail_event(KEY)], "c"), store, queues, t0 + timedelta(minutes=31))
    item = incident_item(pipeline)
    assert item["incident_id"] != first_id and item["event_count"] == 1 and item["status"] == "open"
    archived = pipeline.ddb.get_item(
        TableName=pipeline.names.table, Key={"pk": {"S": f"incident#{first_id}"}}
    )
    assert archived["Item"]["event_count"]["N"] == "2"
    assert [m["incident_id"] for m in opened_messages(pipeline)] == [first_id, item["incident_id"]]


def test_store_failure_is_retried_then_counted_once(pipeline: LocalPipeline) -> None:
    """The table is missing for the first deliveries: the records come back (batch item
    failures), nothing is counted twice once it exists, and nothing reaches the DLQ."""
    pipeline.ddb.delete_table(TableName=pipeline.names.table)
    pipeline.put_events([cloudtrail_event(KEY) for _ in range(10)])
    poller = pipeline.ingest_poller(load_handler("ingest").handler)
    poller.poll_once()
    assert poller.stats.item_failures == 10
    pipeline.ddb.create_table(
        TableName=pipeline.names.table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    poller.drain()
    assert incident_item(pipeline)["event_count"] == 10
    assert pipeline.queue_messages(pipeline.names.events_dlq) == []


def test_records_that_keep_failing_end_in_the_dlq(pipeline: LocalPipeline) -> None:
    pipeline.ddb.delete_table(TableName=pipeline.names.table)
    pipeline.put_events([cloudtrail_event(KEY) for _ in range(3)])
    stats = pipeline.ingest_poller(load_handler("ingest").handler).drain()
    assert stats.item_failures == 3 * 5  # maxReceiveCount deliveries each
    assert len(pipeline.queue_messages(pipeline.names.events_dlq)) == 3


def test_aggregation_is_per_key() -> None:
    events = [
        parse_failure(cloudtrail_event(k), ref=f"m{i}")
        for i, k in enumerate([KEY, KEY, "AKIAIOSFODNN7EXAMPLE"])
    ]
    deltas = aggregate(events)
    assert {k: d.count for k, d in deltas.items()} == {KEY: 2, "AKIAIOSFODNN7EXAMPLE": 1}
    assert deltas[KEY].batch_token() != aggregate(events[:1])[KEY].batch_token()


def test_session_issuer_and_per_source_event_times_are_kept(pipeline: LocalPipeline) -> None:
    """Triage needs the role behind an ASIA key; verify needs each source's newest event time."""
    role = "arn:aws:iam::123456789012:role/orders-task"
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    issuer = {
        "sessionIssuer": {"type": "Role", "arn": role, "accountId": "123456789012", "userName": "orders-task"}
    }
    records = [
        cloudtrail_event(
            "ASIAY34FZKBOKMUTVV7A",
            event_time=t0 + timedelta(minutes=i),
            source_ip="10.0.1.25",
            userIdentity={
                "type": "AssumedRole",
                "accessKeyId": "ASIAY34FZKBOKMUTVV7A",
                "sessionContext": issuer,
            },
        )
        for i in range(3)
    ]
    store, queues = _store(pipeline), _queues(pipeline)
    ingest_batch(_batch(records[:2], "a"), store, queues, t0)
    ingest_batch(_batch(records[2:], "b"), store, queues, t0)
    incident = store.get("ASIAY34FZKBOKMUTVV7A")
    assert incident is not None
    assert incident.session_issuers == [role]
    assert [(s.ip, s.count, s.last_seen) for s in incident.sources] == [
        ("10.0.1.25", 3, t0 + timedelta(minutes=2))
    ]


def test_many_batches_and_many_sources_keep_counting_with_a_source_cap(pipeline: LocalPipeline) -> None:
    """Regression (found by the storm benchmark): from the third batch on, the source count
    was double-counted, hit the cap, and every later write failed validation. Now 30 batches
    of one source, then 25 new sources, all count; sources stop at the cap and the rest are
    counted as dropped."""
    from credfix.adapters.stores.incidents import MAX_SOURCES

    store, queues, now = _store(pipeline), _queues(pipeline), datetime.now(UTC)
    for n in range(30):
        report = ingest_batch(
            _batch([cloudtrail_event(KEY, source_ip="10.0.0.1")] * 2, f"same{n}"), store, queues, now
        )
        assert not report.failed_message_ids, report.errors
    for n in range(25):
        report = ingest_batch(
            _batch([cloudtrail_event(KEY, source_ip=f"10.1.0.{n}")], f"new{n}"), store, queues, now
        )
        assert not report.failed_message_ids, report.errors
    item = incident_item(pipeline)
    assert item["event_count"] == 30 * 2 + 25
    assert len(item["source_info"]) == MAX_SOURCES
    assert sum(item["source_counts"].values()) + item["sources_dropped"] == 30 * 2 + 25
    assert (
        item["source_counts"][next(h for h, v in item["source_info"].items() if v["ip"] == "10.0.0.1")] == 60
    )


def test_worker_remembering_an_incident_counts_into_the_one_another_worker_reopened(
    pipeline: LocalPipeline,
) -> None:
    """A worker keeps what it learnt of a key's incident (its id, stored sources, announced) to
    send less on later batches. Another worker re-opens the incident meanwhile: the first
    worker's next batch must land in the new incident with its source listed, and must not
    announce it a second time."""
    worker_a = _store(pipeline, reopen_after=timedelta(minutes=30))
    worker_b = _store(pipeline, reopen_after=timedelta(minutes=30))
    queues = _queues(pipeline)
    t0 = datetime.now(UTC)
    ingest_batch(_batch([cloudtrail_event(KEY, source_ip="10.0.0.1")] * 3, "a"), worker_a, queues, t0)
    ingest_batch(_batch([cloudtrail_event(KEY, source_ip="10.0.0.1")], "a2"), worker_a, queues, t0)
    first_id = incident_item(pipeline)["incident_id"]
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(KEY)}},
        UpdateExpression="SET #s = :r, closed_at = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "resolved"}, ":c": {"S": t0.strftime("%Y-%m-%dT%H:%M:%SZ")}},
    )
    later = t0 + timedelta(minutes=31)
    ingest_batch(_batch([cloudtrail_event(KEY, source_ip="10.0.0.2")], "b"), worker_b, queues, later)
    second_id = incident_item(pipeline)["incident_id"]
    assert second_id != first_id

    report = ingest_batch(
        _batch([cloudtrail_event(KEY, source_ip="10.0.0.1")] * 2, "c"), worker_a, queues, later
    )

    assert report.accepted == 2 and not report.failed_message_ids and not report.opened
    item = incident_item(pipeline)
    assert item["incident_id"] == second_id and item["event_count"] == 3
    assert sorted(v["ip"] for v in item["source_info"].values()) == ["10.0.0.1", "10.0.0.2"]
    assert sorted(int(n) for n in item["source_counts"].values()) == [1, 2]
    assert [m["incident_id"] for m in opened_messages(pipeline)] == [first_id, second_id]


def test_worker_learns_sources_other_workers_stored_before_adding_its_own(pipeline: LocalPipeline) -> None:
    """Sources are capped per incident (MAX_SOURCES): a worker that remembers the incident
    must still see the sources others added before it lists new ones of its own."""
    from credfix.adapters.stores.incidents import MAX_SOURCES

    worker_a, worker_b, queues = _store(pipeline), _store(pipeline), _queues(pipeline)
    now = datetime.now(UTC)
    ingest_batch(_batch([cloudtrail_event(KEY, source_ip="10.1.0.0")], "a"), worker_a, queues, now)
    others = [cloudtrail_event(KEY, source_ip=f"10.2.0.{i}") for i in range(MAX_SOURCES - 1)]
    ingest_batch(_batch(others, "b"), worker_b, queues, now)
    mine = [cloudtrail_event(KEY, source_ip=f"10.3.0.{i}") for i in range(5)]
    report = ingest_batch(_batch(mine, "c"), worker_a, queues, now)
    assert report.accepted == 5
    item = incident_item(pipeline)
    assert len(item["source_info"]) == MAX_SOURCES
    assert item["sources_dropped"] == 5 and item["event_count"] == MAX_SOURCES + 5
