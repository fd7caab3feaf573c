"""Hostile storm: 100,000 invented key IDs failing from five outside addresses, and one genuine
stale ECS consumer of the account failing in the same minute, through the whole pipeline.

Anyone can make AWS record failures for key IDs they invent (docs/threat-model.md); credfix
caps how many new incidents such a storm opens (credfix.core.storm: 20 per source address and
200 in all per 15-minute window; beyond that, keys are counted in the window's storm record and
one summary alert per window goes out through the verify step), defers incidents none of whose
sources the account owns to triage's bulk lane (credfix.core.triage.take_opened_incident), and
shares the account-wide lookups across incidents (credfix.core.locate.context.SHARED).

One run on the local AWS (moto server, `harness.pipeline.LocalPipeline` resources):

- the account: a watched secret (tag credfix:watch=true) rotated to a new Active key, the old
  key deactivated; an ECS Fargate service whose task definition reads the secret, its task
  started before the rotation (harness.account); the account's own STS interface endpoint;
- the records: `keys` distinct random key IDs ("AKIA" + 16 of A-Z2-7), one failure each, from
  `sources` TEST-NET-3 addresses (203.0.113.x; five by default), their event times spread over
  one minute; the
  genuine consumer's failures (from the task's private IP through the account's endpoint, so
  CloudTrail names the endpoint) are the 501st record of each of the first five batches;
- every Lambda runs in its own process, as in AWS each function runs in its own execution
  environments and each queue's event source mapping polls concurrently: ingest (the real
  handler, Lambda's SQS event shape, 1,000 records per batch, back to back as a backlog is
  delivered: moto's EventBridge and SQS are far too slow for 100,000 put_events), and one
  `harness.pipeline.SqsPoller` each for the work queue (triage, priority lane), the bulk queue
  (triage again: the same function's second event source), the act queue and the verify queue,
  in enforce mode, the verify message not delayed (CREDFIX_DRAIN_SECONDS=0);
- the storm summary: ingest sends it to the verify queue delayed until the window's end (up to
  15 minutes). The ingest process records the message body it sent (a botocore
  `before-parameter-build` hook on sqs:SendMessage); once the pipeline is idle the bench sends
  that same body to the verify queue again without delay, and the verify poller receives it
  and runs the real verify handler on it. Then once more, standing for the delayed original
  (which stays in the queue) coming due: verify must find the window's summary sent;
- every AWS call each handler makes is counted with botocore `before-call` hooks on the
  session all of credfix's clients come from (credfix.adapters.aws.hook_new_clients); the
  pollers' own receive/delete calls (Lambda's event source mapping) are not credfix's and are
  not counted. The wall clock at the hook of ecs:UpdateService ends the genuine incident's
  pipeline time, which starts when the ingest handler is given the batch holding its first
  record;
- the same genuine consumer without the storm: a fresh pipeline (moto reset) with only its
  five records, one per batch, measured before and after the storm run in the same process;
  and the storm once more with the genuine records first in their batches (ingest's share of
  the delay, told from the rest of the pipeline's).

Then: alerts by kind from an SQS subscriber of the alerts topic, every record accounted for
(incidents' event counts + storm records + the events DLQ), verdicts, lanes, DLQs, peak RSS.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ACCOUNT, REGION, lambda_environ, median, proc_cpu_seconds, ratio

KEYS = 100_000
BATCH = 1000
SOURCES = 5  # outside addresses the storm comes from (TEST-NET-3)
GENUINE_RECORDS = 5  # one in each of the first batches
# Its place in each batch: after the storm keys the caps let open incidents (storm record i
# comes from source i % SOURCES, so the first 20 x SOURCES keys of the first batch open them).
GENUINE_OFFSET = 500
BASELINES = 2  # runs without the storm: one before the storm run, one after
SEED = 20261128
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
POLL_IDLE_SECONDS = 0.05  # an event source mapping's poll when its queue was empty
IDLE_CHECKS = 4  # consecutive empty looks at every queue before the pipeline counts as idle
TIMEOUT_SECONDS = 1500
GOALS = {"calls_per_storm_key": 0.1, "time_ratio_band": 0.2}
CONSUMERS = (
    # (process name, handler, queue in harness.pipeline.Resources)
    ("triage-priority", "triage", "work_queue"),
    ("triage-bulk", "triage", "bulk_queue"),
    ("act", "act", "act_queue"),
    ("verify", "verify", "verify_queue"),
)


# --- records -------------------------------------------------------------------------------------


def storm_sources(count: int = SOURCES) -> list[str]:
    """Addresses of nobody's VPC (TEST-NET-3), none of them the account's."""
    if not 1 <= count <= 250:
        raise ValueError("between 1 and 250 storm sources")
    return [f"203.0.113.{n}" for n in range(7, 7 + count)]


def storm_keys(count: int, seed: int = SEED) -> list[str]:
    """Distinct key IDs of the valid shape; new-format ones decode to random accounts."""
    rng = random.Random(seed)
    seen: set[str] = set()
    keys: list[str] = []
    while len(keys) < count:
        key = "AKIA" + "".join(rng.choice(BASE32) for _ in range(16))
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


def genuine_positions(total: int, count: int, offset: int = GENUINE_OFFSET) -> list[int]:
    """`offset` in each of the first `count` batches; spread evenly when there are fewer."""
    if total >= BATCH * count:
        return [offset + BATCH * i for i in range(count)]
    return [i if offset == 0 else total * (2 * i + 1) // (2 * count) for i in range(count)]


def write_batches(
    path: Path,
    keys: list[str],
    genuine: list[dict[str, Any]],
    queue_arn: str,
    start: datetime,
    *,
    sources: list[str],
    offset: int = GENUINE_OFFSET,
) -> dict[str, Any]:
    """Lambda's SQS events, one per line (the ingest process holds one batch at a time): storm
    record i from sources[i % len(sources)]; the genuine records at `offset` of the first
    batches (with no storm, each genuine record is a batch of its own)."""
    from bench.storm import sqs_batches
    from harness.records import FARGATE_UA, RUNNER_UA, cloudtrail_event

    total = len(keys) + len(genuine)
    positions = genuine_positions(total, len(genuine), offset)
    genuine_at = dict(zip(positions, genuine, strict=True)) if keys else {}
    spread = timedelta(seconds=60) / max(total, 1)
    batches = genuine_batches = 0
    storm_index = genuine_index = 0
    with path.open("w") as f:
        position = 0
        while position < total:
            events: list[dict[str, Any]] = []
            holds_genuine = False
            while len(events) < (BATCH if keys else 1) and position < total:
                if position in genuine_at or (not keys and genuine_index < len(genuine)):
                    event = genuine_at.get(position) or genuine[genuine_index]
                    genuine_index += 1
                    holds_genuine = True
                else:
                    event = cloudtrail_event(
                        keys[storm_index],
                        source_ip=sources[storm_index % len(sources)],
                        user_agent=RUNNER_UA if storm_index % 2 else FARGATE_UA,
                        event_time=start + spread * position,
                    )
                    storm_index += 1
                events.append(event)
                position += 1
            (batch,) = sqs_batches(events, queue_arn, len(events))
            f.write(json.dumps(batch) + "\n")
            batches += 1
            genuine_batches += holds_genuine
    return {"records": total, "batches": batches, "batches_with_genuine": genuine_batches}


# --- the account ---------------------------------------------------------------------------------


@dataclass
class Genuine:
    old_key: str
    new_key: str
    task_ip: str
    endpoint: str
    cluster: str
    service: str

    def records(self, start: datetime, count: int = GENUINE_RECORDS) -> list[dict[str, Any]]:
        from harness.records import FARGATE_UA, cloudtrail_event

        return [
            cloudtrail_event(
                self.old_key,
                source_ip=self.task_ip,
                user_agent=FARGATE_UA,
                vpc_endpoint_id=self.endpoint,
                event_time=start + timedelta(seconds=12 * i),
            )
            for i in range(count)
        ]


def genuine_consumer() -> Genuine:
    """The rotation straggler, built with boto3 on the local AWS as an account would have it."""
    import boto3

    from harness import account as build

    iam, sm = boto3.client("iam"), boto3.client("secretsmanager")
    net = build.network()
    endpoint = build.sts_endpoint(net)
    iam.create_user(UserName="orders-bot")
    old = iam.create_access_key(UserName="orders-bot")["AccessKey"]
    secret = sm.create_secret(
        Name="prod/orders-api/aws",
        SecretString=json.dumps(
            {"AccessKeyId": old["AccessKeyId"], "SecretAccessKey": old["SecretAccessKey"]}
        ),
        Tags=[{"Key": "credfix:watch", "Value": "true"}],
    )["ARN"]
    definition = build.task_definition("orders-api", secret_value_from=secret)
    (task,) = build.ecs_service(net, "prod", "orders-api", definition)
    # The rotation: a new key made current in the secret, the old one deactivated; the running
    # task still holds the old key.
    new = iam.create_access_key(UserName="orders-bot")["AccessKey"]
    sm.put_secret_value(
        SecretId=secret,
        SecretString=json.dumps(
            {"AccessKeyId": new["AccessKeyId"], "SecretAccessKey": new["SecretAccessKey"]}
        ),
    )
    iam.update_access_key(UserName="orders-bot", AccessKeyId=old["AccessKeyId"], Status="Inactive")
    return Genuine(
        old["AccessKeyId"], new["AccessKeyId"], build.private_ip_of(task), endpoint, "prod", "orders-api"
    )


# --- the parent: one run -------------------------------------------------------------------------


def child_environ(aws: Any, pipeline: Any, function: str) -> dict[str, str]:
    env = {**lambda_environ(function, endpoint=aws.url), **pipeline.environ()}
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(
        {
            "CREDFIX_MODE": "enforce",
            "CREDFIX_DRAIN_SECONDS": "0",  # the verify message is not delayed
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    return env


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def spawn(role: str, config: dict[str, Any], env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    path = workdir / f"{config['name']}.config.json"
    path.write_text(json.dumps(config))
    with (workdir / f"{config['name']}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "bench.hostile", role, str(path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _queue_busy(sqs: Any, urls: list[str]) -> int:
    """Messages waiting or in flight, upstream queue first (a message moves downstream only
    before it is deleted upstream, so reading in this order cannot miss it)."""
    busy = 0
    for url in urls:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        busy += int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )
    return busy


def _wait_idle(sqs: Any, urls: list[str], deadline: float, procs: list[subprocess.Popen[bytes]]) -> None:
    quiet = 0
    while quiet < IDLE_CHECKS:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a pipeline process exited early ({proc.args!r}, rc {proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError("the pipeline did not drain in time")
        quiet = quiet + 1 if _queue_busy(sqs, urls) == 0 else 0
        time.sleep(0.25)


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    from credfix.adapters.stores.incidents import from_item

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(from_item(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _alerts(pipeline: Any, genuine_key: str) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    genuine: list[dict[str, Any]] = []
    storm_windows: Counter[str] = Counter()
    other_verdicts: Counter[str] = Counter()
    for message in pipeline.queue_messages(pipeline.names.inbox):
        envelope = json.loads(message["Body"])
        body = json.loads(envelope["Message"])
        kind = str(body.get("kind"))
        if kind == "storm":
            by_kind["storm summary"] += 1
            storm_windows[body["storm"]["window"]] += 1
            continue
        incident = body.get("incident", {})
        if incident.get("access_key_id") == genuine_key:
            by_kind[f"genuine incident: {kind}"] += 1
            genuine.append({"kind": kind, "subject": envelope.get("Subject", "")})
        else:
            by_kind[f"storm-key incident: {kind}"] += 1
            other_verdicts[f"{kind} {incident.get('verdict')}"] += 1
    return {
        "by_kind": dict(by_kind),
        "storm_summaries_per_window": dict(storm_windows),
        "genuine": genuine,
        "storm_key_incident_alerts": dict(other_verdicts),
        "total": sum(by_kind.values()),
    }


def run_once(
    aws: Any, workdir: Path, keys: int, *, sources: int = SOURCES, offset: int = GENUINE_OFFSET
) -> dict[str, Any]:
    """One pipeline on a freshly reset local AWS: the genuine consumer, and `keys` storm keys
    from `sources` outside addresses (the genuine records at `offset` of their batches)."""
    import boto3

    from bench.storm import deploy
    from credfix.core.locate.context import SHARED

    workdir.mkdir(parents=True)
    aws.reset()
    SHARED.clear()
    os.environ.update(aws.environ())  # harness.account's boto3 clients
    pipeline = deploy(aws)
    genuine = genuine_consumer()
    names = pipeline.names
    # The failures start now, after the task did: the local AWS reports a task's real start
    # time, and a task started after the last failure only reused the address (low confidence).
    start = datetime.now(UTC) + timedelta(seconds=1)
    batches_file = workdir / "batches.jsonl"
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{names.events_queue}"
    generated = time.monotonic()
    shape = write_batches(
        batches_file,
        storm_keys(keys),
        genuine.records(start),
        queue_arn,
        start,
        sources=storm_sources(sources),
        offset=offset,
    )
    generated = time.monotonic() - generated
    sqs = boto3.session.Session().client("sqs", endpoint_url=aws.url, region_name=REGION)
    urls = [pipeline.urls[getattr(names, queue)] for _, _, queue in CONSUMERS]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    moto_cpu = proc_cpu_seconds(aws.process.pid)
    wall = time.monotonic()
    with processes() as procs:
        outs: dict[str, Path] = {}
        for name, handler, queue in CONSUMERS:
            outs[name] = workdir / f"{name}.out.json"
            config = {
                "name": name,
                "handler": handler,
                "queue_url": pipeline.urls[getattr(names, queue)],
                "ready": str(workdir / f"{name}.ready"),
                "stop": str(workdir / "stop"),
                "out": str(outs[name]),
                "genuine": genuine.old_key,
            }
            procs.append(spawn("consume", config, child_environ(aws, pipeline, handler), workdir))
        while not all((workdir / f"{name}.ready").exists() for name, _, _ in CONSUMERS):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"a consumer did not start: see {workdir}/*.log")
            time.sleep(0.05)
        outs["ingest"] = workdir / "ingest.out.json"
        ingest_config = {
            "name": "ingest",
            "batches": str(batches_file),
            "out": str(outs["ingest"]),
            "genuine": genuine.old_key,
        }
        ingest = spawn("ingest", ingest_config, child_environ(aws, pipeline, "ingest"), workdir)
        procs.append(ingest)
        while ingest.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("ingest did not finish in time")
            time.sleep(0.2)
        if ingest.returncode != 0:
            raise RuntimeError(f"ingest failed: {(workdir / 'ingest.log').read_text()[-3000:]}")
        ingested: dict[str, Any] = json.loads(outs["ingest"].read_text())
        _wait_idle(sqs, urls, deadline, procs[:-1])
        drained_at = time.monotonic() - wall
        # The storm summaries, without waiting for their delay: the body ingest sent, again.
        # Twice: the second stands for the delayed original coming due (verify must find the
        # window's summary sent and send nothing).
        for _ in range(2):
            for body in ingested["storm_summary_bodies"]:
                sqs.send_message(QueueUrl=pipeline.urls[names.verify_queue], MessageBody=body)
            _wait_idle(sqs, urls, deadline, procs[:-1])
        (workdir / "stop").touch()
        for proc in procs[:-1]:
            proc.wait(timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(f"a consumer failed: see {workdir}/*.log")
    wall = time.monotonic() - wall
    moto_cpu = proc_cpu_seconds(aws.process.pid) - moto_cpu
    children = {name: json.loads(path.read_text()) for name, path in outs.items()}

    items = _scan(pipeline.ddb, names.table)
    incidents = [i for i in items if str(i["pk"]).startswith("key#")]
    storms = [i for i in items if str(i["pk"]).startswith("storm#")]
    dlq = {q: len(pipeline.queue_messages(q)) for q in (names.events_dlq, names.work_dlq, names.bulk_dlq)}
    dlq.update({q: len(pipeline.queue_messages(q)) for q in (names.act_dlq, names.verify_dlq)})
    genuine_item = next((i for i in incidents if i["pk"] == f"key#{genuine.old_key}"), {})
    remediation = json.loads(genuine_item.get("remediation", '{"actions": []}'))
    verification = json.loads(genuine_item.get("verification", "{}") or "{}")
    in_incidents = sum(int(i.get("event_count", 0)) for i in incidents)
    in_storms = sum(int(s.get("records", 0)) for s in storms)
    rejected = dlq[names.events_dlq]
    return {
        "storm_keys": keys,
        "storm_sources": sources,
        "genuine_offset_in_batch": offset if keys else None,
        "storm_summary_messages": len(ingested["storm_summary_bodies"]),
        "shape": shape,
        "generate_s": round(generated, 1),
        "wall_s": round(wall, 1),
        "pipeline_idle_after_s": round(drained_at, 1),
        "moto_cpu_s": round(moto_cpu, 1),
        "genuine": {
            "key": genuine.old_key,
            "verdict": genuine_item.get("verdict"),
            "status": genuine_item.get("status"),
            "event_count": int(genuine_item.get("event_count", 0)),
            "actions": [f"{a['status']} {a['type']}" for a in remediation.get("actions", [])],
            "verification": (verification.get("verification") or {}).get("outcome"),
            "timeline": _timeline(children),
        },
        "children": {
            name: {k: v for k, v in out.items() if k not in ("marks", "storm_summary_bodies", "send_times")}
            for name, out in children.items()
        },
        "alerts": _alerts(pipeline, genuine.old_key),
        "incidents_opened": len(incidents),
        "incident_verdicts": dict(Counter(str(i.get("verdict")) for i in incidents)),
        "incident_statuses": dict(Counter(str(i.get("status")) for i in incidents)),
        "storm_records": [
            {
                "window": str(s["pk"]).removeprefix("storm#"),
                "records": int(s.get("records", 0)),
                "keys": int(s.get("keys", 0)),
                "alerted": "alerted_at" in s,
            }
            for s in storms
        ],
        "records": {
            "sent": shape["records"],
            "in_incidents": in_incidents,
            "in_storm_records": in_storms,
            "rejected_to_dlq": rejected,
            "accounted": in_incidents + in_storms + rejected,
            "lost": shape["records"] - (in_incidents + in_storms + rejected),
        },
        "dead_letter_queues": dlq,
        "delayed_left_in_verify_queue": pipeline.delayed(names.verify_queue),
    }


def _timeline(children: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The genuine incident's way through the pipeline, from the marks each process kept."""
    ingest = children["ingest"]
    first_batch = next((b for b in ingest["batches"] if b["genuine"]), None)
    marks = {name: out["marks"] for name, out in children.items()}

    def first(name: str, what: str) -> float | None:
        found = [m["t"] for m in marks.get(name, []) if m["what"] == what]
        return min(found) if found else None

    def received(name: str) -> float | None:
        found = [i["start"] for i in children.get(name, {}).get("invocations", []) if i["genuine"]]
        return min(found) if found else None

    points = {
        "ingest_batch_start": first_batch["start"] if first_batch else None,
        "opened_sent": first("ingest", "send work"),
        "triage_received": received("triage-priority"),
        "deferred_to_bulk": first("triage-priority", "send bulk"),
        "act_message_sent": first("triage-priority", "send act") or first("triage-bulk", "send act"),
        "act_received": received("act"),
        "update_service": first("act", "ecs:UpdateService"),
        "verify_sent": first("act", "send verify"),
    }
    t0 = points["ingest_batch_start"]
    relative = {
        k: (round(v - t0, 3) if v is not None and t0 is not None else None) for k, v in points.items()
    }
    legs = {}
    order = ["ingest_batch_start", "opened_sent", "triage_received", "act_message_sent", "act_received"]
    order.append("update_service")
    for a, b in itertools.pairwise(order):
        ta, tb = points[a], points[b]
        if ta is not None and tb is not None:
            legs[f"{a} -> {b}"] = round(tb - ta, 3)

    def sent_before(lane: str, t: float | None) -> int | None:
        if t is None:
            return None
        return sum(1 for out in children.values() for s in out.get("send_times", {}).get(lane, []) if s < t)

    def invoked_before(name: str, t: float | None) -> int | None:
        if t is None:
            return None
        return sum(i["records"] for i in children.get(name, {}).get("invocations", []) if i["start"] < t)

    return {
        "seconds_to_update_service": relative["update_service"],
        "points_s": relative,
        "legs_s": legs,
        # What was ahead of it: messages sent to the queue before its own, and messages the
        # queue's consumer had started on before it was sent.
        "work_queue_ahead": {
            "sent_before": sent_before("work", points["opened_sent"]),
            "taken_before": invoked_before("triage-priority", points["opened_sent"]),
        },
        "act_queue_ahead": {
            "sent_before": sent_before("act", points["act_message_sent"]),
            "taken_before": invoked_before("act", points["act_message_sent"]),
        },
        "ingest_batch_calls": first_batch["calls"] if first_batch else None,
        "ingest_batch_seconds": round(first_batch["end"] - first_batch["start"], 3) if first_batch else None,
    }


# --- the parent: the measurement -----------------------------------------------------------------


def _calls(run: dict[str, Any]) -> dict[str, Any]:
    by_process = {name: out["calls"] for name, out in run["children"].items()}
    totals = {name: sum(c.values()) for name, c in by_process.items()}
    return {"by_process": by_process, "per_process": totals, "total": sum(totals.values())}


def _time_of(run: dict[str, Any]) -> float | None:
    value = run["genuine"]["timeline"]["seconds_to_update_service"]
    return float(value) if value is not None else None


def measure(
    keys: int = KEYS, *, sources: int = SOURCES, baselines: int = BASELINES, first_in_batch: bool = True
) -> dict[str, Any]:
    """The hostile storm (and, with `first_in_batch`, the same storm with the genuine records
    first in their batches), and `baselines` runs of the genuine consumer alone."""
    from harness.moto import local_aws

    saved = dict(os.environ)
    started = time.monotonic()
    try:
        with local_aws() as aws, tempfile.TemporaryDirectory(prefix="credfix-hostile-") as tmp:
            work = Path(tmp)
            before = [run_once(aws, work / f"baseline-{i}", 0) for i in range(max(1, baselines // 2))]
            storm = run_once(aws, work / "storm", keys, sources=sources)
            first = (
                run_once(aws, work / "storm-first", keys, sources=sources, offset=0)
                if first_in_batch
                else None
            )
            after = [run_once(aws, work / f"baseline-after-{i}", 0) for i in range(baselines - len(before))]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    base_runs = before + after
    calls = _calls(storm)
    base_calls = [_calls(b)["total"] for b in base_runs]
    storm_time = _time_of(storm)
    base_known = [t for t in (_time_of(b) for b in base_runs) if t is not None]
    base_time = round(median(base_known), 3) if base_known else None
    time_ratio = ratio(storm_time, base_time) if storm_time is not None and base_time else None
    first_time = _time_of(first) if first else None
    first_ratio = ratio(first_time, base_time) if first_time is not None and base_time else None
    alerts = storm["alerts"]
    windows = alerts["storm_summaries_per_window"]
    genuine_act_alerts = alerts["by_kind"].get("genuine incident: remediated", 0)
    other_incident_alerts = sum(v for k, v in alerts["by_kind"].items() if k.startswith("storm-key"))
    per_key = calls["total"] / keys
    ingest = storm["children"]["ingest"]
    full = [b for b in ingest["batches"] if b["records"] == BATCH]
    return {
        "storm_keys": keys,
        "batch_size": BATCH,
        "storm_sources": storm_sources(sources),
        "genuine_records": GENUINE_RECORDS,
        "genuine_offset_in_batch": GENUINE_OFFSET,
        "limits": _default_limits(),
        "calls_per_storm_key": round(per_key, 4),
        "calls_per_storm_key_without_the_genuine_incident": round(
            (calls["total"] - median(base_calls)) / keys, 4
        ),
        "calls_per_storm_key_by_process": {n: round(c / keys, 4) for n, c in calls["per_process"].items()},
        "calls": calls,
        "baseline_calls": base_calls,
        "meets_calls_goal": per_key <= GOALS["calls_per_storm_key"],
        "alerts_by_kind": alerts["by_kind"],
        "alerts_total": alerts["total"],
        "storm_summaries_per_window": windows,
        "genuine_act_alerts": genuine_act_alerts,
        "genuine_verify_alerts": alerts["by_kind"].get("genuine incident: resolved", 0)
        + alerts["by_kind"].get("genuine incident: escalated", 0),
        "storm_key_incident_alerts": other_incident_alerts,
        "storm_key_incident_alerts_by_kind_and_verdict": alerts["storm_key_incident_alerts"],
        "meets_alerts_goal": bool(windows)
        and all(n == 1 for n in windows.values())
        and genuine_act_alerts == 1
        and other_incident_alerts == 0,
        "genuine_seconds_to_update_service": storm_time,
        "genuine_timeline": storm["genuine"]["timeline"],
        "baseline_seconds_to_update_service": [_time_of(b) for b in base_runs],
        "baseline_median_seconds": base_time,
        "time_ratio": time_ratio,
        "meets_time_goal": time_ratio is not None and abs(time_ratio - 1) <= GOALS["time_ratio_band"],
        "genuine_first_in_batch_seconds": first_time,
        "genuine_first_in_batch_ratio": first_ratio,
        "genuine_first_in_batch_timeline": first["genuine"]["timeline"] if first else None,
        "genuine": storm["genuine"],
        "incidents_opened": storm["incidents_opened"],
        "storm_key_incidents": storm["incidents_opened"] - (1 if storm["genuine"]["event_count"] else 0),
        "incident_verdicts": storm["incident_verdicts"],
        "bulk_lane_incidents": storm["children"]["triage-bulk"]["stats"]["delivered"],
        "records": storm["records"],
        "storm_records": storm["storm_records"],
        "dead_letter_queues": storm["dead_letter_queues"],
        "nothing_lost": storm["records"]["lost"] == 0 and not any(storm["dead_letter_queues"].values()),
        "ingest_peak_rss_mb": round(ingest["maxrss_kb"] / 1024, 1),
        "ingest_batch_item_failures": ingest["batch_item_failures"],
        "ingest_first_batch": {k: full[0][k] for k in ("calls", "cpu_s")}
        | {"seconds": round(full[0]["end"] - full[0]["start"], 3)}
        if full
        else None,
        "ingest_other_batches_median": {
            "seconds": round(median([b["end"] - b["start"] for b in full[1:]]), 3),
            "cpu_us_per_record": round(median([b["cpu_s"] for b in full[1:]]) / BATCH * 1e6, 2),
            "calls": median([b["calls"] for b in full[1:]]),
        }
        if len(full) > 1
        else None,
        "runs": {
            "storm": _compact(storm),
            "storm_genuine_first_in_batch": _compact(first) if first else None,
            "baselines": [_compact(b) for b in base_runs],
        },
        "seconds": round(time.monotonic() - started, 1),
    }


def _default_limits() -> dict[str, Any]:
    """The storm caps in force (the children get no CREDFIX_MAX_NEW_* / STORM_WINDOW override)."""
    from credfix.config import Settings

    fields = Settings.model_fields
    return {
        "per_source": fields["max_new_incidents_per_source"].default,
        "overall": fields["max_new_incidents"].default,
        "window_seconds": fields["storm_window_seconds"].default,
    }


def _compact(run: dict[str, Any]) -> dict[str, Any]:
    """A run as kept in results.json: per-invocation lists left out."""
    out = dict(run)
    out["children"] = {
        name: {k: v for k, v in child.items() if k not in ("invocations", "batches")}
        for name, child in run["children"].items()
    }
    return out


# --- the child processes -------------------------------------------------------------------------


class Recorder:
    """Every AWS call of credfix's clients in this process, and the genuine incident's marks."""

    def __init__(self, genuine: str) -> None:
        self.genuine = genuine
        self.calls: Counter[str] = Counter()
        self.marks: list[dict[str, Any]] = []
        self.storm_summary_bodies: list[str] = []
        self.sends: Counter[str] = Counter()  # messages sent, per queue
        self.send_times: dict[str, list[float]] = {}

    def install(self) -> None:
        from credfix.adapters.aws import hook_new_clients

        # Before the handler module makes its clients (at import).
        hook_new_clients("before-call", self.call)
        hook_new_clients("before-parameter-build.sqs.SendMessage", self.send)

    def call(self, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        self.calls[name] += 1
        if name == "ecs:UpdateService":
            self.marks.append({"what": name, "t": time.time()})

    def send(self, params: dict[str, Any], **_: Any) -> None:
        body = str(params.get("MessageBody", ""))
        queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        lane = queue.removeprefix("credfix-").replace("work-bulk", "bulk")
        if self.genuine in body:
            # `before`: this process's earlier messages to the same queue (ahead of it there)
            self.marks.append({"what": f"send {lane}", "t": time.time(), "before": self.sends[lane]})
        self.sends[lane] += 1
        self.send_times.setdefault(lane, []).append(round(time.time(), 4))
        if '"storm-summary"' in body:
            self.storm_summary_bodies.append(body)


def _peak_rss_kb() -> int:
    from bench.common import peak_rss_kb

    return peak_rss_kb()


def consume(config_path: str) -> None:
    """One Lambda function behind one queue's event source mapping, until told to stop."""
    import boto3

    from harness.pipeline import LambdaContext, SqsPoller

    config = json.loads(Path(config_path).read_text())
    recorder = Recorder(config["genuine"])
    recorder.install()
    module = importlib.import_module(f"credfix.handlers.{config['handler']}")
    invocations: list[dict[str, Any]] = []
    cpu = 0.0

    def timed(event: dict[str, Any], context: LambdaContext) -> Any:
        nonlocal cpu
        records = event["Records"]
        genuine = any(config["genuine"] in r["body"] for r in records)
        start, c0 = time.time(), time.process_time()
        try:
            return module.handler(event, context)
        finally:
            cpu += time.process_time() - c0
            invocations.append(
                {"start": start, "end": time.time(), "records": len(records), "genuine": genuine}
            )

    # The event source mapping's own client (its receives and deletes are not credfix's calls).
    sqs = boto3.session.Session().client("sqs")
    poller = SqsPoller(
        sqs, config["queue_url"], timed, function_name=f"credfix-{config['handler']}", batch_size=10
    )
    Path(config["ready"]).touch()
    stop = Path(config["stop"])
    while not stop.exists():
        if not poller.poll_once():
            time.sleep(POLL_IDLE_SECONDS)
    Path(config["out"]).write_text(
        json.dumps(
            {
                "calls": dict(recorder.calls),
                "marks": recorder.marks,
                "invocations": invocations,
                "stats": {
                    "invocations": poller.stats.invocations,
                    "delivered": poller.stats.delivered,
                    "item_failures": poller.stats.item_failures,
                },
                "handler_cpu_s": round(cpu, 3),
                "maxrss_kb": _peak_rss_kb(),
                "storm_summary_bodies": recorder.storm_summary_bodies,
                "send_times": recorder.send_times,
            }
        )
    )


MAX_RECEIVES = 5  # the events queue's redrive policy (harness.pipeline.MAX_RECEIVES)


def ingest_child(config_path: str) -> None:
    """The ingest function on a backlog: batch after batch, as the event source mapping delivers
    it; reported batch item failures come back in a later batch (as SQS redelivers them)."""
    from harness.pipeline import LambdaContext

    config = json.loads(Path(config_path).read_text())
    genuine = config["genuine"]
    recorder = Recorder(genuine)
    recorder.install()
    from credfix.handlers import ingest

    batches: list[dict[str, Any]] = []
    failures = 0
    retry: list[dict[str, Any]] = []
    receives: Counter[str] = Counter()
    cpu = 0.0
    with open(config["batches"]) as lines:
        for line in lines:
            pending = [json.loads(line)]
            if retry:
                pending.append({"Records": retry})
                retry = []
            for event in pending:
                records = event["Records"]
                has_genuine = any(genuine in r["body"] for r in records)
                opened_before = recorder.sends["work"]
                calls_before = sum(recorder.calls.values())
                start, c0 = time.time(), time.process_time()
                response = ingest.handler(event, LambdaContext("credfix-ingest"))
                elapsed_cpu = time.process_time() - c0
                cpu += elapsed_cpu
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
                failures += len(failed)
                for r in records:
                    if r["messageId"] in failed:
                        receives[r["messageId"]] += 1
                        if receives[r["messageId"]] < MAX_RECEIVES:
                            retry.append(r)
                batches.append(
                    {
                        "start": start,
                        "end": time.time(),
                        "cpu_s": round(elapsed_cpu, 4),
                        "records": len(records),
                        "genuine": has_genuine,
                        "calls": sum(recorder.calls.values()) - calls_before,
                        "failed": len(failed),
                        "opened_before": opened_before,
                    }
                )
    Path(config["out"]).write_text(
        json.dumps(
            {
                "calls": dict(recorder.calls),
                "marks": recorder.marks,
                "storm_summary_bodies": recorder.storm_summary_bodies,
                "send_times": recorder.send_times,
                "batches": batches,
                "batch_item_failures": failures,
                "records_given_up": sum(1 for n in receives.values() if n >= MAX_RECEIVES),
                "handler_cpu_s": round(cpu, 3),
                "maxrss_kb": _peak_rss_kb(),
                "stats": {"invocations": len(batches), "delivered": sum(b["records"] for b in batches)},
            }
        )
    )


if __name__ == "__main__" and sys.argv[1:2] == ["consume"]:
    consume(sys.argv[2])
elif __name__ == "__main__" and sys.argv[1:2] == ["ingest"]:
    ingest_child(sys.argv[2])
