"""The credfix pipeline on the local AWS, wired as the synthesized template wires it.

moto's EventBridge routes put_events to SQS by pattern but cannot invoke Lambda code, so a
poller stands in for Lambda's SQS event source mapping: it receives a batch, calls the
real handler with the exact event shape Lambda uses, deletes what succeeded and leaves
the reported batch item failures to come back (and, after maxReceiveCount, to be moved to
the DLQ by the queue's redrive policy, as in AWS).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import boto3

from harness.moto import ACCOUNT, REGION, LocalAws

Handler = Callable[[dict[str, Any], Any], Any]
RULE_NAME = "credfix-credential-failures"
ROTATION_RULE_PREFIX = "credfix-rotation-watch-"
MAX_RECEIVES = 5


@cache
def synthesized_templates(context_json: str = "{}") -> dict[str, dict[str, Any]]:
    """Every stack's template (stack name -> template) for a context given as JSON."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import build_app

    with tempfile.TemporaryDirectory() as out:
        assembly = build_app(json.loads(context_json), outdir=out).synth()
        return {stack.stack_name: stack.template for stack in assembly.stacks}


@cache
def synthesized_rules(context_json: str = "{}") -> dict[str, dict[str, Any]]:
    """The detection rule of every stack (stack name -> rule properties), read from the
    synthesized app for a context given as JSON (cache key)."""
    from infra.detection import ALL_MANAGEMENT_EVENTS

    rules: dict[str, dict[str, Any]] = {}
    for name, template in synthesized_templates(context_json).items():
        found = [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("State") == ALL_MANAGEMENT_EVENTS
        ]
        if len(found) != 1:
            raise RuntimeError(f"{name}: expected one detection rule, found {len(found)}")
        rules[name] = dict(found[0])
    return rules


def synthesized_rotation_patterns(context_json: str = "{}") -> list[dict[str, Any]]:
    """The home stack's rotation-watch rule patterns (default bus), as deployed."""
    from infra.app import HOME_STACK_NAME
    from infra.rotation import ROTATION_RULE_DESCRIPTION

    template = synthesized_templates(context_json)[HOME_STACK_NAME]
    return [
        dict(r["Properties"]["EventPattern"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and r["Properties"].get("Description") == ROTATION_RULE_DESCRIPTION
        and "EventBusName" not in r["Properties"]
    ]


def synthesized_event_pattern(context_json: str = "{}") -> dict[str, Any]:
    """The home stack's detection rule pattern."""
    from infra.app import HOME_STACK_NAME

    return dict(synthesized_rules(context_json)[HOME_STACK_NAME]["EventPattern"])


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context object."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class PollStats:
    invocations: int = 0
    delivered: int = 0
    item_failures: int = 0


class SqsPoller:
    """Lambda's SQS event source mapping, for one queue and one handler."""

    def __init__(
        self, sqs: Any, queue_url: str, handler: Handler, *, function_name: str, batch_size: int
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"
        self.handler = handler
        self.function_name = function_name
        self.batch_size = batch_size
        self.stats = PollStats()

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=360,  # as the template: 6 x the ingest timeout
            )
            got = resp.get("Messages", [])
            if not got:
                break
            messages.extend(got)
        return messages

    def _lambda_record(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {
                k: {
                    "stringValue": v.get("StringValue"),
                    "binaryValue": v.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": v["DataType"],
                }
                for k, v in m.get("MessageAttributes", {}).items()
            },
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def poll_once(self) -> int:
        """One invocation with up to batch_size messages; returns how many were delivered."""
        messages = self._receive()
        if not messages:
            return 0
        self.stats.invocations += 1
        self.stats.delivered += len(messages)
        event = {"Records": [self._lambda_record(m) for m in messages]}
        try:
            response = self.handler(event, LambdaContext(self.function_name)) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}
        self.stats.item_failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for m in messages:  # failed items become visible again at once, to be retried
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
        return len(messages)

    def drain(self, max_invocations: int = 10_000) -> PollStats:
        for _ in range(max_invocations):
            if not self.poll_once():
                break
        return self.stats


@dataclass
class Resources:
    table: str = "credfix-incidents"
    events_queue: str = "credfix-events"
    events_dlq: str = "credfix-events-dlq"
    work_queue: str = "credfix-work"
    work_dlq: str = "credfix-work-dlq"
    bulk_queue: str = "credfix-work-bulk"
    bulk_dlq: str = "credfix-work-bulk-dlq"
    act_queue: str = "credfix-act"
    act_dlq: str = "credfix-act-dlq"
    act_bulk_queue: str = "credfix-act-bulk"
    act_bulk_dlq: str = "credfix-act-bulk-dlq"
    verify_queue: str = "credfix-verify"
    verify_dlq: str = "credfix-verify-dlq"
    rotation_queue: str = "credfix-rotation"
    rotation_dlq: str = "credfix-rotation-dlq"
    topic: str = "credfix-alerts"
    inbox: str = "alerts-inbox"  # an SQS subscriber of the alerts topic, to read what was sent
    kill_switch: str = "/credfix/kill-switch"


class LocalPipeline:
    """Creates credfix's resources on the local AWS and runs its handlers against them."""

    reopen_after = timedelta(hours=1)

    def __init__(
        self, aws: LocalAws, resources: Resources | None = None, session: boto3.session.Session | None = None
    ) -> None:
        self.aws = aws
        self.names = resources or Resources()
        session = session or boto3.session.Session(
            region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.sqs = session.client("sqs", endpoint_url=aws.url)
        self.events = session.client("events", endpoint_url=aws.url)
        self.ddb = session.client("dynamodb", endpoint_url=aws.url)
        self.sns = session.client("sns", endpoint_url=aws.url)
        self.ssm = session.client("ssm", endpoint_url=aws.url)
        self.topic_arn = ""
        self.urls: dict[str, str] = {}
        self.credentials = session.get_credentials()

    def deploy(self) -> LocalPipeline:
        n = self.names
        for dlq, queue in (
            (n.events_dlq, n.events_queue),
            (n.work_dlq, n.work_queue),
            (n.bulk_dlq, n.bulk_queue),
            (n.act_dlq, n.act_queue),
            (n.act_bulk_dlq, n.act_bulk_queue),
            (n.verify_dlq, n.verify_queue),
            (n.rotation_dlq, n.rotation_queue),
        ):
            dlq_url = self.sqs.create_queue(QueueName=dlq)["QueueUrl"]
            dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            self.urls[dlq] = dlq_url
            self.urls[queue] = self.sqs.create_queue(
                QueueName=queue,
                Attributes={
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
                    )
                },
            )["QueueUrl"]
        self.ddb.create_table(
            TableName=self.names.table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.events.put_rule(
            Name=RULE_NAME, EventPattern=json.dumps(synthesized_event_pattern()), State="ENABLED"
        )
        events_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[self.names.events_queue], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "events-queue", "Arn": events_arn}])
        rotation_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[n.rotation_queue], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for i, pattern in enumerate(synthesized_rotation_patterns()):
            rule = f"{ROTATION_RULE_PREFIX}{i}"
            self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
            self.events.put_targets(Rule=rule, Targets=[{"Id": "rotation-queue", "Arn": rotation_arn}])
        self.topic_arn = self.sns.create_topic(Name=n.topic)["TopicArn"]
        self.urls[n.inbox] = self.sqs.create_queue(QueueName=n.inbox)["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.urls[n.inbox], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=inbox_arn)
        self.ssm.put_parameter(Name=n.kill_switch, Value="off", Type="String", Overwrite=True)
        return self

    def deploy_forwarders(self, context: dict[str, Any]) -> list[str]:
        """The forwarder rules of the synthesized app (`credfix-forwarder-<region>`), each in its
        region, targeting the home region's default bus as in the template. Returns the regions."""
        rules = synthesized_rules(json.dumps(context, sort_keys=True))
        regions = []
        for stack_name, rule in rules.items():
            if not stack_name.startswith("credfix-forwarder-"):
                continue
            region = stack_name.removeprefix("credfix-forwarder-")
            events = boto3.session.Session(
                region_name=region,
                aws_access_key_id=self.credentials.access_key,
                aws_secret_access_key=self.credentials.secret_key,
            ).client("events", endpoint_url=self.aws.url)
            events.put_rule(Name=RULE_NAME, EventPattern=json.dumps(rule["EventPattern"]), State="ENABLED")
            home_bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
            events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "home-bus", "Arn": home_bus}])
            regions.append(region)
        return regions

    def environ(self) -> dict[str, str]:
        """The Lambdas' environment, as the stack sets it."""
        return {
            **self.aws.environ(),
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "CREDFIX_TABLE": self.names.table,
            "CREDFIX_WORK_QUEUE_URL": self.urls[self.names.work_queue],
            "CREDFIX_BULK_QUEUE_URL": self.urls[self.names.bulk_queue],
            "CREDFIX_ACT_QUEUE_URL": self.urls[self.names.act_queue],
            "CREDFIX_ACT_BULK_QUEUE_URL": self.urls[self.names.act_bulk_queue],
            "CREDFIX_VERIFY_QUEUE_URL": self.urls[self.names.verify_queue],
            "CREDFIX_EVENTS_DLQ_URL": self.urls[self.names.events_dlq],
            "CREDFIX_ROTATION_DLQ_URL": self.urls[self.names.rotation_dlq],
            "CREDFIX_TOPIC_ARN": self.topic_arn,
            "CREDFIX_KILL_SWITCH_PARAMETER": self.names.kill_switch,
            "POWERTOOLS_METRICS_NAMESPACE": "credfix",
        }

    def put_events(self, events: list[dict[str, Any]], region: str = REGION) -> None:
        """Deliver EventBridge events to a region's default bus, as CloudTrail does."""
        client = (
            self.events
            if region == REGION
            else boto3.session.Session(
                region_name=region,
                aws_access_key_id=self.credentials.access_key,
                aws_secret_access_key=self.credentials.secret_key,
            ).client("events", endpoint_url=self.aws.url)
        )
        for start in range(0, len(events), 10):
            entries = [
                {
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Detail": json.dumps(e["detail"]),
                    "Resources": e.get("resources", []),
                }
                for e in events[start : start + 10]
            ]
            resp = client.put_events(Entries=entries)
            if resp.get("FailedEntryCount"):
                raise RuntimeError(f"put_events failed: {resp}")

    def send_raw(self, bodies: list[str]) -> None:
        """Messages straight onto the events queue: for input EventBridge would never route."""
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.urls[self.names.events_queue], MessageBody=body)

    def queue_messages(self, name: str) -> list[dict[str, Any]]:
        """Read (and delete) everything in a queue, with attributes."""
        url = self.urls[name]
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
            )

    def ingest_poller(self, handler: Handler, batch_size: int = 1000) -> SqsPoller:
        return SqsPoller(
            self.sqs,
            self.urls[self.names.events_queue],
            handler,
            function_name="credfix-ingest",
            batch_size=batch_size,
        )

    def poller(self, queue: str, handler: Handler, *, function_name: str, batch_size: int = 10) -> SqsPoller:
        return SqsPoller(
            self.sqs, self.urls[queue], handler, function_name=function_name, batch_size=batch_size
        )

    def delayed(self, queue: str) -> int:
        """Messages not yet visible (SQS DelaySeconds): the verify step waits for these."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[queue], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessagesDelayed", 0))
