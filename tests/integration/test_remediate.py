"""Remediation behind guardrails on the local AWS (moto server over HTTP): the core
`remediate()` with real clients and the DynamoDB guardrail store in the incidents table."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from credfix.adapters.actions.lambda_refresh import REFRESH_MARKER
from credfix.adapters.actions.ssm import KillSwitch
from credfix.adapters.stores.guardrails import DynamoGuardrailStore, MemoryGuardrailStore
from credfix.adapters.stores.incidents import IncidentStore
from credfix.config import Settings
from credfix.core.aggregate import aggregate
from credfix.core.remediate import remediate
from credfix.models.cloudtrail import parse_failure
from credfix.models.guardrails import Cap
from credfix.models.incident import ConfiguredCredential, Incident, SourceAttribution, Workload
from harness import account as build
from harness.account import attributed
from harness.moto import ACCOUNT, REGION, LocalAws
from harness.records import cloudtrail_event

pytestmark = pytest.mark.integration
KEY = "AKIAY34FZKBOKMUTVV7A"
TABLE = "credfix-incidents"
ENFORCE = Settings(CREDFIX_MODE="enforce")
OBSERVE = Settings()


def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION)


def factory(sess: boto3.session.Session | None = None) -> Callable[..., Any]:
    """A client_for(service, region) over one session, as adapters/aws.py builds them."""
    sess = sess or session()
    cache: dict[tuple[str, str | None], Any] = {}

    def client_for(service: str, region: str | None = None) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = sess.client(service, region_name=region)
        return cache[(service, region)]

    return client_for


def make_table(ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class EcsService:
    cluster_arn: str
    service_arn: str
    task_arns: list[str]

    def primary_deployment(self, ecs: Any) -> str:
        svc = ecs.describe_services(cluster=self.cluster_arn, services=[self.service_arn])["services"][0]
        return next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY")


def ecs_service(
    name: str = "billing-worker",
    *,
    tasks: int = 1,
    service_tags: dict[str, str] | None = None,
    cluster_tags: dict[str, str] | None = None,
) -> EcsService:
    """A Fargate service with running tasks (moto: tasks are run with group=service:NAME)."""
    ec2, ecs = session().client("ec2"), session().client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"{name}-sg", Description="tasks", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(
        clusterName=f"{name}-cluster",
        tags=[{"key": k, "value": v} for k, v in (cluster_tags or {}).items()],
    )["cluster"]["clusterArn"]
    ecs.register_task_definition(
        family=name,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/docker/library/busybox", "memory": 512}
        ],
    )
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    service = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=name,
        desiredCount=tasks,
        launchType="FARGATE",
        networkConfiguration=network,
        tags=[{"key": k, "value": v} for k, v in (service_tags or {}).items()],
    )["service"]["serviceArn"]
    started = ecs.run_task(
        cluster=cluster,
        taskDefinition=name,
        count=tasks,
        launchType="FARGATE",
        networkConfiguration=network,
        group=f"service:{name}",
    )["tasks"]
    return EcsService(cluster, service, [t["taskArn"] for t in started])


def incident(
    workloads: list[Workload],
    *,
    verdict: str = "stale-consumer",
    key_status: str = "Inactive",
    incident_id: str = "20260415T110500Z-VV7A-0001",
    event_count: int = 12,
    attribution: list[SourceAttribution] | None = None,
) -> Incident:
    """A triaged incident whose failing address is attributed to `workloads` (through the
    account's own endpoint) unless `attribution` says otherwise."""
    now = datetime.now(UTC)
    found = attributed(*workloads) if attribution is None else attribution
    return Incident.model_validate(
        {
            "attribution": [a.model_dump() for a in found],
            "origin": "account" if any(a.scope != "none" for a in found) else "outside",
            "incident_id": incident_id,
            "access_key_id": KEY,
            "status": "triaged",
            "verdict": verdict,
            "key_status": key_status,
            "owner_account": ACCOUNT,
            "workloads": [w.model_dump() for w in workloads],
            "event_count": event_count,
            "first_seen": now - timedelta(minutes=10),
            "last_seen": now,
            "opened_at": now - timedelta(minutes=9),
        }
    )


def task_workload(svc: EcsService, task: int = 0, confidence: str = "high") -> Workload:
    return Workload(
        type="ecs-task",
        id=svc.task_arns[task],
        confidence=confidence,  # type: ignore[arg-type]
        region=REGION,
        parent=svc.service_arn,
        cluster=svc.cluster_arn,
    )


@pytest.fixture
def table(aws_env: LocalAws) -> DynamoGuardrailStore:
    ddb = session().client("dynamodb")
    make_table(ddb)
    return DynamoGuardrailStore(ddb, TABLE)


# --- the service task on a rotated-out key ---------------------------------------------


def test_enforce_redeploys_the_service_of_a_stale_task(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    ecs = session().client("ecs")
    before = svc.primary_deployment(ecs)

    actions = remediate(incident([task_workload(svc)]), factory(), ENFORCE, table)

    assert [(a.type, a.target, a.status) for a in actions] == [
        ("ecs-force-new-deployment", svc.service_arn, "executed")
    ]
    assert svc.primary_deployment(ecs) != before
    assert "new deployment" in actions[0].reason and actions[0].at is not None


def test_observe_changes_nothing_and_plans_the_action(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    ecs = session().client("ecs")
    before = svc.primary_deployment(ecs)

    actions = remediate(incident([task_workload(svc)]), factory(), OBSERVE, table)

    assert [(a.type, a.status) for a in actions] == [("ecs-force-new-deployment", "planned")]
    assert "observe mode" in actions[0].reason
    assert svc.primary_deployment(ecs) == before


@pytest.mark.parametrize("on", ["service", "cluster"])
def test_opt_out_tag_skips_with_the_reason(table: DynamoGuardrailStore, on: str) -> None:
    tag = {"credfix:remediate": "false"}
    svc = ecs_service(
        service_tags=tag if on == "service" else None, cluster_tags=tag if on == "cluster" else None
    )
    ecs = session().client("ecs")
    before = svc.primary_deployment(ecs)

    actions = remediate(incident([task_workload(svc)]), factory(), ENFORCE, table)

    assert actions[0].status == "skipped"
    assert "opted out: tag credfix:remediate=false" in actions[0].reason
    assert (svc.cluster_arn if on == "cluster" else svc.service_arn) in actions[0].reason
    assert svc.primary_deployment(ecs) == before


def test_kill_switch_forces_observe_at_run_time(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    ssm, ecs = session().client("ssm"), session().client("ecs")
    ssm.put_parameter(Name="/credfix/kill-switch", Value="on", Type="String")
    before = svc.primary_deployment(ecs)

    actions = remediate(
        incident([task_workload(svc)]),
        factory(),
        ENFORCE,
        table,
        kill_switch=KillSwitch(ssm, "/credfix/kill-switch"),
    )
    assert [a.status for a in actions] == ["planned"]
    assert "kill switch /credfix/kill-switch is 'on'" in actions[0].reason
    assert svc.primary_deployment(ecs) == before

    # Switched off again (a fresh reader: the cached value lives up to 60 s), enforcement resumes.
    ssm.put_parameter(Name="/credfix/kill-switch", Value="off", Type="String", Overwrite=True)
    actions = remediate(
        incident([task_workload(svc)]),
        factory(),
        ENFORCE,
        table,
        kill_switch=KillSwitch(ssm, "/credfix/kill-switch"),
    )
    assert [a.status for a in actions] == ["executed"]
    assert svc.primary_deployment(ecs) != before


def test_missing_kill_switch_parameter_counts_as_on(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    actions = remediate(
        incident([task_workload(svc)]),
        factory(),
        ENFORCE,
        table,
        kill_switch=KillSwitch(session().client("ssm"), "/credfix/not-created"),
    )
    assert [a.status for a in actions] == ["planned"]
    assert "unreadable" in actions[0].reason


# --- once: redelivery, racing workers, many records ---------------------------------------


def test_same_incident_delivered_twice_acts_once(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    ecs = session().client("ecs")
    inc = incident([task_workload(svc)])

    first = remediate(inc, factory(), ENFORCE, table)
    after_first = svc.primary_deployment(ecs)
    second = remediate(inc, factory(), ENFORCE, table)

    assert first[0].status == "executed"
    assert second == first  # the redelivery repeats the stored decision, it does not act again
    assert svc.primary_deployment(ecs) == after_first


def test_two_workers_racing_execute_once(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    inc = incident([task_workload(svc)])
    workers = 6
    barrier = threading.Barrier(workers)
    results: list[list[Any]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        sess = session()  # each worker its own session and clients, as separate Lambdas have
        store = DynamoGuardrailStore(sess.client("dynamodb"), TABLE)
        client_for = factory(sess)
        try:
            barrier.wait()
            results.append(remediate(inc, client_for, ENFORCE, store))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors and len(results) == workers
    decided = [r[0] for r in results]
    executed = [a for a in decided if a.status == "executed"]
    # A loser that arrives after the winner settled repeats the winner's record (same time,
    # same deployment id in the reason); every other loser skips. One UpdateService in all.
    assert executed and all(a == executed[0] for a in executed)
    assert all(a.status == "skipped" and "being handled" in a.reason for a in decided if a not in executed)


def test_another_incident_on_the_same_target_waits_for_the_cooldown(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    first = remediate(incident([task_workload(svc)], incident_id="inc-1"), factory(), ENFORCE, table)
    second = remediate(incident([task_workload(svc)], incident_id="inc-2"), factory(), ENFORCE, table)
    later = remediate(
        incident([task_workload(svc)], incident_id="inc-3"),
        factory(),
        ENFORCE,
        table,
        now=datetime.now(UTC) + timedelta(seconds=ENFORCE.target_cooldown_seconds + 1),
    )
    assert [first[0].status, second[0].status, later[0].status] == ["executed", "skipped", "executed"]
    assert "already handled by incident inc-1" in second[0].reason


def test_five_thousand_failures_of_one_key_make_one_action(table: DynamoGuardrailStore) -> None:
    sess = session()
    svc = ecs_service(tasks=3)
    events = [
        parse_failure(cloudtrail_event(KEY, source_ip=f"10.0.1.{10 + i % 3}"), ref=f"m{i}")
        for i in range(5000)
    ]
    store = IncidentStore(sess.client("dynamodb"), TABLE, reopen_after=timedelta(hours=1))
    for delta in aggregate(events).values():
        store.record(delta, datetime.now(UTC))
    stored = store.get(KEY)
    assert stored is not None and stored.event_count == 5000
    triaged = stored.model_copy(
        update={
            "verdict": "stale-consumer",
            "key_status": "Inactive",
            "workloads": [task_workload(svc, i) for i in range(3)],  # three tasks of one service
            "attribution": attributed(*[task_workload(svc, i) for i in range(3)]),
        }
    )

    actions = remediate(triaged, factory(sess), ENFORCE, table)

    assert [(a.type, a.status) for a in actions] == [("ecs-force-new-deployment", "executed")]


def test_account_cap_holds_an_action_pending_until_the_window_frees(table: DynamoGuardrailStore) -> None:
    services = [ecs_service(f"svc{i}") for i in range(3)]
    settings = Settings(CREDFIX_MODE="enforce", CREDFIX_MAX_ACTIONS_PER_HOUR=2)
    now = datetime.now(UTC).replace(microsecond=0)
    statuses = [
        remediate(incident([task_workload(s)], incident_id=f"inc-{i}"), factory(), settings, table, now=now)[
            0
        ]
        for i, s in enumerate(services)
    ]
    assert [a.status for a in statuses] == ["executed", "executed", "pending"]
    assert f"account {ACCOUNT} reached its cap of 2 actions in any 60 min" in statuses[2].reason
    assert statuses[2].retry_at == now + timedelta(seconds=3601)
    # Not a final skip: when the sliding window frees a slot, the same incident acts.
    before = services[2].primary_deployment(session().client("ecs"))
    again = remediate(
        incident([task_workload(services[2])], incident_id="inc-2"),
        factory(),
        settings,
        table,
        now=now + timedelta(seconds=3601),
    )
    assert again[0].status == "executed"
    assert services[2].primary_deployment(session().client("ecs")) != before


def test_key_cap_limits_the_actions_of_one_key(table: DynamoGuardrailStore) -> None:
    services = [ecs_service(f"k{i}") for i in range(2)]
    settings = Settings(CREDFIX_MODE="enforce", CREDFIX_MAX_ACTIONS_PER_KEY_PER_HOUR=1)
    inc = incident([task_workload(s) for s in services])
    actions = remediate(inc, factory(), settings, table)
    assert [a.status for a in actions] == ["executed", "pending"]
    assert "key AKIA…VV7A reached its cap of 1 actions in any 60 min" in actions[1].reason


# --- Auto Scaling runner ------------------------------------------------------------------


def test_runner_in_an_auto_scaling_group_is_replaced(table: DynamoGuardrailStore) -> None:
    ec2, autoscaling = session().client("ec2"), session().client("autoscaling")
    ec2.create_launch_template(
        LaunchTemplateName="runner",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="gh-runners",
        LaunchTemplate={"LaunchTemplateName": "runner", "Version": "$Latest"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "ghr:Application", "Value": "github-action-runner", "PropagateAtLaunch": True}],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["gh-runners"])[
        "AutoScalingGroups"
    ][0]
    old = group["Instances"][0]["InstanceId"]
    runner = Workload(type="ec2-instance", id=old, confidence="high", region=REGION, parent="gh-runners")

    actions = remediate(incident([runner]), factory(), ENFORCE, table)

    assert [(a.type, a.status) for a in actions] == [("ec2-recycle-instance", "executed")]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["gh-runners"])[
        "AutoScalingGroups"
    ][0]
    assert group["DesiredCapacity"] == 2
    members = {i["InstanceId"] for i in group["Instances"]}
    assert old not in members and len(members) == 2  # a fresh instance took its place
    state = ec2.describe_instances(InstanceIds=[old])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")


def test_opt_out_on_the_auto_scaling_group_keeps_the_runner(table: DynamoGuardrailStore) -> None:
    ec2, autoscaling = session().client("ec2"), session().client("autoscaling")
    ec2.create_launch_template(
        LaunchTemplateName="runner",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="gh-runners",
        LaunchTemplate={"LaunchTemplateName": "runner", "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "credfix:remediate", "Value": "false", "PropagateAtLaunch": False}],
    )
    old = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["gh-runners"])["AutoScalingGroups"][
        0
    ]["Instances"][0]["InstanceId"]
    runner = Workload(type="ec2-instance", id=old, confidence="high", region=REGION, parent="gh-runners")

    actions = remediate(incident([runner]), factory(), ENFORCE, table)

    assert actions[0].status == "skipped" and "Auto Scaling group gh-runners" in actions[0].reason
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["gh-runners"])[
        "AutoScalingGroups"
    ][0]
    assert [i["InstanceId"] for i in group["Instances"]] == [old]


def test_standalone_instance_gets_credfix_command_only_when_configured_and_opted_in(
    table: DynamoGuardrailStore,
) -> None:
    ec2, ssm = session().client("ec2"), session().client("ssm")

    def standalone(tags: dict[str, str]) -> Workload:
        spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        started = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, **({"TagSpecifications": spec} if tags else {})
        )
        return Workload(
            type="ec2-instance", id=started["Instances"][0]["InstanceId"], confidence="high", region=REGION
        )

    opted_in = standalone({"credfix:ssm-command": "true"})
    without = remediate(incident([opted_in], incident_id="inc-a"), factory(), ENFORCE, table)
    assert [a.status for a in without] == ["skipped"]
    assert "no SSM command configured" in without[0].reason

    document = build.command_document("systemctl restart app")
    settings = Settings(CREDFIX_MODE="enforce", CREDFIX_SSM_DOCUMENT=document)
    not_opted_in = standalone({})
    skipped = remediate(incident([not_opted_in], incident_id="inc-b"), factory(), settings, table)
    assert [a.status for a in skipped] == ["skipped"]
    assert "not opted in" in skipped[0].reason and "credfix:ssm-command=true" in skipped[0].reason
    assert ssm.list_commands(InstanceId=not_opted_in.id)["Commands"] == []

    with_command = remediate(incident([opted_in], incident_id="inc-c"), factory(), settings, table)
    assert [(a.type, a.status) for a in with_command] == [("ec2-ssm-command", "executed")]
    (command,) = ssm.list_commands(InstanceId=opted_in.id)["Commands"]
    assert command["DocumentName"] == document == "credfix-reload-credentials"
    assert command["Parameters"] == {}  # the command is in the document, not in the call
    assert command["Comment"].startswith("credfix inc-c ")


# --- verdicts a restart cannot fix --------------------------------------------------------


@pytest.mark.parametrize("verdict", ["wrong-credential-source", "foreign-account", "unknown-key"])
def test_no_restart_for_what_a_restart_cannot_fix(table: DynamoGuardrailStore, verdict: str) -> None:
    svc = ecs_service()
    ecs = session().client("ecs")
    before = svc.primary_deployment(ecs)

    actions = remediate(incident([task_workload(svc)], verdict=verdict), factory(), ENFORCE, table)

    assert [a.status for a in actions] == ["skipped"]
    assert "restart" in actions[0].reason or "rotate" in actions[0].reason
    assert svc.primary_deployment(ecs) == before


def test_wrong_credential_source_reason_quotes_the_field_guide(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    actions = remediate(
        incident([task_workload(svc)], verdict="wrong-credential-source"), factory(), ENFORCE, table
    )
    assert "a restart reloads the same winning provider" in actions[0].reason


# --- Lambda -------------------------------------------------------------------------------


def _lambda_function(name: str, variables: dict[str, str], tags: dict[str, str] | None = None) -> str:
    iam = session().client("iam")
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return str(
        session()
        .client("lambda")
        .create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
            Environment={"Variables": variables},
            Timeout=42,
            Tags=tags or {},
        )["FunctionArn"]
    )


def test_lambda_refresh_keeps_the_settings_and_marks_the_update(table: DynamoGuardrailStore) -> None:
    arn = _lambda_function("exporter", {"QUEUE": "jobs", "SECRET_ID": "exporter/creds"})
    fn = Workload(type="lambda-function", id=arn, confidence="high", region=REGION)

    actions = remediate(incident([fn]), factory(), ENFORCE, table)

    assert [(a.type, a.status) for a in actions] == [("lambda-refresh", "executed")]
    config = session().client("lambda").get_function_configuration(FunctionName=arn)
    variables = config["Environment"]["Variables"]
    assert variables["QUEUE"] == "jobs" and variables["SECRET_ID"] == "exporter/creds"
    assert REFRESH_MARKER in variables
    assert config["Timeout"] == 42 and config["Handler"] == "app.handler"


def test_lambda_opt_out_tag(table: DynamoGuardrailStore) -> None:
    arn = _lambda_function("exporter", {"QUEUE": "jobs"}, tags={"credfix:remediate": "FALSE"})
    fn = Workload(type="lambda-function", id=arn, confidence="high", region=REGION)
    actions = remediate(incident([fn]), factory(), ENFORCE, table)
    assert actions[0].status == "skipped" and "opted out" in actions[0].reason
    variables = (
        session().client("lambda").get_function_configuration(FunctionName=arn)["Environment"]["Variables"]
    )
    assert REFRESH_MARKER not in variables


# --- stale secret: rotate once, then restart ----------------------------------------------


def _secret(rotation: bool) -> str:
    sm = session().client("secretsmanager")
    arn = str(sm.create_secret(Name="billing/aws", SecretString='{"k": "v"}')["ARN"])
    if rotation:  # moto: configuring rotation also rotates once (LastRotatedDate = now)
        sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30})
    return arn


def _secret_consumer(svc: EcsService, secret_arn: str) -> Workload:
    w = task_workload(svc)
    return w.model_copy(update={"credentials": [ConfiguredCredential(kind="secret", ref=secret_arn)]})


def test_stale_secret_rotates_once_then_restarts_the_consumers(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    secret = _secret(rotation=True)
    sm, ecs = session().client("secretsmanager"), session().client("ecs")
    versions_before = len(sm.list_secret_version_ids(SecretId=secret)["Versions"])
    before = svc.primary_deployment(ecs)
    tomorrow = datetime.now(UTC) + timedelta(hours=25)  # the configured rotation happened "yesterday"
    inc = incident([_secret_consumer(svc, secret)], verdict="stale-secret")

    actions = remediate(inc, factory(), ENFORCE, table, now=tomorrow)

    assert [(a.type, a.status) for a in actions] == [
        ("secret-rotate", "executed"),
        ("ecs-force-new-deployment", "executed"),
    ]
    assert len(sm.list_secret_version_ids(SecretId=secret)["Versions"]) == versions_before + 1
    assert svc.primary_deployment(ecs) != before

    # The same secret on another incident an hour later: not rotated again (24 h), no restart.
    again = remediate(
        incident([_secret_consumer(svc, secret)], verdict="stale-secret", incident_id="inc-later"),
        factory(),
        ENFORCE,
        table,
        now=tomorrow + timedelta(hours=1),
    )
    assert again[0].type == "secret-rotate" and again[0].status == "skipped"
    assert again[1].status == "skipped" and "waits for" in again[1].reason


def test_stale_secret_rotated_less_than_a_day_ago_is_not_rotated_again(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    secret = _secret(rotation=True)
    actions = remediate(
        incident([_secret_consumer(svc, secret)], verdict="stale-secret"), factory(), ENFORCE, table
    )
    assert actions[0].status == "skipped" and "less than 24 h ago" in actions[0].reason
    assert actions[1].status == "skipped"


def test_stale_secret_without_rotation_configured_is_only_reported(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    secret = _secret(rotation=False)
    ecs = session().client("ecs")
    before = svc.primary_deployment(ecs)
    actions = remediate(
        incident([_secret_consumer(svc, secret)], verdict="stale-secret"), factory(), ENFORCE, table
    )
    assert actions[0].status == "skipped" and "no rotation configured" in actions[0].reason
    assert actions[1].status == "skipped"
    assert svc.primary_deployment(ecs) == before


# --- failures and the circuit breaker -----------------------------------------------------


def _throttled_ecs(service_arn: str) -> Any:
    """An ECS client whose UpdateService answers ThrottlingException (after retries).

    Stubber because moto cannot produce throttling. Retries are off on this client, so the
    stubbed error is what the action sees after the SDK gave up."""
    ecs = session().client("ecs", config=Config(retries={"total_max_attempts": 1}))
    stub = Stubber(ecs)
    stub.add_response("list_tags_for_resource", {"tags": []}, {"resourceArn": service_arn})
    # The action reads the PRIMARY deployment first (to tell a lost answer from a dropped call).
    stub.add_response(
        "describe_services",
        {
            "services": [
                {"serviceArn": service_arn, "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY"}]}
            ]
        },
    )
    stub.add_client_error(
        "update_service",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    stub.activate()
    return ecs


def test_action_error_is_recorded_as_failed_and_opens_the_breaker(table: DynamoGuardrailStore) -> None:
    settings = Settings(CREDFIX_MODE="enforce", CREDFIX_BREAKER_FAILURES=2)
    real = factory()
    failing = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/worker-{i}" for i in range(2)]
    for i, arn in enumerate(failing):
        stubbed = _throttled_ecs(arn)

        def client_for(service: str, region: str | None = None, _ecs: Any = stubbed) -> Any:
            return _ecs if service == "ecs" else real(service, region)

        svc = Workload(type="ecs-service", id=arn, confidence="high", region=REGION, cluster="prod")
        actions = remediate(incident([svc], incident_id=f"inc-{i}"), client_for, settings, table)
        assert [a.status for a in actions] == ["failed"]
        assert "ThrottlingException: Rate exceeded" in actions[0].reason

    # Two failures: the breaker is open, a healthy target is now only planned.
    healthy = ecs_service()
    ecs = session().client("ecs")
    before = healthy.primary_deployment(ecs)
    actions = remediate(incident([task_workload(healthy)], incident_id="inc-9"), real, settings, table)
    assert [a.status for a in actions] == ["planned"]
    assert "circuit breaker open after 2 recent action failures" in actions[0].reason
    assert healthy.primary_deployment(ecs) == before

    # An hour after the last failure the breaker lets one action through again (half-open).
    later = remediate(
        incident([task_workload(healthy)], incident_id="inc-10"),
        real,
        settings,
        table,
        now=datetime.now(UTC) + timedelta(hours=1, minutes=1),
    )
    assert [a.status for a in later] == ["executed"]


def test_error_from_the_local_aws_is_recorded_as_failed(table: DynamoGuardrailStore) -> None:
    """A real AWS error: the service's cluster is gone by the time act runs."""
    svc = ecs_service()
    moved = Workload(
        type="ecs-service", id=svc.service_arn, confidence="high", region=REGION, cluster="retired"
    )
    actions = remediate(incident([moved]), factory(), ENFORCE, table)
    assert [a.status for a in actions] == ["failed"]
    assert "ClusterNotFoundException" in actions[0].reason
    assert table.breaker_failures(datetime.now(UTC), 3600) == 1


def test_standalone_task_is_stopped(table: DynamoGuardrailStore) -> None:
    svc = ecs_service()
    standalone = Workload(
        type="ecs-task", id=svc.task_arns[0], confidence="high", region=REGION, cluster=svc.cluster_arn
    )
    actions = remediate(incident([standalone]), factory(), ENFORCE, table)
    assert [(a.type, a.status) for a in actions] == [("ecs-stop-task", "executed")]
    task = session().client("ecs").describe_tasks(cluster=svc.cluster_arn, tasks=svc.task_arns)["tasks"][0]
    assert task["lastStatus"] == "STOPPED" or task["desiredStatus"] == "STOPPED"


def test_memory_store_applies_the_same_rules() -> None:
    store = MemoryGuardrailStore()
    now = datetime.now(UTC)
    assert store.claim("t", "inc-1", "a", now, 60).won
    lost = store.claim("t", "inc-1", "a", now + timedelta(hours=1), 60)
    assert not lost.won and lost.holder is not None and lost.holder.incident_id == "inc-1"
    assert not store.claim("t", "inc-2", "a", now + timedelta(seconds=30), 60).won
    assert store.claim("t", "inc-2", "a", now + timedelta(seconds=61), 60).won
    cap = Cap("account#1", 2, 3600, "account 1")
    assert [store.claim(f"c{i}", f"inc-c{i}", "a", now, 60, caps=[cap]).won for i in range(3)] == [
        True,
        True,
        False,
    ]
    for n in range(2):
        store.settle(f"c{n}", f"inc-c{n}", "failed", "boom", now)
    assert store.breaker_failures(now, 3600) == 2
    assert store.breaker_failures(now + timedelta(hours=2), 3600) == 0
    store.settle("t", "inc-2", "executed", "ok", now)
    assert store.breaker_failures(now, 3600) == 0


# --- CLI ------------------------------------------------------------------------------------


def test_cli_remediate_prints_the_report_with_actions(
    aws_env: LocalAws, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from credfix.cli import main

    events = tmp_path / "events.json"
    events.write_text(json.dumps([cloudtrail_event(KEY) for _ in range(3)]))

    assert main(["remediate", "--event", str(events)]) == 0

    report = json.loads(capsys.readouterr().out)
    (doc,) = report["incidents"]
    assert doc["access_key_id"] == KEY and doc["status"] == "acted" and doc["event_count"] == 3
    assert doc["actions"] and all(a["status"] in ("skipped", "planned") for a in doc["actions"])
    assert all(a["reason"] for a in doc["actions"])
    act_lines = [t["what"] for t in doc["timeline"] if t["what"].startswith("act:")]
    assert act_lines and all(KEY not in line for line in act_lines)  # human text: key redacted


def test_cli_remediate_bad_input(
    aws_env: LocalAws, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from credfix.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["remediate", "--event", str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main(["remediate", "--event", str(bad), "--mode", "destroy"]) == 2


def test_cli_remediate_publishes_the_alert_to_the_topic(
    aws_env: LocalAws, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`credfix remediate --topic-arn` sends the same alert the act Lambda sends: the
    incident document to machine subscribers, with the filterable attributes."""
    import json

    import boto3

    from credfix.cli import main

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="cli-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="cli-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    events = tmp_path / "events.json"
    events.write_text(json.dumps([cloudtrail_event(KEY) for _ in range(2)]))

    assert main(["remediate", "--event", str(events), "--topic-arn", topic]) == 0
    report = json.loads(capsys.readouterr().out)
    (message,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    delivered = json.loads(envelope["Message"])
    assert delivered["kind"] == "remediated"
    assert delivered["incident"]["access_key_id"] == KEY
    assert delivered["incident"]["verdict"] == report["incidents"][0]["verdict"]
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes["verdict"] == report["incidents"][0]["verdict"]
    assert attributes["action_status"] in ("planned", "skipped", "none")


# --- guardrail writes folded into transactions -------------------------------------------


def test_claim_with_caps_takes_claim_and_slots_together(table: DynamoGuardrailStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ddb = session().client("dynamodb")
    account = Cap("account#1", 1, 3600, "account 1")
    key = Cap(f"key#{KEY}", 5, 3600, "key")
    assert table.claim("svc-a", "inc-1", "a", now, 60, caps=[account, key]).won
    capped = table.claim("svc-b", "inc-2", "a", now, 60, caps=[account, key])
    assert not capped.won and capped.capped == account
    assert capped.retry_at == now + timedelta(seconds=3601)
    # A capped claim leaves no claim behind, and no slot of the key's cap either.
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"pk": {"S": "target#svc-b"}}, ConsistentRead=True)

    def log(cap: Cap) -> list[str]:
        item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"rate#{cap.scope}"}}, ConsistentRead=True)
        return [x["N"] for x in item["Item"]["log"]["L"]]

    assert log(account) == log(key) == [str(int(now.timestamp()))]
    # A lost claim reports its holder, and takes no slot.
    lost = table.claim("svc-a", "inc-3", "a", now, 60, caps=[key])
    assert not lost.won and lost.capped is None and lost.holder is not None
    assert lost.holder.incident_id == "inc-1"
    assert len(log(key)) == 1
    # The window slides: an hour and a second later the account's slot is free again.
    later = now + timedelta(seconds=3601)
    assert table.claim("svc-b", "inc-2", "a", later, 60, caps=[account, key]).won
    assert log(account) == [str(int(later.timestamp()))]


def test_settle_counts_the_outcome_for_the_breaker(table: DynamoGuardrailStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for n, target in enumerate(("t1", "t2")):
        assert table.claim(target, f"inc-{n}", "a", now, 60, caps=[Cap("account#1", 10, 3600, "a")]).won
        table.settle(target, f"inc-{n}", "failed", "boom", now)
    assert table.breaker_failures(now, 3600) == 2
    assert table.claim("t3", "inc-3", "a", now, 60, caps=[Cap("account#1", 10, 3600, "a")]).won
    table.settle("t3", "inc-3", "executed", "done", now)
    assert table.breaker_failures(now, 3600) == 0
    # Settling a claim this incident does not hold changes neither the claim nor the breaker.
    with pytest.raises(RuntimeError, match="no longer held"):
        table.settle("t3", "inc-other", "failed", "boom", now)
    assert table.breaker_failures(now, 3600) == 0


def test_memory_store_caps_and_counts_like_the_table() -> None:
    store = MemoryGuardrailStore()
    now = datetime.now(UTC)
    cap = Cap("account#1", 1, 3600, "account 1")
    assert store.claim("a", "inc-1", "x", now, 60, caps=[cap]).won
    capped = store.claim("b", "inc-2", "x", now, 60, caps=[cap])
    assert capped.capped == cap and not capped.won
    assert store.claim("b", "inc-2", "x", now, 60).won  # no claim was left behind by the capped try
    store.settle("a", "inc-1", "failed", "boom", now)
    assert store.breaker_failures(now, 3600) == 1
    store.settle("b", "inc-2", "executed", "ok", now)
    assert store.breaker_failures(now, 3600) == 0
