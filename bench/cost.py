"""Cost model: list price per million failure events, credfix's design against the peer design.

credfix: EventBridge rule -> SQS events queue -> ingest Lambda (event source mapping, batches
of 1,000) -> one UpdateItem per key per batch. Peer (Cloud Custodian's CloudTrail mode):
EventBridge rule -> one Lambda invocation per event, each doing its own DynamoDB write.

The figures that depend on credfix's code (invocations, duration, DynamoDB writes per 1,000
events, item size) come from the storm measurement of the same run. The peer is priced twice:
- at its cheapest possible (128 MB, 1 ms billed, 1 write unit per event): a lower bound on the
  peer, so the ratio against it is an upper bound on ours; the target is judged against it;
- doing credfix's work: the same ingest handler invoked once per event (measured in the same
  run, warm, against the same local AWS), at the same memory, billed per started millisecond,
  with the writes it made per event, each billed on the incident item's size.
"""

from __future__ import annotations

import math
from typing import Any

# List prices, us-east-1, as published on the AWS pricing pages (aws.amazon.com/lambda/pricing,
# /sqs/pricing, /dynamodb/pricing/on-demand, /eventbridge/pricing), read 2026-11-28. Free tiers
# are left out (they would flatter whichever design uses less of them).
PRICES_AS_OF = "2026-11-28"
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334  # first 7.5 billion GB-s per month
LAMBDA_PER_MILLION_REQUESTS = 0.20
SQS_STANDARD_PER_MILLION_REQUESTS = 0.40  # every 64 KB chunk of a payload is one request
DYNAMODB_ON_DEMAND_PER_MILLION_WRU = 0.625  # write request units (1 KB each, of the larger item image)
EVENTBRIDGE_AWS_SERVICE_EVENTS = 0.0  # events from AWS services on the default bus are not charged

MILLION = 1_000_000
SQS_BATCH = 10  # ReceiveMessage / DeleteMessageBatch move at most 10 messages per request
PEER_MEMORY_MB = 128
PEER_BILLED_MS = 1.0


def model(storm: dict[str, Any], ingest_memory_mb: int) -> dict[str, Any]:
    events = MILLION
    invocations = events / MILLION * storm["lambda_invocations_per_1000_events"] * 1000
    duration_s = storm["handler_wall_ms_per_batch_median"] / 1000
    gb_seconds = invocations * duration_s * ingest_memory_mb / 1024
    event_kb = storm.get("event_kb", 3.0)
    chunks = math.ceil(event_kb / 64)
    # EventBridge -> SQS sends one message per event; the event source mapping receives and
    # deletes up to 10 per request. incident-opened messages are counted as measured.
    sqs_requests = events * (chunks + 2 / SQS_BATCH) + storm.get("sqs_sends_per_1000_events", 0) * 1000
    wru_per_write = max(1, math.ceil(storm["largest_item_kb"]))
    writes = storm["dynamodb_writes_per_1000_events"] * 1000
    ours = {
        "lambda_requests": invocations / MILLION * LAMBDA_PER_MILLION_REQUESTS,
        "lambda_compute": gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        "sqs": sqs_requests / MILLION * SQS_STANDARD_PER_MILLION_REQUESTS,
        "dynamodb": writes * wru_per_write / MILLION * DYNAMODB_ON_DEMAND_PER_MILLION_WRU,
        "eventbridge": 0.0,
    }
    peer_gb_seconds = events * PEER_BILLED_MS / 1000 * PEER_MEMORY_MB / 1024
    peer = {
        "lambda_requests": events / MILLION * LAMBDA_PER_MILLION_REQUESTS,
        "lambda_compute": peer_gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        "sqs": 0.0,
        "dynamodb": events * 1 / MILLION * DYNAMODB_ON_DEMAND_PER_MILLION_WRU,
        "eventbridge": 0.0,
    }
    # The peer doing credfix's work, measured: the same handler, one event per invocation, each
    # write billed on the incident item's size (DynamoDB bills the larger of old and new item).
    single_billed_s = math.ceil(storm["single_event_wall_ms_median"]) / 1000
    single_writes_per_event = storm["single_event_dynamodb_writes"] / storm["single_event_invocations"]
    peer_measured = {
        "lambda_requests": events / MILLION * LAMBDA_PER_MILLION_REQUESTS,
        "lambda_compute": events * single_billed_s * ingest_memory_mb / 1024 * LAMBDA_ARM64_PER_GB_SECOND,
        "sqs": 0.0,
        "dynamodb": events
        * single_writes_per_event
        * wru_per_write
        / MILLION
        * DYNAMODB_ON_DEMAND_PER_MILLION_WRU,
        "eventbridge": 0.0,
    }
    ours_total, peer_total = sum(ours.values()), sum(peer.values())
    measured_total = sum(peer_measured.values())
    return {
        "prices_as_of": PRICES_AS_OF,
        "inputs": {
            "invocations": invocations,
            "billed_duration_s": duration_s,
            "ingest_memory_mb": ingest_memory_mb,
            "gb_seconds": round(gb_seconds, 3),
            "sqs_requests": sqs_requests,
            "dynamodb_writes": writes,
            "wru_per_write": wru_per_write,
            "peer_gb_seconds": peer_gb_seconds,
            "peer_measured_billed_ms_per_event": single_billed_s * 1000,
            "peer_measured_writes_per_event": round(single_writes_per_event, 3),
        },
        "ours_usd": {k: round(v, 4) for k, v in ours.items()},
        "peer_usd": {k: round(v, 4) for k, v in peer.items()},
        "ours_usd_per_million_events": round(ours_total, 4),
        "peer_usd_per_million_events": round(peer_total, 4),
        "x_peer": round(ours_total / peer_total, 3),
        "peer_measured_usd": {k: round(v, 4) for k, v in peer_measured.items()},
        "peer_measured_usd_per_million_events": round(measured_total, 4),
        "x_peer_measured": round(ours_total / measured_total, 3),
        "meets_target": ours_total <= 0.5 * peer_total,
    }
