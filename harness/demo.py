"""`make demo`: credfix on the local AWS, end to end, as a newcomer first sees it.

Story 1 (the rotation, before anything fails): a deploy user's key is rotated through a
watched secret. Secrets Manager's events of the rotation reach the rotation watch (rules
from the synthesized template, rotation queue, rotation Lambda, act in enforce mode): it
reads the secret, finds the ECS service whose running task started before the new version
became current, and gives it a new deployment before anything fails. `credfix
rotation-check` then says the old key is safe to deactivate; it is deactivated, and no call
fails. Then the straggler nothing declared: a CI runner that read the key at boot starts a
job. Its calls are rejected for real by the local AWS (signature checking is on); the local
CloudTrail turns each rejection into the record AWS would deliver, and the reactive path
(ingest, triage, act, alerts, verify) finds the runner by its address and replaces it.

Story 2 (wrong-credential-source): a CI runner in an Auto Scaling group, configured with an
instance role, signs with a developer's old key from an inherited profile. credfix
diagnoses and alerts, and does not restart it: a restart reloads the same winning provider.

Story 3 (runtime logs alone): a Lambda function signs with a deleted key from its environment;
no trail sees it, only its own log group does. The account policy of the synthesized app
delivers the error line the Lambda runtime wrote; credfix finds the function and its key.
Story 4 (key-deactivated, on EKS): in a cluster where every deployment signs with IRSA or Pod
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

from credfix.cli.output import ticking
from credfix.keys import redact
from harness import account as build
from harness.cloudtrail import LocalCloudTrail
from harness.moto import REGION, LocalAws, local_aws
from harness.pipeline import LocalPipeline
from harness.records import secret_label_updated

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
            for name in ("ingest", "triage", "act", "verify", "logs", "rotation")
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

    def run_rotation(self, events: list[dict[str, Any]]) -> None:
        """Secrets Manager's events onto the bus; the rotation step, then the act step."""
        n = self.local.names
        self.local.put_events(events)
        stats = self.local.poller(
            n.rotation_queue, self.handlers["rotation"].handler, function_name="credfix-rotation"
        ).drain()
        expect(stats.delivered == len(events) and stats.item_failures == 0, f"rotation: {stats}")
        stats = self.local.poller(
            n.act_queue, self.handlers["act"].handler, function_name="credfix-act"
        ).drain()
        expect(stats.delivered == 1 and stats.item_failures == 0, f"act: {stats}")

    def rotation_incident(self, secret_arn: str, version: str) -> Any:
        from credfix.adapters.stores.rotation import RotationIncidents, rotation_pk

        incident = RotationIncidents(self.local.ddb, self.local.names.table).get(
            rotation_pk(secret_arn, version)
        )
        expect(incident is not None, "no rotation incident")
        return incident

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


def rotation_check(secret: str) -> tuple[int, list[str]]:
    """`credfix rotation-check --secret NAME`, as an operator runs it (exit code, output lines)."""
    import contextlib
    import io

    from credfix.cli import main as credfix

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = credfix(["rotation-check", "--secret", secret, "--format", "text"])
    return code, out.getvalue().splitlines()


def story_rotation(aws: LocalAws, pipeline: Pipeline, net: build.Network) -> None:
    iam, ecs = (boto3.client(s) for s in ("iam", "ecs"))
    operator = LocalCloudTrail(source_ip="198.51.100.20")  # the operator's calls, as CloudTrail records them
    secrets = operator.watch(boto3.client("secretsmanager"))

    with step("An account: a deploy user's key in a watched secret, read by an ECS service and a CI runner"):
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
        runner = build.runner_group(net, "build-runners", {"credfix:workload": "ci-runner"})
        before = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]
        primary_before = next(d["id"] for d in before["deployments"] if d["status"] == "PRIMARY")
        say(
            f"ECS service prod/orders-api, task {task['taskArn'].rsplit('/', 1)[-1][:12]}… reads the secret",
            4,
        )
        say(
            f"secret prod/orders-api/aws (tag credfix:watch=true) holds key {redact(old_key['AccessKeyId'])}",
            4,
        )
        say(
            f"CI runner {runner['InstanceId']} read the same key at boot; nothing declares it "
            "(no credfix:consumes tag)",
            4,
        )

    with step("Rotation: a new key made AWSCURRENT; Secrets Manager's events reach the rotation watch"):
        new_key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
        put = secrets.put_secret_value(
            SecretId=secret["ARN"],
            SecretString=json.dumps(
                {"AccessKeyId": new_key["AccessKeyId"], "SecretAccessKey": new_key["SecretAccessKey"]}
            ),
        )
        events = [
            secret_label_updated(secret["ARN"], secret["Name"], put["VersionId"]),  # Secrets Manager's own
            *operator.successes[-1:],  # the PutSecretValue call, from CloudTrail
        ]
        say(
            f"AWSCURRENT → {redact(new_key['AccessKeyId'])}; events: "
            + ", ".join(e["detail"].get("eventName") or e["detail-type"] for e in events),
            4,
        )

    with step(
        "rotation watch → act (enforce): the consumer still on the old version restarts, nothing failed"
    ):
        pipeline.run_rotation(events)
        incident = pipeline.rotation_incident(secret["ARN"], put["VersionId"])
        show_incident(incident)
        expect(incident.verdict == "rotation-drift", f"expected rotation-drift, got {incident.verdict}")
        executed = [a for a in incident.actions if a.status == "executed"]
        expect([a.type for a in executed] == ["ecs-force-new-deployment"], f"actions: {incident.actions}")
        after = ecs.describe_services(cluster="prod", services=["orders-api"])["services"][0]
        primary_after = next(d["id"] for d in after["deployments"] if d["status"] == "PRIMARY")
        expect(primary_after != primary_before, "the ECS service did not get a new deployment")
        say(f"ECS service prod/orders-api: PRIMARY deployment {primary_before} → {primary_after}", 4)
        (alert,) = pipeline.alerts()
        say(f"alert: {alert['subject']}", 4)

    with step("credfix rotation-check --secret prod/orders-api/aws (the gate before deactivating)"):
        code, lines = rotation_check("prod/orders-api/aws")
        for line in lines:
            say(line, 4)
        expect(code == 0, f"rotation-check exited {code}, expected 0 (safe)")

    with step(
        f"Old key {redact(old_key['AccessKeyId'])} deactivated; the restarted task signs with the new key"
    ):
        iam.update_access_key(UserName="deploy-bot", AccessKeyId=old_key["AccessKeyId"], Status="Inactive")
        new_task = LocalCloudTrail(source_ip="10.0.1.200", vpc_endpoint_id=net_endpoint(net))
        new_task.watch(workload_client(aws, new_key, "AWS_ECS_FARGATE")).get_caller_identity()
        expect(new_task.records == [], "the new task's call failed")
        say("failed calls so far: 0", 4)

    trail = LocalCloudTrail(source_ip=runner["PrivateIpAddress"], vpc_endpoint_id=net_endpoint(net))
    with step("The straggler nothing declared: the CI runner starts a job with the key it read at boot"):
        failure = fail_three_times(trail.watch(workload_client(aws, old_key, None)))
        say(f"sts:GetCallerIdentity with {redact(old_key['AccessKeyId'])} → {failure} (3 times)", 4)

    with step("ingest → triage → act (enforce): the reactive path finds the runner by its address"):
        pipeline.run(trail.records)
        incident = pipeline.incident(old_key["AccessKeyId"])
        show_incident(incident)
        expect(incident.verdict == "stale-consumer", f"expected stale-consumer, got {incident.verdict}")
        runner_arn = f"instance/{runner['InstanceId']}"
        expect(any(w.id.endswith(runner_arn) for w in incident.workloads), "the runner was not located")
        executed = [a for a in incident.actions if a.status == "executed"]
        expect([a.type for a in executed] == ["ec2-recycle-instance"], f"actions: {incident.actions}")

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

    with step(
        f"Verify after the drain period ({DRAIN_SECONDS}s here, where the local CloudTrail delivers at once; "
        "deployed: 15 min, past the rollout grace and CloudTrail's usual delivery): "
        "the replaced runner stays quiet"
    ):
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


def story_runtime_logs(aws: LocalAws, pipeline: Pipeline) -> None:
    import traceback

    from credfix.models.logs import workload_of
    from harness.logs import LocalLogDelivery, synthesized_log_policies

    iam = boto3.client("iam")
    with step("A Lambda function whose code signs with a key from its environment; the key is deleted"):
        iam.create_user(UserName="invoice-bot")
        key = iam.create_access_key(UserName="invoice-bot")["AccessKey"]
        boto3.client("lambda").create_function(
            FunctionName="invoice-export",
            Runtime="python3.12",
            Role=build.role("invoice-export"),
            Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            Environment={"Variables": {"EXPORT_AWS_KEY_ID": key["AccessKeyId"]}},
        )
        iam.delete_access_key(UserName="invoice-bot", AccessKeyId=key["AccessKeyId"])
        say(f"function invoice-export, EXPORT_AWS_KEY_ID={redact(key['AccessKeyId'])} (deleted)", 4)

    policy = synthesized_log_policies(json.dumps({"log_signal": {"enabled": True}}))["credfix-home"]
    delivery = LocalLogDelivery(pipeline.handlers["logs"].handler, policy, endpoint_url=aws.url)
    group, stream = "/aws/lambda/invoice-export", "2026/11/30/[$LATEST]7c1b2d3e4f5a69788796a5b4c3d2e1f0"
    with step("Its calls fail for real; the Lambda runtime writes the error to its own log group only"):
        try:
            workload_client(aws, key, "AWS_Lambda_python3.12").get_caller_identity()
            raise DemoFailed("the local AWS accepted a deleted key")
        except ClientError as exc:
            line = f"[ERROR] ClientError: {exc}\n{traceback.format_exc()}"
        delivery.write(group, stream, [line, "START RequestId: 5c0ffee0 Version: $LATEST"])
        say(line.splitlines()[0][:110] + "…", 4)
        expect(
            not pipeline.local.queue_messages(pipeline.local.names.events_queue),
            "a CloudTrail record arrived",
        )

    with step("The account's log policy (from the synthesized template) → intake → triage → act"):
        delivered = delivery.deliver()
        expect((delivered.payloads, delivered.events) == (1, 1), f"delivery: {delivered}")
        n = pipeline.local.names
        for queue, name in ((n.work_queue, "triage"), (n.act_queue, "act")):
            stats = pipeline.local.poller(queue, pipeline.handlers[name].handler, function_name=name).drain()
            expect(stats.delivered == 1 and stats.item_failures == 0, f"{name}: {stats}")
        incident = pipeline.incident(workload_of(group, stream, REGION, build.ACCOUNT).subject)
        show_incident(incident)
        expect(incident.verdict == "key-deleted", f"expected key-deleted, got {incident.verdict}")
        expect(
            incident.access_key_id == key["AccessKeyId"],
            "the key was not found in the function's configuration",
        )
        expect([a.scope for a in incident.attribution] == ["workload"], f"attribution {incident.attribution}")
        (alert,) = pipeline.alerts()
        say(f"alert: {alert['subject']}", 4)


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
            # The synth behind it takes up to a minute: a ticking line on a terminal (stderr only).
            with ticking("  synthesizing the CDK app and creating the pipeline"):
                local = LocalPipeline(aws, session=operator).deploy()
            os.environ.update(local.environ())
            os.environ.update({"CREDFIX_MODE": "enforce", "CREDFIX_DRAIN_SECONDS": str(DRAIN_SECONDS)})
            pipeline = Pipeline(local)
            net = build.network()
            say("mode enforce (the deployed default is observe), guardrails on", 4)
        say()
        say("Story 1: a key rotation: restarted before anything fails, then the undeclared straggler caught")
        story_rotation(aws, pipeline, net)
        say()
        say("Story 2: the CI runner whose inherited profile wins over its role")
        story_wrong_source(aws, pipeline, net)
        say()
        say("Story 3: the function no trail sees, caught by its own log lines")
        story_runtime_logs(aws, pipeline)
        say("Story 4: one deployment left on static keys in an EKS cluster")
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
    say(f"Demo finished in {time.monotonic() - start:.0f}s: all four stories behaved as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
