"""The synthesized home stack: what gets deployed is what these tests read."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import assertions

from credfix.models.cloudtrail import CREDENTIAL_ERRORS
from credfix.registry import policy_for
from infra.app import build_app
from infra.detection import ALL_MANAGEMENT_EVENTS
from infra.rotation import ROTATION_RULE_DESCRIPTION, rotation_patterns
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra

# What every function's role holds besides its code's declarations, and why.
RUNTIME_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",  # its own log group
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",  # active tracing
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",  # credfix's own key
    # the event source mapping polls the function's queue with the function's role
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}
IAM_WRITES = (
    "iam:Create",
    "iam:Delete",
    "iam:Attach",
    "iam:Detach",
    "iam:Put",
    "iam:Update",
    "iam:Add",
    "iam:Remove",
    "iam:Pass",
    "iam:Tag",
    "iam:Untag",
    "iam:Upload",
    "iam:Set",
)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def role_actions(template: dict[str, Any], role: str) -> set[str]:
    policies = resources(template, "AWS::IAM::Policy")
    (policy,) = [p for lid, p in policies.items() if lid.startswith(f"Functions{role.title()}Role")]
    return {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _actions(s)}


def test_detection_rule_pattern_and_state(home_template: assertions.Template) -> None:
    rules = resources(home_template, "AWS::Events::Rule")
    # the detection rule, the sweep's schedule, the rotation watch's rules
    assert len(rules) == 2 + len(rotation_patterns())
    (props,) = [
        r["Properties"] for r in rules.values() if r["Properties"].get("State") == ALL_MANAGEMENT_EVENTS
    ]
    assert props["State"] == ALL_MANAGEMENT_EVENTS
    assert props["EventPattern"] == {
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"errorCode": list(CREDENTIAL_ERRORS)},
    }
    assert "EventBusName" not in props  # the default bus, where CloudTrail delivers
    target = props["Targets"][0]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 10


def test_rotation_rules_route_secrets_manager_events_to_the_rotation_queue(
    home_template: assertions.Template,
) -> None:
    rules = [
        r["Properties"]
        for r in resources(home_template, "AWS::Events::Rule").values()
        if r["Properties"].get("Description") == ROTATION_RULE_DESCRIPTION
    ]
    assert sorted(json_of(r["EventPattern"]) for r in rules) == sorted(
        json_of(p) for p in rotation_patterns().values()
    )
    for rule in rules:
        assert rule["State"] == "ENABLED"  # write and service events need no more
        assert "EventBusName" not in rule
        (target,) = rule["Targets"]
        assert "RotationQueue" in json_of(target["Arn"]) and "DeadLetterConfig" in target
    home_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def json_of(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def test_expired_token_is_opt_in_through_context() -> None:
    with tempfile.TemporaryDirectory() as out:
        assembly = build_app({"include_expired_token": True}, outdir=out).synth()
        template = assembly.get_stack_by_name("credfix-home").template
    rule = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    assert "ExpiredToken" in rule["Properties"]["EventPattern"]["detail"]["errorCode"]


def test_every_queue_is_kms_encrypted_tls_only_and_redriven(home_template: assertions.Template) -> None:
    queues = resources(home_template, "AWS::SQS::Queue")
    assert (
        len(queues) == 14
    )  # events, work, bulk (triage's second lane), act, act bulk, verify, rotation + DLQs
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert "KmsMasterKeyId" in props, logical_id
        if "Dlq" in logical_id:
            assert props["MessageRetentionPeriod"] == 14 * 86400
        else:
            assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    policies = resources(home_template, "AWS::SQS::QueuePolicy")
    denies = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 14


def test_topics_are_encrypted_and_tls_only(home_template: assertions.Template) -> None:
    topics = resources(home_template, "AWS::SNS::Topic")
    assert len(topics) == 2  # alerts, operations
    assert all("KmsMasterKeyId" in t["Properties"] for t in topics.values())
    policies = resources(home_template, "AWS::SNS::TopicPolicy")
    denies = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 2


def test_ingest_reads_large_batches_with_partial_failures(home_template: assertions.Template) -> None:
    home_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    mappings = resources(home_template, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 7  # one per step, and the bulk lanes of triage and act
    assert all(
        m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values()
    )
    queue = next(
        q for lid, q in resources(home_template, "AWS::SQS::Queue").items() if lid.startswith("EventsQueue")
    )
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * 60  # 6x the ingest timeout, as AWS advises


def test_incidents_table_settings(home_template: assertions.Template) -> None:
    tables = resources(home_template, "AWS::DynamoDB::GlobalTable")
    assert len(tables) == 1
    (table,) = tables.values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    replica = props["Replicas"][0]
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert "KMSMasterKeyId" in replica["SSESpecification"]
    assert table["DeletionPolicy"] == "Retain"


def test_lambda_runtime_is_the_newest_python(home_template: assertions.Template) -> None:
    fns = resources(home_template, "AWS::Lambda::Function")
    assert len(fns) == 6
    assert {f["Properties"]["Runtime"] for f in fns.values()} == {"python3.14"}
    assert {f["Properties"]["Architectures"][0] for f in fns.values()} == {"arm64"}
    assert {f["Properties"]["Handler"] for f in fns.values()} == {
        f"credfix.handlers.{r}.handler" for r in ("ingest", "triage", "act", "verify", "sweep", "rotation")
    }
    # credfix's own functions opt out of remediation
    for fn in fns.values():
        assert {"Key": "credfix:remediate", "Value": "false"} in fn["Properties"]["Tags"]


@pytest.mark.parametrize("role", ["ingest", "triage", "act", "verify", "sweep", "rotation"])
def test_each_policy_is_exactly_what_the_code_declares(
    single_account_templates: dict[str, Any], role: str
) -> None:
    granted = role_actions(single_account_templates["credfix-home"], role)
    # Kinds this configuration deploys without a permission (no ssm_command: no SSM command).
    unused = {"member-roles", "ssm-command-document", "ssm-command-instances"}
    declared = {a for kind, actions in policy_for(role).items() if kind not in unused for a in actions}
    # The sweep runs on a schedule: no event source mapping polls a queue with its role.
    runtime = {a for a in RUNTIME_ACTIONS if role != "sweep" or not a.startswith("sqs:")}
    assert granted == declared | runtime
    assert not any(a.startswith(IAM_WRITES) for a in granted)
    assert not any("*" in a for a in granted)
    assert "sts:AssumeRole" not in granted  # single account: nothing to assume


def test_only_act_may_change_workloads(single_account_templates: dict[str, Any]) -> None:
    writes = (
        "ecs:UpdateService",
        "ecs:StopTask",
        "lambda:UpdateFunctionConfiguration",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "ssm:SendCommand",
        "secretsmanager:RotateSecret",
    )
    for role in ("ingest", "triage", "verify", "sweep", "rotation"):
        assert not role_actions(single_account_templates["credfix-home"], role) & set(writes), role


def test_watched_secrets_are_read_only_under_the_watch_tag(single_account_templates: dict[str, Any]) -> None:
    policies = resources(single_account_templates["credfix-home"], "AWS::IAM::Policy")
    (triage,) = [p for lid, p in policies.items() if lid.startswith("FunctionsTriageRole")]
    secret_reads = [
        s
        for s in triage["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in _actions(s)
    ]
    assert secret_reads, "triage reads watched secrets"
    for statement in secret_reads:
        assert statement["Condition"] == {
            "StringEquals": {"secretsmanager:ResourceTag/credfix:watch": "true"}
        }


def test_act_writes_exclude_opted_out_resources(single_account_templates: dict[str, Any]) -> None:
    policies = resources(single_account_templates["credfix-home"], "AWS::IAM::Policy")
    (act,) = [p for lid, p in policies.items() if lid.startswith("FunctionsActRole")]
    for statement in act["Properties"]["PolicyDocument"]["Statement"]:
        if {"ecs:UpdateService", "ecs:StopTask", "autoscaling:TerminateInstanceInAutoScalingGroup"} & set(
            _actions(statement)
        ):
            assert statement["Condition"] == {
                "StringNotEquals": {"aws:ResourceTag/credfix:remediate": "false"}
            }


def test_lambda_environment_only_names_settings_the_code_reads(home_template: assertions.Template) -> None:
    from credfix.config import Settings

    known = {f.alias for f in Settings.model_fields.values()}
    for fn in resources(home_template, "AWS::Lambda::Function").values():
        names = set(fn["Properties"]["Environment"]["Variables"])
        assert {n for n in names if n.startswith("CREDFIX_")} <= known
        assert fn["Properties"]["Environment"]["Variables"]["CREDFIX_MODE"] == "observe"  # safe default


def test_alarms_and_dashboard(home_template: assertions.Template) -> None:
    alarms = resources(home_template, "AWS::CloudWatch::Alarm")
    names = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
        "VerificationEscalated",
        "BreakerOpen",
    } <= names
    # DLQs, errors+throttles per function, escalations, breaker, an incident stuck open
    assert len(alarms) == 7 + 6 * 2 + 2 + 1
    (stuck,) = [
        a for a in alarms.values() if a["Properties"].get("MetricName") == "OldestOpenIncidentAgeSeconds"
    ]
    assert stuck["Properties"]["Threshold"] == 120 * 60 and stuck["Properties"]["Statistic"] == "Maximum"
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    dashboards = resources(home_template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = str(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    for title in ("Incidents by verdict", "Actions by status", "Verification outcomes"):
        assert title in body


def test_kill_switch_parameter_defaults_off(home_template: assertions.Template) -> None:
    home_template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/credfix/kill-switch", "Value": "off"}
    )


def test_nag_is_live_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    from aws_cdk import aws_sqs as sqs

    app = build_app(outdir=str(tmp_path))
    stack = app.node.find_child("credfix-home")
    sqs.Queue(stack, "PlainQueue", encryption=sqs.QueueEncryption.UNENCRYPTED)  # AwsSolutions-SQS2/SQS3/SQS4
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
