"""The rotation watch on the local AWS, the way data flows: a Secrets Manager event on the bus
-> the rotation rule (read from the synthesized template) -> the rotation queue -> the
rotation Lambda (reads the secret, the consumers and the old key's use from the account) ->
the act queue -> act (enforce) -> the restart on the local AWS and the alert on the topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from credfix.adapters.stores.rotation import RotationIncidents, rotation_pk
from credfix.models.incident import Incident
from harness import account as build
from harness.cloudtrail import LocalCloudTrail
from harness.moto import ACCOUNT, REGION
from harness.pipeline import LocalPipeline
from harness.records import rotation_succeeded, secret_label_updated
from tests.conftest import load_handler

pytestmark = pytest.mark.integration
OTHER_ACCOUNT = "444455556666"


@dataclass
class Rotated:
    arn: str
    name: str
    old_key: dict[str, Any]
    new_key: dict[str, Any]
    version: str  # AWSCURRENT after the rotation
    trail: LocalCloudTrail  # the operator's calls, as CloudTrail records them

    def label_event(self, **kw: Any) -> dict[str, Any]:
        return secret_label_updated(self.arn, self.name, self.version, **kw)

    @property
    def put_event(self) -> dict[str, Any]:
        (event,) = [e for e in self.trail.successes if e["detail"]["eventName"] == "PutSecretValue"]
        return event


def _value(key: dict[str, Any]) -> str:
    return json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})


class Account:
    """A deploy user whose key lives in a secret (watched unless told otherwise)."""

    def __init__(self, name: str = "prod/orders-api/aws", *, watched: bool = True) -> None:
        self.iam = boto3.client("iam")
        user = name.replace("/", "-")
        self.iam.create_user(UserName=user)
        self.user = user
        self.name = name
        self.old_key = self.iam.create_access_key(UserName=user)["AccessKey"]
        self.trail = LocalCloudTrail(source_ip="198.51.100.20")  # the operator's workstation
        self.sm = self.trail.watch(boto3.client("secretsmanager"))
        tags = [{"Key": "credfix:watch", "Value": "true"}] if watched else []
        self.arn = str(self.sm.create_secret(Name=name, SecretString=_value(self.old_key), Tags=tags)["ARN"])

    def rotate(self) -> Rotated:
        new_key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        version = self.sm.put_secret_value(SecretId=self.arn, SecretString=_value(new_key))["VersionId"]
        return Rotated(self.arn, self.name, self.old_key, new_key, str(version), self.trail)


@dataclass
class Watch:
    pipeline: LocalPipeline
    handlers: dict[str, Any]

    def run(self, events: list[dict[str, Any]], *, batch_size: int = 10) -> dict[str, int]:
        """Events onto the bus; the rotation step, then the act step. Returns what each delivered."""
        n = self.pipeline.names
        self.pipeline.put_events(events)
        rotation = self.pipeline.poller(
            n.rotation_queue,
            self.handlers["rotation"].handler,
            function_name="credfix-rotation",
            batch_size=batch_size,
        ).drain()
        assert rotation.item_failures == 0
        acted = 0
        for queue in (n.act_queue, n.act_bulk_queue):
            stats = self.pipeline.poller(
                queue, self.handlers["act"].handler, function_name="credfix-act"
            ).drain()
            assert stats.item_failures == 0
            acted += stats.delivered
        return {"rotation": rotation.delivered, "act": acted}

    def incident(self, rotated: Rotated) -> Incident | None:
        return RotationIncidents(self.pipeline.ddb, self.pipeline.names.table).get(
            rotation_pk(rotated.arn, rotated.version)
        )

    def alerts(self) -> list[dict[str, Any]]:
        out = []
        for message in self.pipeline.queue_messages(self.pipeline.names.inbox):
            envelope = json.loads(message["Body"])
            out.append({"subject": envelope.get("Subject", ""), **json.loads(envelope["Message"])})
        return out

    def refused(self) -> list[str]:
        messages = self.pipeline.queue_messages(self.pipeline.names.rotation_dlq)
        return [m["MessageAttributes"]["reason"]["StringValue"] for m in messages]


@pytest.fixture
def watch(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    monkeypatch.setenv("CREDFIX_MODE", "enforce")
    yield Watch(pipeline, {name: load_handler(name) for name in ("rotation", "act")})


def primary(cluster: str, service: str) -> str:
    described = boto3.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
    return str(next(d["id"] for d in described["deployments"] if d["status"] == "PRIMARY"))


def executed(incident: Incident) -> list[tuple[str, str]]:
    return [(a.type, a.target) for a in incident.actions if a.status == "executed"]


def service_arn(cluster: str, service: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"


# ------------------------------------------------------------------ consumers, each kind


@pytest.mark.parametrize(
    "reference",
    ["{arn}", "{arn}:AccessKeyId::", "{partial}", "{partial}:AccessKeyId::"],
    ids=["full-arn", "full-arn-json-key", "partial-arn", "partial-arn-json-key"],
)
def test_ecs_consumer_on_the_previous_version_gets_a_new_deployment(watch: Watch, reference: str) -> None:
    account = Account()
    net = build.network()
    value_from = reference.format(arn=account.arn, partial=account.arn[:-7])
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=value_from)
    )
    unrelated = build.task_definition("billing", secret_value_from=f"{account.arn[:-7]}-other-QwErTy")
    build.ecs_service(net, "prod", "billing", unrelated)
    billing_before = primary("prod", "billing")
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    assert (incident.verdict, incident.severity, incident.access_key_id) == (
        "rotation-drift",
        "low",
        rotated.old_key["AccessKeyId"],
    )
    assert executed(incident) == [("ecs-force-new-deployment", service_arn("prod", "orders-api"))]
    assert [a.scope for a in incident.attribution] == ["rotation"]
    assert primary("prod", "billing") == billing_before  # does not read this secret: never touched
    assert all("billing" not in w.id for w in incident.workloads)
    (alert,) = watch.alerts()
    assert alert["kind"] == "remediated" and "rotation-drift" in alert["subject"]


def test_ecs_consumer_started_after_the_rotation_is_left_alone(watch: Watch) -> None:
    account = Account()
    rotated = account.rotate()
    net = build.network()
    build.ecs_service(net, "prod", "fresh", build.task_definition("fresh", secret_value_from=account.arn))

    assert watch.run([rotated.label_event()]) == {"rotation": 1, "act": 0}
    assert watch.incident(rotated) is None
    assert watch.alerts() == []


def test_lambda_naming_the_secret_in_its_environment_is_refreshed(watch: Watch) -> None:
    account = Account()
    role = build.role("reporter")
    lam = boto3.client("lambda")
    by_name = lam.create_function(
        FunctionName="reporter",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": {"CREDS_SECRET": account.name, "OTHER": "unrelated"}},
    )["FunctionArn"]
    unrelated = lam.create_function(
        FunctionName="unrelated",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": {"CREDS_SECRET": "prod/other"}},
    )["FunctionArn"]
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    assert executed(incident) == [("lambda-refresh", by_name)]
    assert all(w.id != unrelated for w in incident.workloads)
    (workload,) = incident.workloads
    assert any("CREDS_SECRET names the secret" in e for e in workload.evidence)


def test_tagged_instance_launched_before_the_rotation_is_a_declared_consumer(watch: Watch) -> None:
    account = Account()
    net = build.network()
    runner = build.runner_group(net, "runners", {"credfix:consumes": account.name})
    standalone = boto3.client("ec2").run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=net.subnet,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "credfix:consumes", "Value": "prod/x"}]}
        ],
    )["Instances"][0]
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    runner_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{runner['InstanceId']}"
    assert executed(incident) == [("ec2-recycle-instance", runner_arn)]
    assert all(standalone["InstanceId"] not in w.id for w in incident.workloads)  # declares another secret
    group = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["runners"])
    assert [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]] != [runner["InstanceId"]]


def test_tagged_ecs_service_that_reads_the_secret_at_run_time_is_a_declared_consumer(watch: Watch) -> None:
    """Its task definition names no secret (the code fetches it with the SDK): the tag declares it."""
    account = Account()
    net = build.network()
    build.ecs_service(net, "prod", "fetcher", build.task_definition("fetcher"))
    build.ecs_service(net, "prod", "bystander", build.task_definition("bystander"))
    boto3.client("ecs").tag_resource(
        resourceArn=service_arn("prod", "fetcher"), tags=[{"key": "credfix:consumes", "value": account.name}]
    )
    bystander = primary("prod", "bystander")
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    assert executed(incident) == [("ecs-force-new-deployment", service_arn("prod", "fetcher"))]
    (consumer,) = [w for w in incident.workloads if w.id == service_arn("prod", "fetcher")]
    assert any("tagged credfix:consumes=" in e for e in consumer.evidence)
    assert any("1 of 1 running task(s) started before" in e for e in consumer.evidence)  # its own task only
    assert primary("prod", "bystander") == bystander


def test_a_declared_consumer_credfix_cannot_date_is_named_never_touched(watch: Watch) -> None:
    account = Account()
    boto3.client("s3").create_bucket(Bucket="report-drop")
    boto3.client("s3").put_bucket_tagging(
        Bucket="report-drop", Tagging={"TagSet": [{"Key": "credfix:consumes", "Value": account.name}]}
    )
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None and executed(incident) == []
    assert any("arn:aws:s3:::report-drop" in e.check for e in incident.evidence)


# ------------------------------------------------------------------ what an event can and cannot do


def test_an_unwatched_secret_or_another_accounts_event_does_nothing(watch: Watch) -> None:
    unwatched = Account("prod/unwatched/aws", watched=False)
    net = build.network()
    build.ecs_service(net, "prod", "quiet", build.task_definition("quiet", secret_value_from=unwatched.arn))
    before = primary("prod", "quiet")
    rotated = unwatched.rotate()
    watched = Account().rotate()

    # Another account's event reaches this bus only through a rule forwarding it (the bus sets
    # `account` to the sender's): it goes straight onto the rotation queue, as delivered.
    watch.pipeline.sqs.send_message(
        QueueUrl=watch.pipeline.urls[watch.pipeline.names.rotation_queue],
        MessageBody=json.dumps(watched.label_event(account=OTHER_ACCOUNT)),
    )
    counts = watch.run([rotated.label_event()])

    assert counts == {"rotation": 2, "act": 0}
    assert watch.incident(rotated) is None and watch.incident(watched) is None
    assert primary("prod", "quiet") == before
    assert watch.alerts() == []
    (reason,) = watch.refused()  # the foreign event, with its reason; the unwatched one is counted
    assert f"account {OTHER_ACCOUNT}" in reason


def test_a_call_by_another_accounts_identity_is_refused(watch: Watch) -> None:
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn)
    )
    rotated = account.rotate()
    forged = json.loads(json.dumps(rotated.put_event))
    forged["detail"]["userIdentity"]["accountId"] = OTHER_ACCOUNT

    assert watch.run([forged]) == {"rotation": 1, "act": 0}
    (reason,) = watch.refused()
    assert "caller's identity belongs to account 444455556666" in reason


def test_repeated_events_of_one_rotation_restart_each_consumer_once(watch: Watch) -> None:
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn), tasks=2
    )
    rotated = account.rotate()
    events = [
        rotated.label_event(),
        rotated.put_event,
        rotation_succeeded(rotated.arn),
        rotated.label_event(),
    ]

    counts = watch.run(events, batch_size=1)  # four invocations, one event each

    assert counts == {"rotation": 4, "act": 1}
    incident = watch.incident(rotated)
    assert incident is not None
    assert executed(incident) == [("ecs-force-new-deployment", service_arn("prod", "orders-api"))]
    stopped = boto3.client("ecs").list_tasks(
        cluster="prod", serviceName="orders-api", desiredStatus="STOPPED"
    )
    assert len(stopped["taskArns"]) == 2  # the two old tasks, replaced once
    # The act message delivered again (a redelivery) changes nothing either.
    watch.pipeline.sqs.send_message(
        QueueUrl=watch.pipeline.urls[watch.pipeline.names.act_queue],
        MessageBody=json.dumps(
            {
                "type": "incident-triaged",
                "access_key_id": incident.access_key_id,
                "incident_id": incident.incident_id,
                "item": rotation_pk(rotated.arn, rotated.version),
            }
        ),
    )
    assert watch.run([]) == {"rotation": 0, "act": 1}
    stopped = boto3.client("ecs").list_tasks(
        cluster="prod", serviceName="orders-api", desiredStatus="STOPPED"
    )
    assert len(stopped["taskArns"]) == 2
    assert len(watch.alerts()) == 1


def test_observe_mode_plans_the_restart_and_changes_nothing(
    watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDFIX_MODE", "observe")
    watch.handlers["act"] = load_handler("act")
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn)
    )
    before = primary("prod", "orders-api")
    rotated = account.rotate()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    assert [(a.type, a.status) for a in incident.actions] == [("ecs-force-new-deployment", "planned")]
    assert primary("prod", "orders-api") == before


# ------------------------------------------------------------------ the old key's use since the rotation


def test_successful_use_of_the_old_key_locates_the_workload_by_its_address(watch: Watch) -> None:
    """An undeclared runner that read the key at boot: nothing in its configuration names the
    secret, but its successful calls with the old key after the rotation came from its private
    address through the account's STS endpoint."""
    account = Account()
    net = build.network()
    endpoint = build.sts_endpoint(net)
    runner = build.runner_group(net, "ci-runners", {"credfix:workload": "ci-runner"})
    rotated = account.rotate()
    trail = LocalCloudTrail(source_ip=runner["PrivateIpAddress"], vpc_endpoint_id=endpoint)
    sts = trail.watch(
        boto3.client(
            "sts",
            aws_access_key_id=rotated.old_key["AccessKeyId"],
            aws_secret_access_key=rotated.old_key["SecretAccessKey"],
        )
    )
    sts.get_caller_identity()
    sts.get_caller_identity()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    runner_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{runner['InstanceId']}"
    (attributed,) = incident.attribution
    assert (attributed.scope, attributed.ip, attributed.holders) == (
        "workload",
        runner["PrivateIpAddress"],
        [runner_arn],
    )
    assert incident.event_count == 2 and incident.sources[0].ip == runner["PrivateIpAddress"]
    assert executed(incident) == [("ec2-recycle-instance", runner_arn)]
    assert any("2 successful and 0 failed call(s)" in e.found for e in incident.evidence)


def test_successful_use_from_outside_is_a_security_signal_and_moves_nothing(watch: Watch) -> None:
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn)
    )
    rotated = account.rotate()
    outside = LocalCloudTrail(source_ip="203.0.113.77")
    outside.watch(
        boto3.client(
            "sts",
            aws_access_key_id=rotated.old_key["AccessKeyId"],
            aws_secret_access_key=rotated.old_key["SecretAccessKey"],
        )
    ).get_caller_identity()

    watch.run([rotated.label_event()])

    incident = watch.incident(rotated)
    assert incident is not None
    assert (incident.severity, incident.origin) == ("high", "mixed")
    assert any("someone outside holds the previous secret" in e.found for e in incident.evidence)
    # The configured consumer still restarts: the outsider's address attributes nothing.
    assert executed(incident) == [("ecs-force-new-deployment", service_arn("prod", "orders-api"))]
