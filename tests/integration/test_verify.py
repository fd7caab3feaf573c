"""Verification on the local AWS: ingest builds the incident from records with explicit
event times, the test stands in for triage/act (status "acted", their stage attributes),
a delayed "verify" message is handled by the real verify Lambda handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.adapters.messaging.queues import Queues
from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk, to_incident
from credfix.core.ingest import ingest_batch
from credfix.core.verify import decide
from credfix.models.incident import Action, Incident, SourceAttribution, Workload
from credfix.models.verification import SourceActivity, StoredIncident
from harness.account import OWN_ENDPOINT
from harness.pipeline import LocalPipeline, SqsPoller
from harness.records import SOMEONE_ELSES_ENDPOINT, cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration

KEY = "AKIAY34FZKBOKMUTVV7A"
ACCOUNT = "123456789012"
SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/orders-api"
TASK = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/4f1c2d9e8b7a4c3d9e2f1a0b9c8d7e6f"
OTHER_SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/billing"
WORKLOAD_IP = "10.0.1.25"
VPC = "vpc-0a1b2c3d"
# What triage established: the workload's address came through the account's own endpoint.
ATTRIBUTION = [
    SourceAttribution(
        ip=WORKLOAD_IP, vpc_endpoint_id=OWN_ENDPOINT, scope="workload", vpc_id=VPC, holders=[TASK]
    ),
    SourceAttribution(
        ip="10.0.7.7", vpc_endpoint_id=OWN_ENDPOINT, scope="workload", vpc_id=VPC, holders=[OTHER_SERVICE]
    ),
]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Env:
    pipeline: LocalPipeline
    topic_arn: str
    alerts_url: str
    verify_url: str
    action_at: datetime

    def ingest(
        self,
        *event_times: datetime,
        prefix: str,
        source_ip: str = WORKLOAD_IP,
        endpoint: str | None = OWN_ENDPOINT,
    ) -> None:
        store = IncidentStore(self.pipeline.ddb, self.pipeline.names.table, reopen_after=timedelta(hours=1))
        queues = Queues(
            self.pipeline.sqs,
            work_queue_url=self.pipeline.urls[self.pipeline.names.work_queue],
            dead_letter_url=self.pipeline.urls[self.pipeline.names.events_dlq],
        )
        batch = [
            {
                "messageId": f"{prefix}-{i}",
                "body": json.dumps(
                    cloudtrail_event(KEY, event_time=t, source_ip=source_ip, vpc_endpoint_id=endpoint)
                ),
            }
            for i, t in enumerate(event_times)
        ]
        report = ingest_batch(batch, store, queues, datetime.now(UTC))
        assert not report.failed_message_ids, report.errors

    def item(self, pk: str | None = None) -> dict[str, Any]:
        got = self.pipeline.ddb.get_item(
            TableName=self.pipeline.names.table, Key={"pk": {"S": pk or key_pk(KEY)}}, ConsistentRead=True
        )
        return from_item(got.get("Item") or {})

    def act(self, status: str = "executed", workloads: list[Workload] | None = None) -> None:
        """What triage and act leave behind: their stage attributes and status "acted"."""
        workloads = workloads or [
            Workload(
                type="ecs-task",
                id=TASK,
                parent=SERVICE,
                confidence="high",
                account=ACCOUNT,
                vpc_id=VPC,
                evidence=[f"sourceIPAddress {WORKLOAD_IP} is the private IP of ENI eni-0a1b2c3d (awsvpc)"],
            )
        ]
        triage = {
            "attribution": [a.model_dump(mode="json") for a in ATTRIBUTION],
            "origin": "account",
            "verdict": "stale-consumer",
            "severity": "medium",
            "key_status": "deleted",
            "owner_account": ACCOUNT,
            "workloads": [w.model_dump(mode="json") for w in workloads],
            "timeline": [{"at": iso(self.action_at - timedelta(minutes=2)), "what": "Workload identified"}],
        }
        remediation = {
            "actions": [
                {
                    "type": "restart-ecs-service",
                    "target": SERVICE,
                    "status": status,
                    "reason": "tasks started before the rotation",
                    "at": iso(self.action_at),
                }
            ]
        }
        self.pipeline.ddb.update_item(
            TableName=self.pipeline.names.table,
            Key={"pk": {"S": key_pk(KEY)}},
            UpdateExpression="SET #s = :acted, triage = :t, remediation = :r",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":acted": {"S": "acted"},
                ":t": {"S": json.dumps(triage)},
                ":r": {"S": json.dumps(remediation)},
            },
        )

    def request_verify(self, grace_seconds: int = 0, incident_id: str | None = None) -> None:
        body = {
            "type": "verify",
            "access_key_id": KEY,
            "incident_id": incident_id or self.item()["incident_id"],
            "action_at": iso(self.action_at),
        }
        if grace_seconds:
            body["grace_seconds"] = grace_seconds
        self.pipeline.sqs.send_message(QueueUrl=self.verify_url, MessageBody=json.dumps(body))

    def run_verify(self) -> SqsPoller:
        poller = SqsPoller(
            self.pipeline.sqs,
            self.verify_url,
            load_handler("verify").handler,
            function_name="credfix-verify",
            batch_size=10,
        )
        poller.drain(max_invocations=5)
        return poller

    def alerts(self) -> list[dict[str, Any]]:
        out = []
        for m in self.pipeline.sqs.receive_message(
            QueueUrl=self.alerts_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            out.append(
                {
                    "body": json.loads(m["Body"]),
                    "attrs": {k: v["StringValue"] for k, v in m["MessageAttributes"].items()},
                }
            )
            self.pipeline.sqs.delete_message(QueueUrl=self.alerts_url, ReceiptHandle=m["ReceiptHandle"])
        return out


@pytest.fixture
def env(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    import boto3

    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name="credfix-alerts")["TopicArn"]
    alerts_url = pipeline.sqs.create_queue(QueueName="alerts-machine")["QueueUrl"]
    alerts_arn = pipeline.sqs.get_queue_attributes(QueueUrl=alerts_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=alerts_arn, Attributes={"RawMessageDelivery": "true"}
    )
    verify_url = pipeline.sqs.create_queue(QueueName="credfix-verify")["QueueUrl"]
    monkeypatch.setenv("CREDFIX_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("CREDFIX_VERIFY_QUEUE_URL", verify_url)
    action_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    yield Env(pipeline, topic_arn, alerts_url, verify_url, action_at)


def test_failures_that_stop_before_the_action_are_verified(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=12), env.action_at - timedelta(minutes=6), prefix="before")
    env.act()
    # CloudTrail delivers late: a failure from *before* the action arrives after it. Its own
    # event time decides, not its arrival.
    env.ingest(env.action_at - timedelta(seconds=30), prefix="late-delivery")
    env.request_verify()
    poller = env.run_verify()

    assert poller.stats.delivered == 1 and poller.stats.item_failures == 0
    item = env.item()
    assert item["status"] == "resolved"
    assert item["closed_at"] >= iso(env.action_at)
    stored = json.loads(item["verification"])
    assert stored["verification"]["outcome"] == "verified"
    assert stored["verification"]["action_at"] == iso(env.action_at)
    assert stored["verification"]["failures_after_action"] == 0
    assert stored["timeline"][0]["what"].startswith("Verification: verified")
    incident = to_incident(item)
    assert incident.verification is not None and incident.verification.outcome == "verified"
    assert incident.event_count == 3

    (alert,) = env.alerts()
    assert alert["body"]["kind"] == "resolved"
    assert alert["body"]["incident"]["status"] == "resolved"
    assert alert["attrs"]["kind"] == "resolved" and alert["attrs"]["verdict"] == "stale-consumer"
    assert env.item(f"target#{SERVICE}") == {}  # nothing blocked

    # Redelivery of the same message: nothing written again, no second alert.
    env.request_verify()
    env.run_verify()
    assert env.alerts() == []
    assert env.item()["verification"] == item["verification"]


def test_a_failure_timed_after_the_action_escalates_and_blocks_the_target(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), prefix="before")
    env.act()
    incident_id = env.item()["incident_id"]
    # The remediation guardrails' claim on the target, as act leaves it.
    env.pipeline.ddb.put_item(
        TableName=env.pipeline.names.table,
        Item={
            "pk": {"S": f"target#{SERVICE}"},
            "incident_id": {"S": incident_id},
            "action": {"S": "restart-ecs-service"},
            "last_action_at": {"S": iso(env.action_at)},
            "outcome": {"S": "executed"},
            "expires_at": {"N": "1999999999"},
        },
    )
    env.ingest(env.action_at + timedelta(minutes=3), prefix="after")
    env.request_verify()
    env.run_verify()

    item = env.item()
    assert item["status"] == "escalated"
    assert "closed_at" not in item
    stored = json.loads(item["verification"])
    assert stored["verification"]["outcome"] == "escalated"
    assert stored["verification"]["failures_after_action"] >= 1
    assert stored["severity"] == "high"
    assert stored["blocked_targets"] == [SERVICE]
    marker = env.item(f"target#{SERVICE}")
    assert marker["blocked"] is True
    assert marker["blocked_incident_id"] == item["incident_id"]
    assert marker["blocked_access_key_id"] == KEY
    assert marker["blocked_reason"].startswith("failures continue after")
    assert (marker["incident_id"], marker["outcome"]) == (incident_id, "executed")  # claim kept
    assert marker["last_action_at"] == iso(env.action_at)
    assert marker["blocked_until"] > iso(datetime.now(UTC) + timedelta(days=6))  # expires in 7 days

    (alert,) = env.alerts()
    assert alert["body"]["kind"] == "escalated"
    assert alert["attrs"]["severity"] == "high"
    assert alert["attrs"]["action_status"] == "executed"
    assert alert["body"]["incident"]["verification"]["outcome"] == "escalated"

    env.request_verify()  # redelivered: one alert only
    env.run_verify()
    assert env.alerts() == []


def test_per_source_event_times_name_the_source_that_still_fails(env: Env) -> None:
    """With per-source newest failure times in the item (`ls` in source_info, the proposed
    ingest change), the outcome names the late source; without them it still escalates."""
    env.ingest(env.action_at - timedelta(minutes=8), prefix="a")
    env.ingest(env.action_at + timedelta(minutes=2), prefix="b", source_ip="10.0.4.44")
    env.act()
    info = env.item()["source_info"]
    late = next(h for h, v in info.items() if v["ip"] == "10.0.4.44")
    early = next(h for h, v in info.items() if v["ip"] == WORKLOAD_IP)
    env.pipeline.ddb.update_item(
        TableName=env.pipeline.names.table,
        Key={"pk": {"S": key_pk(KEY)}},
        UpdateExpression="SET source_info.#l.ls = :l, source_info.#e.ls = :e",
        ExpressionAttributeNames={"#l": late, "#e": early},
        ExpressionAttributeValues={
            ":l": {"S": iso(env.action_at + timedelta(minutes=2))},
            ":e": {"S": iso(env.action_at - timedelta(minutes=8))},
        },
    )
    env.request_verify()
    env.run_verify()
    verification = json.loads(env.item()["verification"])["verification"]
    assert verification["outcome"] == "escalated"
    assert verification["failures_after_action"] == 1
    assert "from 10.0.4.44 (possibly the restarted workload under a new IP)" in verification["detail"]


def test_an_outsiders_late_failure_escalates_but_blocks_nothing(env: Env) -> None:
    """One more failure sent from outside after the action (the fourth outsider case): the
    alert says so, and the target stays free for a real incident."""
    env.ingest(env.action_at - timedelta(minutes=8), prefix="before")
    env.act()
    env.ingest(
        env.action_at + timedelta(minutes=6), prefix="outsider", source_ip="203.0.113.50", endpoint=None
    )
    env.request_verify()
    env.run_verify()

    item = env.item()
    assert item["status"] == "escalated"
    stored = json.loads(item["verification"])
    assert stored["blocked_targets"] == []
    assert (
        "only from addresses not attributed to the account (203.0.113.50" in stored["verification"]["detail"]
    )
    assert env.item(f"target#{SERVICE}") == {}  # no block marker at all


def test_a_restarted_task_failing_under_a_new_ip_through_the_same_endpoint_blocks(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), prefix="before")
    env.act()
    env.ingest(env.action_at + timedelta(minutes=6), prefix="new-ip", source_ip="10.0.1.99")
    env.request_verify()
    env.run_verify()
    assert json.loads(env.item()["verification"])["blocked_targets"] == [SERVICE]


def test_grace_period_tolerates_old_tasks_draining_after_a_restart(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), env.action_at + timedelta(minutes=2), prefix="drain")
    env.act()
    env.request_verify(grace_seconds=300)
    env.run_verify()
    assert env.item()["status"] == "resolved"


def test_observe_mode_incident_resolves_when_failures_stop_by_themselves(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), prefix="before")
    env.act(status="planned")
    env.request_verify()
    env.run_verify()
    item = env.item()
    assert item["status"] == "resolved"
    detail = json.loads(item["verification"])["verification"]["detail"]
    assert detail.startswith("failures stopped without an action")
    (alert,) = env.alerts()
    assert alert["attrs"]["action_status"] == "planned"


def test_observe_mode_incident_that_keeps_failing_escalates_without_blocking(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), env.action_at + timedelta(minutes=5), prefix="x")
    env.act(status="planned")
    env.request_verify()
    env.run_verify()
    assert env.item()["status"] == "escalated"
    assert env.item(f"target#{SERVICE}") == {}
    assert "credfix changed nothing" in json.loads(env.item()["verification"])["verification"]["detail"]


def test_messages_for_other_or_unfinished_incidents_change_nothing(env: Env) -> None:
    env.ingest(env.action_at - timedelta(minutes=8), prefix="before")
    env.request_verify()  # status still "open": act has not run
    env.request_verify(incident_id="20260101T000000Z-VV7A-deadbeef")  # an older incident of the key
    poller = env.run_verify()
    assert poller.stats.item_failures == 0
    item = env.item()
    assert item["status"] == "open" and "verification" not in item
    assert env.alerts() == []


def test_malformed_verify_message_is_reported_as_a_batch_item_failure(env: Env) -> None:
    env.pipeline.sqs.send_message(
        QueueUrl=env.verify_url,
        MessageBody=json.dumps(
            {"type": "verify", "access_key_id": "not-a-key", "incident_id": "x", "action_at": "now"}
        ),
    )
    poller = SqsPoller(
        env.pipeline.sqs,
        env.verify_url,
        load_handler("verify").handler,
        function_name="credfix-verify",
        batch_size=10,
    )
    poller.poll_once()
    assert poller.stats.item_failures == 1


# ------------------------------------------------------------- attribution (pure decide)


def _stored(
    late_ip: str, workloads: list[Workload], late_endpoint: str | None = OWN_ENDPOINT
) -> StoredIncident:
    action_at = datetime(2026, 11, 3, 11, 16, tzinfo=UTC)
    incident = Incident.model_validate(
        {
            "incident_id": "i-1",
            "access_key_id": KEY,
            "status": "acted",
            "first_seen": action_at - timedelta(minutes=10),
            "last_seen": action_at + timedelta(minutes=4),
            "opened_at": action_at - timedelta(minutes=9),
            "workloads": workloads,
            "attribution": ATTRIBUTION,
            "actions": [Action(type="restart-ecs-service", target=SERVICE, status="executed", at=action_at)],
        }
    )
    sources = [
        SourceActivity(WORKLOAD_IP, "ua", 10, action_at - timedelta(minutes=5), OWN_ENDPOINT),
        SourceActivity("10.0.9.9", "ua", 3, action_at - timedelta(minutes=6), OWN_ENDPOINT),
        SourceActivity(late_ip, "ua", 2, action_at + timedelta(minutes=4), late_endpoint),
    ]
    return StoredIncident(incident=incident, sources=sources)


WORKLOADS = [
    Workload(
        type="ecs-task",
        id=TASK,
        parent=SERVICE,
        confidence="high",
        vpc_id=VPC,
        evidence=[f"sourceIPAddress {WORKLOAD_IP} -> ENI"],
    ),
    Workload(
        type="ecs-service",
        id=OTHER_SERVICE,
        confidence="medium",
        evidence=["sourceIPAddress 10.0.7.7 -> ENI"],
    ),
]


def test_late_failures_only_from_another_located_workload_do_not_block_the_target() -> None:
    stored = _stored("10.0.7.7", WORKLOADS)
    decision = decide(stored, datetime(2026, 11, 3, 11, 16, tzinfo=UTC))
    assert decision.outcome == "escalated"
    assert decision.block_targets == ()
    assert "the remediated workload is quiet" in decision.detail and "10.0.7.7" in decision.detail


def test_late_failures_from_a_new_ip_through_the_accounts_endpoint_block_the_target() -> None:
    """A restarted task comes back under a new IP, through the same (the account's) endpoint:
    attributed to the target's VPC, it counts against the target."""
    decision = decide(_stored("10.0.4.44", WORKLOADS), datetime(2026, 11, 3, 11, 16, tzinfo=UTC))
    assert decision.outcome == "escalated"
    assert decision.block_targets == (SERVICE,)
    assert "possibly the restarted workload under a new IP" in decision.detail


def test_late_failures_from_the_remediated_workload_name_its_ip() -> None:
    decision = decide(_stored(WORKLOAD_IP, WORKLOADS[:1]), datetime(2026, 11, 3, 11, 16, tzinfo=UTC))
    assert decision.block_targets == (SERVICE,)
    assert f"from the remediated workload's source(s) {WORKLOAD_IP}" in decision.detail


def test_a_pods_deployment_is_blocked_in_its_own_cluster_only() -> None:
    """The block lands on the key act claimed by: the deployment qualified by its cluster, so
    payments/ledger-sync of another cluster stays free."""
    cluster = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/prod"
    pod = Workload(
        type="eks-pod",
        id="payments/ledger-sync-5d9f7c8b6d-x7k2p",
        parent="deployment/payments/ledger-sync",
        cluster=cluster,
        confidence="high",
        vpc_id=VPC,
        evidence=[f"source IP {WORKLOAD_IP} is a secondary address of eni-1"],
    )
    stored = _stored(WORKLOAD_IP, [pod])
    at = datetime(2026, 11, 3, 11, 16, tzinfo=UTC)
    incident = stored.incident.model_copy(
        update={
            "actions": [
                Action(type="eks-rollout-restart", target=pod.parent or "", status="executed", at=at)
            ],
            "attribution": [
                SourceAttribution(
                    ip=WORKLOAD_IP,
                    vpc_endpoint_id=OWN_ENDPOINT,
                    scope="workload",
                    vpc_id=VPC,
                    holders=[pod.id],
                )
            ],
        }
    )
    decision = decide(StoredIncident(incident=incident, sources=stored.sources), at)
    assert decision.block_targets == (f"{cluster}/deployment/payments/ledger-sync",)


def test_late_failures_from_someone_elses_endpoint_block_nothing() -> None:
    decision = decide(
        _stored(WORKLOAD_IP, WORKLOADS[:1], late_endpoint=SOMEONE_ELSES_ENDPOINT),
        datetime(2026, 11, 3, 11, 16, tzinfo=UTC),
    )
    assert decision.outcome == "escalated" and decision.block_targets == ()


def test_an_ip_that_prefixes_another_is_not_mistaken_for_it() -> None:
    workloads = [
        WORKLOADS[0].model_copy(update={"evidence": ["sourceIPAddress 10.0.1.250 -> ENI"]}),
        WORKLOADS[1],
    ]
    decision = decide(_stored(WORKLOAD_IP, workloads), datetime(2026, 11, 3, 11, 16, tzinfo=UTC))
    assert "possibly the restarted workload" in decision.detail  # 10.0.1.25 is not 10.0.1.250
