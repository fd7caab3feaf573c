"""Reliability of the act step (the only step that changes anything): a Lambda cut off after
its ECS call, a storm of act messages on shared targets with concurrent workers, and 20 %
faulty AWS calls. Real adapters on the local AWS (moto server); ECS services built with
boto3; UpdateService calls counted with botocore's before-call hook or at the fault proxy.

What must hold: an action is executed at most once per target within the cooldown, never
twice for one incident, the hourly cap holds, and every decision ends recorded on its
incident with a status and a reason a person can act on."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import boto3
import pytest

from credfix.adapters.actions.ssm import KillSwitch
from credfix.adapters.messaging.act_retry import SqsActRetry
from credfix.adapters.messaging.sns import SnsTopic
from credfix.adapters.messaging.verify_scheduler import SqsVerifyScheduler
from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.adapters.stores.incidents import IncidentStore, key_pk
from credfix.adapters.stores.remediation import RemediationStore
from credfix.config import Settings
from credfix.core.aggregate import aggregate
from credfix.core.alerts.alerter import TopicAlerter
from credfix.core.remediate import ActOutcome, act_on_incident
from credfix.models.cloudtrail import parse_failure
from credfix.models.incident import Action, Incident
from credfix.timefmt import iso_z
from harness.faults import FAULT_KINDS, FaultKind, FaultPlan, FaultProxy
from harness.moto import ACCOUNT, REGION
from harness.pipeline import MAX_RECEIVES, LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.integration.test_remediate import EcsService, ecs_service
from tests.reliability._support import measure

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("CREDFIX_FAULT_SEED", "9"))
RESTART = "ecs-force-new-deployment"
ACT_VISIBILITY = timedelta(seconds=720)  # act queue: 6 x the 120 s step timeout (infra/home_stack.py)


class LambdaTimedOut(BaseException):
    """The runtime stopping the function: nothing in the handler runs after it."""


class CutOffAfterAction(DynamoGuardrailStore):
    """The real guardrail store, except that the Lambda 'times out' when it comes to settle
    the claim: the ECS call has been made, nothing about it is stored yet."""

    def settle(
        self,
        target: str,
        incident_id: str,
        outcome: Literal["executed", "failed"],
        detail: str,
        now: datetime,
    ) -> None:
        raise LambdaTimedOut


def workload(svc: EcsService) -> dict[str, str]:
    """What triage stores for a located task of a service."""
    return {
        "type": "ecs-task",
        "id": svc.task_arns[0],
        "confidence": "high",
        "region": REGION,
        "parent": svc.service_arn,
        "cluster": svc.cluster_arn,
    }


def triaged_incident(pipeline: LocalPipeline, key: str, services: list[EcsService]) -> str:
    """An incident opened by the real ingest store, then given triage's findings (as
    tests/integration/test_act_handler.py writes them)."""
    store = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=timedelta(hours=1))
    parsed = [parse_failure(cloudtrail_event(key), ref=f"{key}-{i}") for i in range(5)]
    (delta,) = aggregate(parsed).values()
    incident_id = store.record(delta, datetime.now(UTC)).incident_id
    findings = {
        "verdict": "stale-consumer",
        "severity": "medium",
        "key_status": "Inactive",
        "workloads": [workload(s) for s in services],
        # Through the account's own endpoint, held by these tasks (what triage would establish).
        "attribution": [
            {
                "ip": "10.0.1.25",
                "vpc_endpoint_id": "vpce-0a1",
                "scope": "workload",
                "holders": [s.task_arns[0] for s in services],
            }
        ],
        "origin": "account",
        "timeline": [{"at": datetime.now(UTC).isoformat(), "what": "triage: verdict stale-consumer"}],
    }
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(key)}},
        UpdateExpression="SET triage = :t, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":t": {"S": json.dumps(findings)}, ":s": {"S": "triaged"}},
    )
    return incident_id


def act_message(key: str, incident_id: str) -> str:
    return json.dumps({"type": "incident-triaged", "access_key_id": key, "incident_id": incident_id})


def settings(**extra: str) -> Settings:
    # Verify messages undelayed: the tests read them at once.
    return Settings.model_validate({"CREDFIX_MODE": "enforce", "CREDFIX_DRAIN_SECONDS": "0", **extra})


class Worker:
    """One act Lambda execution environment: its own boto3 session, clients and adapters.
    Every ecs:UpdateService it sends is counted in `update_calls` (botocore before-call)."""

    def __init__(
        self,
        pipeline: LocalPipeline,
        cfg: Settings,
        update_calls: Counter[str],
        *,
        guardrails: type[DynamoGuardrailStore] = DynamoGuardrailStore,
    ) -> None:
        self.session = boto3.session.Session(region_name=REGION)
        self.cfg = cfg
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._update_calls = update_calls
        self._lock = threading.Lock()
        table = pipeline.names.table
        ddb = self.client_for("dynamodb")
        self.incidents = IncidentStore(ddb, table, reopen_after=timedelta(hours=1))
        self.recorder = RemediationStore(ddb, table)
        self.guardrails = guardrails(ddb, table)
        self.kill_switch = KillSwitch(self.client_for("ssm"), pipeline.names.kill_switch)
        self.alerter = TopicAlerter(SnsTopic(self.client_for("sns"), pipeline.topic_arn).publish)
        self.verify = SqsVerifyScheduler(
            self.client_for("sqs"), pipeline.urls[pipeline.names.verify_queue], cfg.drain_seconds
        )
        self.retry = SqsActRetry(self.client_for("sqs"), pipeline.urls[pipeline.names.act_queue])

    def client_for(self, service: str, region: str | None = None) -> Any:
        if (service, region) not in self._clients:
            made = self.session.client(service, region_name=region)
            if service == "ecs":
                made.meta.events.register("before-call.ecs.UpdateService", self._count_update)
            self._clients[(service, region)] = made
        return self._clients[(service, region)]

    def _count_update(self, **_: Any) -> None:
        with self._lock:
            self._update_calls["UpdateService"] += 1

    def act(self, key: str, incident_id: str, now: datetime | None = None) -> ActOutcome:
        return act_on_incident(
            key,
            incident_id,
            recorder=self.recorder,
            client_for=self.client_for,
            settings=self.cfg,
            store=self.guardrails,
            kill_switch=self.kill_switch,
            alerter=self.alerter,
            verify=self.verify,
            retry=self.retry,
            now=now,
        )

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
        """The act Lambda's contract (partial batch failures), over this worker's adapters."""
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            try:
                self.act(body["access_key_id"], body["incident_id"])
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


def current(pipeline: LocalPipeline, key: str) -> Incident:
    found = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=timedelta(hours=1)).get(key)
    assert found is not None
    return found


def claim_item(pipeline: LocalPipeline, target: str) -> dict[str, Any]:
    got = pipeline.ddb.get_item(
        TableName=pipeline.names.table, Key={"pk": {"S": f"target#{target}"}}, ConsistentRead=True
    )
    return dict(got.get("Item", {}))


def actions_on(doc: Incident, target: str) -> list[Action]:
    return [a for a in doc.actions if a.target == target]


def key_id(label: str, n: int) -> str:
    return f"AKIAY34FZKBO{label}{n:04d}"


# --- 1. the Lambda is cut off after ecs:UpdateService, before anything is stored ----------


def test_act_cut_off_after_update_service_is_not_repeated_and_ends_recorded(
    pipeline: LocalPipeline,
) -> None:
    """The act Lambda claims the service, sends ecs:UpdateService (the restart happens), and
    is stopped by its timeout before it settles the claim or records anything. SQS hands
    the message out again after the act queue's visibility timeout, to a fresh worker.

    What a person must then see: the incident "acted", with ONE action for the service,
    status "failed" and a reason saying the outcome is unknown: an earlier attempt claimed
    the target at <time> and was cut off before it recorded the result, the action may have
    run and is not repeated (check the service's deployments; verification tells whether
    the errors stopped). One alert carrying that, one verification scheduled; the claim
    settled (not "claimed" forever), so later deliveries repeat the same record.

    What credfix does today (the reason this test fails): the fresh worker loses the claim to
    its own incident's unsettled claim and records "skipped: already being handled for this
    incident by another worker (claimed <time>)", alerts with that, and every later delivery
    says the same; no worker is handling anything, and the claim stays "claimed"."""
    ecs = boto3.session.Session(region_name=REGION).client("ecs")
    svc = ecs_service("cutoff-worker")
    key = key_id("CUT", 1)
    incident_id = triaged_incident(pipeline, key, [svc])
    before = svc.primary_deployment(ecs)
    update_calls: Counter[str] = Counter()
    started = datetime.now(UTC).replace(microsecond=0)

    with pytest.raises(LambdaTimedOut):
        Worker(pipeline, settings(), update_calls, guardrails=CutOffAfterAction).act(
            key, incident_id, now=started
        )
    restarted = svc.primary_deployment(ecs)
    assert update_calls["UpdateService"] == 1 and restarted != before  # really cut off after the call
    assert current(pipeline, key).actions == []  # and before anything was recorded

    redelivered_at = started + ACT_VISIBILITY + timedelta(seconds=1)
    outcome = Worker(pipeline, settings(), update_calls).act(key, incident_id, now=redelivered_at)
    later = Worker(pipeline, settings(), update_calls).act(
        key, incident_id, now=redelivered_at + ACT_VISIBILITY
    )

    # The restart happened once, and was not repeated.
    assert update_calls["UpdateService"] == 1
    assert svc.primary_deployment(ecs) == restarted
    doc = current(pipeline, key)
    measure(
        "act-timeout",
        injects="act Lambda cut off after ecs:UpdateService, before settling the claim or recording",
        load="1 incident, redelivered after the act visibility timeout, then once more",
        held={
            "update_service_calls": update_calls["UpdateService"],
            "recorded": [f"{a.status}: {a.reason}" for a in actions_on(doc, svc.service_arn)],
            "claim_outcome": claim_item(pipeline, svc.service_arn).get("outcome", {}).get("S"),
        },
    )
    assert doc.status == "acted"
    (action,) = actions_on(doc, svc.service_arn)
    assert "already being handled" not in action.reason, f"misleading record: {action.reason}"
    assert action.status == "failed" and "outcome unknown" in action.reason
    assert iso_z(started) in action.reason  # when the cut-off attempt claimed the target
    # The claim is settled, so later deliveries (and other incidents) see a finished action.
    assert claim_item(pipeline, svc.service_arn)["outcome"]["S"] == "failed"
    assert later.actions == outcome.actions  # stable: the record does not change any more
    assert len(pipeline.queue_messages(pipeline.names.verify_queue)) == 1
    assert len(pipeline.queue_messages(pipeline.names.inbox)) == 1


# --- 2. a storm of act messages on shared targets, two concurrent workers -----------------

STORM_KEYS = 3
STORM_COPIES = 4  # each incident's act message delivered this many times
STORM_CAP = 3
SKIP_REASONS = (
    "already handled by incident",  # another incident acted on the target within the cooldown
    "already handled by this incident",
    # A copy of the same incident held the claim at that moment. Racy: when that copy then
    # released it (cap reached), this entry can be the one left recorded.
    "already being handled for this incident",
)


def test_storm_of_act_messages_acts_once_per_target_within_the_cap(pipeline: LocalPipeline) -> None:
    """3 keys, each with an incident located on the same two ECS services plus one service of
    its own (5 targets), each act message sent 4 times, shuffled, consumed by two concurrent
    workers (each its own boto3 session, as two Lambda environments) in enforce mode with a
    cap of 3 actions per hour."""
    started = time.monotonic()
    shared = [ecs_service("shared-a"), ecs_service("shared-b")]
    own = [ecs_service(f"own-{n}") for n in range(STORM_KEYS)]
    targets = {s.service_arn for s in [*shared, *own]}
    incidents = {}
    for n in range(STORM_KEYS):
        key = key_id("STM", n)
        incidents[key] = triaged_incident(pipeline, key, [*shared, own[n]])
    bodies = [act_message(k, i) for k, i in incidents.items() for _ in range(STORM_COPIES)]
    random.Random(SEED).shuffle(bodies)
    url = pipeline.urls[pipeline.names.act_queue]
    for body in bodies:
        pipeline.sqs.send_message(QueueUrl=url, MessageBody=body)

    update_calls: Counter[str] = Counter()
    cfg = settings(CREDFIX_MAX_ACTIONS_PER_HOUR=str(STORM_CAP))
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    stats = []

    def run() -> None:
        worker = Worker(pipeline, cfg, update_calls)
        poller = pipeline.poller(
            pipeline.names.act_queue, worker.handler, function_name="credfix-act", batch_size=2
        )
        poller.sqs = worker.client_for("sqs")  # the poller, too, on this worker's session
        stats.append(poller.stats)
        try:
            barrier.wait()
            poller.drain()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    docs = {k: current(pipeline, k) for k in incidents}
    executed = [a for d in docs.values() for a in d.actions if a.status == "executed"]
    per_target = Counter(a.target for a in executed)
    rate = pipeline.ddb.get_item(
        TableName=pipeline.names.table, Key={"pk": {"S": f"rate#account#{ACCOUNT}"}}, ConsistentRead=True
    )["Item"]
    verify_bodies = pipeline.queue_messages(pipeline.names.verify_queue)
    verify = Counter(json.loads(m["Body"])["incident_id"] for m in verify_bodies)
    measure(
        "act-storm",
        injects="duplicated act messages, 2 concurrent workers, targets shared between incidents",
        load=f"{STORM_KEYS} incidents x {STORM_COPIES} copies = {len(bodies)} messages, "
        f"{len(targets)} targets, cap {STORM_CAP}/h",
        held={
            "executed": len(executed),
            "update_service_calls": update_calls["UpdateService"],
            "max_per_target": max(per_target.values(), default=0),
            "decisions_recorded": sum(len(d.actions) for d in docs.values()),
            "left_saying_being_handled": sum(
                "already being handled" in a.reason for d in docs.values() for a in d.actions
            ),
            "verify_per_incident": sorted(verify.values()),
            "invocations": sum(s.invocations for s in stats),
            "wall_s": round(time.monotonic() - started, 1),
        },
    )
    # At most one executed action per target, the cap held, and every executed action is one
    # UpdateService call (duplicates and the concurrent worker added none).
    assert max(per_target.values()) == 1
    assert len(executed) == STORM_CAP == len(rate["log"]["L"])
    assert update_calls["UpdateService"] == len(executed)
    # Every decision recorded: each incident has one entry per target it named, with a reason.
    for key, doc in docs.items():
        assert doc.status == "acted"
        named = {s.service_arn for s in shared} | {own[list(incidents).index(key)].service_arn}
        assert Counter(a.target for a in doc.actions) == Counter(named), doc.actions
        for a in doc.actions:
            assert a.status in ("executed", "skipped", "pending") and a.reason, a
            if a.status == "skipped":
                assert any(why in a.reason for why in SKIP_REASONS), a.reason
            if a.status == "pending":  # capped: it comes back when the hour's window frees
                assert "reached its cap of 3 actions in any 60 min" in a.reason and a.retry_at
    # Nothing left behind; incidents with nothing pending are verified, the others wait.
    assert pipeline.queue_messages(pipeline.names.act_queue) == []
    assert pipeline.queue_messages(pipeline.names.act_dlq) == []
    waiting = {doc.incident_id for doc in docs.values() if any(a.status == "pending" for a in doc.actions)}
    assert {doc.incident_id for doc in docs.values()} - waiting <= set(verify)
    if waiting:  # each comes back to the act queue when its cap's window frees
        assert pipeline.delayed(pipeline.names.act_queue) >= len(waiting)


# --- 3. the act handler with 20 % of its AWS calls faulty ---------------------------------

FAULT_KEYS = 8  # two incidents per service: one executes, the other waits for the cooldown


class CountingProxy(FaultProxy):
    """The fault proxy, counting the ecs:UpdateService requests it really forwards to moto
    (a "lost answer" is forwarded and applied; a throttle, 500 or drop never reaches it)."""

    def __init__(self, target_url: str, plan: FaultPlan) -> None:
        super().__init__(target_url, plan)
        self.updates_reaching_aws = 0

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
        if target.endswith(".UpdateService"):
            with self._lock:
                self.updates_reaching_aws += 1
        return super().forward(method, path, headers, body)


def test_act_handler_with_twenty_percent_faults_acts_at_most_once(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real act handler (load_handler("act")) with every client pointed at the fault proxy
    (20 % of calls faulty, seeded), fed by the SQS poller standing in for Lambda's event
    source mapping on the act queue: 8 incidents, two per ECS service, each message twice.
    Messages whose calls kept failing come back (batch item failures) and, after
    maxReceiveCount, go to the act DLQ, which is redriven once the faults stop.

    Must hold: every incident ends "acted"; at most one executed action per service; and
    the ecs:UpdateService requests that reached AWS (counted at the proxy) equal the
    executed actions. A lost answer to UpdateService (applied by ECS, the connection closed
    before the reply) is retried by botocore's standard retry mode, which applies the restart
    a second time: that is what fails here at the default seed."""
    started = time.monotonic()
    ecs = boto3.session.Session(region_name=REGION).client("ecs")
    services = [ecs_service(f"faulty-{n}") for n in range(FAULT_KEYS // 2)]
    before = {s.service_arn: s.primary_deployment(ecs) for s in services}
    incidents = {}
    for n in range(FAULT_KEYS):
        key = key_id("FLT", n)
        incidents[key] = triaged_incident(pipeline, key, [services[n // 2]])
    bodies = [act_message(k, i) for k, i in incidents.items() for _ in range(2)]  # each one duplicated
    url = pipeline.urls[pipeline.names.act_queue]
    for body in bodies:
        pipeline.sqs.send_message(QueueUrl=url, MessageBody=body)

    proxy = CountingProxy(pipeline.aws.url, FaultPlan.uniform(0.2, seed=SEED, slow_seconds=0.2))
    proxy.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # only the handler's clients
        monkeypatch.setenv("CREDFIX_MODE", "enforce")
        monkeypatch.setenv("CREDFIX_DRAIN_SECONDS", "0")
        monkeypatch.setenv("CREDFIX_MAX_ACTIONS_PER_HOUR", "50")
        handler = load_handler("act")
        from credfix.adapters.aws import client

        assert client("ecs").meta.endpoint_url == proxy.url
        poller = pipeline.poller(pipeline.names.act_queue, handler.handler, function_name="credfix-act")
        poller.drain()
        faulty = (poller.stats.invocations, poller.stats.item_failures)
        exhausted = pipeline.queue_messages(pipeline.names.act_dlq)
        proxy.enabled = False  # the faults are over: an operator redrives the act DLQ
        for m in exhausted:
            pipeline.sqs.send_message(QueueUrl=url, MessageBody=m["Body"])
        poller.drain()
        injected = dict(proxy.counts.injected)
        calls = proxy.counts.calls
        reaching = proxy.updates_reaching_aws
        update_faults = {k: v for k, v in proxy.counts.by_operation.items() if k.startswith("UpdateService:")}
    finally:
        proxy.stop()

    docs = {k: current(pipeline, k) for k in incidents}
    executed = [a for d in docs.values() for a in d.actions if a.status == "executed"]
    restarted = {s.service_arn for s in services if s.primary_deployment(ecs) != before[s.service_arn]}
    measure(
        "act-faults",
        injects=f"20 % of the act handler's AWS calls faulty (seed {SEED}): "
        + ", ".join(f"{k} {injected.get(k, 0)}" for k in FAULT_KINDS),
        load=f"{FAULT_KEYS} incidents on {len(services)} services, each message twice, "
        f"{calls} proxied calls, max receives {MAX_RECEIVES}",
        held={
            "executed": len(executed),
            "update_service_reaching_aws": reaching,
            "update_service_faults": update_faults,
            "services_restarted": len(restarted),
            "statuses": dict(Counter(a.status for d in docs.values() for a in d.actions)),
            "item_failures_retried": faulty[1],
            "redriven_from_dlq": len(exhausted),
            "wall_s": round(time.monotonic() - started, 1),
        },
    )
    assert 0.1 < sum(injected.values()) / calls < 0.3  # faults really happened
    # Every incident finished: acted (by a retry or after the redrive), nothing left queued.
    assert all(d.status == "acted" and d.actions for d in docs.values())
    assert pipeline.queue_messages(pipeline.names.act_queue) == []
    assert pipeline.queue_messages(pipeline.names.act_dlq) == []
    # No action twice: one executed per target at most, and exactly one restart reached ECS
    # for each executed action.
    per_target = Counter(a.target for a in executed)
    assert max(per_target.values(), default=0) <= 1
    assert set(per_target) == restarted
    assert reaching == len(executed), f"{reaching} UpdateService calls applied for {len(executed)} actions"


class FirstUpdateFault(CountingProxy):
    """No random faults: only the first ecs:UpdateService gets `fault`, the deterministic form
    of a fault the 20 % run draws at some seeds: "lost-answer" (ECS applies the call, the
    connection closes before the reply) or "drop" (the call never reaches ECS)."""

    def __init__(self, target_url: str, fault: FaultKind) -> None:
        super().__init__(target_url, FaultPlan(0, 0, 0, 0, 0))
        self.fault = fault
        self.injected_once = False

    def choose(self, operation: str) -> Any:
        planned = super().choose(operation)
        if operation == "UpdateService" and not self.injected_once:
            self.injected_once = True
            self.counts.injected[self.fault] += 1
            return self.fault
        return planned


@dataclass
class OneRestart:
    before: str  # the PRIMARY deployment before act ran
    after: str
    action: Action
    updates_reaching_aws: int


def _act_once_with_first_update(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, fault: FaultKind, name: str
) -> OneRestart:
    """One incident on a service created just now, acted on in enforce mode by the real act
    handler while the first UpdateService gets `fault`."""
    ecs = boto3.session.Session(region_name=REGION).client("ecs")
    svc = ecs_service(name)
    before = svc.primary_deployment(ecs)
    key = key_id(name[:3].upper(), 1)
    incident_id = triaged_incident(pipeline, key, [svc])
    pipeline.sqs.send_message(
        QueueUrl=pipeline.urls[pipeline.names.act_queue], MessageBody=act_message(key, incident_id)
    )
    proxy = FirstUpdateFault(pipeline.aws.url, fault)
    proxy.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("CREDFIX_MODE", "enforce")
        monkeypatch.setenv("CREDFIX_DRAIN_SECONDS", "0")
        handler = load_handler("act")
        pipeline.poller(pipeline.names.act_queue, handler.handler, function_name="credfix-act").drain()
    finally:
        proxy.stop()
    assert proxy.injected_once
    (action,) = actions_on(current(pipeline, key), svc.service_arn)
    return OneRestart(before, svc.primary_deployment(ecs), action, proxy.updates_reaching_aws)


def test_lost_answer_to_update_service_does_not_restart_twice(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS applies the restart but its answer never arrives. The act handler must not restart
    the service a second time (botocore's automatic retry resends the call) and must record
    the one restart that happened."""
    run = _act_once_with_first_update(pipeline, monkeypatch, "lost-answer", "lost-answer")
    measure(
        "act-lost-answer",
        injects="the answer to the first ecs:UpdateService lost (call applied by ECS)",
        load="1 incident, 1 message",
        held={
            "update_service_reaching_aws": run.updates_reaching_aws,
            "recorded": f"{run.action.status}: {run.action.reason}",
        },
    )
    assert run.after != run.before
    assert run.updates_reaching_aws == 1, f"the service was restarted {run.updates_reaching_aws} times"
    assert run.action.status == "executed"


def test_dropped_update_on_a_service_created_moments_ago_is_sent_again(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first UpdateService never reaches ECS, on a service created seconds before (its
    PRIMARY deployment is inside any clock-skew margin). That deployment is the service's
    own, not a restart: act must send the update again and record the restart that happened,
    not take the dropped call as applied."""
    run = _act_once_with_first_update(pipeline, monkeypatch, "drop", "dropped-update")
    assert run.updates_reaching_aws == 1, f"{run.updates_reaching_aws} UpdateService calls reached ECS"
    assert run.after != run.before
    assert run.action.status == "executed"


def test_record_on_a_read_that_went_stale_merges_with_the_record_made_since(pipeline: LocalPipeline) -> None:
    """act reads the incident once and records on that read's version: a record written by
    another delivery after the read fails the condition, and the write re-reads and merges."""
    key = key_id("STAL", 1)
    incident_id = triaged_incident(pipeline, key, [ecs_service("stale-read")])
    store = RemediationStore(pipeline.ddb, pipeline.names.table)
    read = store.load(key)
    assert read.incident is not None and read.incident.incident_id == incident_id
    at = datetime.now(UTC).replace(microsecond=0)
    theirs = Action(type=RESTART, target="svc-theirs", status="executed", reason="theirs", at=at)
    ours = Action(type=RESTART, target="svc-ours", status="skipped", reason="ours", at=at)
    store.record(key, incident_id, [theirs], [])  # another delivery, after our read
    recorded = store.record(key, incident_id, [ours], [], read=read)
    assert recorded.changed
    stored = current(pipeline, key)
    assert {(a.target, a.status) for a in stored.actions} == {
        ("svc-theirs", "executed"),
        ("svc-ours", "skipped"),
    }
    version = pipeline.ddb.get_item(
        TableName=pipeline.names.table, Key={"pk": {"S": key_pk(key)}}, ConsistentRead=True
    )["Item"]["remediation_version"]["N"]
    assert version == "2"
