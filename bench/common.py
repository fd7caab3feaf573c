"""What every measurement shares: paths, the Lambda-like environment, child processes, stats."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
HANDLERS_DIR = LAMBDAS / "credfix" / "handlers"
PEER_VENV = ROOT / "bench" / ".venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
TRACER_PYTHON = ROOT / "bench" / ".venv-tracer" / "bin" / "python"  # bench/tracer-requirements.txt
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Nothing listens on the discard port: a stray AWS call at init fails at once instead of hanging.
NO_AWS = "http://127.0.0.1:9"


def handler_names() -> list[str]:
    """Every Lambda handler module in lambdas/credfix/handlers/ (one that defines `handler`),
    found on disk, so new ones are picked up; helpers beside them (failures.py) are not."""
    return sorted(
        p.stem
        for p in HANDLERS_DIR.glob("*.py")
        if not p.stem.startswith("_") and "\ndef handler(" in p.read_text()
    )


def lambda_environ(function: str, *, endpoint: str = NO_AWS, memory_mb: int = 512) -> dict[str, str]:
    """What the Lambda runtime and the stack set for a credfix function, with dummy values.

    The parent's AWS_*, CREDFIX_* and POWERTOOLS_* variables are dropped so that nothing from
    the shell leaks in; POWERTOOLS_METRICS_DISABLED stays unset (as in AWS), the namespace is set.
    """
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CREDFIX_", "POWERTOOLS_", "_X_AMZN"))
    }
    queue = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}"
    return {
        **keep,
        "PYTHONPATH": os.pathsep.join([str(LAMBDAS), str(ROOT)]),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "dummy-session-token",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": f"credfix-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/credfix-{function}",
        "POWERTOOLS_METRICS_NAMESPACE": "credfix",
        "POWERTOOLS_SERVICE_NAME": f"credfix-{function}",
        "CREDFIX_TABLE": "credfix-incidents",
        "CREDFIX_WORK_QUEUE_URL": f"{queue}/credfix-work",
        "CREDFIX_ACT_QUEUE_URL": f"{queue}/credfix-act",
        "CREDFIX_VERIFY_QUEUE_URL": f"{queue}/credfix-verify",
        "CREDFIX_EVENTS_DLQ_URL": f"{queue}/credfix-events-dlq",
        "CREDFIX_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:credfix-alerts",
        "CREDFIX_KILL_SWITCH_PARAMETER": "/credfix/kill-switch",
        "CREDFIX_MODE": "enforce",
    }


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run a child process that prints one JSON object as its last stdout line; return it."""
    proc = subprocess.run(
        list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"child printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: on Linux that survives
    fork + exec, so a child would report its parent's peak when the parent's is higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
