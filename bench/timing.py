"""Time to remediation on the local pipeline, with the deployed batching windows and delays.

Two paths, each from the moment its event is put on the EventBridge bus to the moment the act
step calls `ecs:UpdateService` on the consumer:

- preventive: a watched secret rotates (the `Secret Label Updated` event Secrets Manager
  publishes itself) -> rotation rule -> rotation queue -> rotation Lambda -> act queue -> act
  (goal: 60 s);
- reactive: the stale consumer's first failure (a CloudTrail record of InvalidClientTokenId)
  -> detection rule -> events queue -> ingest -> work queue -> triage -> act queue -> act
  (goal: 20 s).

The local AWS (moto server) stands in for AWS, the real handlers run in this process, and
each queue's event source mapping is replayed as the synthesized template deploys it: the
poller waits for a message, then for the mapping's `MaximumBatchingWindowInSeconds` (a
one-record batch is not full, so Lambda waits the whole window), then invokes; each queue's
`DelaySeconds` applies as SQS applies it. The windows and delays are read from the home
stack's template (infra/home_stack.py), not restated here. Not modelled: Lambda's own
polling interval and cold starts (bench/coldstart.py measures those), and delivery to
EventBridge: Secrets Manager's own event does not go through CloudTrail, but the reactive
path's failure record does, and AWS documents CloudTrail delivering to S3 about every 5
minutes on average (not guaranteed) and gives no figure for EventBridge: that comes on top of
the reactive path only.

The manual reference is the field guide's seed incident: rotation at 11:02, fix at 11:15.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

RUNS = 3
ROTATION_GOAL_S = 60.0
REACTIVE_GOAL_S = 20.0
MANUAL_REFERENCE_S = 13 * 60  # seed incident: rotation 11:02, fix 11:15
# Queue logical-id prefixes in the home template -> the handler its event source mapping runs.
STEPS = {
    "EventsQueue": "ingest",
    "WorkQueue": "triage",
    "ActQueue": "act",
    "RotationQueue": "rotation",
}


@dataclass(frozen=True)
class Mapping:
    handler: str
    batch_size: int
    window_s: int
    delay_s: int


def deployed_mappings() -> dict[str, Mapping]:
    """handler -> its queue's event source mapping as the home stack's template deploys it."""
    from harness.pipeline import synthesized_templates
    from infra.app import HOME_STACK_NAME

    resources = synthesized_templates()[HOME_STACK_NAME]["Resources"]
    queues = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    found: dict[str, Mapping] = {}
    for mapping in (r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"):
        props = mapping["Properties"]
        queue_id = props["EventSourceArn"]["Fn::GetAtt"][0]
        step = next((h for prefix, h in STEPS.items() if queue_id.startswith(prefix)), None)
        if step is None:
            continue  # the bulk lanes and verify: not on these paths
        found[step] = Mapping(
            handler=step,
            batch_size=int(props.get("BatchSize", 10)),
            window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            delay_s=int(queues[queue_id]["Properties"].get("DelaySeconds", 0)),
        )
    missing = set(STEPS.values()) - set(found)
    if missing:
        raise RuntimeError(f"no event source mapping found for {sorted(missing)}")
    return found


class Clock:
    """When ecs:UpdateService was first called (every credfix client carries the hook)."""

    def __init__(self) -> None:
        self.update_service: float | None = None

    def __call__(self, **_: Any) -> None:
        if self.update_service is None:
            self.update_service = time.monotonic()


def _wait_for_message(sqs: Any, url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        if int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesDelayed"]):
            return
        time.sleep(0.02)
    raise TimeoutError(f"no message arrived on {url}")


def _step(pipeline: Any, queue: str, module: Any, mapping: Mapping, legs: dict[str, float]) -> None:
    """One event source mapping: the message arrives, the window passes, the handler runs."""
    start = time.monotonic()
    url = pipeline.urls[queue]
    _wait_for_message(pipeline.sqs, url, start + mapping.delay_s + 60)
    arrived = time.monotonic()
    time.sleep(mapping.window_s)  # a one-message batch is not full: Lambda waits out the window
    poller = pipeline.poller(
        queue, module.handler, function_name=f"credfix-{mapping.handler}", batch_size=mapping.batch_size
    )
    invoked = time.monotonic()
    stats = poller.drain()
    if stats.item_failures or not stats.delivered:
        raise RuntimeError(f"{mapping.handler}: {stats}")
    legs[f"{mapping.handler}: wait for the message"] = round(arrived - start, 3)
    legs[f"{mapping.handler}: batching window"] = round(invoked - arrived, 3)
    legs[f"{mapping.handler}: handler"] = round(time.monotonic() - invoked, 3)


def _load(names: tuple[str, ...], clock: Clock) -> dict[str, Any]:
    from credfix.adapters import aws as aws_clients
    from credfix.config import settings

    settings.cache_clear()
    aws_clients.reset_clients()
    aws_clients.hook_new_clients("before-call.ecs.UpdateService", clock)
    return {n: importlib.reload(importlib.import_module(f"credfix.handlers.{n}")) for n in names}


def _consumer(secret_arn: str) -> tuple[str, str]:
    """An ECS service reading the secret, its task started before the rotation; (task IP, endpoint)."""
    from harness import account as build

    net = build.network()
    endpoint = build.sts_endpoint(net)
    (task,) = build.ecs_service(
        net, "prod", "orders-api", build.task_definition("orders-api", secret_value_from=secret_arn)
    )
    return build.private_ip_of(task), endpoint


def _secret() -> tuple[Any, Any, dict[str, Any], str]:
    import boto3

    iam, sm = boto3.client("iam"), boto3.client("secretsmanager")
    iam.create_user(UserName="deploy-bot")
    old = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
    arn = sm.create_secret(
        Name="prod/orders-api/aws",
        SecretString=json.dumps(
            {"AccessKeyId": old["AccessKeyId"], "SecretAccessKey": old["SecretAccessKey"]}
        ),
        Tags=[{"Key": "credfix:watch", "Value": "true"}],
    )["ARN"]
    return iam, sm, old, str(arn)


def _rotate(iam: Any, sm: Any, arn: str) -> str:
    new = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
    value = json.dumps({"AccessKeyId": new["AccessKeyId"], "SecretAccessKey": new["SecretAccessKey"]})
    return str(sm.put_secret_value(SecretId=arn, SecretString=value)["VersionId"])


def preventive_once(aws: Any, mappings: dict[str, Mapping]) -> dict[str, Any]:
    from harness.pipeline import LocalPipeline
    from harness.records import secret_label_updated

    pipeline = _fresh(aws)
    clock = Clock()
    handlers = _load(("rotation", "act"), clock)
    iam, sm, _old, arn = _secret()
    _consumer(arn)
    version = _rotate(iam, sm, arn)
    assert isinstance(pipeline, LocalPipeline)
    legs: dict[str, float] = {}
    start = time.monotonic()
    pipeline.put_events([secret_label_updated(arn, "prod/orders-api/aws", version)])
    _step(pipeline, pipeline.names.rotation_queue, handlers["rotation"], mappings["rotation"], legs)
    _step(pipeline, pipeline.names.act_queue, handlers["act"], mappings["act"], legs)
    if clock.update_service is None:
        raise RuntimeError("the rotation path made no ecs:UpdateService call")
    return {"seconds": round(clock.update_service - start, 3), "legs": legs}


def reactive_once(aws: Any, mappings: dict[str, Mapping]) -> dict[str, Any]:
    from harness.records import FARGATE_UA, cloudtrail_event

    pipeline = _fresh(aws)
    clock = Clock()
    handlers = _load(("ingest", "triage", "act"), clock)
    iam, sm, old, arn = _secret()
    ip, endpoint = _consumer(arn)
    _rotate(iam, sm, arn)
    iam.update_access_key(UserName="deploy-bot", AccessKeyId=old["AccessKeyId"], Status="Inactive")
    record = cloudtrail_event(
        old["AccessKeyId"], source_ip=ip, vpc_endpoint_id=endpoint, user_agent=FARGATE_UA
    )
    legs: dict[str, float] = {}
    start = time.monotonic()
    pipeline.put_events([record])
    n = pipeline.names
    _step(pipeline, n.events_queue, handlers["ingest"], mappings["ingest"], legs)
    _step(pipeline, n.work_queue, handlers["triage"], mappings["triage"], legs)
    _step(pipeline, n.act_queue, handlers["act"], mappings["act"], legs)
    if clock.update_service is None:
        raise RuntimeError("the reactive path made no ecs:UpdateService call")
    return {"seconds": round(clock.update_service - start, 3), "legs": legs}


def _fresh(aws: Any) -> Any:
    from credfix.core.locate.context import SHARED
    from harness.pipeline import LocalPipeline

    aws.reset()
    SHARED.clear()
    for name in [n for n in os.environ if n.startswith(("AWS_", "CREDFIX_"))]:
        del os.environ[name]
    os.environ.update(aws.environ())
    pipeline = LocalPipeline(aws).deploy()
    os.environ.update(pipeline.environ())
    os.environ["CREDFIX_MODE"] = "enforce"
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    return pipeline


def _summary(runs: list[dict[str, Any]], goal: float) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    median = round(statistics.median(seconds), 2)
    return {
        "median_seconds": median,
        "runs_seconds": seconds,
        "legs_of_first_run": runs[0]["legs"],
        "goal_seconds": goal,
        "meets_goal": median <= goal,
        "x_faster_than_manual": round(MANUAL_REFERENCE_S / median, 1) if median else None,
    }


def measure(runs: int = RUNS) -> dict[str, Any]:
    from harness.moto import local_aws

    mappings = deployed_mappings()
    with local_aws() as aws:
        preventive = [preventive_once(aws, mappings) for _ in range(runs)]
        reactive = [reactive_once(aws, mappings) for _ in range(runs)]
    return {
        "deployed": {
            name: {"batch_size": m.batch_size, "window_s": m.window_s, "delay_s": m.delay_s}
            for name, m in sorted(mappings.items())
        },
        "preventive": _summary(preventive, ROTATION_GOAL_S),
        "reactive": _summary(reactive, REACTIVE_GOAL_S),
        "manual_reference_seconds": MANUAL_REFERENCE_S,
        "not_modelled": "Lambda polling interval and cold starts; CloudTrail's delivery to EventBridge, "
        "which only the reactive path waits for (about 5 minutes on average to S3 per AWS, no figure "
        "for EventBridge)",
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
