"""Storms of distinct key IDs on the local AWS (credfix.core.storm, the triage lanes, the
shared lookups): an outsider who sends many key IDs gets a bounded number of incidents and one
summary; every record is still counted somewhere; the account's own failures still get their
incident, on the priority lane."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.adapters.messaging.queues import Queues
from credfix.adapters.stores.incidents import IncidentStore
from credfix.adapters.stores.storm import StormStore, storm_pk
from credfix.adapters.stores.triage import TriageStore
from credfix.config import Settings
from credfix.core.ingest import ingest_batch
from credfix.core.locate import locate_workloads
from credfix.core.locate.context import SHARED
from credfix.core.storm import StormGate
from credfix.models.incident import SourceAttribution
from credfix.models.storm import StormLimits, window_of
from harness import account as build
from harness.account import FARGATE_UA
from harness.moto import ACCOUNT
from harness.pipeline import LocalPipeline, SqsPoller
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.reliability._support import incident_items

pytestmark = pytest.mark.integration
OUTSIDE = ("203.0.113.7", "203.0.113.8")
LIMITS = StormLimits(per_source=3, overall=5, window_seconds=900)


def key(n: int, prefix: str = "STRM") -> str:
    return f"AKIAY34FZKBO{prefix}{n:04d}"


def batch(records: list[dict[str, Any]], tag: str) -> list[dict[str, str]]:
    return [{"messageId": f"{tag}-{i}", "body": json.dumps(r)} for i, r in enumerate(records)]


class Ingest:
    """The ingest step with the storm gate, over the pipeline's table and queues."""

    def __init__(self, pipeline: LocalPipeline, limits: StormLimits = LIMITS) -> None:
        self.pipeline = pipeline
        table = pipeline.names.table
        self.store = IncidentStore(pipeline.ddb, table, reopen_after=timedelta(hours=1))
        self.queues = Queues(
            pipeline.sqs,
            work_queue_url=pipeline.urls[pipeline.names.work_queue],
            dead_letter_url=pipeline.urls[pipeline.names.events_dlq],
            verify_queue_url=pipeline.urls[pipeline.names.verify_queue],
        )
        self.storms = StormStore(pipeline.ddb, table)
        self.gate = StormGate(self.storms, limits)

    def run(self, records: list[dict[str, Any]], tag: str, now: datetime | None = None) -> Any:
        report = ingest_batch(
            batch(records, tag), self.store, self.queues, now or datetime.now(UTC), gate=self.gate
        )
        assert not report.failed_message_ids, report.errors
        return report


def storm_item(pipeline: LocalPipeline, now: datetime) -> dict[str, Any]:
    from credfix.adapters.stores.incidents import from_item

    window = window_of(now, LIMITS.window_seconds)
    got = pipeline.ddb.get_item(TableName=pipeline.names.table, Key={"pk": {"S": storm_pk(window)}})
    return from_item(got.get("Item") or {})


def test_one_source_opens_at_most_its_budget_and_the_rest_is_counted_in_the_storm(
    pipeline: LocalPipeline,
) -> None:
    ingest = Ingest(pipeline)
    now = datetime.now(UTC)
    records = [cloudtrail_event(key(n), source_ip=OUTSIDE[0]) for n in range(8) for _ in range(2)]

    report = ingest.run(records, "a", now)

    items = incident_items(pipeline)
    assert len(items) == LIMITS.per_source == len(report.opened)
    storm = storm_item(pipeline, now)
    assert (storm["records"], storm["keys"]) == (10, 5)
    assert storm[f"src:{OUTSIDE[0]}"] == 10
    assert len(storm["sample"]) == 5
    # Every record is counted once: in an incident or in the storm record.
    assert sum(int(i["event_count"]) for i in items.values()) + storm["records"] == len(records)
    assert report.accepted + report.stormed == len(records)
    # One summary is scheduled for the window's end (on the verify queue, delayed).
    assert pipeline.delayed(pipeline.names.verify_queue) == 1

    # The next batch of the same storm costs no further budget write and no new summary.
    report = ingest.run([cloudtrail_event(key(n), source_ip=OUTSIDE[0]) for n in range(20, 30)], "b", now)
    assert report.stormed == 10 and report.opened == []
    assert storm_item(pipeline, now)["records"] == 20
    assert pipeline.delayed(pipeline.names.verify_queue) == 1


def test_the_overall_budget_holds_across_sources(pipeline: LocalPipeline) -> None:
    ingest = Ingest(pipeline)
    now = datetime.now(UTC)
    records = [cloudtrail_event(key(n), source_ip=f"203.0.113.{n}") for n in range(9)]
    report = ingest.run(records, "a", now)
    assert len(report.opened) == LIMITS.overall
    assert report.stormed == 4


def test_addresses_triage_attributed_are_never_capped(pipeline: LocalPipeline) -> None:
    """An outsider cannot send from the account's NAT gateway: once triage has attributed it,
    failures from it open incidents even while a storm has spent every budget."""
    ingest = Ingest(pipeline)
    now = datetime.now(UTC)
    storm = [cloudtrail_event(key(n), source_ip=OUTSIDE[n % 2]) for n in range(7)]
    first = ingest.run(storm, "storm", now)
    assert (len(first.opened), first.stormed) == (LIMITS.overall, 2)  # every budget spent
    nat = "198.51.100.20"
    TriageStore(pipeline.ddb, pipeline.names.table).trust(
        [SourceAttribution(ip=nat, scope="vpc", vpc_id="vpc-1", why="the account's NAT gateway")], now
    )
    fresh_gate = Ingest(pipeline)  # another ingest process, which knows nothing of this window
    report = fresh_gate.run(
        [cloudtrail_event(key(n, "NATK"), source_ip=nat) for n in range(7)]
        + [cloudtrail_event(key(50), source_ip=OUTSIDE[1])],
        "mixed",
        now,
    )
    assert len(report.opened) == 7  # every key from the account's address, none from outside
    assert report.stormed == 1


def test_the_storm_summary_is_sent_once(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest = Ingest(pipeline)
    now = datetime.now(UTC)
    ingest.run([cloudtrail_event(key(n), source_ip=OUTSIDE[n % 2]) for n in range(12)], "a", now)
    window = window_of(now, LIMITS.window_seconds)
    body = json.dumps({"type": "storm-summary", "window": window.strftime("%Y-%m-%dT%H:%M:%SZ")})
    monkeypatch.setenv("CREDFIX_MAX_NEW_INCIDENTS_PER_SOURCE", str(LIMITS.per_source))
    monkeypatch.setenv("CREDFIX_MAX_NEW_INCIDENTS", str(LIMITS.overall))
    verify = load_handler("verify").handler
    verify_url = pipeline.urls[pipeline.names.verify_queue]
    for _ in range(2):  # the delayed message, and a redelivery of it
        pipeline.sqs.send_message(QueueUrl=verify_url, MessageBody=body)
        SqsPoller(pipeline.sqs, verify_url, verify, function_name="credfix-verify", batch_size=10).poll_once()

    alerts = [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.inbox)]
    assert len(alerts) == 1
    (alert,) = alerts
    assert alert["MessageAttributes"]["kind"]["Value"] == "storm"
    assert alert["Subject"].startswith("[credfix] STORM: 7 key IDs failing from 2 source(s)")
    machine = json.loads(alert["Message"])  # an SQS subscriber gets the machine document
    assert machine["kind"] == "storm"
    assert machine["storm"]["records"] == 7 and set(machine["storm"]["sources"]) == set(OUTSIDE)
    assert all("…" in k for k in machine["storm"]["sample"])  # key IDs redacted in alerts


def test_unattributed_incidents_take_the_bulk_lane(pipeline: LocalPipeline) -> None:
    """The priority lane defers an outsider's incident after a few address lookups; the
    account's own incident (through its endpoint) is triaged at once; the bulk lane then
    triages the deferred one in full."""
    net = build.network()
    [task] = build.ecs_service(net, "prod", "api", build.task_definition("api"))
    endpoint = build.sts_endpoint(net)
    ours, theirs = key(1, "OURS"), key(1, "THRS")
    pipeline.put_events(
        [
            cloudtrail_event(theirs, source_ip=OUTSIDE[0]),
            cloudtrail_event(ours, source_ip=build.private_ip_of(task), vpc_endpoint_id=endpoint),
        ]
    )
    pipeline.ingest_poller(load_handler("ingest").handler).drain()
    triage = load_handler("triage").handler
    pipeline.poller(pipeline.names.work_queue, triage, function_name="credfix-triage").drain()

    items = incident_items(pipeline)
    assert items[ours]["status"] == "triaged"
    assert items[theirs]["status"] == "open"  # deferred, not triaged on the priority lane
    pipeline.poller(pipeline.names.bulk_queue, triage, function_name="credfix-triage").drain()
    items = incident_items(pipeline)
    assert items[theirs]["status"] == "triaged"
    assert json.loads(items[theirs]["triage"])["origin"] == "outside"
    # The account's own address is remembered: ingest never caps it.
    trusted = pipeline.ddb.get_item(
        TableName=pipeline.names.table, Key={"pk": {"S": f"source#{build.private_ip_of(task)}#{endpoint}"}}
    )
    assert trusted["Item"]["scope"]["S"] == "workload"


def test_distinct_keys_from_the_same_sources_cost_about_one_scan(aws_env: Any) -> None:
    """Twenty distinct keys from one outsider address: the address lookups and the
    account-wide scans run once, not twenty times (the shared cache)."""
    net = build.network()
    build.ecs_service(net, "prod", "api", build.task_definition("api", secret_value_from=build.SECRET_ARN))
    log = build.CallLog()
    per_incident = []
    for n in range(20):
        before = len(log.calls)
        locate_workloads(
            build.incident((OUTSIDE[0], FARGATE_UA), key=key(n)),
            log.factory,
            Settings(),
            secret_arns=[build.SECRET_ARN],
            rotated_at=None,
            account=ACCOUNT,
        )
        per_incident.append(len(log.calls) - before)
    assert per_incident[0] >= 5  # the first pays: address lookups, ECS scan, task definitions
    assert per_incident[1:] == [0] * 19, per_incident
    assert SHARED.hits > 0


def test_a_shared_lookup_older_than_the_failures_is_not_used(aws_env: Any) -> None:
    """What changed before the failures began is always seen: a scan made earlier is not reused
    for an incident whose first failure came after it."""
    net = build.network()
    log = build.CallLog()

    def run(first_seen: datetime) -> list[str]:
        # build.incident's first failure is ten minutes before its last
        incident = build.incident((OUTSIDE[0], FARGATE_UA), last_seen=first_seen + timedelta(minutes=10))
        result = locate_workloads(
            incident,
            log.factory,
            Settings(),
            secret_arns=[build.SECRET_ARN],
            rotated_at=None,
            account=ACCOUNT,
        )
        return [w.id for w in result.workloads]

    assert run(datetime.now(UTC) - timedelta(hours=1)) == []
    first = len(log.calls)
    build.ecs_service(net, "prod", "new", build.task_definition("new", secret_value_from=build.SECRET_ARN))
    again = run(datetime.now(UTC) + timedelta(seconds=5))  # failures that began after the cached scan
    assert log.calls[first : first + 3] == [
        "ec2:DescribeAddresses",
        "ec2:DescribeNetworkInterfaces",
        "ecs:ListClusters",
    ]
    assert f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/new" in again


def test_the_accounts_own_key_is_admitted_first_and_a_batch_costs_one_write_per_budget(
    pipeline: LocalPipeline,
) -> None:
    """Twelve outside addresses would spend the overall budget within one batch; a key through
    a VPC endpoint (the account's, here) is handled first in its batch, so it still opens. The
    budgets cost one write per address and one overall, not one per key."""
    ingest = Ingest(pipeline)
    writes: list[str] = []
    pipeline.ddb.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem",
        lambda params, **_: writes.append(params["Key"]["pk"]["S"]),
    )
    outsiders = [cloudtrail_event(key(n), source_ip=f"203.0.113.{n % 12}") for n in range(60)]
    ours = cloudtrail_event(key(1, "OURS"), source_ip="10.0.1.25", vpc_endpoint_id="vpce-0a1b2c3d4e5f60718")
    report = ingest.run([*outsiders, ours], "mixed", datetime.now(UTC))

    items = incident_items(pipeline)
    assert key(1, "OURS") in items
    assert len(report.opened) == LIMITS.overall and report.stormed == 60 - (LIMITS.overall - 1)
    budget_writes = [pk for pk in writes if pk.startswith("opens#")]
    assert len(budget_writes) == 12 + 1 + 1  # each outside address, the endpoint, the overall budget


def test_a_storms_incidents_take_the_bulk_lanes_and_fold_their_alerts_into_the_summary(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten keys from one outside address with a cap of three: three incidents open, take the
    bulk lanes of triage and act, change nothing, schedule no verification, and send no alert
    of their own; the one storm summary counts them."""
    monkeypatch.setenv("CREDFIX_MAX_NEW_INCIDENTS_PER_SOURCE", "3")
    monkeypatch.setenv("CREDFIX_MODE", "enforce")
    pipeline.put_events([cloudtrail_event(key(n), source_ip=OUTSIDE[0]) for n in range(10)])
    handlers = {name: load_handler(name).handler for name in ("ingest", "triage", "act", "verify")}
    pipeline.ingest_poller(handlers["ingest"]).drain()
    n = pipeline.names
    for queue, name in ((n.work_queue, "triage"), (n.bulk_queue, "triage"), (n.act_queue, "act")):
        pipeline.poller(queue, handlers[name], function_name=f"credfix-{name}").drain()
    assert pipeline.queue_messages(n.act_queue) == []  # nothing on act's priority lane
    stats = pipeline.poller(n.act_bulk_queue, handlers["act"], function_name="credfix-act").drain()
    assert (stats.delivered, stats.item_failures) == (3, 0)

    items = incident_items(pipeline)
    assert len(items) == 3 and all(i["status"] == "acted" for i in items.values())
    assert pipeline.queue_messages(n.inbox) == []  # folded into the storm summary
    assert pipeline.delayed(n.verify_queue) == 1  # the storm summary only: nothing to verify
    (storm,) = [i for i in pipeline.ddb.scan(TableName=n.table)["Items"] if i["pk"]["S"].startswith("storm#")]
    assert storm["folded"]["N"] == "3" and storm["records"]["N"] == "7"
