"""Alerts through SNS on the local AWS: filter policies on the message attributes, the
machine document for SQS subscribers (MessageStructure=json, the "sqs" key), raw and
enveloped delivery.

moto honours MessageStructure=json by picking the subscription's protocol key, else
"default" (moto/sns/models.py Subscription._parse_message_structure), and applies filter
policies on message attributes (FilterPolicyMatcher) before delivery.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from credfix.adapters.messaging.sns import SnsTopic
from credfix.core.alerts import subject
from credfix.core.alerts.alerter import TopicAlerter
from harness.moto import LocalAws
from tests.unit.test_alerts import sample

pytestmark = pytest.mark.integration


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not got:
            return out
        out.extend(got)
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def topic(aws_env: LocalAws) -> tuple[Any, Any, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = sns.create_topic(Name="credfix-alerts")["TopicArn"]
    return sns, sqs, arn


def test_filter_policy_on_verdict_delivers_only_matching_alerts(topic: tuple[Any, Any, str]) -> None:
    sns, sqs, topic_arn = topic
    source_url, source_arn = _queue(sqs, "wrong-source-team")
    all_url, all_arn = _queue(sqs, "everything")
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=source_arn,
        Attributes={
            "FilterPolicy": json.dumps({"verdict": ["wrong-credential-source", "foreign-account"]}),
            "RawMessageDelivery": "true",
        },
    )
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=all_arn)  # no filter, SNS envelope

    alerter = TopicAlerter(SnsTopic(sns, topic_arn).publish)
    published = {}
    for verdict in ("stale-consumer", "wrong-credential-source", "foreign-account", "unknown-key"):
        incident, _ = sample(verdict)
        alerter.incident_diagnosed(incident)
        published[verdict] = incident

    matching = _drain(sqs, source_url)
    bodies = [json.loads(m["Body"]) for m in matching]
    assert sorted(b["incident"]["verdict"] for b in bodies) == ["foreign-account", "wrong-credential-source"]
    for message, body in zip(matching, bodies, strict=True):
        incident = published[body["incident"]["verdict"]]
        # Raw delivery: the SQS body is the "sqs" text itself, the attributes become SQS attributes.
        assert body == {"schema": "credfix.alert/v1", "kind": "diagnosed", "incident": incident.document()}
        attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attrs["verdict"] == incident.verdict
        assert attrs["severity"] == incident.severity
        assert attrs["account"] == "123456789012"
        assert attrs["action_status"] in {"none", "skipped"}
        assert attrs["kind"] == "diagnosed"

    everything = [json.loads(m["Body"]) for m in _drain(sqs, all_url)]
    assert len(everything) == 4
    for envelope in everything:
        assert envelope["Type"] == "Notification"
        inner = json.loads(envelope["Message"])  # the "sqs" key, not the e-mail text
        incident = published[inner["incident"]["verdict"]]
        assert envelope["Subject"] == subject(incident)
        assert envelope["MessageAttributes"]["verdict"] == {"Type": "String", "Value": incident.verdict}


def test_filter_on_escalations_and_action_status(topic: tuple[Any, Any, str]) -> None:
    sns, sqs, topic_arn = topic
    url, arn = _queue(sqs, "on-call")
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "FilterPolicy": json.dumps({"kind": ["escalated"], "action_status": ["executed", "failed"]}),
            "RawMessageDelivery": "true",
        },
    )
    alerter = TopicAlerter(SnsTopic(sns, topic_arn).publish)
    escalated, _ = sample("stale-secret")
    resolved, _ = sample("temporary-credentials")
    alerter.incident_remediated(escalated)
    alerter.incident_resolved(resolved)
    alerter.incident_escalated(escalated)

    got = _drain(sqs, url)
    assert len(got) == 1
    assert json.loads(got[0]["Body"])["kind"] == "escalated"
    assert got[0]["MessageAttributes"]["action_status"]["StringValue"] == "executed"


def test_oversized_incident_is_still_accepted_and_delivered(topic: tuple[Any, Any, str]) -> None:
    """20 sources with 40 KB user agents: the document alone exceeds SNS's 256 KB; the
    publish is accepted (moto enforces the size and subject limits) and carries the
    shrunk document, marked truncated."""
    from credfix.models.incident import Source

    sns, sqs, topic_arn = topic
    url, arn = _queue(sqs, "machines")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    incident, _ = sample("stale-consumer")
    sources = [Source(ip=f"10.0.{i}.1", user_agent="x" * 40_000, count=1) for i in range(20)]
    big = incident.model_copy(update={"sources": sources})
    TopicAlerter(SnsTopic(sns, topic_arn).publish).incident_remediated(big)
    (message,) = _drain(sqs, url)
    body = json.loads(message["Body"])
    assert body["truncated"] is True
    assert body["incident"]["incident_id"] == incident.incident_id
    assert len(body["incident"]["sources"]) <= 20


def test_alerter_refuses_a_topic_that_is_not_an_arn() -> None:
    with pytest.raises(ValueError, match="alerts topic must be an SNS topic ARN"):
        SnsTopic(object(), "")
