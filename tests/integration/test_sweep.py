"""No incident stays open without a verdict: the sweep announces again an incident whose
"opened" message was lost, and triage then gives it a verdict; it measures the oldest open
incident (the alarm's metric); and `credfix redrive` moves dead letters back with counts.

moto has no clock to move: an incident opened 31 minutes ago is one whose `opened_at` the test
sets 31 minutes back, the only thing time would have changed on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters.messaging.sweep_queue import Reannouncer
from credfix.adapters.stores.incidents import IncidentStore, key_pk
from credfix.adapters.stores.sweep import SweepStore
from credfix.cli import main
from credfix.core.sweep import sweep
from credfix.timefmt import iso_z
from harness.pipeline import LambdaContext, LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration
AFTER = timedelta(minutes=30)


def opened_ago(pipeline: LocalPipeline, key: str, minutes: int) -> None:
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(key)}},
        UpdateExpression="SET opened_at = :t",
        ExpressionAttributeValues={":t": {"S": iso_z(datetime.now(UTC) - timedelta(minutes=minutes))}},
    )


def deactivated_key(user: str) -> str:
    iam = boto3.client("iam")
    iam.create_user(UserName=user)
    key = str(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])
    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    return key


def ingest(pipeline: LocalPipeline, key: str) -> None:
    handler = load_handler("ingest")
    pipeline.put_events([cloudtrail_event(key, source_ip="198.51.100.7") for _ in range(3)])
    stats = pipeline.ingest_poller(handler.handler).drain()
    assert (stats.delivered, stats.item_failures) == (3, 0)


def triage_all(pipeline: LocalPipeline) -> int:
    handler = load_handler("triage")
    delivered = 0
    for _round in range(2):  # the priority lane may move it to the bulk lane
        for queue in (pipeline.names.work_queue, pipeline.names.bulk_queue):
            stats = pipeline.poller(queue, handler.handler, function_name="credfix-triage").drain()
            assert stats.item_failures == 0
            delivered += stats.delivered
    return delivered


def test_a_lost_opened_message_is_announced_again_and_triaged(pipeline: LocalPipeline) -> None:
    key = deactivated_key("ci-bot")
    ingest(pipeline, key)
    # The "opened" message is lost (it went to the work DLQ after five failures and expired).
    lost = pipeline.queue_messages(pipeline.names.work_queue) + pipeline.queue_messages(
        pipeline.names.bulk_queue
    )
    assert [json.loads(m["Body"])["type"] for m in lost] == ["incident-opened"]
    store = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=pipeline.reopen_after)
    opened = store.get(key)
    assert opened is not None and opened.status == "open" and opened.verdict is None

    sweeper = load_handler("sweep")
    young = sweeper.handler({}, LambdaContext("credfix-sweep"))
    assert young == {"open": 1, "reannounced": 0, "given_up": 0, "errors": 0}  # not yet past the bound
    opened_ago(pipeline, key, 31)
    assert sweeper.handler({}, LambdaContext("credfix-sweep"))["reannounced"] == 1

    assert triage_all(pipeline) >= 1
    triaged = store.get(key)
    assert triaged is not None and triaged.incident_id == opened.incident_id
    assert (triaged.status, triaged.verdict) == ("triaged", "key-deactivated")
    assert sweeper.handler({}, LambdaContext("credfix-sweep"))["open"] == 0


def test_the_sweep_waits_the_bound_between_announcements_and_gives_up_after_the_maximum(
    pipeline: LocalPipeline,
) -> None:
    key = deactivated_key("batch-bot")
    ingest(pipeline, key)
    pipeline.queue_messages(pipeline.names.work_queue)
    pipeline.queue_messages(pipeline.names.bulk_queue)
    opened_ago(pipeline, key, 31)
    store = SweepStore(pipeline.ddb, pipeline.names.table)
    announcer = Reannouncer(pipeline.sqs, pipeline.urls[pipeline.names.work_queue])
    now = datetime.now(UTC)

    def run(at: datetime) -> Any:
        return sweep(store, announcer, at, after=AFTER, max_times=2)

    first = run(now)
    assert len(first.reannounced) == 1 and first.open == 1
    assert 31 * 60 <= first.oldest_open_seconds < 33 * 60
    assert run(now + timedelta(minutes=5)).reannounced == []  # triage gets the bound to answer
    assert len(run(now + timedelta(minutes=31)).reannounced) == 1
    last = run(now + timedelta(minutes=62))
    assert last.reannounced == [] and len(last.given_up) == 1  # the alarm's turn
    sent = pipeline.queue_messages(pipeline.names.work_queue)
    assert [json.loads(m["Body"])["reannounced"] for m in sent] == [1, 2]
    assert {json.loads(m["Body"])["access_key_id"] for m in sent} == {key}


def test_redrive_moves_each_dead_letter_queue_back_with_counts(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    n = pipeline.names
    for body in ('{"type": "incident-opened", "access_key_id": "AKIA", "incident_id": "x"}', "{}"):
        pipeline.sqs.send_message(QueueUrl=pipeline.urls[n.work_dlq], MessageBody=body)
    pipeline.sqs.send_message(QueueUrl=pipeline.urls[n.events_dlq], MessageBody='{"detail": {}}')
    pipeline.sqs.send_message(
        QueueUrl=pipeline.urls[n.events_dlq],
        MessageBody="not json",
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "not JSON"}},
    )

    assert main(["redrive", "--dry-run", "--json"]) == 0
    dry = {q["dlq"]: q for q in json.loads(capsys.readouterr().out)["queues"]}
    assert dry[n.work_dlq]["waiting"] == 2 and "moved" not in dry[n.work_dlq]
    assert len(pipeline.queue_messages(n.work_queue)) == 0

    assert main(["redrive", "--json"]) == 0
    moved = {q["dlq"]: q for q in json.loads(capsys.readouterr().out)["queues"]}
    assert (moved[n.work_dlq]["source"], moved[n.work_dlq]["moved"]) == (n.work_queue, 2)
    assert (moved[n.events_dlq]["moved"], moved[n.events_dlq]["kept_rejected"]) == (1, 1)
    assert moved[n.events_dlq]["reasons"] == {"not JSON": 1}
    assert moved[n.act_dlq]["moved"] == 0
    assert len(pipeline.queue_messages(n.work_queue)) == 2
    assert [m["Body"] for m in pipeline.queue_messages(n.events_queue)] == ['{"detail": {}}']
    (kept,) = pipeline.queue_messages(n.events_dlq)  # refused by ingest: sending it again would not help
    assert kept["MessageAttributes"]["reason"]["StringValue"] == "not JSON"
