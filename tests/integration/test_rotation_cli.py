"""`credfix rotation-check` (every exit code) and `credfix sweep` on the local AWS, run as an
operator runs them: the standard AWS environment, the CLI's own clients."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from credfix.cli import main
from harness import account as build
from harness.cloudtrail import LocalCloudTrail
from harness.moto import ACCOUNT, REGION, LocalAws
from tests.integration.test_rotation import Account

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], secret: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, "rotation-check", "--secret", secret, "--json", *extra)
    return code, (json.loads(out) if out.strip() else {}), err


def test_in_use_then_safe_after_the_consumer_restarts(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn)
    )
    rotated = account.rotate()

    code, doc, _ = check(capsys, rotated.name)
    assert code == 3
    assert doc["schema"] == "credfix.rotation-check/v1" and doc["safe_to_deactivate"] is False
    (consumer,) = doc["consumers"]
    assert (consumer["type"], consumer["state"], consumer["found_by"]) == (
        "ecs-service",
        "previous",
        "ecs-task-definition",
    )
    assert doc["previous"]["old_key_ids"] == [rotated.old_key["AccessKeyId"]]
    assert any("still runs the previous version" in r for r in doc["reasons"])

    boto3.client("ecs").update_service(cluster="prod", service="orders-api", forceNewDeployment=True)
    code, doc, _ = check(capsys, rotated.arn)  # by ARN this time
    assert code == 0, doc["reasons"]
    assert doc["safe_to_deactivate"] is True and doc["consumers"][0]["on_awscurrent"] is True

    code, out, _ = run(capsys, "rotation-check", "--secret", rotated.name, "--format", "text")
    assert code == 0 and "SAFE to deactivate" in out


def test_recent_use_of_the_old_key_is_still_in_use_and_names_who(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    account = Account()
    net = build.network()
    endpoint = build.sts_endpoint(net)
    runner = build.runner_group(net, "ci-runners", {"credfix:workload": "ci-runner"})
    rotated = account.rotate()
    client = boto3.client(
        "sts",
        aws_access_key_id=rotated.old_key["AccessKeyId"],
        aws_secret_access_key=rotated.old_key["SecretAccessKey"],
    )
    LocalCloudTrail(source_ip=runner["PrivateIpAddress"], vpc_endpoint_id=endpoint).watch(
        client
    ).get_caller_identity()

    code, doc, _ = check(capsys, rotated.name)
    assert code == 3
    (old,) = doc["old_keys"]
    assert old["used_since_rotation"] is True
    assert [(u["call"], u["source_ip"], u["succeeded"]) for u in old["uses"]] == [
        ("sts:GetCallerIdentity", runner["PrivateIpAddress"], True)
    ]
    runner_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{runner['InstanceId']}"
    assert doc["used_by"] == [{"type": "ec2-instance", "id": runner_arn, "confidence": "high"}]
    assert any("was used 1 time(s) in the last 15 min" in r for r in doc["reasons"])
    # The same use, older than the quiet period asked for, no longer blocks.
    code, doc, _ = check(capsys, rotated.name, "--quiet-minutes", "0")
    assert code == 0, doc["reasons"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "no secret 'prod/nothing-here'"),
        ("unwatched", "is not a watched secret"),
        ("never-rotated", "has no AWSPREVIOUS version"),
    ],
)
def test_bad_input_exits_2(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    if case == "unknown":
        secret = "prod/nothing-here"
    elif case == "unwatched":
        secret = Account("prod/unwatched", watched=False).rotate().name
    else:
        secret = Account("prod/fresh").name
    code, doc, err = check(capsys, secret)
    assert (code, doc) == (2, {})
    assert message in err


def test_aws_failure_exits_1(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, doc, err = check(capsys, "prod/orders-api/aws")
    assert (code, doc) == (1, {})
    assert err.startswith("credfix rotation-check: AWS:")


def test_sweep_observes_then_enforces(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    account = Account()
    net = build.network()
    build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=account.arn)
    )
    ecs = boto3.client("ecs")
    before = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]["deployments"][0][
        "id"
    ]
    rotated = account.rotate()

    code, out, _ = run(capsys, "sweep", "--secret", rotated.name)
    assert code == 0
    report = json.loads(out)
    assert report["schema"] == "credfix.report/v1"
    (incident,) = report["incidents"]
    assert incident["verdict"] == "rotation-drift"
    assert [(a["type"], a["status"]) for a in incident["actions"]] == [
        ("ecs-force-new-deployment", "planned")
    ]
    now = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]["deployments"][0][
        "id"
    ]
    assert now == before  # observe: nothing changed

    code, out, _ = run(capsys, "sweep", "--secret", rotated.name, "--mode", "enforce")
    assert code == 0
    (incident,) = json.loads(out)["incidents"]
    assert [(a["type"], a["status"]) for a in incident["actions"]] == [
        ("ecs-force-new-deployment", "executed")
    ]

    code, out, err = run(capsys, "sweep", "--secret", rotated.name, "--mode", "enforce")
    assert (code, json.loads(out)["incidents"]) == (0, [])  # the tasks were replaced: no drift left
    assert "no drift" in err


def test_sweep_bad_input_exits_2(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sweep", "--secret", "prod/nothing-here")
    assert (code, out) == (2, "")
    assert "no secret" in err
