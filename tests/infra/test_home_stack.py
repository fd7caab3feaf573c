"""The synthesized home stack: what gets deployed is what these tests read."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from aws_cdk import assertions

from credfix.models.cloudtrail import CREDENTIAL_ERRORS
from credfix.permissions import policy_for
from infra.app import build_app
from infra.detection import ALL_MANAGEMENT_EVENTS
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra


def test_detection_rule_pattern_and_state(home_template: assertions.Template) -> None:
    rules = resources(home_template, "AWS::Events::Rule")
    assert len(rules) == 1
    props = next(iter(rules.values()))["Properties"]
    assert props["State"] == ALL_MANAGEMENT_EVENTS
    assert props["EventPattern"] == {
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"errorCode": list(CREDENTIAL_ERRORS)},
    }
    assert "EventBusName" not in props  # the default bus, where CloudTrail delivers
    target = props["Targets"][0]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 10


def test_expired_token_is_opt_in_through_context() -> None:
    with tempfile.TemporaryDirectory() as out:
        assembly = build_app({"include_expired_token": True}, outdir=out).synth()
        template = assembly.get_stack_by_name("credfix-home").template
    rule = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    assert "ExpiredToken" in rule["Properties"]["EventPattern"]["detail"]["errorCode"]


def test_every_queue_is_kms_encrypted_tls_only_and_redriven(home_template: assertions.Template) -> None:
    queues = resources(home_template, "AWS::SQS::Queue")
    assert len(queues) == 4
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert "KmsMasterKeyId" in props, logical_id
        if "Dlq" not in logical_id:
            assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    policies = resources(home_template, "AWS::SQS::QueuePolicy")
    denies = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 4


def test_ingest_reads_large_batches_with_partial_failures(home_template: assertions.Template) -> None:
    home_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
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
    assert {f["Properties"]["Runtime"] for f in fns.values()} == {"python3.14"}
    assert {f["Properties"]["Architectures"][0] for f in fns.values()} == {"arm64"}


def test_ingest_policy_is_exactly_what_the_code_declares(home_template: assertions.Template) -> None:
    policies = resources(home_template, "AWS::IAM::Policy")
    ingest = next(p for lid, p in policies.items() if "Ingest" in lid)
    statements = ingest["Properties"]["PolicyDocument"]["Statement"]
    granted = set()
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        granted.update(actions)
    declared = {a for actions in policy_for("ingest").values() for a in actions}
    runtime = {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        # the event source mapping polls the events queue with the function's role
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert granted == declared | runtime
    assert not any(a.startswith("iam:") for a in granted)
    assert not any(a.endswith("*") for a in granted)


def test_lambda_environment_only_names_settings_the_code_reads(home_template: assertions.Template) -> None:
    from credfix.config import Settings

    known = {f.alias for f in Settings.model_fields.values()}
    for fn in resources(home_template, "AWS::Lambda::Function").values():
        names = set(fn["Properties"]["Environment"]["Variables"])
        assert {n for n in names if n.startswith("CREDFIX_")} <= known


def test_cdk_json_app_synthesizes_without_nag_findings(tmp_path: Path) -> None:
    """cdk-nag runs as a validation plugin: any unacknowledged finding fails synth."""
    app = build_app(outdir=str(tmp_path))
    app.synth()
    report = tmp_path / "validation-report.json"
    if report.exists():
        violations = [v for r in json.loads(report.read_text())["pluginReports"] for v in r["violations"]]
        assert violations == []


def test_nag_is_live_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    from aws_cdk import aws_sqs as sqs

    app = build_app(outdir=str(tmp_path))
    stack = app.node.find_child("credfix-home")
    sqs.Queue(stack, "PlainQueue", encryption=sqs.QueueEncryption.UNENCRYPTED)  # AwsSolutions-SQS2/SQS3/SQS4
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
