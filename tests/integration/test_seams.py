"""Every remediation action, end to end across the seams, the way data flows on the local AWS:
a CloudTrail record on the EventBridge bus -> ingest -> triage -> act (enforce) -> the alert on
the SNS topic -> the change on the local AWS, and the incident item recording the action.

Each failing address is attributed as AWS would let it be: a workload's private address only
through the account's own STS interface endpoint, a NAT gateway's public address to its VPC
only (which permits acting on rotation stragglers alone)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters import aws as aws_clients
from credfix.adapters.actions.lambda_refresh import REFRESH_MARKER
from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
from credfix.models.incident import Action, Incident
from harness import account as build
from harness.account import LAMBDA_UA, RUNNER_UA
from harness.moto import ACCOUNT, REGION
from harness.pipeline import LocalPipeline
from harness.records import FARGATE_UA, cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration
LIFECYCLE_RESTARTS = {"CREDFIX_RESTART_ON_KEY_LIFECYCLE": "true"}


@dataclass
class Outcome:
    incident: Incident  # as the incidents table holds it after act
    item: dict[str, Any]  # the raw incident item
    alert: dict[str, Any]  # the SNS envelope the alerts topic delivered to its SQS subscriber

    @property
    def attributes(self) -> dict[str, str]:
        return {k: v["Value"] for k, v in self.alert.get("MessageAttributes", {}).items()}

    @property
    def executed(self) -> list[tuple[str, str]]:
        return [(a.type, a.target) for a in self.incident.actions if a.status == "executed"]

    def action(self, action_type: str) -> Action:
        return next(a for a in self.incident.actions if a.type == action_type)


def run_credfix(
    pipeline: LocalPipeline,
    monkeypatch: pytest.MonkeyPatch,
    records: list[dict[str, Any]],
    *,
    after_load: Callable[[], None] = lambda: None,
    **env: str,
) -> Outcome:
    """The records onto the bus, then ingest, triage and act (enforce mode) as their SQS
    triggers would run them; returns what the table and the alerts topic hold afterwards."""
    for name, value in {"CREDFIX_MODE": "enforce", **env}.items():
        monkeypatch.setenv(name, value)
    ingest, triage, act = (load_handler(name) for name in ("ingest", "triage", "act"))
    after_load()
    pipeline.put_events(records)
    stats = pipeline.ingest_poller(ingest.handler).drain()
    assert (stats.delivered, stats.item_failures) == (len(records), 0)
    n = pipeline.names
    # Each step has two lanes (the account's own incidents, and those from outside addresses):
    # the incident goes through one of each.
    for lanes, step in (((n.work_queue, n.bulk_queue), triage), ((n.act_queue, n.act_bulk_queue), act)):
        delivered = failed = 0
        for queue in lanes:
            stats = pipeline.poller(queue, step.handler, function_name=f"credfix-{step.__name__}").drain()
            delivered, failed = delivered + stats.delivered, failed + stats.item_failures
        assert (delivered, failed) == (1, 0), step.__name__
    key = records[0]["detail"]["userIdentity"]["accessKeyId"]
    incident = IncidentStore(pipeline.ddb, n.table, reopen_after=pipeline.reopen_after).get(key)
    assert incident is not None
    raw = pipeline.ddb.get_item(TableName=n.table, Key={"pk": {"S": key_pk(key)}}, ConsistentRead=True)
    (message,) = pipeline.queue_messages(n.inbox)
    return Outcome(incident, from_item(raw["Item"]), json.loads(message["Body"]))


def assert_acted(out: Outcome, verdict: str, *executed: tuple[str, str], scope: str = "workload") -> None:
    """The verdict, what the source attributed, the executed actions (type, target) in the
    table item and in the alert."""
    assert out.incident.verdict == verdict, [e.found for e in out.incident.evidence]
    assert [a.scope for a in out.incident.attribution] == [scope], out.incident.attribution
    assert out.executed == list(executed), [(a.type, a.status, a.reason) for a in out.incident.actions]
    assert out.item["status"] == "acted"
    recorded = json.loads(out.item["remediation"])["actions"]
    assert [(a["type"], a["target"]) for a in recorded if a["status"] == "executed"] == list(executed)
    assert (out.attributes["verdict"], out.attributes["action_status"]) == (verdict, "executed")
    delivered = json.loads(out.alert["Message"])  # what SNS delivers to an SQS subscriber
    assert delivered["kind"] == "remediated"
    assert [(a["type"], a["target"], a["status"]) for a in delivered["incident"]["actions"]] == [
        (a.type, a.target, a.status) for a in out.incident.actions
    ]


def failures(
    key: str, ip: str, endpoint: str | None, agent: str, count: int = 3, **kw: Any
) -> list[dict[str, Any]]:
    """The CloudTrail records of `count` rejected calls from `ip` (through `endpoint`)."""
    return [
        cloudtrail_event(key, source_ip=ip, vpc_endpoint_id=endpoint, user_agent=agent, **kw)
        for _ in range(count)
    ]


def user_keys(user: str, count: int = 1) -> list[str]:
    iam = boto3.client("iam")
    iam.create_user(UserName=user)
    return [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(count)]


def deactivate(user: str, key: str) -> None:
    boto3.client("iam").update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")


def delete(user: str, key: str) -> None:
    boto3.client("iam").delete_access_key(UserName=user, AccessKeyId=key)


def key_value(key: str) -> str:
    return json.dumps({"AccessKeyId": key, "SecretAccessKey": "never-read-by-credfix/" + key[-6:]})


def watched_secret(name: str, key: str) -> str:
    return str(
        boto3.client("secretsmanager").create_secret(
            Name=name, SecretString=key_value(key), Tags=[{"Key": "credfix:watch", "Value": "true"}]
        )["ARN"]
    )


def primary_deployment(cluster: str, service: str) -> str:
    found = boto3.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
    return str(next(d["id"] for d in found["deployments"] if d["status"] == "PRIMARY"))


# --- ECS ----------------------------------------------------------------------------------


def test_stale_task_of_a_service_gets_a_new_deployment(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stale-consumer: the secret moved on to a new Active key; the service's task kept the old one."""
    old, new = user_keys("orders-bot", 2)
    secret = watched_secret("prod/orders-api/aws", old)
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=key_value(new))
    deactivate("orders-bot", old)
    net = build.network()
    definition = build.task_definition("orders-api", secret_value_from=f"{secret}:AccessKeyId::")
    (task,) = build.ecs_service(net, "prod", "orders-api", definition)
    before = primary_deployment("prod", "orders-api")

    out = run_credfix(
        pipeline,
        monkeypatch,
        failures(old, build.private_ip_of(task), build.sts_endpoint(net), FARGATE_UA),
    )

    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/orders-api"
    assert_acted(out, "stale-consumer", ("ecs-force-new-deployment", service))
    assert primary_deployment("prod", "orders-api") != before


def test_standalone_task_is_stopped(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """key-deactivated, restarts on key lifecycle configured: a task run without a service."""
    (key,) = user_keys("batch-bot")
    deactivate("batch-bot", key)
    net = build.network()
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="batch")
    (task,) = ecs.run_task(
        cluster="batch",
        taskDefinition=build.task_definition("nightly-export"),
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [net.subnet], "securityGroups": [net.security_group]}
        },
    )["tasks"]

    out = run_credfix(
        pipeline,
        monkeypatch,
        failures(key, build.private_ip_of(task), build.sts_endpoint(net), FARGATE_UA),
        **LIFECYCLE_RESTARTS,
    )

    assert_acted(out, "key-deactivated", ("ecs-stop-task", task["taskArn"]))
    (stopped,) = ecs.describe_tasks(cluster="batch", tasks=[task["taskArn"]])["tasks"]
    assert stopped["lastStatus"] == "STOPPED"
    assert out.incident.incident_id in stopped["stoppedReason"]


# --- Lambda -------------------------------------------------------------------------------


def test_function_in_a_vpc_is_refreshed(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """temporary-credentials, restarts on key lifecycle configured: the function's session
    credentials (issued to its own role) fail; its execution environments are replaced."""
    role = build.role("exporter")
    net = build.network()
    function, ip = build.lambda_in_vpc(net, "exporter", role)
    assert ip is not None
    session_key = "ASIAY34FZKBOKMUTVV7A"
    identity = {
        "type": "AssumedRole",
        "principalId": "AROAY34FZKBOEXAMPLE:exporter",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/exporter/exporter",
        "accountId": ACCOUNT,
        "accessKeyId": session_key,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}},
    }

    out = run_credfix(
        pipeline,
        monkeypatch,
        failures(session_key, ip, build.sts_endpoint(net), LAMBDA_UA, userIdentity=identity),
        **LIFECYCLE_RESTARTS,
    )

    assert_acted(out, "temporary-credentials", ("lambda-refresh", function))
    config = boto3.client("lambda").get_function_configuration(FunctionName=function)
    assert REFRESH_MARKER in config["Environment"]["Variables"]


# --- EC2 ----------------------------------------------------------------------------------


def runner(
    net: build.Network, key: str, *, tags: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A CI runner in Auto Scaling group ci-runners, and the records of its failing calls."""
    instance = build.runner_group(net, "ci-runners", {"credfix:workload": "ci-runner"})
    if tags:
        boto3.client("ec2").create_tags(
            Resources=[instance["InstanceId"]], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    return instance, failures(key, instance["PrivateIpAddress"], build.sts_endpoint(net), RUNNER_UA)


def group_members() -> list[str]:
    (group,) = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["ci-runners"])[
        "AutoScalingGroups"
    ]
    return [i["InstanceId"] for i in group["Instances"]]


def test_runner_of_an_auto_scaling_group_is_recycled(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """key-deleted, restarts on key lifecycle configured. Auto Scaling takes the bare instance
    ID (moto answers HTTP 500 for an ARN), so a pass shows the action passes the right one."""
    (key,) = user_keys("ci-dev")
    delete("ci-dev", key)
    instance, records = runner(build.network(), key)

    out = run_credfix(pipeline, monkeypatch, records, **LIFECYCLE_RESTARTS)

    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance['InstanceId']}"
    assert_acted(out, "key-deleted", ("ec2-recycle-instance", arn))
    members = group_members()
    assert instance["InstanceId"] not in members and len(members) == 1  # replaced, capacity kept
    (old,) = boto3.client("ec2").describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"]
    assert old["Instances"][0]["State"]["Name"] in ("shutting-down", "terminated")


def test_opt_out_tag_on_a_runner_located_by_its_address_is_honoured(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance is located by IP (workload id: its ARN); its tags are read by instance ID."""
    (key,) = user_keys("ci-dev")
    delete("ci-dev", key)
    instance, records = runner(build.network(), key, tags={"credfix:remediate": "false"})

    out = run_credfix(pipeline, monkeypatch, records, **LIFECYCLE_RESTARTS)

    assert out.incident.verdict == "key-deleted" and out.executed == []
    action = out.action("ec2-recycle-instance")
    assert action.status == "skipped"
    assert f"opted out: tag credfix:remediate=false on instance arn:aws:ec2:{REGION}" in action.reason
    assert (out.attributes["verdict"], out.attributes["action_status"]) == ("key-deleted", "skipped")
    recorded = json.loads(out.item["remediation"])["actions"]
    assert [a["status"] for a in recorded if a["type"] == "ec2-recycle-instance"] == ["skipped"]
    assert group_members() == [instance["InstanceId"]]


def test_standalone_instance_gets_credfix_command_document(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """key-deactivated, restarts on key lifecycle configured, an SSM command configured (the
    stack's document) and the instance opted in with the tag credfix:ssm-command=true."""
    (key,) = user_keys("box-bot")
    deactivate("box-bot", key)
    net = build.network()
    (instance,) = boto3.client("ec2").run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=net.subnet,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "credfix:ssm-command", "Value": "true"}]}
        ],
    )["Instances"]
    records = failures(key, instance["PrivateIpAddress"], build.sts_endpoint(net), RUNNER_UA)
    document = build.command_document("systemctl restart app")

    out = run_credfix(pipeline, monkeypatch, records, CREDFIX_SSM_DOCUMENT=document, **LIFECYCLE_RESTARTS)

    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance['InstanceId']}"
    assert_acted(out, "key-deactivated", ("ec2-ssm-command", arn))
    (command,) = boto3.client("ssm").list_commands(InstanceId=instance["InstanceId"])["Commands"]
    assert command["InstanceIds"] == [instance["InstanceId"]]
    assert command["DocumentName"] == "credfix-reload-credentials" and command["Parameters"] == {}
    assert command["Comment"].startswith(f"credfix {out.incident.incident_id} ")


# --- Secrets Manager ----------------------------------------------------------------------


@pytest.fixture
def rotated_yesterday() -> Iterator[Callable[[], None]]:
    """moto sets LastRotatedDate to the moment rotation is configured and has no clock to move,
    so it cannot produce a secret whose configured rotation last ran more than 24 h ago (what
    the act step's once-a-day rule looks at). That one field is moved back 25 h in the
    DescribeSecret answers credfix's clients receive; the calls themselves, and RotateSecret,
    go to the local AWS. (Registered on credfix's session after the handlers are loaded.)"""

    def shift(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("LastRotatedDate"):
            parsed["LastRotatedDate"] -= timedelta(hours=25)

    yield lambda: aws_clients.hook_new_clients("after-call.secretsmanager.DescribeSecret", shift)
    aws_clients.reset_clients()  # the next test's clients come without the hook


def test_stale_secret_is_rotated_then_its_consumer_restarted(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, rotated_yesterday: Callable[[], None]
) -> None:
    """stale-secret: the watched secret's AWSCURRENT still holds the failing, Inactive key and a
    rotation is configured. The failures come through the VPC's NAT gateway, which attributes
    them to the VPC only: enough for the secret's consumers found by their configuration."""
    (key,) = user_keys("payments-bot")
    secret = watched_secret("prod/payments/aws", key)
    sm = boto3.client("secretsmanager")
    # Configure rotation (moto without a rotation function: the value is kept, as AWSCURRENT).
    sm.rotate_secret(SecretId=secret, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    deactivate("payments-bot", key)
    versions_before = {v["VersionId"] for v in sm.list_secret_version_ids(SecretId=secret)["Versions"]}
    net = build.network()
    definition = build.task_definition("payments", secret_value_from=f"{secret}:AccessKeyId::")
    build.ecs_service(net, "prod", "payments", definition)
    _, nat_ip = build.nat_gateway(net)
    before = primary_deployment("prod", "payments")

    out = run_credfix(
        pipeline, monkeypatch, failures(key, nat_ip, None, FARGATE_UA), after_load=rotated_yesterday
    )

    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/payments"
    # The rotation's target is the secret's ARN, not the task definition's reference to one of
    # its JSON keys (Secrets Manager rejects that tail; one rotation per secret).
    assert_acted(
        out,
        "stale-secret",
        ("secret-rotate", secret),
        ("ecs-force-new-deployment", service),
        scope="vpc",
    )
    versions = sm.list_secret_version_ids(SecretId=secret)["Versions"]
    (rotated,) = [v for v in versions if v["VersionId"] not in versions_before]
    assert "AWSCURRENT" in rotated["VersionStages"]
    assert primary_deployment("prod", "payments") != before
