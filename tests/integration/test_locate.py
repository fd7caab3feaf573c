"""Workload location on the local AWS: each locator against account state built with boto3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from credfix.config import Settings
from credfix.core.locate import LocateResult, locate_workloads
from credfix.core.locate.arns import references_secret, role_identity
from credfix.core.locate.source_ip import lambda_name_from_description
from credfix.keys import redact
from credfix.models.incident import Workload
from harness import account as build
from harness.account import FARGATE_UA, KEY, LAMBDA_UA, OTHER_KEY, RUNNER_UA, SECRET_ARN
from harness.moto import ACCOUNT, LocalAws

pytestmark = pytest.mark.integration
SETTINGS = Settings()


def by_type(result: LocateResult, kind: str) -> list[Workload]:
    return [w for w in result.workloads if w.type == kind]


def findings_text(result: LocateResult) -> str:
    return "\n".join(f"{f.check}: {f.found}" for f in result.findings)


def test_ecs_task_by_private_ip_within_the_call_budget(aws_env: LocalAws) -> None:
    net = build.network()
    build.ecs_service(net, "batch", "worker", build.task_definition("worker"))  # searched first
    task_role = build.role("api-task")
    definition = build.task_definition("api", task_role=task_role, secret_value_from=SECRET_ARN)
    [task] = build.ecs_service(net, "prod", "api", definition)
    log = build.CallLog()

    endpoint = build.sts_endpoint(net)
    result = locate_workloads(
        build.incident((build.private_ip_of(task), FARGATE_UA, endpoint)),
        log.factory,
        SETTINGS,
        secret_arns=[SECRET_ARN],
        rotated_at=None,
        account=ACCOUNT,
    )

    top = result.workloads[0]
    assert (top.type, top.id, top.confidence) == ("ecs-task", task["taskArn"], "high")
    assert top.parent == f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/api"
    assert top.cluster == task["clusterArn"]
    assert {(c.kind, c.ref) for c in top.credentials} == {("role", task_role), ("secret", SECRET_ARN)}
    assert (
        "user agent (exec-env/AWS_ECS_FARGATE, aws-sdk-java/2.25.60) fits workload type ecs-task"
        in top.evidence
    )
    assert "skipped: every source IP led directly to a workload" in findings_text(result)
    [attributed] = result.attribution
    assert (attributed.scope, attributed.holders, attributed.vpc_id) == (
        "workload",
        [task["taskArn"]],
        net.vpc,
    )
    # The endpoint (the account's?), then the ENI lookup in its VPC; ECS has no lookup by ENI,
    # so running tasks are listed and described cluster by cluster until the ENI turns up (2
    # calls per cluster searched); then the task definition, for the configured credentials.
    # No service, function or profile scan.
    assert log.calls == [
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeNetworkInterfaces",
        "ecs:ListClusters",
        "ecs:ListTasks",
        "ecs:DescribeTasks",  # cluster "batch": not there
        "ecs:ListTasks",
        "ecs:DescribeTasks",  # cluster "prod": found, search stops
        "ecs:DescribeTaskDefinition",
    ]


def test_secret_consumer_found_without_an_ip_match(aws_env: LocalAws) -> None:
    net = build.network()
    # Partial ARN (no random suffix) with a JSON-key tail, as ECS accepts it.
    partial = SECRET_ARN.removesuffix("-AbCdEf") + ":aws_access_key_id::"
    consumer = build.task_definition("api", secret_value_from=partial)
    other = build.task_definition(
        "billing", secret_value_from=f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:billing/creds-QwErTy"
    )
    [task] = build.ecs_service(net, "prod", "api", consumer)
    build.ecs_service(net, "prod", "billing", other)
    rotated_at = datetime.now(UTC)  # after the task started: it holds the previous version

    result = locate_workloads(
        build.incident(("10.200.0.9", FARGATE_UA)),  # no interface holds this IP
        build.clients,
        SETTINGS,
        secret_arns=[SECRET_ARN],
        rotated_at=rotated_at,
    )

    services = by_type(result, "ecs-service")
    assert [s.id for s in services] == [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/api"]
    assert services[0].confidence == "medium"
    assert any("reads watched secret" in e for e in services[0].evidence)
    [stale] = by_type(result, "ecs-task")
    assert stale.id == task["taskArn"] and stale.parent == services[0].id
    assert stale.confidence == "medium"
    assert not any("start time unknown" in e for e in stale.evidence)  # not evidence (issue 20)
    assert any("before the rotation" in e for e in stale.evidence)  # startedAt, as AWS reports it
    assert all(w.confidence != "high" for w in result.workloads)


def test_static_key_in_a_task_definition(aws_env: LocalAws) -> None:
    net = build.network()
    build.ecs_service(net, "prod", "legacy", build.task_definition("legacy", static_key=KEY))
    build.ecs_service(net, "prod", "reports", build.task_definition("reports", static_key=OTHER_KEY))

    result = locate_workloads(
        build.incident(("AWS Internal", "AWS Internal")),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )

    [legacy] = by_type(result, "ecs-service")
    assert legacy.id.endswith("service/prod/legacy") and legacy.confidence == "high"
    [static] = [c for c in legacy.credentials if c.kind == "static-key"]
    assert (static.ref, static.access_key_id) == (redact(KEY), KEY)
    text = findings_text(result)
    assert f"AWS_ACCESS_KEY_ID={redact(KEY)}" in text and f"AWS_ACCESS_KEY_ID={redact(OTHER_KEY)}" in text
    # Human text carries redacted key IDs only, and no secret value ever leaves the adapter.
    assert KEY not in text and OTHER_KEY not in text
    dumped = json.dumps([w.model_dump(mode="json") for w in result.workloads]) + text
    assert "not-a-real-secret" not in dumped
    assert OTHER_KEY not in dumped  # a different key is named, redacted, but not carried in full


def test_ci_runner_in_an_auto_scaling_group_by_ip_and_tags(aws_env: LocalAws) -> None:
    net = build.network()
    instance = build.runner_group(net, "gh-runners", {"ghr:Application": "github-action-runner"})
    build.runner_group(net, "web", {"team": "web"})

    result = locate_workloads(
        build.incident((instance["PrivateIpAddress"], RUNNER_UA, build.sts_endpoint(net))),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )

    [runner] = result.workloads
    assert runner.type == "ec2-instance" and runner.confidence == "high"
    assert runner.id == f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance['InstanceId']}"
    assert runner.parent == "gh-runners"
    assert "tagged as a CI runner (ghr:Application=github-action-runner)" in runner.evidence


def test_lambda_function_in_a_vpc(aws_env: LocalAws) -> None:
    net = build.network()
    role_arn = build.role("ingest-fn")
    function_arn, ip = build.lambda_in_vpc(net, "ingest-fn", role_arn)
    assert ip is not None
    other_net = build.network("10.1.0.0/16")
    build.lambda_in_vpc(other_net, "elsewhere", role_arn, create_eni=False)

    result = locate_workloads(
        build.incident((ip, LAMBDA_UA, build.sts_endpoint(net))),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )

    [fn] = result.workloads
    assert (fn.type, fn.id, fn.confidence) == ("lambda-function", function_arn, "high")
    assert [(c.kind, c.ref) for c in fn.credentials] == [("role", role_arn)]
    assert "the interface's description names this function" in fn.evidence


def test_lambda_functions_sharing_one_interface_are_not_high(aws_env: LocalAws) -> None:
    net = build.network()
    role_arn = build.role("fn")
    _, ip = build.lambda_in_vpc(net, "first", role_arn)
    build.lambda_in_vpc(net, "second", role_arn, create_eni=False)  # same subnet and group: same ENI in AWS
    assert ip is not None

    result = locate_workloads(
        build.incident((ip, None, build.sts_endpoint(net))),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )

    assert sorted(w.id.rsplit(":", 1)[-1] for w in result.workloads) == ["first", "second"]
    assert {w.confidence for w in result.workloads} == {"medium"}
    assert result.workloads[0].id.endswith(":first")  # named in the description: more evidence


def test_nat_public_ip_narrows_to_its_vpc(aws_env: LocalAws) -> None:
    behind_nat = build.network()
    elsewhere = build.network("10.1.0.0/16")
    nat_id, public_ip = build.nat_gateway(behind_nat)
    definition = build.task_definition("api", secret_value_from=SECRET_ARN)
    build.ecs_service(behind_nat, "prod", "api", definition)
    build.ecs_service(elsewhere, "staging", "api", definition)

    result = locate_workloads(
        build.incident((public_ip, FARGATE_UA)),
        build.clients,
        SETTINGS,
        secret_arns=[SECRET_ARN],
        rotated_at=None,
    )

    [vpc] = by_type(result, "vpc")
    assert vpc.id == f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{behind_nat.vpc}" and vpc.confidence == "low"
    assert f"{nat_id} in {behind_nat.vpc}" in findings_text(result)
    services = {w.id.rsplit("/", 2)[-2]: w for w in by_type(result, "ecs-service")}
    assert services["prod"].confidence == "medium"
    assert services["staging"].confidence == "low"  # another VPC cannot have sent through this NAT
    # The prod service and its task rank above everything in the other VPC and the VPC itself.
    assert {w.cluster for w in result.workloads[:2]} == {services["prod"].cluster}
    assert result.workloads[-1].type == "vpc" or result.workloads[-1].confidence == "low"


def test_temporary_credentials_lead_to_the_role_users(aws_env: LocalAws) -> None:
    net = build.network()
    role_arn = build.role("reporting")
    build.role("unrelated")
    iam = build.clients("iam")
    iam.create_instance_profile(InstanceProfileName="reporting-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="reporting-profile", RoleName="reporting")
    [instance] = build.clients("ec2").run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=net.subnet,
        IamInstanceProfile={"Name": "reporting-profile"},
    )["Instances"]
    build.ecs_service(net, "prod", "reports", build.task_definition("reports", task_role=role_arn))
    build.ecs_service(net, "prod", "other", build.task_definition("other", task_role=build.role("other")))
    function_arn, _ = build.lambda_in_vpc(net, "report-fn", role_arn, create_eni=False)

    result = locate_workloads(
        build.incident(("AWS Internal", "AWS Internal"), key="ASIAY34FZKBOKMUTVV7A"),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
        session_issuer_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/reporting/session-1",
    )

    found = {(w.type, w.id) for w in result.workloads}
    assert found == {
        ("ecs-service", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/reports"),
        ("lambda-function", function_arn),
        ("ec2-instance", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance['InstanceId']}"),
    }
    assert {w.confidence for w in result.workloads} == {"medium"}


def test_temporary_credentials_without_a_session_issuer_say_so(aws_env: LocalAws) -> None:
    result = locate_workloads(
        build.incident(("AWS Internal", None), key="ASIAY34FZKBOKMUTVV7A"),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )
    assert result.workloads == []
    assert "names no session issuer role" in findings_text(result)


def test_a_hit_scan_cap_is_reported(aws_env: LocalAws) -> None:
    net = build.network()
    for name in ("a", "b", "c"):
        build.ecs_service(
            net, f"cluster-{name}", "svc", build.task_definition(name, secret_value_from=SECRET_ARN)
        )
    log = build.CallLog()

    result = locate_workloads(
        build.incident(("AWS Internal", None)),
        log.factory,
        Settings(scan_limit=1),
        secret_arns=[SECRET_ARN],
        rotated_at=None,
    )

    assert "scan cap of 1 hit" in findings_text(result)
    assert len(by_type(result, "ecs-service")) == 1
    assert log.calls.count("ecs:DescribeServices") == 1
    assert log.calls.count("ecs:ListClusters") == 1  # scanned once, shared by both ECS locators


def test_a_task_started_after_the_failures_is_not_high(aws_env: LocalAws) -> None:
    """The IP is looked up now: an instance launched after the last failure holds a reused IP."""
    net = build.network()
    instance = build.runner_group(net, "gh-runners", {"ghr:Application": "github-action-runner"})
    long_ago = datetime.now(UTC) - timedelta(days=2)
    result = locate_workloads(
        build.incident(
            (instance["PrivateIpAddress"], RUNNER_UA, build.sts_endpoint(net)), last_seen=long_ago
        ),
        build.clients,
        SETTINGS,
        secret_arns=[],
        rotated_at=None,
    )
    [runner] = result.workloads
    assert runner.confidence == "low" and any("probably reused" in e for e in runner.evidence)


@pytest.mark.parametrize(
    ("value_from", "matches"),
    [
        (SECRET_ARN, True),
        (SECRET_ARN.removesuffix("-AbCdEf"), True),
        (SECRET_ARN + ":password:AWSCURRENT:", True),
        (SECRET_ARN.removesuffix("-AbCdEf") + ":password::", True),
        (SECRET_ARN.replace("api-creds", "api-creds-v2"), False),
        (SECRET_ARN.replace(ACCOUNT, "210987654321"), False),
        ("app/api-creds", False),  # a plain name is ambiguous with SSM parameters
        (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/api-creds", False),
    ],
)
def test_secret_references(value_from: str, matches: bool) -> None:
    assert references_secret(value_from, SECRET_ARN) is matches


def test_role_identities_and_lambda_interface_names() -> None:
    assert role_identity(f"arn:aws:iam::{ACCOUNT}:role/service/reporting") == (ACCOUNT, "reporting")
    assert role_identity(f"arn:aws:sts::{ACCOUNT}:assumed-role/reporting/i-0abc") == (ACCOUNT, "reporting")
    assert role_identity(f"arn:aws:iam::{ACCOUNT}:user/deploy-bot") is None
    assert (
        lambda_name_from_description("AWS Lambda VPC ENI-my-fn-2e6b0a4c-9f7e-4a8d-b1c2-3d4e5f6a7b8c")
        == "my-fn"
    )
