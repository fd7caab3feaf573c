"""`credfix permissions`: the operator's policy comes from the same declarations as the
Lambdas' policies, so it covers every call the CLI verbs make."""

import json

import pytest

from credfix.cli import main


def _actions(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    assert main(["permissions", *args]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["Version"] == "2012-10-17"
    return {a for s in document["Statement"] for a in s["Action"]}


def test_cli_role_covers_diagnose_doctor_and_preflight(capsys: pytest.CaptureFixture[str]) -> None:
    actions = _actions(capsys)
    # triage's reads (lifecycle, watched secrets) and the locators' (ENIs, ECS), as diagnose runs them
    assert {
        "iam:GetAccessKeyLastUsed",
        "iam:ListAccessKeys",
        "secretsmanager:GetSecretValue",
        "sts:GetAccessKeyInfo",
        "ec2:DescribeNetworkInterfaces",
        "ecs:DescribeTasks",
        "cloudtrail:DescribeTrails",
        "sts:GetCallerIdentity",
    } <= actions
    # nothing that changes a workload or IAM: those belong to the act role
    assert not {a for a in actions if a.startswith("iam:") and not a.startswith(("iam:Get", "iam:List"))}
    assert not actions & {
        "ecs:UpdateService",
        "ecs:StopTask",
        "lambda:UpdateFunctionConfiguration",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "secretsmanager:RotateSecret",
    }


def test_act_role_is_the_one_that_may_restart(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"ecs:UpdateService", "autoscaling:TerminateInstanceInAutoScalingGroup"} <= _actions(
        capsys, "--role", "act"
    )


def test_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["permissions", "--role", "root"]) == 2
