"""`make demo`: credfix on the local AWS, end to end, as a newcomer first sees it.

Story 1 (stale-consumer): a deploy user's key is rotated through a watched secret; the ECS
service's running task loaded the old key and keeps using it. Its next calls are rejected
for real by the local AWS (signature checking is on); the local CloudTrail turns each
rejection into the record AWS would deliver; the pipeline (rule from the synthesized
template, queues, ingest, triage, act in enforce mode, alerts topic, verify) finds the
task, gives the service a new deployment, alerts, and verifies that the failures stopped.

Story 2 (wrong-credential-source): a CI runner in an Auto Scaling group, configured with an
instance role, signs with a developer's old key from an inherited profile. credfix
diagnoses and alerts, and does not restart it: a restart reloads the same winning provider.

Story 3 (key-deactivated, on EKS): in a cluster where every deployment signs with IRSA or Pod
Identity, only payments/ledger-sync still reads a static key from a Secret, and that key was
deactivated. credfix follows the pod's address through the cluster's Kubernetes API (the local
one, harness/kube.py) to the deployment, does not restart it (the Secret holds the same key)
and tells the person what to move.

Exits non-zero if any step's expected outcome does not happen.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

from credfix.keys import redact
from harness import account as build
from harness.cloudtrail import LocalCloudTrail
from harness.moto import REGION, LocalAws, local_aws
from harness.pipeline import LocalPipeline

DRAIN_SECONDS = 3  # the deployed default is 10 minutes; the demo cannot wait that long


class DemoFailed(Exception):
    pass


def say(text: str = "", indent: int = 0) -> None:
    for line in text.splitlines() or [""]:
        print(" " * indent + line, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    start = time.monotonic()
    say(f"▸ {title}")
    yield
    say(f"  ✓ {time.monotonic() - start:.1f}s")


def expect(condition: object, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def admin_session(aws: LocalAws) -> boto3.session.Session:
    """An operator identity with full rights, created before signature checks start."""
    iam = boto3.client(
        "iam",
        endpoint_url=aws.url,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="credfix-operator")
    iam.put_user_policy(
        UserName="credfix-operator",
        PolicyName="admin",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="credfix-operator")["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
    )


def workload_client(aws: LocalAws, key: dict[str, Any], exec_env: str | None) -> Any:
    """An STS client as the workload builds it: its key, and the exec-env its platform sets."""
    previous = os.environ.pop("AWS_EXECUTION_ENV", None)
    if exec_env:
        os.environ["AWS_EXECUTION_ENV"] = exec_env
    try:
        return boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=REGION,
        ).client("sts", endpoint_url=aws.url)
    finally:
        os.environ.pop("AWS_EXECUTION_ENV", None)
        if previous is not None:
            os.environ["AWS_EXECUTION_ENV"] = previous


def fail_three_times(client: Any) -> str:
    """The workload's next calls (it retries): each must be rejected by the local AWS."""
    codes = set()
    for _ in range(3):
        try:
            client.get_caller_identity()
            raise DemoFailed("the local AWS accepted a key it should reject")
        except ClientError as exc:
            codes.add(exc.response["Error"]["Code"])
    expect(codes == {"InvalidClientTokenId"}, f"expected InvalidClientTokenId, got {codes}")
    return "InvalidClientTokenId"


class Pipeline:
    """The deployed pipeline's Lambdas, run by pollers standing in for their SQS triggers."""

    def __init__(self, local: LocalPipeline) -> None:
        self.local = local
        self.handlers = {
            name: importlib.import_module(f"credfix.handlers.{name}")
            for name in ("ingest", "triage", "act", "verify")
        }

    def run(self, records: list[dict[str, Any]]) -> None:
        n = self.local.names
        self.local.put_events(records)
        stats = self.local.ingest_poller(self.handlers["ingest"].handler).drain()
        expect(stats.delivered == len(records) and stats.item_failures == 0, f"ingest: {stats}")
        for queue, name in ((n.work_queue, "triage"), (n.act_queue, "act")):
            stats = self.local.poller(
                queue, self.handlers[name].handler, function_name=f"credfix-{name}"
            ).drain()
            expect(stats.delivered == 1 and stats.item_failures == 0, f"{name}: {stats}")

    def verify(self) -> None:
        n = self.local.names
        deadline = time.monotonic() + DRAIN_SECONDS + 30
        while self.local.delayed(n.verify_queue) and time.monotonic() < deadline:
            time.sleep(0.5)
        stats = self.local.poller(
            n.verify_queue, self.handlers["verify"].handler, function_name="credfix-verify"
        ).drain()
        expect(stats.delivered == 1 and stats.item_failures == 0, f"verify: {stats}")

    def incident(self, key_id: str) -> Any:
        from credfix.adapters.stores.incidents import IncidentStore

        store = IncidentStore(self.local.ddb, self.local.names.table, reopen_after=self.local.reopen_after)
        incident = store.get(key_id)
        expect(incident is not None, f"no incident for {redact(key_id)}")
        return incident

    def alerts(self) -> list[dict[str, Any]]:
        """What the alerts topic delivered to its SQS subscriber (the incident document)."""
        out = []
        for message in self.local.queue_messages(self.local.names.inbox):
            envelope = json.loads(message["Body"])
            out.append(
                {
                    "subject": envelope.get("Subject", ""),
                    **json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                }
            )
        return out


def show_incident(incident: Any) -> None:
    say(
        f"verdict: {incident.verdict} (severity {incident.severity}), key {redact(incident.access_key_id)} "
        f"is {incident.key_status}",
        4,
    )
    for item in incident.evidence[:6]:
        say(f"· {item.check}: {item.found}", 6)
    for workload in incident.workloads[:3]:
        say(f"workload ({workload.confidence}): {workload.type} {workload.id}", 4)
    for action in incident.actions:
        say(f"action: {action.type} → {action.status}: {textwrap.shorten(action.reason, 150)}", 4)


_ENDPOINTS: dict[str, str] = {}


def net_endpoint(net: build.Network) -> str:
    """The account's STS interface endpoint in the demo network (made once): CloudTrail records
    a workload's private address only for calls through it."""
    if net.vpc not in _ENDPOINTS:
        _ENDPOINTS[net.vpc] = build.sts_endpoint(net)
    return _ENDPOINTS[net.vpc]


def story_stale_consumer(aws: LocalAws, pipeline: Pipeline, net: build.Network) -> None:
    iam, secrets, ecs = (boto3.client(s) for s in ("iam", "secretsmanager", "ecs"))

    with step("An account: a deploy user whose key lives in a watched secret, read by an ECS service"):
        iam.create_user(UserName="deploy-bot")
        old_key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
        secret = secrets.create_secret(
            Name="prod/orders-api/aws",
            Tags=[{"Key": "credfix:watch", "Value": "true"}],
            SecretString=json.dumps(
                {"AccessKeyId": old_key["AccessKeyId"], "SecretAccessKey": old_key["SecretAccessKey"]}
            ),
        )
        definition = build.task_definition("orders-api", secret_value_from=f"{secret['ARN']}:AccessKeyId::")
        (task,) = build.ecs_service(net, "prod", "orders-api", definition)
        task_ip = build.private_ip_of(task)
        before = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]
        primary_before = next(d["id"] for d in before["deployments"] if d["status"] == "PRIMARY")
        say(f"ECS service prod/orders-api, task {task['taskArn'].rsplit('/', 1)[-1][:12]}… at {task_ip}", 4)
        say(
            f"secret prod/orders-api/aws (tag credfix:watch=true) holds key {redact(old_key['AccessKeyId'])}",
            4,
        )

    with step("Rotation: new key made current in the secret; old key deactivated, then deleted"):
        new_key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
        secrets.put_secret_value(
            SecretId=secret["ARN"],
            SecretString=json.dumps(
                {"AccessKeyId": new_key["AccessKeyId"], "SecretAccessKey": new_key["SecretAccessKey"]}
            ),
        )
        iam.update_access_key(UserName="deploy-bot", AccessKeyId=old_key["AccessKeyId"], Status="Inactive")
        iam.delete_access_key(UserName="deploy-bot", AccessKeyId=old_key["AccessKeyId"])
        say(
            f"AWSCURRENT → {redact(new_key['AccessKeyId'])} (Active); "
            f"{redact(old_key['AccessKeyId'])} deleted; the running task still holds the old key",
            4,
        )

    trail = LocalCloudTrail(source_ip=task_ip, vpc_endpoint_id=net_endpoint(net))
    with step("The stale task's next calls fail for real"):
        code = fail_three_times(trail.watch(workload_client(aws, old_key, "AWS_ECS_FARGATE")))
        record = trail.records[0]["detail"]
        say(f"sts:GetCallerIdentity with {redact(old_key['AccessKeyId'])} → {code} (3 times)", 4)
        agent = record["userAgent"]
        expect("exec-env/AWS_ECS_FARGATE" in agent, "the user agent does not carry the task's exec-env")
        say(
            f"CloudTrail record: {record['eventSource']} {record['eventName']} {record['errorCode']} from "
            f"{record['sourceIPAddress']}, user agent …{agent[agent.index('exec-env/') :][:40]}",
            4,
        )

    with step("ingest → triage → act (enforce): one incident, a verdict, one action"):
        pipeline.run(trail.records)
        incident = pipeline.incident(old_key["AccessKeyId"])
        show_incident(incident)
        expect(incident.event_count == 3, "the incident does not count 3 failures")
        expect(incident.verdict == "stale-consumer", f"expected stale-consumer, got {incident.verdict}")
        expect(any(w.id == task["taskArn"] for w in incident.workloads), "the task was not located")
        executed = [a for a in incident.actions if a.status == "executed"]
        expect([a.type for a in executed] == ["ecs-force-new-deployment"], f"actions: {incident.actions}")
        after = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]
        primary_after = next(d["id"] for d in after["deployments"] if d["status"] == "PRIMARY")
        expect(primary_after != primary_before, "the ECS service did not get a new deployment")
        say(f"ECS service prod/orders-api: PRIMARY deployment {primary_before} → {primary_after}", 4)

    with step("The alert, as an e-mail subscriber gets it"):
        from credfix.core.alerts.render import email_text
        from credfix.models.incident import Incident

        (alert,) = pipeline.alerts()
        expect(
            alert["attributes"].get("verdict") == "stale-consumer", f"alert attributes {alert['attributes']}"
        )
        delivered = Incident.model_validate(alert["incident"])
        say("┌" + "─" * 78, 4)
        say(f"Subject: {alert['subject']}", 4)
        say(email_text(delivered, alert["kind"]), 4)
        say("└" + "─" * 78, 4)

    with step(f"Verify after the drain period ({DRAIN_SECONDS}s here): the new task uses the new key"):
        workload_client(aws, new_key, "AWS_ECS_FARGATE").get_caller_identity()  # succeeds: no new failure
        pipeline.verify()
        incident = pipeline.incident(old_key["AccessKeyId"])
        expect(incident.status == "resolved", f"expected resolved, got {incident.status}")
        assert incident.verification is not None
        say(f"verification: {incident.verification.outcome} — {incident.verification.detail}", 4)
        (resolved,) = pipeline.alerts()
        say(f"second alert: {resolved['subject']}", 4)


def story_wrong_source(aws: LocalAws, pipeline: Pipeline, net: build.Network) -> None:
    iam, ec2, autoscaling = (boto3.client(s) for s in ("iam", "ec2", "autoscaling"))
    with step("A CI runner (Auto Scaling group, instance role) signs with a developer's old profile key"):
        runner = build.runner_group(net, "ci-runners", {"credfix:workload": "ci-runner"})
        role_arn = build.role("ci-runner")
        iam.create_instance_profile(InstanceProfileName="ci-runner")
        iam.add_role_to_instance_profile(InstanceProfileName="ci-runner", RoleName="ci-runner")
        ec2.associate_iam_instance_profile(
            IamInstanceProfile={"Name": "ci-runner"}, InstanceId=runner["InstanceId"]
        )
        iam.create_user(UserName="sandbox-dev")
        dev_key = iam.create_access_key(UserName="sandbox-dev")["AccessKey"]
        iam.delete_access_key(UserName="sandbox-dev", AccessKeyId=dev_key["AccessKeyId"])
        say(
            f"runner {runner['InstanceId']} at {runner['PrivateIpAddress']}, "
            f"role {role_arn.rsplit('/', 1)[-1]}; "
            f"AWS_PROFILE=sandbox gives it {redact(dev_key['AccessKeyId'])} (deleted)",
            4,
        )
        trail = LocalCloudTrail(source_ip=runner["PrivateIpAddress"], vpc_endpoint_id=net_endpoint(net))
        fail_three_times(trail.watch(workload_client(aws, dev_key, None)))

    with step("ingest → triage → act: diagnosed and alerted, not restarted"):
        pipeline.run(trail.records)
        incident = pipeline.incident(dev_key["AccessKeyId"])
        show_incident(incident)
        expect(
            incident.verdict == "wrong-credential-source",
            f"expected wrong-credential-source, got {incident.verdict}",
        )
        expect(not [a for a in incident.actions if a.status == "executed"], "a restart was executed")
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ci-runners"])
        instances = [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]
        expect(instances == [runner["InstanceId"]], "the runner was replaced")
        (alert,) = pipeline.alerts()
        say(f"alert: {alert['subject']}", 4)
        from credfix.core.alerts.guide import advice
        from credfix.models.incident import Incident

        for line in advice(Incident.model_validate(alert["incident"])).steps[:3]:
            say(f"next: {textwrap.shorten(line, 150)}", 6)


def story_static_keys_in_eks(aws: LocalAws, pipeline: Pipeline, net: build.Network) -> None:
    from harness.eks import env_from_secret, irsa_env, local_eks, pod_identity_env

    iam = boto3.client("iam")
    with step("An EKS cluster where only payments/ledger-sync still reads a static key from a Secret"):
        credentials = boto3.session.Session().get_credentials()
        assert credentials is not None
        cluster = local_eks(aws, net, credentials=(credentials.access_key, credentials.secret_key))
        role = f"arn:aws:iam::{build.ACCOUNT}:role/payments"
        node = cluster.node()
        for name in ("api", "billing"):
            cluster.service_account("payments", name, role_arn=role)
            ip = cluster.secondary_ip(node)
            cluster.deployment("payments", name, ips=[ip], env=irsa_env(role), service_account=name)
        cluster.pod_identity("orders", "worker", role)
        ip = cluster.secondary_ip(node)
        cluster.deployment("orders", "worker", ips=[ip], env=pod_identity_env(), service_account="worker")
        iam.create_user(UserName="ledger-sync")
        key = iam.create_access_key(UserName="ledger-sync")["AccessKey"]
        pod_ip = cluster.secondary_ip(node)
        (pod,) = cluster.deployment(
            "payments", "ledger-sync", ips=[pod_ip], env=env_from_secret("ledger-aws")
        )
        iam.update_access_key(UserName="ledger-sync", AccessKeyId=key["AccessKeyId"], Status="Inactive")
        say("cluster prod: payments/api, payments/billing (IRSA), orders/worker (Pod Identity)", 4)
        say(
            f"payments/ledger-sync: pod {pod} at {pod_ip} (a secondary address of node {node.instance_id}),",
            4,
        )
        say(f"AWS_ACCESS_KEY_ID from Secret ledger-aws = {redact(key['AccessKeyId'])}, now Inactive", 4)

    try:
        trail = LocalCloudTrail(source_ip=pod_ip, vpc_endpoint_id=net_endpoint(net))
        with step("Its pod's next calls fail for real (through the account's STS endpoint)"):
            code = fail_three_times(trail.watch(workload_client(aws, key, None)))
            say(
                f"sts:GetCallerIdentity with {redact(key['AccessKeyId'])} from {pod_ip} → {code} (3 times)", 4
            )
        with step("ingest → triage → act (enforce): located to the deployment, not restarted"):
            pipeline.run(trail.records)
            incident = pipeline.incident(key["AccessKeyId"])
            expect(incident.verdict == "key-deactivated", f"expected key-deactivated, got {incident.verdict}")
            (workload,) = incident.workloads
            expect(
                (workload.type, workload.parent) == ("eks-pod", "deployment/payments/ledger-sync"),
                f"located to {workload.type} {workload.id} (parent {workload.parent}): "
                + repr(incident.evidence),
            )
            say(
                f"verdict: {incident.verdict} (severity {incident.severity}), located: {workload.type} "
                f"{workload.id} of {workload.parent}",
                4,
            )
            finding = next(e.found for e in incident.evidence if e.check.startswith("EKS workload"))
            say(f"· {textwrap.shorten(finding, 200)}", 6)
            for action in incident.actions:
                say(f"action: {action.type} → {action.status}: {textwrap.shorten(action.reason, 150)}", 4)
            expect(not [a for a in incident.actions if a.status == "executed"], "a restart was executed")
            expect(not cluster.kube.calls("PATCH"), "the deployment was patched")
            (alert,) = pipeline.alerts()
            say(f"alert: {alert['subject']}", 4)
            from credfix.core.alerts.guide import advice
            from credfix.models.incident import Incident

            first = advice(Incident.model_validate(alert["incident"])).steps[0]
            expect(
                first.startswith("Move deployment/payments/ledger-sync"), f"the alert's first step: {first}"
            )
            say(f"next: {textwrap.shorten(first, 300)}", 6)
    finally:
        cluster.stop()


def run() -> None:
    with local_aws() as aws:
        say(f"Local AWS (moto server) at {aws.url}, signature checking on")
        operator = admin_session(aws)
        aws.check_signatures()
        credentials = operator.get_credentials()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws.url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            }
        )

        with step("Deploy the credfix pipeline (detection rule read from the synthesized CDK template)"):
            local = LocalPipeline(aws, session=operator).deploy()
            os.environ.update(local.environ())
            os.environ.update({"CREDFIX_MODE": "enforce", "CREDFIX_DRAIN_SECONDS": str(DRAIN_SECONDS)})
            pipeline = Pipeline(local)
            net = build.network()
            say("mode enforce (the deployed default is observe), guardrails on", 4)
        say()
        say("Story 1: the ECS task left behind by a key rotation")
        story_stale_consumer(aws, pipeline, net)
        say()
        say("Story 2: the CI runner whose inherited profile wins over its role")
        story_wrong_source(aws, pipeline, net)
        say()
        say("Story 3: one deployment left on static keys in an EKS cluster")
        story_static_keys_in_eks(aws, pipeline, net)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="show the Lambdas' logs and metrics")
    args = parser.parse_args()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false" if args.verbose else "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if args.verbose else "CRITICAL"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL)
    start = time.monotonic()
    try:
        run()
    except DemoFailed as exc:
        say(f"✗ demo failed: {exc}")
        return 1
    say()
    say(f"Demo finished in {time.monotonic() - start:.0f}s: all three stories behaved as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
