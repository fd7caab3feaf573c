"""Shared pieces of the reliability tests: measurements for docs/reliability.md, Lambda-shaped
SQS records, write counters on a handler's DynamoDB client, queue reads."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.moto import ACCOUNT, REGION
from harness.pipeline import LocalPipeline

# tests/reliability_report.py sets this: each test appends one JSON line per measurement.
MEASUREMENTS_ENV = "CREDFIX_RELIABILITY_OUT"


def measure(test: str, *, injects: str, load: str, held: dict[str, Any]) -> None:
    """Record what a test injected, under which load, and the counts that held."""
    path = os.environ.get(MEASUREMENTS_ENV)
    if not path:
        return
    line = {"test": test, "injects": injects, "load": load, "held": held}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, sort_keys=True, default=str) + "\n")


def lambda_sqs_record(body: str, queue: str = "credfix-events", *, receive_count: int = 1) -> dict[str, Any]:
    """One record of the SQS event Lambda's event source mapping hands to a function."""
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "ApproximateFirstReceiveTimestamp": now_ms,
            "SenderId": "AIDAEVENTBRIDGE",
            "SentTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


@contextmanager
def count_calls(client: Any, service: str, operations: tuple[str, ...]) -> Iterator[Counter[str]]:
    """Count the calls a botocore client makes, per operation (retries are not counted twice:
    `before-call` fires once per API call)."""
    counts: Counter[str] = Counter()
    handlers = []
    for operation in operations:

        def bump(operation: str = operation, **_: Any) -> None:
            counts[operation] += 1

        event = f"before-call.{service}.{operation}"
        client.meta.events.register(event, bump)
        handlers.append((event, bump))
    try:
        yield counts
    finally:
        for event, bump in handlers:
            client.meta.events.unregister(event, bump)


def incident_items(pipeline: LocalPipeline) -> dict[str, dict[str, Any]]:
    """Every current incident item (pk key#...), by access key ID."""
    from credfix.adapters.stores.incidents import from_item

    items: dict[str, dict[str, Any]] = {}
    for page in pipeline.ddb.get_paginator("scan").paginate(TableName=pipeline.names.table):
        for raw in page["Items"]:
            item = from_item(raw)
            if str(item["pk"]).startswith("key#"):
                items[str(item["access_key_id"])] = item
    return items


def send_bodies(pipeline: LocalPipeline, bodies: list[str]) -> None:
    """Messages onto the events queue, ten per call, as EventBridge's SQS target puts them."""
    url = pipeline.urls[pipeline.names.events_queue]
    for start in range(0, len(bodies), 10):
        resp = pipeline.sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])],
        )
        assert not resp.get("Failed"), resp["Failed"]
