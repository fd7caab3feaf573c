"""The runtime-log signal on the local AWS, the way data flows: a workload's runtime writes its
SDK's error line into its log group (CloudWatch Logs on the local AWS); the account policy the
synthesized app deploys (its filter pattern and exclusions) delivers the matching lines to the
intake as Lambda receives them (harness/logs.py); the intake counts them (ingest's counting);
triage reads the workload's configured credentials; act restarts and alerts.

The lines are real ones (tests/sdk_lines.py names the report each comes from). No CloudTrail
record is involved unless a test says so."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
from credfix.core.logs import RELAY_DETAIL_TYPE, RELAY_SOURCE, relayed_events
from credfix.keys import workload_subject
from credfix.models.incident import Incident
from credfix.models.logs import workload_of
from harness import account as build
from harness.logs import LocalLogDelivery, awslogs, control_message, payload, synthesized_log_policies
from harness.moto import ACCOUNT, REGION
from harness.pipeline import LambdaContext, LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.integration.test_seams import (
    deactivate,
    delete,
    key_value,
    primary_deployment,
    user_keys,
    watched_secret,
)
from tests.sdk_lines import MASKED_KEY_LINE, S3_BODY_WITH_KEY, SDK_LINES

pytestmark = pytest.mark.integration
CONTEXT = LambdaContext("credfix-logs")
LOG_SIGNAL = {"log_signal": {"enabled": True, "exclude_log_groups": ["/aws/lambda/noisy-debug"]}}
TASK_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def flow(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    monkeypatch.setenv("CREDFIX_MODE", "enforce")
    yield Flow(pipeline)


@dataclass
class Flow:
    pipeline: LocalPipeline

    def __post_init__(self) -> None:
        self.logs = load_handler("logs")
        policy = synthesized_log_policies(json.dumps(LOG_SIGNAL, sort_keys=True))["credfix-home"]
        self.failed: list[tuple[dict[str, Any], str]] = []
        self.delivery = LocalLogDelivery(
            self.logs.handler,
            policy,
            endpoint_url=self.pipeline.aws.url,
            on_failure=lambda event, error: self.failed.append((event, error)),
        )
        self.store = IncidentStore(
            self.pipeline.ddb, self.pipeline.names.table, reopen_after=self.pipeline.reopen_after
        )

    def write(self, group: str, stream: str, lines: list[str]) -> None:
        self.delivery.write(group, stream, lines)

    def triage_and_act(self, expected: int = 1) -> None:
        n = self.pipeline.names
        triage, act = load_handler("triage"), load_handler("act")
        for lanes, step in (((n.work_queue, n.bulk_queue), triage), ((n.act_queue, n.act_bulk_queue), act)):
            delivered = failed = 0
            for queue in lanes:
                stats = self.pipeline.poller(
                    queue, step.handler, function_name=f"credfix-{step.__name__}"
                ).drain()
                delivered, failed = delivered + stats.delivered, failed + stats.item_failures
            assert (delivered, failed) == (expected, 0), step.__name__

    def incident(self, subject: str) -> Incident:
        found = self.store.get(subject)
        assert found is not None, subject
        return found

    def item(self, subject: str) -> dict[str, Any]:
        raw = self.pipeline.ddb.get_item(
            TableName=self.pipeline.names.table, Key={"pk": {"S": key_pk(subject)}}
        )
        return from_item(raw["Item"])

    def alerts(self) -> list[dict[str, Any]]:
        return [
            json.loads(json.loads(m["Body"])["Message"])
            for m in self.pipeline.queue_messages(self.pipeline.names.inbox)
        ]


def ecs_subject(group: str, stream: str) -> str:
    return workload_of(group, stream, REGION, ACCOUNT).subject


def task_stream(task: dict[str, Any], container: str = "app") -> str:
    return f"ecs/{container}/{task['taskArn'].rsplit('/', 1)[-1]}"


# --- The seam: a stale ECS task caught by its logs alone ----------------------------------


def test_a_stale_task_found_by_its_own_log_lines_alone_gets_a_new_deployment(flow: Flow) -> None:
    """stale-consumer, with no CloudTrail record at all: the Go SDK v2's error line in the task's
    awslogs stream; the task definition reads the watched secret; its AWSCURRENT key is Active,
    so the failing task, started before the rotation, holds the version before it."""
    old, new = user_keys("orders-bot", 2)
    secret = watched_secret("prod/orders-api/aws", old)
    net = build.network()
    definition = build.task_definition("orders-api", secret_value_from=f"{secret}:AccessKeyId::")
    (task,) = build.ecs_service(net, "prod", "orders-api", definition)
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=key_value(new))
    delete("orders-bot", old)
    before = primary_deployment("prod", "orders-api")
    go_line = next(s for s in SDK_LINES if s.sdk == "go-sdk-v2").line
    stream = task_stream(task)

    flow.write("/ecs/orders-api", stream, [go_line] * 3 + ["GET /health 200"])
    delivered = flow.delivery.deliver()
    flow.triage_and_act()

    assert (delivered.payloads, delivered.events) == (1, 3)  # the filter pattern kept the error lines only
    subject = ecs_subject("/ecs/orders-api", stream)
    incident = flow.incident(subject)
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/orders-api"
    assert incident.verdict == "stale-consumer", [e.found for e in incident.evidence]
    assert incident.workload_key == subject.removeprefix("workload#") and incident.access_key_id == old
    assert incident.event_count == 3 and incident.error_codes == ["InvalidClientTokenId"]
    assert [(a.scope, a.holders, a.log) for a in incident.attribution] == [
        ("workload", [task["taskArn"]], f"/ecs/orders-api:{stream}")
    ]
    assert incident.origin == "account"
    assert [(a.type, a.target, a.status) for a in incident.actions] == [
        ("ecs-force-new-deployment", service, "executed")
    ]
    assert primary_deployment("prod", "orders-api") != before
    item = flow.item(subject)
    assert item["pk"] == subject and item["workload_key"] == incident.workload_key
    (alert,) = flow.alerts()
    assert alert["kind"] == "remediated" and alert["incident"]["verdict"] == "stale-consumer"
    assert any(e["check"] == "key from the workload's configuration" for e in alert["incident"]["evidence"])

    # Day two: people find the workload's incident as they find a key's.
    listed = operator_json("incidents", "list", "--table", flow.pipeline.names.table)
    assert [(i["incident_id"], i["verdict"]) for i in listed["incidents"]] == [
        (incident.incident_id, "stale-consumer")
    ]
    for which in (incident.workload_key or "", incident.incident_id):
        shown = operator_json("incidents", "show", which, "--table", flow.pipeline.names.table)
        assert shown["incident"]["incident_id"] == incident.incident_id, which


def operator_json(*args: str) -> Any:
    import contextlib
    import io

    from credfix.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--format", "json"]) == 0
    return json.loads(out.getvalue())


# --- Every SDK, in ECS, Lambda and CodeBuild log groups -----------------------------------


def test_every_sdks_lines_in_ecs_lambda_and_codebuild_log_groups_reach_the_usual_verdicts(flow: Flow) -> None:
    """boto3, the AWS CLI v2, the Java SDK v2, the Go SDK v2 and the JavaScript SDK v3, as each
    prints them, written by three workloads whose configuration carries a static key: one
    incident per workload, counting every line, and the verdict its key's lifecycle gives."""
    ecs_key, lambda_key, build_key = user_keys("deploy-bot", 2) + user_keys("ci-bot", 1)
    deactivate("deploy-bot", ecs_key)
    delete("deploy-bot", lambda_key)
    deactivate("ci-bot", build_key)
    net = build.network()
    (task,) = build.ecs_service(net, "batch", "export", build.task_definition("export", static_key=ecs_key))
    role = build.role("orders-fn")
    boto3.client("lambda").create_function(
        FunctionName="orders-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        # Lambda reserves AWS_ACCESS_KEY_ID: a function's own key sits under another name.
        Environment={"Variables": {"ORDERS_AWS_KEY_ID": lambda_key, "ORDERS_AWS_SECRET": "never-read"}},
    )
    codebuild = boto3.client("codebuild")
    codebuild.create_project(
        name="deploy",
        source={"type": "S3", "location": "artifacts/src.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": "AWS_ACCESS_KEY_ID", "value": build_key, "type": "PLAINTEXT"}],
        },
        serviceRole=build.role("codebuild-deploy"),
    )
    build_id = codebuild.start_build(projectName="deploy")["build"]["id"]
    lines = [s.line for s in SDK_LINES]
    writers = {
        "ecs": ("/ecs/export", task_stream(task)),
        "lambda": ("/aws/lambda/orders-fn", "2026/11/30/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        "codebuild": ("/aws/codebuild/deploy", build_id.split(":", 1)[1]),
    }
    for group, stream in writers.values():
        flow.write(group, stream, lines)
    flow.write("/aws/lambda/noisy-debug", "2026/11/30/[$LATEST]00", lines)  # listed by the operator

    delivered = flow.delivery.deliver()
    flow.triage_and_act(expected=3)

    assert delivered.payloads == 3 and delivered.events == 3 * len(lines)  # the excluded group: none
    expected = {
        "ecs": ("key-deactivated", task["taskArn"], ecs_key),
        "lambda": ("key-deleted", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-fn", lambda_key),
        "codebuild": ("key-deactivated", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/deploy", build_key),
    }
    for name, (group, stream) in writers.items():
        incident = flow.incident(workload_of(group, stream, REGION, ACCOUNT).subject)
        verdict, holder, key = expected[name]
        assert incident.event_count == len(lines), name
        assert set(incident.error_codes) == {s.code for s in SDK_LINES}, name
        assert (incident.verdict, incident.access_key_id) == (verdict, key), [
            e.found for e in incident.evidence
        ]
        assert [(a.scope, a.holders) for a in incident.attribution] == [("workload", [holder])], name
        assert any(holder == w.id and w.confidence == "high" for w in incident.workloads), name
    assert len(flow.alerts()) == 3


# --- Keys in the lines ---------------------------------------------------------------------


def test_a_line_printing_a_whole_key_id_joins_that_keys_incident(flow: Flow) -> None:
    """A debug log's S3 error body names the key: the lines count into the key's incident, the
    same one its CloudTrail records open, as one more source."""
    (key,) = user_keys("uploader")
    deactivate("uploader", key)
    ingest = load_handler("ingest")
    flow.pipeline.put_events([cloudtrail_event(key, source_ip="203.0.113.9")])
    flow.pipeline.ingest_poller(ingest.handler).drain()

    flow.write("/ecs/uploader", "ecs/app/" + TASK_ID, [S3_BODY_WITH_KEY.replace("KEY_HERE", key)] * 2)
    flow.delivery.deliver()

    incident = flow.incident(key)
    assert incident.event_count == 3 and incident.workload_key is None
    assert {(s.ip, s.log, s.count) for s in incident.sources} == {
        ("203.0.113.9", None, 1),
        (None, f"/ecs/uploader:ecs/app/{TASK_ID}", 2),
    }
    assert sorted(incident.error_codes) == ["InvalidClientTokenId", "SignatureDoesNotMatch"]
    n = flow.pipeline.names
    opened = flow.pipeline.queue_messages(n.work_queue) + flow.pipeline.queue_messages(n.bulk_queue)
    assert [json.loads(m["Body"])["access_key_id"] for m in opened] == [key]  # one incident, one triage


def test_a_masked_key_keys_the_incident_by_workload_and_tells_triage_which_provider_wins(flow: Flow) -> None:
    """`AKIA************WXYZ` is no key ID: the incident is the workload's, holding the masked
    key; the task is configured with a role only, so a long-term key wins over it."""
    net = build.network()
    definition = build.task_definition("infra-ci", task_role=build.role("infra-ci"))
    (task,) = build.ecs_service(net, "ci", "infra-ci", definition)
    stream = task_stream(task)

    flow.write("/ecs/infra-ci", stream, [MASKED_KEY_LINE])
    flow.delivery.deliver()
    flow.triage_and_act()

    incident = flow.incident(ecs_subject("/ecs/infra-ci", stream))
    assert incident.access_key_id == "AKIA…WXYZ"
    assert incident.verdict == "wrong-credential-source", [e.found for e in incident.evidence]
    assert incident.actions and all(a.status != "executed" for a in incident.actions)


# --- Counting ------------------------------------------------------------------------------


def test_a_flood_of_ten_thousand_lines_from_one_task_is_one_incident_counted_once(flow: Flow) -> None:
    line = next(s for s in SDK_LINES if s.sdk == "boto3").line
    stream = "ecs/app/" + TASK_ID

    flow.write("/ecs/orders-api", stream, [line] * 10_000)
    delivered = flow.delivery.deliver()
    subject = ecs_subject("/ecs/orders-api", stream)
    first = flow.item(subject)
    flow.delivery.invoke(flow.delivery.sent[-1])  # Lambda invoking it again (a retry, a duplicate delivery)
    again = flow.item(subject)

    assert (delivered.payloads, delivered.events) == (1, 10_000)
    assert first["event_count"] == 10_000 and again["event_count"] == 10_000  # the retry counted nothing
    (opened,) = flow.pipeline.queue_messages(flow.pipeline.names.work_queue)
    assert json.loads(opened["Body"])["access_key_id"] == subject
    items = flow.pipeline.ddb.scan(TableName=flow.pipeline.names.table)["Items"]
    assert [i["pk"]["S"] for i in items if i["pk"]["S"].startswith(("key#", "workload#"))] == [subject]


def test_lines_not_counted_end_with_their_reason_and_a_control_message_is_ignored(flow: Flow) -> None:
    ec2 = (
        "An error occurred (AuthFailure) when calling the CreateInstanceExportTask operation: "
        "vm-import-export@amazon.com must have WRITE and READ_ACL permission on the S3 bucket."
    )
    expired = (  # https://github.com/aws/aws-cli/issues/7870: expired sessions count only when opted in
        "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token "
        "included in the request is expired"
    )
    lines = [ec2, expired, "InvalidClientTokenId=0"]
    answer = flow.logs.handler(awslogs(payload("/ecs/x", "ecs/app/" + TASK_ID, lines)), CONTEXT)
    control = flow.logs.handler(awslogs(control_message()), CONTEXT)

    assert answer == {"lines": 3, "counted": 0} and control == {"lines": 0, "counted": 0}
    assert flow.pipeline.ddb.scan(TableName=flow.pipeline.names.table)["Count"] == 0
    assert flow.pipeline.queue_messages(flow.pipeline.names.work_queue) == []


def test_a_payload_that_cannot_be_counted_is_retried_then_kept_with_its_error(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDFIX_TABLE", "no-such-table")
    flow.logs = load_handler("logs")
    flow.delivery.handler = flow.logs.handler
    line = next(s for s in SDK_LINES if s.sdk == "js-sdk-v3").line

    flow.write("/aws/lambda/orders-fn", "2026/11/30/[$LATEST]ab", [line])
    delivered = flow.delivery.deliver()

    assert delivered.invocations == 3  # the first try and Lambda's two retries
    ((event, error),) = flow.failed  # the on-failure record keeps the payload and the error
    assert "IntakeFailed" in error and "ResourceNotFoundException" in error
    decoded = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    assert [e["message"] for e in decoded["logEvents"]] == [line]


# --- Relayed from another region or a member account ---------------------------------------


def test_relayed_lines_count_for_the_account_that_sent_them_only(flow: Flow) -> None:
    """A relay (another region, a member account) puts `credfix.logs` events on its bus; the home
    rule (infra/logs.py's pattern) queues them for the intake. EventBridge sets each event's
    `account` to the sender's, so a payload naming another account's log group is refused."""
    sqs, events = flow.pipeline.sqs, flow.pipeline.events
    url = sqs.create_queue(QueueName="credfix-log-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [RELAY_SOURCE], "detail-type": [RELAY_DETAIL_TYPE]}
    events.put_rule(Name="credfix-relayed", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="credfix-relayed", Targets=[{"Id": "log-events", "Arn": arn}])
    flow.pipeline.urls["credfix-log-events"] = url
    line = next(s for s in SDK_LINES if s.sdk == "java-sdk-v2").line
    relay = load_handler("relay")

    sent = relay.handler(
        awslogs(payload("/aws/lambda/exporter", "2026/11/30/[$LATEST]cd", [line] * 2)), CONTEXT
    )
    forged, _ = relayed_events(
        awslogs(payload("/aws/lambda/victim", "2026/11/30/[$LATEST]ef", [line], owner="444455556666")), REGION
    )
    events.put_events(Entries=forged)
    stats = flow.pipeline.poller(
        "credfix-log-events", flow.logs.handler, function_name="credfix-logs"
    ).drain()

    assert sent == {"lines": 2, "relayed": 2}
    assert (stats.delivered, stats.item_failures) == (2, 0)
    ours = workload_subject(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:exporter")
    assert flow.item(ours)["event_count"] == 2
    victim = workload_subject(f"arn:aws:lambda:{REGION}:444455556666:function:victim")
    assert "Item" not in flow.pipeline.ddb.get_item(
        TableName=flow.pipeline.names.table, Key={"pk": {"S": victim}}
    )


def test_an_ec2_runner_is_found_by_the_cloudwatch_agents_stream_and_not_restarted(flow: Flow) -> None:
    """The CloudWatch agent names its stream after the instance ({instance_id}); the runner's
    instance profile is all it is configured with, yet its line shows a long-term key."""
    net = build.network()
    runner = build.runner_group(net, "ci-runners", {"credfix:workload": "ci-runner"})
    iam, ec2 = boto3.client("iam"), boto3.client("ec2")
    build.role("ci-runner")
    iam.create_instance_profile(InstanceProfileName="ci-runner")
    iam.add_role_to_instance_profile(InstanceProfileName="ci-runner", RoleName="ci-runner")
    ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Name": "ci-runner"}, InstanceId=runner["InstanceId"]
    )

    flow.write("ci-runners", runner["InstanceId"], [MASKED_KEY_LINE])
    flow.delivery.deliver()
    flow.triage_and_act()

    instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{runner['InstanceId']}"
    incident = flow.incident(workload_subject(instance))
    assert incident.verdict == "wrong-credential-source", [e.found for e in incident.evidence]
    assert [(a.scope, a.holders) for a in incident.attribution] == [("workload", [instance])]
    assert not [a for a in incident.actions if a.status == "executed"]


def test_a_pod_named_by_its_container_insights_stream_is_located_through_its_cluster(flow: Flow) -> None:
    """Behind a NAT gateway no address names the pod; Fluent Bit's stream (the kubelet's log
    file name) does. The record, JSON as Fluent Bit ships it, goes the way data flows: the
    account's log policy -> intake -> triage (the cluster's API names the deployment and the
    Secret its key comes from) -> act (nothing to restart) -> the alert."""
    from harness.eks import env_from_secret, local_eks

    credentials = boto3.session.Session().get_credentials()
    assert credentials is not None
    cluster = local_eks(
        flow.pipeline.aws, build.network(), credentials=(credentials.access_key, credentials.secret_key)
    )
    try:
        (pod,) = cluster.deployment(
            "payments", "ledger-sync", ips=["10.0.3.77"], env=env_from_secret("ledger-aws")
        )
        group = "/aws/containerinsights/prod/application"
        node_file = "ip-10-0-1-23.ec2.internal-application.var.log.containers"
        stream = f"{node_file}.{pod}_payments_ledger-sync-{'a' * 64}.log"
        go_line = next(s for s in SDK_LINES if s.sdk == "go-sdk-v2").line
        record = {
            "log": go_line,
            "stream": "stderr",
            "kubernetes": {"pod_name": pod, "namespace_name": "payments", "container_name": "ledger-sync"},
        }

        flow.write(group, stream, [json.dumps(record)] * 2 + [json.dumps({"log": "GET /health 200"})])
        delivered = flow.delivery.deliver()
        flow.triage_and_act()

        assert (delivered.payloads, delivered.events) == (1, 2)
        named = workload_of(group, stream, REGION, ACCOUNT)
        assert named.key.endswith(":log-stream:payments/ledger-sync/ledger-sync")  # same across restarts
        incident = flow.incident(named.subject)
        (workload,) = incident.workloads
        assert (workload.type, workload.id, workload.parent, workload.confidence) == (
            "eks-pod",
            f"payments/{pod}",
            "deployment/payments/ledger-sync",
            "high",
        ), [e.found for e in incident.evidence]
        assert [(a.scope, a.holders, a.log) for a in incident.attribution] == [
            ("workload", [workload.id], f"{group}:{stream}")
        ]
        assert not [a for a in incident.actions if a.status == "executed"]
        assert not cluster.kube.calls("PATCH")
        # No line shows the key, and credfix never reads the Secret: the key stays unknown, so
        # nothing is restarted, and the alert names the deployment and where its key comes from.
        assert incident.verdict == "unknown-key"
        (alert,) = flow.alerts()
        assert alert["kind"] == "remediated"  # the act step's alert: its action says "skipped"
        found = {e["check"]: e["found"] for e in alert["incident"]["evidence"]}
        assert found["EKS workload deployment/payments/ledger-sync"].startswith(
            "static credentials in deployment/payments/ledger-sync (Secret ledger-aws) (no other deployment "
            "of cluster prod uses IRSA/Pod Identity yet): move it to a role"
        )
    finally:
        cluster.stop()
