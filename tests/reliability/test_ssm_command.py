"""No blind resend of ssm:SendCommand. SendCommand takes no client token, and botocore resends a
call whose answer was lost (or that met a 5xx): each resend runs the command again (4 commands
for one action were measured before this). credfix marks its command with a comment made from
the claim (incident and target), and after an ambiguous failure looks for that command before
sending anything again: at most one command per claim.

The real act handler on the local AWS, its clients pointed at the fault proxy, which injects
the fault into the first SendCommand only (FaultProxy.script)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters.stores.incidents import IncidentStore, key_pk
from credfix.core.aggregate import aggregate
from credfix.models.cloudtrail import parse_failure
from harness import account as build
from harness.faults import FaultKind, FaultPlan, FaultProxy
from harness.moto import ACCOUNT, REGION
from harness.pipeline import LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.reliability._support import measure

pytestmark = pytest.mark.integration


class SendCounter(FaultProxy):
    """The fault proxy, counting the SendCommand requests it really forwards to the local AWS
    (a lost answer is forwarded and applied; a drop or a 5xx it answers itself never is)."""

    def __init__(self, target_url: str) -> None:
        super().__init__(target_url, FaultPlan(0, 0, 0, 0, 0))
        self.sends_reaching_aws = 0

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
        if target.endswith(".SendCommand"):
            with self._lock:
                self.sends_reaching_aws += 1
        return super().forward(method, path, headers, body)


def instance_incident(pipeline: LocalPipeline, key: str, instance: str) -> str:
    """An opened incident with triage's findings: a standalone instance, attributed through the
    account's own endpoint (as tests/reliability/test_act_reliability.py writes them)."""
    store = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=timedelta(hours=1))
    parsed = [parse_failure(cloudtrail_event(key), ref=f"{key}-{i}") for i in range(3)]
    (delta,) = aggregate(parsed).values()
    incident_id = store.record(delta, datetime.now(UTC)).incident_id
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"
    findings = {
        "verdict": "stale-consumer",
        "severity": "medium",
        "key_status": "Inactive",
        "workloads": [{"type": "ec2-instance", "id": arn, "confidence": "high", "region": REGION}],
        "attribution": [
            {"ip": "10.0.1.25", "vpc_endpoint_id": "vpce-0a1", "scope": "workload", "holders": [arn]}
        ],
        "origin": "account",
        "timeline": [{"at": datetime.now(UTC).isoformat(), "what": "triage: verdict stale-consumer"}],
    }
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(key)}},
        UpdateExpression="SET triage = :t, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":t": {"S": json.dumps(findings)}, ":s": {"S": "triaged"}},
    )
    return incident_id


@pytest.mark.parametrize("fault", ["lost-answer", "drop", "server-error"])
def test_ambiguous_send_command_runs_the_command_exactly_once(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, fault: FaultKind
) -> None:
    """lost-answer: SSM created the command, the answer never came (botocore would resend it);
    drop: the call never reached SSM; server-error: SSM answered 500 (it may or may not have
    created it; here it did not). Each time: one command, recorded as executed."""
    ec2, ssm = boto3.client("ec2"), boto3.client("ssm")
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "credfix:ssm-command", "Value": "true"}]}]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=tags)[
        "Instances"
    ][0]["InstanceId"]
    document = build.command_document("systemctl restart gitlab-runner")
    key = f"AKIAY34FZKBOSSM{fault[:4].upper():<4}".replace(" ", "X")[:20].ljust(20, "X")
    incident_id = instance_incident(pipeline, key, instance)
    pipeline.sqs.send_message(
        QueueUrl=pipeline.urls[pipeline.names.act_queue],
        MessageBody=json.dumps(
            {"type": "incident-triaged", "access_key_id": key, "incident_id": incident_id}
        ),
    )
    proxy = SendCounter(pipeline.aws.url).script("SendCommand", "credfix", fault).start()
    try:
        for name, value in {
            "AWS_ENDPOINT_URL": proxy.url,
            "CREDFIX_MODE": "enforce",
            "CREDFIX_DRAIN_SECONDS": "0",
            "CREDFIX_SSM_DOCUMENT": document,
        }.items():
            monkeypatch.setenv(name, value)
        handler = load_handler("act")
        stats = pipeline.poller(
            pipeline.names.act_queue, handler.handler, function_name="credfix-act"
        ).drain()
    finally:
        proxy.stop()

    commands = ssm.list_commands(InstanceId=instance)["Commands"]
    doc = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=timedelta(hours=1)).get(key)
    assert doc is not None
    (action,) = [a for a in doc.actions if a.type == "ec2-ssm-command"]
    measure(
        f"act-ssm-{fault}",
        injects=f"{fault} on the first ssm:SendCommand",
        load="1 incident, 1 message, standalone instance opted in",
        held={
            "commands": len(commands),
            "send_command_reaching_aws": proxy.sends_reaching_aws,
            "recorded": f"{action.status}: {action.reason}",
        },
    )
    assert proxy.counts.by_operation[f"SendCommand:{fault}"] == 1, (action, proxy.counts)  # it happened
    assert (stats.item_failures, len(commands), proxy.sends_reaching_aws) == (0, 1, 1)
    assert action.status == "executed" and commands[0]["CommandId"] in action.reason
    assert commands[0]["Comment"].startswith(f"credfix {incident_id} ")
