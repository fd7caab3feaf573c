"""`make demo`: credfix on the local AWS, end to end, as a newcomer first sees it.

Today it shows the detection path: a key rotation leaves an ECS task behind, the task's
next call is rejected for real by the local AWS, the local CloudTrail turns the rejection
into the record AWS would deliver, and the pipeline (rule from the synthesized template,
events queue, ingest) turns it into one incident.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

from credfix.keys import redact
from harness.cloudtrail import LocalCloudTrail
from harness.moto import REGION, LocalAws, local_aws
from harness.pipeline import LocalPipeline

TASK_IP = "10.0.1.25"


class DemoFailed(Exception):
    pass


def say(text: str = "", indent: int = 0) -> None:
    print(" " * indent + text, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    start = time.monotonic()
    say(f"▸ {title}")
    yield
    say(f"  ✓ done in {time.monotonic() - start:.1f}s")


def expect(condition: bool, what: str) -> None:
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


def workload_client(aws: LocalAws, key: dict[str, Any], exec_env: str) -> Any:
    """A client as the workload builds it: its key, and the exec-env its platform sets."""
    previous = os.environ.get("AWS_EXECUTION_ENV")
    os.environ["AWS_EXECUTION_ENV"] = exec_env
    try:
        return boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=REGION,
        ).client("sts", endpoint_url=aws.url)
    finally:
        if previous is None:
            os.environ.pop("AWS_EXECUTION_ENV", None)
        else:
            os.environ["AWS_EXECUTION_ENV"] = previous


def run(verbose: bool) -> None:
    with local_aws() as aws:
        say(f"Local AWS (moto server) at {aws.url}")
        operator = admin_session(aws)
        aws.check_signatures()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws.url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": operator.get_credentials().access_key,
                "AWS_SECRET_ACCESS_KEY": operator.get_credentials().secret_key,
            }
        )
        iam = operator.client("iam", endpoint_url=aws.url)

        with step("Deploy the credfix pipeline (detection rule read from the synthesized CDK template)"):
            pipeline = LocalPipeline(aws, session=operator).deploy()
            os.environ.update(pipeline.environ())
            from credfix.handlers import ingest

        with step("A deploy user's key is rotated; the ECS task that loaded the old key keeps running"):
            iam.create_user(UserName="deploy-bot")
            old_key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
            iam.create_access_key(UserName="deploy-bot")
            iam.update_access_key(
                UserName="deploy-bot", AccessKeyId=old_key["AccessKeyId"], Status="Inactive"
            )
            iam.delete_access_key(UserName="deploy-bot", AccessKeyId=old_key["AccessKeyId"])
            say(f"old key {redact(old_key['AccessKeyId'])} deactivated, then deleted", 4)

        trail = LocalCloudTrail(source_ip=TASK_IP)
        with step("The stale task calls sts:GetCallerIdentity with the old key (and retries twice)"):
            task = trail.watch(workload_client(aws, old_key, "AWS_ECS_FARGATE"))
            answers = []
            for _ in range(3):
                try:
                    task.get_caller_identity()
                    raise DemoFailed("the local AWS accepted a deleted key")
                except ClientError as exc:
                    answers.append(exc.response["Error"])
            expect({a["Code"] for a in answers} == {"InvalidClientTokenId"}, f"unexpected answers {answers}")
            say(f"the local AWS answers: {answers[0]['Code']}: {answers[0]['Message']}", 4)
            expect(len(trail.records) == 3, "the local CloudTrail did not record the three failures")
            record = trail.records[0]["detail"]
            say(
                f"CloudTrail record: {record['eventSource']} {record['eventName']} {record['errorCode']} "
                f"from {record['sourceIPAddress']}",
                4,
            )
            agent = record["userAgent"]
            expect("exec-env/AWS_ECS_FARGATE" in agent, "the user agent does not carry the task's exec-env")
            say(f"user agent: …{agent[agent.index('exec-env/') - 30 :][:100]}", 4)

        with step("EventBridge routes the record to the events queue; ingest opens the incident"):
            pipeline.put_events(trail.records)
            stats = pipeline.ingest_poller(ingest.handler).drain()
            expect(stats.item_failures == 0, "ingest reported failures")
            opened = pipeline.queue_messages(pipeline.names.work_queue)
            expect(len(opened) == 1, f"expected one 'incident opened' message, got {len(opened)}")

        from credfix.adapters.incidents import IncidentStore

        store = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=pipeline.reopen_after)
        incident = store.get(old_key["AccessKeyId"])
        expect(incident is not None and incident.event_count == 3, "the incident does not count 3 failures")
        assert incident is not None
        say()
        say("Incident (credfix.incident/v1):")
        say(json.dumps(incident.document(), indent=2))
        say()
        say("Triage, remediation, alerts and verification are not built yet; see README.md.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="show the Lambdas' logs")
    args = parser.parse_args()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false" if args.verbose else "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if args.verbose else "ERROR"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    start = time.monotonic()
    try:
        run(args.verbose)
    except DemoFailed as exc:
        say(f"✗ demo failed: {exc}")
        return 1
    say(f"Demo finished in {time.monotonic() - start:.0f}s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
