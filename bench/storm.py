"""Storm cost: the ingest handler on a credential-failure storm, against the local AWS.

A crash-looping fleet sends thousands of identical failures a minute. The parent starts the
local AWS (moto server, its own process), creates the table and queues, builds SQS batches in
Lambda's event shape (1,000 records each, as the event source mapping delivers them) and runs
the real ingest handler in a child process: the handler's CPU (time.process_time), the moto
server's CPU (/proc/PID/stat) and the floor, `json.loads` of the same bodies, are measured
in that child per batch. DynamoDB and SQS calls are counted with botocore event hooks on the
handler's own clients; peak RSS is the child's ru_maxrss.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ACCOUNT, REGION, lambda_environ, median, python_module, ratio, run_child

EVENTS = 20_000
BATCH = 1000
# The peer design (one Lambda invocation per event) is timed on this many single-event
# invocations of the same handler, after the storm (warm, as a busy peer function would be).
SINGLE_EVENTS = 300
# Who fails: one crash-looping service dominates, a CI fleet and a stray laptop follow.
KEYS = (("AKIAY34FZKBOKMUTVV7A", 0.90), ("AKIAY34FZKBOPQRSTUVW", 0.09), ("AKIAY34FZKBOABCDEFGH", 0.01))
SOURCE_IPS = ("10.0.1.25", "10.0.1.26", "10.0.2.14", "10.0.2.15", "203.0.113.9")


def storm_events(count: int = EVENTS, start: datetime | None = None) -> list[dict[str, Any]]:
    from harness.records import FARGATE_UA, RUNNER_UA, cloudtrail_event

    start = start or datetime.now(UTC) - timedelta(hours=1)
    events = []
    for i in range(count):
        share = (i % 100) / 100
        key = (
            KEYS[0][0]
            if share < KEYS[0][1]
            else KEYS[1][0]
            if share < KEYS[0][1] + KEYS[1][1]
            else KEYS[2][0]
        )
        events.append(
            cloudtrail_event(
                key,
                source_ip=SOURCE_IPS[i % len(SOURCE_IPS)],
                user_agent=FARGATE_UA if i % 3 else RUNNER_UA,
                event_time=start + timedelta(milliseconds=180 * i),
            )
        )
    return events


def sqs_batches(events: list[dict[str, Any]], queue_arn: str, size: int = BATCH) -> list[dict[str, Any]]:
    """Lambda's SQS event, as harness.pipeline.SqsPoller._lambda_record builds it."""
    sent = int(datetime.now(UTC).timestamp() * 1000)
    records = []
    for event in events:
        body = json.dumps(event)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex * 4,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(sent + 20),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return [{"Records": records[i : i + size]} for i in range(0, len(records), size)]


def deploy(aws: Any) -> Any:
    """harness.pipeline.LocalPipeline, deployed as the tests deploy it, except that its
    EventBridge rule gets a stand-in pattern: batches are built by hand here, and the
    synthesized pattern would need a CDK synth."""
    import harness.pipeline as local

    local.synthesized_event_pattern = lambda context_json="{}": {"source": ["aws.sts"]}
    return local.LocalPipeline(aws).deploy()


def measure(events: int = EVENTS, batch: int = BATCH) -> dict[str, Any]:
    from harness.moto import local_aws

    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="credfix-storm-") as tmp:
        pipeline = deploy(aws)
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{pipeline.names.events_queue}"
        batches_file = Path(tmp) / "batches.json"
        # One batch more than measured: the child profiles it separately (cProfile would skew CPU).
        storm = storm_events(events + batch)
        event_kb = sum(len(json.dumps(e)) for e in storm) / len(storm) / 1024
        # One batch per line: the child holds one batch at a time, as a Lambda does.
        with batches_file.open("w") as f:
            for event in sqs_batches(storm, queue_arn, batch):
                f.write(json.dumps(event) + "\n")
        # The peer design's unit of work: the same kind of events, one per invocation, fresh
        # (new message ids, event times after the storm's, as a continuing storm sends them).
        singles_file = Path(tmp) / "singles.json"
        storm_end = datetime.fromisoformat(storm[-1]["detail"]["eventTime"].replace("Z", "+00:00"))
        with singles_file.open("w") as f:
            for event in sqs_batches(storm_events(SINGLE_EVENTS, start=storm_end), queue_arn, 1):
                f.write(json.dumps(event) + "\n")
        out = Path(tmp) / "result.json"
        env = {**lambda_environ("ingest", endpoint=aws.url), **pipeline.environ()}
        run_child(
            python_module(
                "bench.storm", "child", str(batches_file), str(aws.process.pid), str(out), str(singles_file)
            ),
            env,
        )
        child: dict[str, Any] = json.loads(out.read_text())
        items = pipeline.ddb.scan(TableName=pipeline.names.table)["Items"]
        opened = pipeline.sqs.get_queue_attributes(
            QueueUrl=pipeline.urls[pipeline.names.work_queue], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]

    per_event = child["handler_cpu_s"] / events
    floor_per_event = child["floor_cpu_s"] / events
    per_thousand = 1000 / events
    return {
        "events": events,
        "batch_size": batch,
        "keys": len(KEYS),
        "invocations": child["invocations"],
        "handler_cpu_us_per_event": round(per_event * 1e6, 2),
        "floor_json_loads_cpu_us_per_event": round(floor_per_event * 1e6, 2),
        "x_floor": ratio(per_event, floor_per_event),
        "meets_target": per_event <= 3 * floor_per_event,
        "handler_cpu_ms_per_batch_median": round(median(child["handler_cpu_ms_per_batch"]), 1),
        "handler_wall_ms_per_batch_median": round(median(child["handler_wall_ms_per_batch"]), 1),
        "single_event_invocations": len(child["single_wall_ms"]),
        "single_event_wall_ms_median": round(median(child["single_wall_ms"]), 2),
        "single_event_cpu_ms_median": round(median(child["single_cpu_ms"]), 2),
        "single_event_dynamodb_writes": child["single_dynamodb_writes"],
        "single_event_failures": child["single_failures"],
        "single_event_calls": child["single_calls"],
        "moto_cpu_us_per_event": round(child["moto_cpu_s"] / events * 1e6, 2),
        "dynamodb_writes_per_1000_events": round(child["dynamodb_writes"] * per_thousand, 2),
        "dynamodb_calls": child["dynamodb_calls"],
        "sqs_calls": child["sqs_calls"],
        "lambda_invocations_per_1000_events": round(child["invocations"] * per_thousand, 2),
        "sqs_sends_per_1000_events": round(sum(child["sqs_calls"].values()) * per_thousand, 3),
        "event_kb": round(event_kb, 2),
        "init_ms": round(child["init_ms"], 1),
        "peak_rss_mb": round(child["maxrss_kb"] / 1024, 1),
        "items_in_table": len(items),
        "largest_item_kb": round(max((item_size(i) for i in items), default=0) / 1024, 2),
        "incident_opened_messages": int(opened),
        "batch_item_failures": child["batch_item_failures"],
        "cpu_profile_top_one_batch": child["profile_top"],
    }


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size, approximately: attribute names plus their values as text (numbers
    and sets a little overstated, which errs towards more write units)."""
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def child(batches_path: str, moto_pid: str, out_path: str, singles_path: str) -> None:
    """Runs in the measured process: the handler as Lambda would run it, batch after batch."""
    import cProfile
    import pstats
    import time
    from collections import Counter

    from bench.common import peak_rss_kb, proc_cpu_seconds

    with open(batches_path) as f:
        batch_count = sum(1 for _ in f)
    lines = open(batches_path)  # noqa: SIM115  # read lazily: one batch in memory at a time
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    started = time.perf_counter()
    from credfix.adapters.aws import hook_new_clients

    # Before the handler makes its clients, whatever configuration each is created with.
    hook_new_clients("before-call", count)
    from credfix.handlers import ingest
    from harness.pipeline import LambdaContext

    init_ms = (time.perf_counter() - started) * 1000

    moto = int(moto_pid)
    handler_cpu: list[float] = []
    handler_wall: list[float] = []
    floor_cpu = 0.0
    moto_cpu = 0.0
    failures = 0
    for _ in range(batch_count - 1):  # the last batch is only profiled, not counted
        event = json.loads(lines.readline())
        t = time.process_time()
        for record in event["Records"]:
            json.loads(record["body"])
        floor_cpu += time.process_time() - t

        m0, w0, c0 = proc_cpu_seconds(moto), time.perf_counter(), time.process_time()
        response = ingest.handler(event, LambdaContext("credfix-ingest"))
        handler_cpu.append(time.process_time() - c0)
        handler_wall.append(time.perf_counter() - w0)
        moto_cpu += proc_cpu_seconds(moto) - m0
        failures += len(response.get("batchItemFailures", []))

    counted = dict(calls)
    profile = cProfile.Profile(time.process_time)
    profile.runcall(ingest.handler, json.loads(lines.readline()), LambdaContext("credfix-ingest"))
    lines.close()
    stats = pstats.Stats(profile)
    top = sorted(
        ((v[2], f"{Path(k[0]).parent.name}/{Path(k[0]).name}:{k[2]}") for k, v in stats.stats.items()),  # type: ignore[attr-defined]
        reverse=True,
    )[:12]
    ddb = {k: v for k, v in counted.items() if k.startswith("dynamodb:")}

    # The peer design: the same handler, one event per invocation (warm).
    calls.clear()
    single_wall: list[float] = []
    single_cpu: list[float] = []
    single_failures = 0
    with open(singles_path) as singles:
        for line in singles:
            event = json.loads(line)
            w0, c0 = time.perf_counter(), time.process_time()
            response = ingest.handler(event, LambdaContext("credfix-ingest"))
            single_cpu.append(time.process_time() - c0)
            single_wall.append(time.perf_counter() - w0)
            single_failures += len(response.get("batchItemFailures", []))
    single_writes = sum(v for k, v in calls.items() if k.split(":")[1] in DYNAMODB_WRITES)
    single_calls = dict(calls)
    result = {
        "invocations": batch_count - 1,
        "init_ms": init_ms,
        "handler_cpu_s": sum(handler_cpu),
        "handler_cpu_ms_per_batch": [x * 1000 for x in handler_cpu],
        "handler_wall_ms_per_batch": [x * 1000 for x in handler_wall],
        "floor_cpu_s": floor_cpu,
        "moto_cpu_s": moto_cpu,
        "dynamodb_calls": ddb,
        "dynamodb_writes": sum(v for k, v in ddb.items() if k.split(":")[1] in DYNAMODB_WRITES),
        "sqs_calls": {k: v for k, v in counted.items() if k.startswith("sqs:")},
        "batch_item_failures": failures,
        "single_wall_ms": [x * 1000 for x in single_wall],
        "single_cpu_ms": [x * 1000 for x in single_cpu],
        "single_dynamodb_writes": single_writes,
        "single_calls": single_calls,
        "single_failures": single_failures,
        "maxrss_kb": peak_rss_kb(),
        "profile_top": [{"function": name, "self_cpu_ms": round(t * 1000, 1)} for t, name in top],
    }
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(*sys.argv[2:6])
