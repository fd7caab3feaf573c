"""The outsider cases, end to end on the local AWS: records put on the EventBridge bus ->
ingest -> triage -> act (enforce mode) -> the alert on the SNS topic -> verify, each Lambda
run by the poller that stands in for its SQS trigger (as harness/demo.py's Pipeline).

Key IDs are public: whoever holds one can make AWS reject calls with it and CloudTrail
record them. Only the source address (with the account's own VPC endpoint for a private
one) attributes a failure to the account (credfix.core.attribution). From outside, nothing
may move: the restart is recorded `skipped` with a reason starting "not attributed:", no
cap slot is spent, no target gets blocked, and people are still alerted that someone
outside uses the key ID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
from credfix.core.alerts.render import email_text
from credfix.models.incident import Incident
from harness import account as build
from harness.moto import ACCOUNT
from harness.pipeline import LocalPipeline
from harness.records import FARGATE_UA, SOMEONE_ELSE, SOMEONE_ELSES_ENDPOINT, cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration

OUTSIDER = "203.0.113.50"  # TEST-NET-3: an address of nobody's VPC
RESTART = "ecs-force-new-deployment"
NOT_ATTRIBUTED = "not attributed:"
ACCOUNT_RATE = f"rate#account#{ACCOUNT}"


# --- the pipeline --------------------------------------------------------------------------------


@dataclass
class Alert:
    subject: str
    kind: str
    incident: Incident
    attributes: dict[str, str]

    @property
    def email(self) -> str:
        return email_text(self.incident, self.kind)

    @property
    def text(self) -> str:
        """The e-mail a subscriber reads, whitespace folded (the renderer wraps lines)."""
        return " ".join(self.email.split())

    def line(self, label: str) -> str:
        """The e-mail's line with this label (for assertion messages)."""
        return next((line for line in self.email.splitlines() if label in line), f"(no {label!r} line)")


class Flow:
    """The deployed pipeline's four Lambdas behind pollers standing in for their SQS triggers."""

    def __init__(self, local: LocalPipeline) -> None:
        self.local = local
        self.handlers: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        """Fresh handlers: each reads the environment at init, as a new Lambda environment does."""
        self.handlers = {name: load_handler(name).handler for name in ("ingest", "triage", "act", "verify")}

    def ingest(self, records: list[dict[str, Any]]) -> None:
        self.local.put_events(records)
        stats = self.local.ingest_poller(self.handlers["ingest"]).drain()
        assert (stats.delivered, stats.item_failures) == (len(records), 0), f"ingest: {stats}"

    def drain(self, queue: str, name: str) -> tuple[int, int]:
        stats = self.local.poller(queue, self.handlers[name], function_name=f"credfix-{name}").drain()
        return stats.delivered, stats.item_failures

    def run(self, records: list[dict[str, Any]], incidents: int = 1) -> None:
        """Records on the bus, then ingest -> triage -> act until the queues are empty."""
        self.ingest(records)
        n = self.local.names
        # Triage's two lanes: ingest sends keys from outside addresses to the bulk lane, and
        # triage defers there any incident none of whose sources it can attribute.
        priority, failed = self.drain(n.work_queue, "triage")
        bulk, failed_bulk = self.drain(n.bulk_queue, "triage")
        assert priority <= incidents and bulk <= incidents and failed + failed_bulk == 0
        # act has the same two lanes: the account's own incidents, and those from outside.
        priority, failed = self.drain(n.act_queue, "act")
        bulk, failed_bulk = self.drain(n.act_bulk_queue, "act")
        assert (priority + bulk, failed + failed_bulk) == (incidents, 0)

    def verify(self) -> None:
        stats = self.local.poller(
            self.local.names.verify_queue, self.handlers["verify"], function_name="credfix-verify"
        ).drain()
        assert stats.delivered >= 1 and stats.item_failures == 0, f"verify: {stats}"

    def incident(self, key: str) -> Incident:
        store = IncidentStore(self.local.ddb, self.local.names.table, reopen_after=self.local.reopen_after)
        incident = store.get(key)
        assert incident is not None, f"no incident for {key}"
        return incident

    def item(self, pk: str) -> dict[str, Any]:
        got = self.local.ddb.get_item(
            TableName=self.local.names.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        )
        return from_item(got.get("Item") or {})

    def executed(self, key: str) -> list[dict[str, Any]]:
        """Executed actions as the act step recorded them on the key's incident item."""
        recorded = json.loads(self.item(key_pk(key)).get("remediation", '{"actions": []}'))
        return [a for a in recorded["actions"] if a["status"] == "executed"]

    def alerts(self) -> list[Alert]:
        """What the alerts topic delivered to its SQS subscriber since the last call."""
        out = []
        for message in self.local.queue_messages(self.local.names.inbox):
            envelope = json.loads(message["Body"])
            body = json.loads(envelope["Message"])
            out.append(
                Alert(
                    subject=envelope.get("Subject", ""),
                    kind=body["kind"],
                    incident=Incident.model_validate(body["incident"]),
                    attributes={k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                )
            )
        return out


@pytest.fixture
def flow(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> Flow:
    monkeypatch.setenv("CREDFIX_MODE", "enforce")
    monkeypatch.setenv("CREDFIX_DRAIN_SECONDS", "0")  # the verify message is not delayed
    monkeypatch.setenv("CREDFIX_MAX_ACTIONS_PER_HOUR", "10")
    return Flow(pipeline)


# --- the account ---------------------------------------------------------------------------------


@dataclass
class Service:
    cluster: str
    name: str
    arn: str
    task: dict[str, Any]  # its running task

    @property
    def ip(self) -> str:
        return build.private_ip_of(self.task)

    def primary(self) -> str:
        """The id of the service's PRIMARY deployment: a restart replaces it."""
        svc = boto3.client("ecs").describe_services(cluster=self.cluster, services=[self.name])["services"][0]
        return str(next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY"))


def service(net: build.Network, name: str, definition: str) -> Service:
    (task,) = build.ecs_service(net, "prod", name, definition)
    described = boto3.client("ecs").describe_services(cluster="prod", services=[name])["services"][0]
    return Service("prod", name, str(described["serviceArn"]), task)


@dataclass
class Consumer:
    """An ECS service whose task definition reads a watched secret holding an IAM user's key."""

    service: Service
    secret_arn: str
    old_key: str  # rotated out: AWSPREVIOUS, deactivated then deleted ("" when not rotated)
    current_key: str  # AWSCURRENT, Active


def _value(key: dict[str, str]) -> str:
    return json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})


def secret_consumer(net: build.Network, name: str, *, rotated: bool = True) -> Consumer:
    """The service starts with the user's key in the watched secret; with `rotated`, a new key is
    then made current with put_secret_value and the old one deactivated and deleted, while the
    running task still holds it (a rotation straggler)."""
    iam, sm = boto3.client("iam"), boto3.client("secretsmanager")
    user = f"{name}-bot"
    iam.create_user(UserName=user)
    first = iam.create_access_key(UserName=user)["AccessKey"]
    secret = sm.create_secret(
        Name=f"prod/{name}/aws",
        SecretString=_value(first),
        Tags=[{"Key": "credfix:watch", "Value": "true"}],
    )["ARN"]
    svc = service(net, name, build.task_definition(name, secret_value_from=secret))
    if not rotated:
        return Consumer(svc, secret, "", first["AccessKeyId"])
    second = iam.create_access_key(UserName=user)["AccessKey"]
    sm.put_secret_value(SecretId=secret, SecretString=_value(second))
    iam.update_access_key(UserName=user, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    iam.delete_access_key(UserName=user, AccessKeyId=first["AccessKeyId"])
    return Consumer(svc, secret, first["AccessKeyId"], second["AccessKeyId"])


def failures(
    key: str,
    count: int = 3,
    *,
    source_ip: str = OUTSIDER,
    endpoint: str | None = None,
    error_code: str = "InvalidClientTokenId",
    at: datetime | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """`count` CloudTrail records of calls with `key` rejected by AWS, from a Fargate task's SDK."""
    return [
        cloudtrail_event(
            key,
            source_ip=source_ip,
            vpc_endpoint_id=endpoint,
            user_agent=FARGATE_UA,
            error_code=error_code,
            event_time=at,
            **extra,
        )
        for _ in range(count)
    ]


# --- what an outsider case must show -------------------------------------------------------------


def assert_nothing_done(incident: Incident, *targets: Service) -> None:
    """Every restart credfix planned is recorded skipped for want of attribution; none ran."""
    restarts = [a for a in incident.actions if a.type == RESTART]
    assert sorted(a.target for a in restarts) == sorted(t.arn for t in targets), incident.actions
    for action in restarts:
        assert action.status == "skipped", action
        assert action.reason.startswith(NOT_ATTRIBUTED), action.reason
    assert not [a for a in incident.actions if a.status in ("executed", "pending", "planned", "failed")]


def assert_outsider_alert(alert: Alert, incident: Incident, ip: str) -> None:
    assert alert.incident.incident_id == incident.incident_id
    assert alert.attributes == {
        "kind": "remediated",
        "verdict": str(incident.verdict),
        "severity": "high",
        "account": ACCOUNT,
        "action_status": "skipped",
    }
    assert alert.incident.origin == "outside"
    assert (
        f"The failing requests came from {ip}, which is not an address of this account: someone outside "
        "is using this key ID; no workload was changed."
    ) in alert.text
    assert NOT_ATTRIBUTED in alert.text


# --- the cases -----------------------------------------------------------------------------------


def test_1_an_old_key_of_a_watched_secret_used_from_outside_restarts_nothing(flow: Flow) -> None:
    net = build.network()
    orders = secret_consumer(net, "orders-api")
    before = orders.service.primary()

    flow.run(failures(orders.old_key))

    incident = flow.incident(orders.old_key)
    assert (incident.verdict, incident.key_status, incident.severity, incident.origin) == (
        "stale-consumer",
        "deleted",
        "high",  # a rotation straggler would be medium: from outside it is a security signal
        "outside",
    )
    assert orders.service.arn in [w.id for w in incident.workloads]  # the consumer is named
    assert [(a.ip, a.scope) for a in incident.attribution] == [(OUTSIDER, "none")]
    assert any(e.check == "origin" and "outside the account" in e.found for e in incident.evidence)
    assert_nothing_done(incident, orders.service)
    assert flow.executed(orders.old_key) == []
    assert orders.service.primary() == before
    (alert,) = flow.alerts()
    assert_outsider_alert(alert, incident, OUTSIDER)
    assert "orders-api" in alert.subject


def test_2_a_mismatched_signature_on_the_current_key_from_outside_restarts_nothing(flow: Flow) -> None:
    net = build.network()
    orders = secret_consumer(net, "orders-api", rotated=False)
    before = orders.service.primary()

    flow.run(failures(orders.current_key, error_code="SignatureDoesNotMatch"))

    incident = flow.incident(orders.current_key)
    assert (incident.verdict, incident.key_status, incident.severity, incident.origin) == (
        "signature-mismatch",
        "Active",
        "high",
        "outside",
    )
    assert_nothing_done(incident, orders.service)
    assert flow.executed(orders.current_key) == []
    assert orders.service.primary() == before
    (alert,) = flow.alerts()
    assert_outsider_alert(alert, incident, OUTSIDER)


def test_3_another_tasks_private_ip_through_someone_elses_endpoint_names_no_one(flow: Flow) -> None:
    """The sender claims the private address of the account's billing task, through an interface
    endpoint that is not the account's (an outsider's VPC can use the same private ranges)."""
    net = build.network()
    build.sts_endpoint(net)  # the account has an endpoint of its own, just not this one
    orders = secret_consumer(net, "orders-api")
    billing = service(net, "billing", build.task_definition("billing"))
    before = {s.name: s.primary() for s in (orders.service, billing)}

    flow.run(
        failures(
            orders.old_key,
            source_ip=billing.ip,
            endpoint=SOMEONE_ELSES_ENDPOINT,
            endpoint_account=SOMEONE_ELSE,
        )
    )

    incident = flow.incident(orders.old_key)
    (attributed,) = incident.attribution
    assert (attributed.ip, attributed.vpc_endpoint_id, attributed.scope, attributed.holders) == (
        billing.ip,
        SOMEONE_ELSES_ENDPOINT,
        "none",
        [],
    )
    assert f"which is not a VPC endpoint of account {ACCOUNT}" in attributed.why
    named = {w.id for w in incident.workloads}
    assert billing.task["taskArn"] not in named and billing.arn not in named
    assert incident.origin == "outside" and incident.severity == "high"
    assert_nothing_done(incident, orders.service)
    assert flow.executed(orders.old_key) == []
    assert {s.name: s.primary() for s in (orders.service, billing)} == before
    (alert,) = flow.alerts()
    assert_outsider_alert(alert, incident, billing.ip)
    assert billing.task["taskArn"] not in alert.text


def test_4_outsiders_cannot_spend_the_caps(flow: Flow) -> None:
    """Twelve old keys from outside, each of which would restart its own consumer service, with
    an hourly cap of ten: no slot is spent, and the account's own stale task is still restarted."""
    net = build.network()
    endpoint = build.sts_endpoint(net)
    stolen = [secret_consumer(net, f"svc-{i:02d}") for i in range(12)]
    before = {c.service.name: c.service.primary() for c in stolen}

    # From two outside addresses: each stays under the cap on new incidents per address (10).
    two = ("203.0.113.50", "203.0.113.51")
    records = [r for n, c in enumerate(stolen) for r in failures(c.old_key, 2, source_ip=two[n % 2])]
    flow.run(records, incidents=12)

    for consumer in stolen:
        incident = flow.incident(consumer.old_key)
        assert (incident.verdict, incident.origin) == ("stale-consumer", "outside")
        assert_nothing_done(incident, consumer.service)
        assert flow.executed(consumer.old_key) == []
        assert flow.item(f"rate#key#{consumer.old_key}").get("log", []) == []
    assert {c.service.name: c.service.primary() for c in stolen} == before
    assert flow.item(ACCOUNT_RATE).get("log", []) == []  # absent, or no slot in it
    alerts = flow.alerts()
    assert len(alerts) == 12 and all(a.incident.origin == "outside" for a in alerts)

    orders = secret_consumer(net, "orders-api")
    before_orders = orders.service.primary()
    flow.run(failures(orders.old_key, source_ip=orders.service.ip, endpoint=endpoint))

    incident = flow.incident(orders.old_key)
    assert (incident.verdict, incident.origin) == ("stale-consumer", "account")
    assert [(a.type, a.target, a.status) for a in incident.actions if a.type == RESTART] == [
        (RESTART, orders.service.arn, "executed")
    ]
    assert orders.service.primary() != before_orders
    assert len(flow.item(ACCOUNT_RATE)["log"]) == 1  # the genuine action's slot, and only it


def test_5_an_outsiders_late_failure_does_not_block_the_target(flow: Flow) -> None:
    net = build.network()
    endpoint = build.sts_endpoint(net)
    orders = secret_consumer(net, "orders-api")
    before = orders.service.primary()
    flow.run(failures(orders.old_key, source_ip=orders.service.ip, endpoint=endpoint))
    acted = flow.incident(orders.old_key)
    (restart,) = [a for a in acted.actions if a.type == RESTART]
    assert restart.status == "executed" and orders.service.primary() != before
    assert restart.at is not None
    (remediated,) = flow.alerts()
    assert remediated.kind == "remediated"

    # One more failure of the key, sent from outside, timed after the action and its 5-minute
    # rollout grace (verify counts event times, not arrival).
    flow.ingest(failures(orders.old_key, 1, at=restart.at + timedelta(minutes=6)))
    flow.verify()

    incident = flow.incident(orders.old_key)
    assert incident.status == "escalated"
    assert incident.verification is not None and incident.verification.outcome == "escalated"
    assert f"only from addresses not attributed to the account ({OUTSIDER}" in incident.verification.detail
    assert json.loads(flow.item(key_pk(orders.old_key))["verification"])["blocked_targets"] == []
    marker = flow.item(f"target#{orders.service.arn}")
    assert marker.get("outcome") == "executed"  # the genuine action's claim
    assert "blocked" not in marker and "blocked_until" not in marker
    assert "so no target is blocked; someone outside may be using this key ID" in (
        incident.verification.detail
    )

    # A genuine incident after the cool-down can claim the target again.
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    guardrails = DynamoGuardrailStore(flow.local.ddb, flow.local.names.table)
    assert guardrails.claim(orders.service.arn, "a-later-incident", RESTART, later, 3600).won

    # The escalation alert: the machine document carries the whole verification, and the e-mail
    # a person reads must say it too: that the late failure came from outside and nothing was
    # blocked (its headline speaks of enforcement stopped for attributed targets).
    (escalated,) = flow.alerts()
    assert escalated.attributes == {
        "kind": "escalated",
        "verdict": "stale-consumer",
        "severity": "high",
        "account": ACCOUNT,
        "action_status": "executed",
    }
    assert escalated.incident.verification == incident.verification
    assert f"only from addresses not attributed to the account ({OUTSIDER}" in escalated.text
    detail = escalated.line("Detail:")
    assert "no target is blocked" in escalated.text, detail
    assert "someone outside may be using this key ID" in escalated.text, detail


def test_6_a_nat_gateway_attributes_its_vpc_to_rotation_stragglers_only(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDFIX_RESTART_ON_KEY_LIFECYCLE", "true")
    flow.load()
    net = build.network()
    _, nat_ip = build.nat_gateway(net)

    # A genuine stale consumer behind the NAT: the VPC-level attribution permits restarting it.
    orders = secret_consumer(net, "orders-api")
    before = orders.service.primary()
    flow.run(failures(orders.old_key, source_ip=nat_ip))

    straggler = flow.incident(orders.old_key)
    assert (straggler.verdict, straggler.origin) == ("stale-consumer", "account")
    assert [(a.ip, a.scope, a.vpc_id) for a in straggler.attribution] == [(nat_ip, "vpc", net.vpc)]
    assert [(a.target, a.status) for a in straggler.actions if a.type == RESTART] == [
        (orders.service.arn, "executed")
    ]
    assert orders.service.primary() != before
    flow.alerts()

    # Behind the same NAT, a deleted key configured in a task definition: key-deleted, which a
    # VPC-level attribution does not permit restarting, even with lifecycle restarts on.
    iam = boto3.client("iam")
    iam.create_user(UserName="reports-bot")
    key = iam.create_access_key(UserName="reports-bot")["AccessKey"]["AccessKeyId"]
    reports = service(net, "reports", build.task_definition("reports", static_key=key))
    iam.delete_access_key(UserName="reports-bot", AccessKeyId=key)
    before_reports = reports.primary()
    flow.run(failures(key, source_ip=nat_ip))

    lifecycle = flow.incident(key)
    assert (lifecycle.verdict, lifecycle.origin) == ("key-deleted", "account")
    assert reports.arn in [w.id for w in lifecycle.workloads]
    (restart,) = [a for a in lifecycle.actions if a.type == RESTART]
    assert (restart.target, restart.status) == (reports.arn, "skipped")
    assert restart.reason.startswith(NOT_ATTRIBUTED), restart.reason
    assert "not key-deleted" in restart.reason
    assert flow.executed(key) == []
    assert reports.primary() == before_reports
    (alert,) = flow.alerts()
    assert (alert.attributes["verdict"], alert.attributes["action_status"]) == ("key-deleted", "skipped")
