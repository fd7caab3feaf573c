"""Issue 20, chat: with a chat topic deployed (CREDFIX_CHAT_TOPIC_ARN, as the stack sets it
when `chat` is configured), the act step's alert goes to the alerts topic as before and, as
an Amazon Q Developer custom notification, to the chat topic. The seam runs as data flows:
record on the bus -> ingest -> triage -> act -> both topics -> their SQS subscribers."""

from __future__ import annotations

import json

import boto3
import pytest

from harness.pipeline import LocalPipeline
from tests.integration.test_seams import failures, run_credfix
from tests.unit.test_chat import valid

pytestmark = pytest.mark.integration
KEY = "AKIAY34FZKBOKMUTVV7A"  # no owner in this account: unknown-key, alert only


def test_the_act_alert_also_goes_to_chat_as_a_custom_notification(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    chat_topic = sns.create_topic(Name="credfix-chat")["TopicArn"]
    inbox = sqs.create_queue(QueueName="chat-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=chat_topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )

    out = run_credfix(
        pipeline,
        monkeypatch,
        failures(KEY, "203.0.113.9", None, "aws-cli/2.17.5"),
        CREDFIX_CHAT_TOPIC_ARN=chat_topic,
        CREDFIX_DOCS_BASE_URL="https://wiki.example.com/credfix/verdicts",
    )

    assert json.loads(out.alert["Message"])["schema"] == "credfix.alert/v1"  # the alerts topic, unchanged
    (message,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    notification = json.loads(message["Body"])  # raw delivery: the body is the SNS message
    valid(notification)
    assert notification["metadata"]["threadId"] == f"credfix-{out.incident.incident_id}"
    assert notification["metadata"]["eventType"] == "credfix.remediated"
    assert (
        f"https://wiki.example.com/credfix/verdicts/{out.incident.verdict}.md"
        in (notification["content"]["description"])
    )
    assert "someone outside" in notification["content"]["description"]  # the outsider headline


def test_a_chat_topic_that_fails_does_not_fail_the_alert(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts topic is the record: a chat publish that fails (here: a topic that does not
    exist) is logged and counted, and the act step goes on (no retry would re-send e-mail)."""
    out = run_credfix(
        pipeline,
        monkeypatch,
        failures(KEY, "203.0.113.9", None, "aws-cli/2.17.5"),
        CREDFIX_CHAT_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:no-such-topic",
    )
    assert json.loads(out.alert["Message"])["kind"] == "remediated"
