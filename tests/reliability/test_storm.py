"""Storm: a crash-looping fleet on three dead keys. 50,000 failure records from ten workloads
(source IP + user agent pairs) through the real ingest handler must become exactly three
incidents with exact counts, one "incident-opened" message each, at most one DynamoDB
write per key per batch, and nothing in the DLQ."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from credfix.adapters.aws import client
from harness.pipeline import LocalPipeline
from harness.records import FARGATE_UA, RUNNER_UA, cloudtrail_event
from tests.conftest import load_handler
from tests.reliability._support import (
    count_calls,
    incident_items,
    lambda_sqs_record,
    measure,
    send_bodies,
)

pytestmark = pytest.mark.integration

RECORDS = int(os.environ.get("CREDFIX_STORM_RECORDS", "50000"))
# This many records travel the whole way through SQS (send_message_batch, SqsPoller receive,
# delete); the rest reach the same handler as Lambda-shaped SQS batches built here, because
# moto's SQS cost per message grows with the queue (measured on 2 busy cores: waves of 100
# cost 15 ms a message, waves of 500 cost 48 ms), so 50,000 through SQS would take many minutes.
THROUGH_SQS = int(os.environ.get("CREDFIX_STORM_THROUGH_SQS", "1000"))
WAVE = 100  # keeps moto's queue small: its receive and delete scan every queued message
BATCH = 1000  # the ingest event source mapping's batch size (infra/home_stack.py)
KEYS = ("AKIAY34FZKBOSTORMAAA", "AKIAY34FZKBOSTORMBBB", "AKIAY34FZKBOSTORMCCC")
UAS = (
    FARGATE_UA,
    RUNNER_UA,
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux exec-env/AWS_Lambda_python3.12",
)
# Ten workloads: (source IP, user agent); workload w signs with KEYS[w % 3].
WORKLOADS = [
    ("10.0.1.25", UAS[0]),
    ("10.0.1.26", UAS[0]),
    ("10.0.2.31", UAS[1]),
    ("2600:1f18:4a3:6901::10", UAS[2]),
    ("2600:1f18:4a3:6901::11", UAS[0]),
    ("192.168.7.4", UAS[1]),
    ("AWS Internal", UAS[2]),
    ("172.31.9.200", UAS[0]),
    ("10.9.9.9", UAS[1]),
    ("fd00:ec2::254", UAS[2]),
]


def storm_bodies(count: int, start: datetime) -> list[str]:
    """Record i comes from workload i % 10, one second of CloudTrail time per 100 records."""
    bodies = []
    for i in range(count):
        ip, ua = WORKLOADS[i % len(WORKLOADS)]
        event = cloudtrail_event(
            KEYS[i % len(WORKLOADS) % len(KEYS)],
            source_ip=ip,
            user_agent=ua,
            event_time=start + timedelta(seconds=i // 100),
        )
        bodies.append(json.dumps(event))
    return bodies


def expected_counts(count: int) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    per_key: Counter[str] = Counter()
    per_source: Counter[tuple[str, str, str]] = Counter()
    for i in range(count):
        w = i % len(WORKLOADS)
        per_key[KEYS[w % len(KEYS)]] += 1
        per_source[(KEYS[w % len(KEYS)], *WORKLOADS[w])] += 1
    return per_key, per_source


def test_storm_of_50k_records_makes_three_incidents_with_bounded_writes(pipeline: LocalPipeline) -> None:
    assert RECORDS >= THROUGH_SQS
    started = time.monotonic()
    bodies = storm_bodies(RECORDS, datetime.now(UTC) - timedelta(hours=1))
    handler = load_handler("ingest").handler
    # The handler module's own client (cached per process; handlers/ingest.py makes it without
    # client-side parameter validation). The lower bound below fails if this is not the one.
    ddb = client("dynamodb", validate_params=False)
    invocations = 0
    with count_calls(ddb, "dynamodb", ("UpdateItem", "PutItem")) as writes:
        # 1) the first records the whole way through the events queue and the poller
        poller = pipeline.ingest_poller(handler, batch_size=BATCH)
        for wave in range(0, THROUGH_SQS, WAVE):
            send_bodies(pipeline, bodies[wave : min(wave + WAVE, THROUGH_SQS)])
            poller.drain()
        sqs_seconds = time.monotonic() - started
        assert poller.stats.delivered == THROUGH_SQS and poller.stats.item_failures == 0
        invocations += poller.stats.invocations
        # 2) the rest as the Lambda SQS events the event source mapping would build
        for batch in range(THROUGH_SQS, RECORDS, BATCH):
            event = {"Records": [lambda_sqs_record(b) for b in bodies[batch : batch + BATCH]]}
            response = handler(event, _context())
            assert response == {"batchItemFailures": []}
            invocations += 1
    elapsed = time.monotonic() - started

    per_key, per_source = expected_counts(RECORDS)
    items = incident_items(pipeline)
    assert sorted(items) == sorted(KEYS)
    for key, item in items.items():
        assert item["event_count"] == per_key[key], key
        assert item["status"] == "open"
        sources = {
            (key, info["ip"], info["ua"]): item["source_counts"][name]
            for name, info in item["source_info"].items()
        }
        assert sources == {s: n for s, n in per_source.items() if s[0] == key}
        assert item.get("sources_dropped", 0) == 0
    opened = [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.work_queue)]
    assert sorted(m["access_key_id"] for m in opened) == sorted(KEYS)
    assert {m["incident_id"] for m in opened} == {str(i["incident_id"]) for i in items.values()}
    # One counting write per key per batch, plus one "announced" mark per opened incident.
    assert writes["UpdateItem"] + writes["PutItem"] <= invocations * len(KEYS) + len(KEYS)
    assert writes["UpdateItem"] >= invocations  # every batch counted at least one key
    assert writes["PutItem"] == 0  # nothing was re-opened, so nothing archived
    assert pipeline.queue_messages(pipeline.names.events_dlq) == []
    assert pipeline.queue_messages(pipeline.names.events_queue) == []

    measure(
        "storm",
        injects=f"{RECORDS} failures, {len(KEYS)} keys, {len(WORKLOADS)} workloads",
        load=f"{invocations} invocations of <= {BATCH} ({THROUGH_SQS} via SQS)",
        held={
            "incidents": len(items),
            "event_count": {k[-3:]: int(i["event_count"]) for k, i in sorted(items.items())},
            "sources_per_incident": sorted(len(i["source_info"]) for i in items.values()),
            "opened_messages": len(opened),
            "ddb_writes": writes["UpdateItem"] + writes["PutItem"],
            "write_bound": invocations * len(KEYS) + len(KEYS),
            "dlq": 0,
            "wall_s": round(elapsed, 1),
            "sqs_leg_s": round(sqs_seconds, 1),
        },
    )


def _context() -> object:
    from harness.pipeline import LambdaContext

    return LambdaContext("credfix-ingest")


def test_a_key_used_by_a_dozen_workloads_keeps_counting_every_source(pipeline: LocalPipeline) -> None:
    """Twelve tasks of one service on the same dead key (fewer than the 20 sources an incident
    keeps): every batch must be counted, and every source's count must be exact."""
    key = "AKIAY34FZKBOFLEETAAA"
    workloads = [(f"10.1.0.{n}", FARGATE_UA) for n in range(12)]
    handler = load_handler("ingest").handler
    start = datetime.now(UTC) - timedelta(minutes=30)
    batches = 3
    for batch in range(batches):
        bodies = [
            json.dumps(
                cloudtrail_event(
                    key, source_ip=ip, user_agent=ua, event_time=start + timedelta(seconds=batch)
                )
            )
            for _ in range(10)
            for ip, ua in workloads
        ]
        response = handler({"Records": [lambda_sqs_record(b) for b in bodies]}, _context())
        assert response == {"batchItemFailures": []}, f"batch {batch} was not counted"
    (item,) = incident_items(pipeline).values()
    assert item["event_count"] == batches * 10 * len(workloads)
    counts = {info["ip"]: item["source_counts"][name] for name, info in item["source_info"].items()}
    assert counts == {ip: batches * 10 for ip, _ in workloads}
    assert item.get("sources_dropped", 0) == 0
    measure(
        "fleet-sources",
        injects=f"{len(workloads)} workloads on one key",
        load=f"{batches} batches of {10 * len(workloads)}",
        held={"event_count": int(item["event_count"]), "sources": len(counts), "sources_dropped": 0},
    )
