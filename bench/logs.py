"""The runtime-log signal's CPU: the intake handler on a 10,000-line payload, against the local AWS.

A crash-looping task floods its log group; CloudWatch Logs delivers the matching lines to the
intake in payloads of up to 10,000 events (`{"awslogs": {"data": base64(gzip(json))}}`). The
parent starts the local AWS (moto server, its own process) and the pipeline's table and queues,
builds payloads of the real SDK lines (tests/sdk_lines.py, one after another: the recogniser
meets every shape; each with its own request ID where the SDK prints one, so that only the
lines a real flood repeats are repeated), and runs the real intake handler in a child process,
as Lambda would, one payload per invocation (each a fresh flood: new event IDs). In that child,
per payload:

- the floor: `base64` + `gzip` + `json.loads` of the payload, what any consumer of the
  subscription must do before looking at a line;
- the intake: the handler, all of it (decode, validate, recognise each line, group, count the
  incident with its one DynamoDB write);
- the recognition alone (credfix.core.logs.read_lines on the decoded payload), to say where
  the time goes.

CPU is time.process_time of the child; the moto server's CPU is read from /proc and reported
apart. Peak RSS is the child's VmHWM.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.common import lambda_environ, median, python_module, ratio, run_child

LINES = 10_000
PAYLOADS = 6  # measured; one more warms the child up (the incident opens on it)
TARGET_X_FLOOR = 3.0  # as for CloudTrail records (the storm's target against json.loads)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REQUEST_ID = re.compile(r"(Request ?ID: )[A-Z0-9]{16}\b")


def fresh(line: str, n: int) -> str:
    """The line as the n-th failure prints it: its own request ID where the SDK prints one (the
    Java and Go SDKs do; botocore, the CLI and the JavaScript SDK repeat the same text)."""
    line = _UUID.sub(lambda _: str(uuid.UUID(int=n + 1)), line)
    return _REQUEST_ID.sub(lambda m: f"{m.group(1)}{n:016X}", line)


def payloads(count: int, lines: int = LINES) -> list[dict[str, Any]]:
    from harness.logs import awslogs, payload
    from tests.sdk_lines import SDK_LINES

    stream = "ecs/app/0123456789abcdef0123456789abcdef"
    built = []
    for n in range(count):
        messages = [fresh(SDK_LINES[i % len(SDK_LINES)].line, n * lines + i) for i in range(lines)]
        built.append(awslogs(payload("/ecs/orders-api", stream, messages, first_id=n * lines)))
    return built


def deploy(aws: Any) -> Any:
    """The local pipeline (table, queues), its rule with a stand-in pattern (no CDK synth)."""
    import harness.pipeline as local

    local.synthesized_event_pattern = lambda context_json="{}": {"source": ["aws.sts"]}
    return local.LocalPipeline(aws).deploy()


def measure(lines: int = LINES, count: int = PAYLOADS) -> dict[str, Any]:
    from harness.moto import local_aws

    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="credfix-logs-") as tmp:
        pipeline = deploy(aws)
        path = Path(tmp) / "payloads.json"
        built = payloads(count + 1, lines)
        with path.open("w") as f:
            for event in built:
                f.write(json.dumps(event) + "\n")
        out = Path(tmp) / "result.json"
        env = {**lambda_environ("logs", endpoint=aws.url), **pipeline.environ()}
        run_child(python_module("bench.logs", "child", str(path), str(aws.process.pid), str(out)), env)
        child: dict[str, Any] = json.loads(out.read_text())
        items = pipeline.ddb.scan(TableName=pipeline.names.table)["Items"]
        incidents = [i for i in items if i["pk"]["S"].startswith("workload#")]

    per_line = median(child["handler_cpu_s"]) / lines
    floor = median(child["floor_cpu_s"]) / lines
    recognise = median(child["recognise_cpu_s"]) / lines
    return {
        "lines_per_payload": lines,
        "payloads": count,
        "payload_kb_compressed": round(len(built[0]["awslogs"]["data"]) / 1024, 1),
        "payload_kb_decoded": round(child["decoded_bytes"] / 1024, 1),
        "handler_cpu_us_per_line": round(per_line * 1e6, 2),
        "floor_decode_cpu_us_per_line": round(floor * 1e6, 2),
        "recognise_cpu_us_per_line": round(recognise * 1e6, 2),
        "x_floor": ratio(per_line, floor),
        "target_x_floor": TARGET_X_FLOOR,
        "meets_target": per_line <= TARGET_X_FLOOR * floor,
        "handler_cpu_ms_per_payload_median": round(median(child["handler_cpu_s"]) * 1000, 1),
        "handler_wall_ms_per_payload_median": round(median(child["handler_wall_s"]) * 1000, 1),
        "moto_cpu_ms_per_payload_median": round(median(child["moto_cpu_s"]) * 1000, 1),
        "lines_counted": child["counted"],
        "incidents": len(incidents),
        "event_count": int(incidents[0]["event_count"]["N"]) if incidents else 0,
        "aws_calls_per_payload": child["calls_per_payload"],
        "peak_rss_mb": round(child["maxrss_kb"] / 1024, 1),
    }


def child(payloads_path: str, moto_pid: str, out_path: str) -> None:
    """Runs in the measured process: the intake as Lambda would run it, payload after payload."""
    import base64
    import gzip
    import time
    from collections import Counter

    from bench.common import peak_rss_kb, proc_cpu_seconds
    from credfix.adapters.aws import hook_new_clients

    calls: Counter[str] = Counter()
    hook_new_clients("before-call", lambda model, **_: calls.update([model.name]))
    from credfix.core.logs import LogLines, read_lines
    from credfix.handlers import logs
    from credfix.models.logs import read_payload
    from harness.pipeline import LambdaContext

    moto = int(moto_pid)
    floor: list[float] = []
    handled: list[float] = []
    wall: list[float] = []
    recognised: list[float] = []
    moto_cpu: list[float] = []
    counted = 0
    decoded_bytes = 0
    with open(payloads_path) as f:
        events = [json.loads(line) for line in f]
    logs.handler(events[0], LambdaContext("credfix-logs"))  # warm: opens the incident
    calls.clear()
    for event in events[1:]:
        t = time.process_time()
        raw = gzip.decompress(base64.b64decode(event["awslogs"]["data"]))
        json.loads(raw)
        floor.append(time.process_time() - t)
        decoded_bytes = len(raw)

        m0, w0, c0 = proc_cpu_seconds(moto), time.perf_counter(), time.process_time()
        answer = logs.handler(event, LambdaContext("credfix-logs"))
        handled.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        moto_cpu.append(proc_cpu_seconds(moto) - m0)
        counted += answer["counted"]

        decoded = read_payload(event)
        t = time.process_time()
        read_lines(decoded, "us-east-1", logs._cfg.accepted_errors, LogLines())
        recognised.append(time.process_time() - t)
    result = {
        "floor_cpu_s": floor,
        "handler_cpu_s": handled,
        "handler_wall_s": wall,
        "recognise_cpu_s": recognised,
        "moto_cpu_s": moto_cpu,
        "counted": counted,
        "decoded_bytes": decoded_bytes,
        "calls_per_payload": {k: round(v / (len(events) - 1), 2) for k, v in calls.items()},
        "maxrss_kb": peak_rss_kb(),
    }
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(*sys.argv[2:5])
