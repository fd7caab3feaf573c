"""AWS calls per incident, per verdict scenario, through the triage and act Lambdas.

For each scenario the parent builds the account state on the local AWS with boto3 (as an
operator's account would be), opens the incident with the real ingest store, then runs the
triage handler and the act handler each in its own process (bench.invoke) on the messages
the pipeline passes between them. Calls are counted per handler with botocore hooks; a
duplicate is the same operation with the same request made twice within one incident.
The processes' peak RSS gives the memory figures of triage and act.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from bench.common import ACCOUNT, REGION, lambda_environ, python_module, run_child

PRIMARY = "stale-consumer (ECS task by IP, enforce)"
SECRET_MARKER = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"


@dataclass
class Built:
    key: str
    events: list[dict[str, Any]]
    expected_verdict: str


class Account:
    """The account on the local AWS, built with plain boto3 calls."""

    def __init__(self) -> None:
        self.iam = boto3.client("iam")
        self.sm = boto3.client("secretsmanager")
        self.ecs = boto3.client("ecs")
        self.ec2 = boto3.client("ec2")

    def user_keys(self, count: int) -> list[str]:
        self.iam.create_user(UserName="deploy-bot")
        return [
            self.iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
            for _ in range(count)
        ]

    def secret(self, key: str) -> str:
        arn = self.sm.create_secret(
            Name="prod/deploy-bot",
            SecretString=self._value(key),
            Tags=[{"Key": "credfix:watch", "Value": "true"}],
        )["ARN"]
        return str(arn)

    def rotate(self, arn: str, key: str) -> None:
        self.sm.put_secret_value(SecretId=arn, SecretString=self._value(key))

    @staticmethod
    def use(key: str) -> None:
        boto3.client("sts", aws_access_key_id=key, aws_secret_access_key="x").get_caller_identity()

    @staticmethod
    def _value(key: str) -> str:
        return json.dumps({"AccessKeyId": key, "SecretAccessKey": SECRET_MARKER + key[-10:]})

    def ecs_task(self, secret_arn: str | None = None, static_key: str | None = None) -> tuple[str, str]:
        """A Fargate service with one running task, and the account's STS interface endpoint in
        its VPC (the task's calls reach AWS through it, so CloudTrail records its private
        address with the endpoint: what attributes a failure to the account). Returns the
        task's private IP and the endpoint's ID."""
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")
        group = self.ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
        endpoint = self.ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{REGION}.sts",
            VpcEndpointType="Interface",
            SubnetIds=[subnet["Subnet"]["SubnetId"]],
            SecurityGroupIds=[group],
            PrivateDnsEnabled=True,
        )["VpcEndpoint"]["VpcEndpointId"]
        container: dict[str, Any] = {"name": "app", "image": "busybox", "memory": 512}
        if secret_arn:
            container["secrets"] = [{"name": "AWS_CREDENTIALS", "valueFrom": secret_arn}]
        if static_key:
            container["environment"] = [
                {"name": "AWS_ACCESS_KEY_ID", "value": static_key},
                {"name": "AWS_SECRET_ACCESS_KEY", "value": "not-a-real-secret"},
            ]
        definition = self.ecs.register_task_definition(
            family="api",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]
        awsvpc = {
            "awsvpcConfiguration": {"subnets": [subnet["Subnet"]["SubnetId"]], "securityGroups": [group]}
        }
        self.ecs.create_cluster(clusterName="prod")
        self.ecs.create_service(
            cluster="prod",
            serviceName="api",
            taskDefinition=definition,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=awsvpc,
        )
        (task,) = self.ecs.run_task(
            cluster="prod",
            taskDefinition=definition,
            launchType="FARGATE",
            group="service:api",
            networkConfiguration=awsvpc,
        )["tasks"]
        details = {d["name"]: d["value"] for a in task["attachments"] for d in a["details"]}
        return str(details["privateIPv4Address"]), str(endpoint)


def _events(key: str, ip: str | None, count: int = 5, **kw: Any) -> list[dict[str, Any]]:
    from harness.records import FARGATE_UA, cloudtrail_event

    return [cloudtrail_event(key, source_ip=ip, user_agent=FARGATE_UA, **kw) for _ in range(count)]


def _task_events(key: str, task: tuple[str, str]) -> list[dict[str, Any]]:
    """A task's failures: from its private address, through the account's endpoint."""
    ip, endpoint = task
    return _events(key, ip, vpc_endpoint_id=endpoint)


def stale_consumer_ecs(account: Account) -> Built:
    old, new = account.user_keys(2)
    arn = account.secret(old)
    account.rotate(arn, new)
    account.iam.update_access_key(UserName="deploy-bot", AccessKeyId=old, Status="Inactive")
    task = account.ecs_task(secret_arn=arn)
    return Built(old, _task_events(old, task), "stale-consumer")


def stale_secret_ecs(account: Account) -> Built:
    (old,) = account.user_keys(1)
    arn = account.secret(old)
    account.iam.update_access_key(UserName="deploy-bot", AccessKeyId=old, Status="Inactive")
    task = account.ecs_task(secret_arn=arn)
    return Built(old, _task_events(old, task), "stale-secret")


def key_deactivated_ecs(account: Account) -> Built:
    (key,) = account.user_keys(1)
    account.iam.update_access_key(UserName="deploy-bot", AccessKeyId=key, Status="Inactive")
    task = account.ecs_task()
    return Built(key, _task_events(key, task), "key-deactivated")


def key_deleted(account: Account) -> Built:
    (key,) = account.user_keys(1)
    account.iam.delete_access_key(UserName="deploy-bot", AccessKeyId=key)
    return Built(key, _events(key, "203.0.113.9"), "key-deleted")


def signature_mismatch(account: Account) -> Built:
    (key,) = account.user_keys(1)
    return Built(key, _events(key, "203.0.113.9", error_code="SignatureDoesNotMatch"), "signature-mismatch")


def wrong_credential_source_ecs(account: Account) -> Built:
    old, new = account.user_keys(2)
    account.iam.update_access_key(UserName="deploy-bot", AccessKeyId=old, Status="Inactive")
    account.use(new)  # the configured key works: IAM records its use
    task = account.ecs_task(static_key=new)
    return Built(old, _task_events(old, task), "wrong-credential-source")


def foreign_account(account: Account) -> Built:
    # moto's STS names 123456789012 as every key's owner; calls made to another account make
    # the key foreign to the account it was used against.
    (key,) = account.user_keys(1)
    other = "111122223333"
    return Built(key, _events(key, "203.0.113.9", account=other, recipientAccountId=other), "foreign-account")


def temporary_credentials(account: Account) -> Built:
    key = "ASIAY34FZKBOKMUTVV7A"
    role = f"arn:aws:iam::{ACCOUNT}:role/deploy"
    identity = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:i-0abc",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/i-0abc",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}},
    }
    return Built(key, _events(key, "203.0.113.9", userIdentity=identity), "temporary-credentials")


SCENARIOS: dict[str, Callable[[Account], Built]] = {
    PRIMARY: stale_consumer_ecs,
    "stale-secret (ECS consumer)": stale_secret_ecs,
    "wrong-credential-source (ECS static key)": wrong_credential_source_ecs,
    "key-deactivated (ECS task by IP)": key_deactivated_ecs,
    "key-deleted": key_deleted,
    "signature-mismatch": signature_mismatch,
    "foreign-account": foreign_account,
    "temporary-credentials": temporary_credentials,
}


def sqs_event(body: str, queue: str) -> dict[str, Any]:
    sent = str(int(datetime.now(UTC).timestamp() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
                "awsRegion": REGION,
            }
        ]
    }


def _deploy(aws: Any) -> dict[str, str]:
    """credfix's resources on the local AWS (the harness pipeline: table, queues, topic, kill
    switch off) and the Lambdas' environment, in enforce mode."""
    from bench.storm import deploy

    pipeline = deploy(aws)
    env = {**lambda_environ("bench", endpoint=aws.url), **pipeline.environ()}
    env.pop("AWS_SESSION_TOKEN")
    env.update({"CREDFIX_MODE": "enforce", "CREDFIX_DRAIN_SECONDS": "0"})
    return env


def _take(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for m in got:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return [m["Body"] for m in got]


def _invoke(name: str, event: dict[str, Any], env: dict[str, str], tmp: Path) -> dict[str, Any]:
    event_file, out = tmp / f"{name}-event.json", tmp / f"{name}-out.json"
    event_file.write_text(json.dumps(event))
    run_child(
        python_module("bench.invoke", name, str(event_file), str(out)),
        {**env, "POWERTOOLS_LOG_LEVEL": "WARNING"},
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_scenario(aws: Any, build: Callable[[Account], Built], tmp: Path) -> dict[str, Any]:
    import os

    from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
    from credfix.core.aggregate import aggregate
    from credfix.models.cloudtrail import parse_failure

    aws.reset()
    os.environ.update(aws.environ())
    env = _deploy(aws)
    built = build(Account())
    ddb = boto3.client("dynamodb")
    store = IncidentStore(ddb, env["CREDFIX_TABLE"], reopen_after=timedelta(hours=1))
    (delta,) = aggregate([parse_failure(e, ref=f"m{i}") for i, e in enumerate(built.events)]).values()
    incident_id = store.record(delta, datetime.now(UTC)).incident_id
    opened = json.dumps({"type": "incident-opened", "access_key_id": built.key, "incident_id": incident_id})
    # CloudTrail delivers minutes after a call; triage never starts within the second of the
    # first failure (lookups made in that second are not reused for the incident).
    first = delta.first_seen.timestamp() if delta.first_seen else time.time()
    time.sleep(max(0.0, first + 1.05 - time.time()))

    triage = _invoke("triage", sqs_event(opened, "credfix-work"), env, tmp)
    # Nothing attributed to the account (a public address of nobody's): triage hands the
    # incident to its bulk lane, whose function then gives the verdict; act likewise.
    for bulk in _take(env["CREDFIX_BULK_QUEUE_URL"]):
        later = _invoke("triage", sqs_event(bulk, "credfix-bulk"), env, tmp)
        triage = {**later, "calls": triage["calls"] + later["calls"]}
    act_messages = _take(env["CREDFIX_ACT_QUEUE_URL"]) + _take(env["CREDFIX_ACT_BULK_QUEUE_URL"])
    act = _invoke("act", sqs_event(act_messages[0], "credfix-act"), env, tmp) if act_messages else None
    # verify runs later (after the drain delay) and is not part of triage + act; measured for memory.
    verify_messages = _take(env["CREDFIX_VERIFY_QUEUE_URL"])
    verify = (
        _invoke("verify", sqs_event(verify_messages[0], "credfix-verify"), env, tmp)
        if verify_messages
        else None
    )
    item = from_item(
        ddb.get_item(TableName=env["CREDFIX_TABLE"], Key={"pk": {"S": key_pk(built.key)}})["Item"]
    )
    remediation = json.loads(item.get("remediation", "{}"))
    calls = triage["calls"] + (act["calls"] if act else [])
    digests = Counter(c["digest"] for c in calls)
    return {
        "verdict": item.get("verdict"),
        "expected_verdict": built.expected_verdict,
        "actions": [f"{a['status']} {a['type']}" for a in remediation.get("actions", [])],
        "calls_total": len(calls),
        "calls_triage": len(triage["calls"]),
        "calls_act": len(act["calls"]) if act else 0,
        "duplicates": sum(n - 1 for n in digests.values() if n > 1),
        "duplicate_calls": sorted({c["call"] for c in calls if digests[c["digest"]] > 1}),
        "by_operation": dict(Counter(c["call"] for c in calls)),
        "triage_sequence": [c["call"] for c in triage["calls"]],
        "act_sequence": [c["call"] for c in act["calls"]] if act else [],
        "triage_failures": triage["response"].get("batchItemFailures", []),
        "act_failures": act["response"].get("batchItemFailures", []) if act else [],
        "triage_peak_rss_mb": round(triage["maxrss_kb"] / 1024, 1),
        "act_peak_rss_mb": round(act["maxrss_kb"] / 1024, 1) if act else None,
        "verify_calls": [c["call"] for c in verify["calls"]] if verify else [],
        "verify_peak_rss_mb": round(verify["maxrss_kb"] / 1024, 1) if verify else None,
    }


def measure() -> dict[str, Any]:
    from harness.moto import local_aws

    results: dict[str, Any] = {}
    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="credfix-incidents-") as tmp:
        for name, build in SCENARIOS.items():
            try:
                results[name] = run_scenario(aws, build, Path(tmp))
            except Exception as exc:  # one broken scenario must not hide the others' figures
                results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    primary = results[PRIMARY]
    return {
        "scenarios": results,
        "primary": PRIMARY,
        "primary_calls": primary.get("calls_total"),
        "primary_duplicates": primary.get("duplicates"),
        "meets_target": primary.get("calls_total", 99) <= 8 and primary.get("duplicates", 1) == 0,
    }
