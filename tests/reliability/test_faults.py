"""Fault injection: the ingest handler's AWS calls go through harness.faults.FaultProxy, which
fails 20 % of them (throttling in the service's protocol, 500s, dropped connections, answers
lost after the call was applied, slow answers; seeded). The test harness itself (set-up,
the SQS poller standing in for Lambda, the reads of results) talks to moto directly.

What must hold: every record ends counted in an incident or in the DLQ with a reason;
no incident is counted twice; none is stuck (after the faults stop, an operator's redrive of
whatever the redrive policy moved to the DLQ finishes it)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest

from credfix.adapters.aws import RETRIES, client
from harness.faults import FAULT_KINDS, FaultPlan, fault_proxy
from harness.moto import LocalAws
from harness.pipeline import LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.reliability._support import incident_items, measure, send_bodies

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("CREDFIX_FAULT_SEED", "9"))
KEYS = ("AKIAY34FZKBOFAULTAAA", "AKIAY34FZKBOFAULTBBB", "AKIAY34FZKBOFAULTCCC")
WAVES = 6
VALID_PER_WAVE = 90
BATCH = 10  # small batches: many calls, so every fault kind is drawn many times


def hostile_bodies(wave: int) -> list[tuple[str, str]]:
    """(body, the reason ingest must give) for records that must end in the DLQ."""
    forged = cloudtrail_event(KEYS[0])
    forged["source"] = "my.app"
    bad_key = cloudtrail_event("AKIA-not-a-key")
    return [
        (f"not json {wave} {{", "body is not JSON"),
        (json.dumps(forged), "source is not an aws.* service"),
        (json.dumps(bad_key), "userIdentity.accessKeyId does not have the shape of an access key ID"),
    ]


def dlq_messages(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    return pipeline.queue_messages(pipeline.names.events_dlq)


def redrive(pipeline: LocalPipeline, messages: list[dict[str, Any]]) -> None:
    """What an operator does once the faults are over (StartMessageMoveTask in AWS; moto has
    no message move tasks, so the bodies are sent back to the source queue)."""
    send_bodies(pipeline, [m["Body"] for m in messages])


def test_twenty_percent_faults_lose_nothing_and_count_nothing_twice(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    sent_valid: Counter[str] = Counter()
    expected_reasons: Counter[str] = Counter()
    plan = FaultPlan.uniform(0.2, seed=SEED, slow_seconds=0.2)
    with fault_proxy(pipeline.aws.url, plan) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # only the handler's clients
        handler = load_handler("ingest").handler
        assert client("dynamodb").meta.endpoint_url == proxy.url  # the handler's clients, proxied
        poller = pipeline.ingest_poller(handler, batch_size=BATCH)
        for wave in range(WAVES):
            bodies = []
            for i in range(VALID_PER_WAVE):
                key = KEYS[i % len(KEYS)]
                sent_valid[key] += 1
                bodies.append(json.dumps(cloudtrail_event(key, source_ip=f"10.0.{i % 2}.{i % 3}")))
            for body, reason in hostile_bodies(wave):
                bodies.append(body)
                expected_reasons[reason] += 1
            send_bodies(pipeline, bodies)
            poller.drain()
        faulty_stats = (poller.stats.invocations, poller.stats.item_failures)

        dlq = dlq_messages(pipeline)
        with_reason = [m for m in dlq if "reason" in m.get("MessageAttributes", {})]
        exhausted = [m for m in dlq if "reason" not in m.get("MessageAttributes", {})]
        proxy.enabled = False  # the faults are over; redrive what the redrive policy set aside
        redrive(pipeline, exhausted)
        poller.drain()
        with_reason += [m for m in dlq_messages(pipeline) if "reason" in m.get("MessageAttributes", {})]
        injected = dict(proxy.counts.injected)
        calls = proxy.counts.calls
    elapsed = time.monotonic() - started

    # Faults really happened, of every kind, at about the planned share.
    assert set(injected) == set(FAULT_KINDS)
    assert 0.12 < sum(injected.values()) / calls < 0.28
    # Nothing lost: every valid record counted once, every hostile one set aside with its reason.
    items = incident_items(pipeline)
    assert {k: int(i["event_count"]) for k, i in items.items()} == dict(sent_valid)
    reasons_by_source = {
        m["MessageAttributes"]["source_message_id"]["StringValue"]: m["MessageAttributes"]["reason"][
            "StringValue"
        ]
        for m in with_reason
    }  # a DLQ send whose answer was lost is sent again: count each source message once
    assert Counter(reasons_by_source.values()) == expected_reasons
    total = sum(int(i["event_count"]) for i in items.values()) + len(reasons_by_source)
    assert total == sum(sent_valid.values()) + sum(expected_reasons.values())
    # Nothing stuck: every incident was announced to triage, with its one incident id.
    opened = [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.work_queue)]
    announced: dict[str, set[str]] = {}
    for message in opened:
        announced.setdefault(message["access_key_id"], set()).add(message["incident_id"])
    assert announced == {k: {str(i["incident_id"])} for k, i in items.items()}
    assert pipeline.queue_messages(pipeline.names.events_queue) == []
    assert all(i["status"] == "open" for i in items.values())

    measure(
        "faults",
        injects=f"20 % of the handler's AWS calls faulty (seed {SEED}): "
        + ", ".join(f"{k} {injected.get(k, 0)}" for k in FAULT_KINDS),
        load=f"{WAVES * VALID_PER_WAVE} valid + {sum(expected_reasons.values())} hostile records, "
        f"batches of {BATCH}, {calls} proxied calls",
        held={
            "event_count_exact": True,
            "dlq_with_reason": len(reasons_by_source),
            "redriven_after_max_receives": len(exhausted),
            "item_failures_retried": faulty_stats[1],
            "opened_messages": len(opened),
            "incidents": len(items),
            "wall_s": round(elapsed, 1),
        },
    )


def effective_attempts(aws_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many times one call of credfix's clients is really sent when every answer is a 500
    (counted at the proxy, so it is botocore's behaviour, not our reading of its config)."""
    from botocore.exceptions import ClientError

    from credfix.adapters import aws as aws_clients

    # forget cached clients (and the cached session, where aws.py keeps one)
    reset = aws_clients.reset_clients
    with fault_proxy(aws_url, FaultPlan(0, 1.0, 0, 0, 0)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        reset()
        try:
            ddb = aws_clients.client("dynamodb")
            assert ddb.meta.endpoint_url == proxy.url
            with pytest.raises(ClientError, match="InternalFailure"):
                ddb.describe_table(TableName="any")
        finally:
            reset()
        return proxy.counts.calls


def test_retry_budget_fits_the_ingest_timeout(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """One call's worst case under credfix's botocore config (credfix.adapters.aws.RETRIES):
    every attempt hits the connect and read timeouts or is throttled with the longest
    standard-mode backoff, whichever is longer. Two such calls (an incident write and its
    "opened" message) must fit in the ingest Lambda's timeout, so that a batch whose AWS
    calls all fail is answered with batch item failures instead of being cut off."""
    from infra.home_stack import INGEST_TIMEOUT, STEP_TIMEOUT

    attempts = effective_attempts(aws_env.url, monkeypatch)
    per_attempt = float(RETRIES.connect_timeout) + float(RETRIES.read_timeout)
    # botocore standard mode, before retry i+1: rand(0,1) * min(base * 2**i, 20 s), base 1 s
    # after a throttling error, 0.05 s after any other (a timeout)
    worst_call = per_attempt + sum(
        max(per_attempt + 0.05 * 2**i, float(min(2**i, 20))) for i in range(attempts - 1)
    )
    measure(
        "retry-budget",
        injects="(arithmetic on measured attempts) every attempt times out or is throttled",
        load=f"{attempts} attempts (measured at the proxy) x ({RETRIES.connect_timeout} s connect"
        f" + {RETRIES.read_timeout} s read) + standard-mode backoff",
        held={
            "attempts_per_call": attempts,
            "worst_call_s": round(worst_call, 2),
            "ingest_timeout_s": INGEST_TIMEOUT.to_seconds(),
            "step_timeout_s": STEP_TIMEOUT.to_seconds(),
            "fits_two_calls_in_ingest": 2 * worst_call <= INGEST_TIMEOUT.to_seconds(),
        },
    )
    assert worst_call <= STEP_TIMEOUT.to_seconds()
    assert 2 * worst_call <= INGEST_TIMEOUT.to_seconds(), (
        f"{attempts} attempts x {per_attempt} s: one unanswered call takes up to {worst_call:.1f} s"
    )


NO_FAULTS = FaultPlan(0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    "script",
    [
        # The opening write is applied but its answer is lost: botocore sends it again, the
        # condition fails, and the incident must still be announced (the lease was ours).
        [("UpdateItem", "REMOVE closed_at", "lost-answer", 1)],
        # Sending the "opened" message fails (every retry dropped), and so does the write that
        # frees the lease: the redelivered record must announce it (the lease is still ours).
        [("SendMessage", "incident-opened", "drop", 4), ("UpdateItem", "REMOVE announcing_at", "drop", 4)],
    ],
    ids=["opening-answer-lost", "send-and-release-dropped"],
)
def test_an_incident_is_announced_whatever_answer_is_lost(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, script: list[tuple[str, str, str, int]]
) -> None:
    with fault_proxy(pipeline.aws.url, NO_FAULTS) as proxy:
        for operation, text, fault, times in script:
            proxy.script(operation, text, fault, times)  # type: ignore[arg-type]
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        handler = load_handler("ingest").handler
        send_bodies(
            pipeline, [json.dumps(cloudtrail_event(KEYS[0], source_ip="203.0.113.9")) for _ in range(3)]
        )
        pipeline.ingest_poller(handler, batch_size=10).drain()
        injected = sum(proxy.counts.injected.values())
    assert injected == sum(times for *_, times in script)  # each scripted fault really happened
    items = incident_items(pipeline)
    # When the send fails, the one record given back to SQS to carry the announcement is
    # counted again on its redelivery (core/ingest.py: the price of never losing the message).
    resent = 1 if script[0][0] == "SendMessage" else 0
    assert int(items[KEYS[0]]["event_count"]) == 3 + resent
    # An outside address: the "opened" message goes to triage's bulk lane.
    assert pipeline.queue_messages(pipeline.names.work_queue) == []
    opened = [json.loads(m["Body"]) for m in pipeline.queue_messages(pipeline.names.bulk_queue)]
    assert [m["incident_id"] for m in opened] == [items[KEYS[0]]["incident_id"]]
