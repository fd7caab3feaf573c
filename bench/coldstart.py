"""Cold start: import + initialisation of each handler module in a fresh process.

Every run is a new interpreter with the Lambda-like environment; the child times itself from
its first statement to the end of the handler module's initialisation (interpreter start-up
is the same for everyone and left out). Variants are interleaved round by round so that the
machine's noise spreads over all of them; each figure is a median.

- floor: `import boto3; boto3.client("sqs")`, and per handler the same clients the handler
  creates at init (found by recording `Session.client` calls in a discovery run);
- libraries: the floor plus the handler's own imports of pydantic and Powertools (and its
  Logger and Metrics), i.e. the handler as if credfix's own code cost nothing;
- peer: Cloud Custodian's Lambda entry point (c7n.handler, the one-time init dispatch_event
  does on a cold start, policy validation, and the boto3 client of its resource), from its own
  virtual environment bench/.venv (c7n pins its own boto3; its boto3 floor is measured there too).

credfix's own code runs from a copy of lambdas/credfix with bytecode compiled ahead (what a
deployment package with .pyc files gives) and, as a second figure, from a copy with sources
only (what Lambda compiles on every cold start when the asset ships no .pyc: /var/task is
read-only, so nothing is cached).
"""

from __future__ import annotations

import compileall
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    HANDLERS_DIR,
    LAMBDAS,
    PEER_PYTHON,
    REGION,
    TRACER_PYTHON,
    handler_names,
    lambda_environ,
    median,
    ratio,
    run_child,
)

# The child's clock starts before anything else is imported.
TIMED = """\
import time as _t
_t0 = _t.perf_counter()
{body}
_ms = (_t.perf_counter() - _t0) * 1000
import json as _j
_hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(_j.dumps({{"ms": _ms, "maxrss_kb": int(_hwm)}}))
"""

DISCOVER_CLIENTS = """\
import json, boto3.session
made = []
_client = boto3.session.Session.client
def client(self, service_name, *a, **kw):
    made.append(service_name)
    return _client(self, service_name, *a, **kw)
boto3.session.Session.client = client
import credfix.handlers.{name}
print(json.dumps({{"clients": made}}))
"""

FLOOR_SQS = 'import boto3\nboto3.client("sqs")'
# Powertools Tracer (the X-Ray SDK, which patches botocore at init) on the same floor, measured
# in a venv of its own (bench/tracer-requirements.txt; credfix ships without the SDK). credfix
# uses Lambda active tracing without the SDK instead; this is the figure for that choice.
TRACER = FLOOR_SQS + '\nfrom aws_lambda_powertools import Tracer\nTracer(service="credfix-x")'
# The libraries alone: the handler's own third-party imports (pydantic and the Powertools
# modules it imports, in its order: Powertools' batch utility skips its pydantic models when
# pydantic is not loaded yet), the Logger and Metrics it creates, one trivial pydantic model
# (pydantic loads its schema machinery on the first model any user defines), then the floor's
# clients. The gap between this and the handler is credfix's own code.
LIBRARIES = """\
{imports}
from aws_lambda_powertools import Logger as _Logger, Metrics as _Metrics
from pydantic import BaseModel as _BaseModel
class _First(_BaseModel):
    x: int
_Logger(service="x")
_Metrics(namespace="credfix", service="x")
{floor}
"""
FLOOR_CLIENTS = """\
import boto3
from botocore.config import Config
_s = boto3.session.Session()
_cfg = Config(retries={{"mode": "standard", "max_attempts": 5}}, connect_timeout=3, read_timeout=10)
for _name in {services!r}:
    _s.client(_name, config=_cfg)
"""

# Cloud Custodian's generated entry point is `from c7n import handler` + handler.dispatch_event;
# on the first event dispatch_event reads config.json, runs init_config (account id from the
# execution options: no STS call) and load_resources for the policy's resource types. The
# body below does exactly that, then validates the policies (as dispatch_event does before
# push) and creates the client its resource manager needs, stopping before the first AWS call.
PEER = """\
import json
from c7n import handler
from c7n.policy import PolicyCollection
from c7n.resources import load_resources
from c7n.structure import StructureParser
from c7n.utils import local_session
import boto3
with open("config.json") as _f:
    _data = json.load(_f)
_cfg = handler.init_config(_data)
load_resources(StructureParser().get_resource_types(_data))
for _p in PolicyCollection.from_data(_data, _cfg):
    _p.validate()
    _m = _p.resource_manager
    local_session(_m.session_factory).client(_m.resource_type.service, _m.config.region)
"""


def _peer_policy(name: str, resource: str, actions: list[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "resource": resource,
        "mode": {
            "type": "cloudtrail",
            "role": "arn:aws:iam::123456789012:role/custodian",
            "events": [
                {
                    "source": "sts.amazonaws.com",
                    "event": "GetCallerIdentity",
                    "ids": "userIdentity.accessKeyId",
                }
            ],
        },
        "filters": [],
        "actions": actions,
    }


# One c7n Lambda per policy: the primary peer restarts ECS services (credfix's primary
# remediation); the second loads every resource type credfix reads or changes.
PEER_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "c7n ecs-service": [
        _peer_policy(
            "restart", "aws.ecs-service", [{"type": "modify", "update": {"forceNewDeployment": True}}]
        )
    ],
    "c7n credfix resource set": [
        _peer_policy(
            "restart", "aws.ecs-service", [{"type": "modify", "update": {"forceNewDeployment": True}}]
        ),
        _peer_policy("keys", "aws.iam-user", []),
        _peer_policy("secrets", "aws.secrets-manager", []),
        _peer_policy("instances", "aws.ec2", []),
        _peer_policy("functions", "aws.lambda", []),
        _peer_policy("asgs", "aws.asg", []),
    ],
}


@dataclass
class Variant:
    name: str
    python: str
    body: str
    env: dict[str, str]
    cwd: Path | None = None
    runs_ms: list[float] = field(default_factory=list)
    maxrss_kb: list[int] = field(default_factory=list)


def _copy_credfix(dest: Path, compiled: bool) -> Path:
    shutil.copytree(LAMBDAS / "credfix", dest / "credfix", ignore=shutil.ignore_patterns("__pycache__"))
    if compiled:
        compileall.compile_dir(dest / "credfix", quiet=1)
    return dest


def _env_with_code(function: str, code_dir: Path) -> dict[str, str]:
    env = lambda_environ(function)
    env["PYTHONPATH"] = str(code_dir)  # ahead of the editable install's path entry
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # /var/task is read-only: nothing is cached between starts
    return env


def discover_clients(name: str, code_dir: Path) -> list[str]:
    found = run_child(
        [sys.executable, "-c", DISCOVER_CLIENTS.format(name=name)], _env_with_code(name, code_dir)
    )
    return list(dict.fromkeys(found["clients"]))


def importtime_breakdown(name: str, code_dir: Path, top: int = 12) -> dict[str, Any]:
    """`python -X importtime` of one handler: self time summed per top-level package (ms),
    and the slowest imports by cumulative time."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import credfix.handlers.{name}"],
        env=_env_with_code(name, code_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, float] = defaultdict(float)
    cumulative: list[tuple[float, str]] = []
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
    for line in proc.stderr.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        self_us, cum_us, indent, module = int(m[1]), int(m[2]), m[3], m[4]
        root = module.split(".")[0]
        by_package[root] += self_us / 1000
        depth = (len(indent) - 1) // 2
        if root in ("credfix", "aws_lambda_powertools", "pydantic", "boto3", "botocore") or depth <= 1:
            cumulative.append((cum_us / 1000, module))
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])
    return {
        "self_ms_by_package": {k: round(v, 1) for k, v in ranked[:top]},
        "slowest_cumulative_ms": [
            {"module": mod, "ms": round(ms, 1)} for ms, mod in sorted(cumulative, reverse=True)[:top]
        ],
    }


def measure(runs: int = 11, seed: int = 7) -> dict[str, Any]:
    if not PEER_PYTHON.exists():
        raise RuntimeError(f"{PEER_PYTHON} missing: create the peer venv (see bench/requirements.txt)")
    if not TRACER_PYTHON.exists():
        raise RuntimeError(f"{TRACER_PYTHON} missing: create it (see bench/tracer-requirements.txt)")
    names = handler_names()
    with tempfile.TemporaryDirectory(prefix="credfix-bench-") as tmp:
        compiled = _copy_credfix(Path(tmp) / "compiled", compiled=True)
        source = _copy_credfix(Path(tmp) / "source", compiled=False)
        clients = {name: discover_clients(name, compiled) for name in names}
        # LAMBDA_TASK_ROOT: outside Lambda the Tracer disables itself and patches nothing.
        tracer_env = {**lambda_environ("floor"), "LAMBDA_TASK_ROOT": "/var/task"}
        variants: list[Variant] = [
            Variant(
                "floor: boto3 + sqs client", sys.executable, FLOOR_SQS, _env_with_code("floor", compiled)
            ),
            Variant("peer floor: boto3 + sqs client", str(PEER_PYTHON), FLOOR_SQS, lambda_environ("floor")),
            Variant("tracer venv floor: boto3 + sqs client", str(TRACER_PYTHON), FLOOR_SQS, tracer_env),
            Variant("tracer venv: floor + Powertools Tracer", str(TRACER_PYTHON), TRACER, tracer_env),
        ]
        for name in names:
            env = _env_with_code(name, compiled)
            variants.append(Variant(f"floor: {name} clients", sys.executable, _floor(clients[name]), env))
            variants.append(
                Variant(f"handler: {name}", sys.executable, f"import credfix.handlers.{name}", env)
            )
            variants.append(
                Variant(
                    f"libraries: {name}",
                    sys.executable,
                    LIBRARIES.format(imports=library_imports(name), floor=_floor(clients[name])),
                    env,
                )
            )
            variants.append(
                Variant(
                    f"handler (no .pyc): {name}",
                    sys.executable,
                    f"import credfix.handlers.{name}",
                    _env_with_code(name, source),
                )
            )
        for peer_name, policies in PEER_CONFIGS.items():
            peer_dir = Path(tmp) / peer_name.replace(" ", "-")
            peer_dir.mkdir()
            config = {
                "execution-options": {"account_id": "123456789012", "region": REGION, "output_dir": "/tmp"},
                "policies": policies,
            }
            (peer_dir / "config.json").write_text(json.dumps(config))
            env = lambda_environ("peer")
            env.pop("PYTHONPATH")
            variants.append(Variant(f"peer: {peer_name}", str(PEER_PYTHON), PEER, env, cwd=peer_dir))

        for variant in variants:  # warm the OS page cache once; not counted
            _run(variant)
            variant.runs_ms.clear()
            variant.maxrss_kb.clear()
        rng = random.Random(seed)
        for _ in range(runs):
            order = variants[:]
            rng.shuffle(order)
            for variant in order:
                _run(variant)
        breakdown = {name: importtime_breakdown(name, compiled) for name in names}

    by_name = {v.name: v for v in variants}
    floor_sqs = median(by_name["floor: boto3 + sqs client"].runs_ms)
    peer_floor = median(by_name["peer floor: boto3 + sqs client"].runs_ms)
    tracer = median(by_name["tracer venv: floor + Powertools Tracer"].runs_ms)
    tracer_floor = median(by_name["tracer venv floor: boto3 + sqs client"].runs_ms)
    peer = median(by_name["peer: c7n ecs-service"].runs_ms)
    peer_full = median(by_name["peer: c7n credfix resource set"].runs_ms)
    handlers: dict[str, Any] = {}
    for name in names:
        ms = median(by_name[f"handler: {name}"].runs_ms)
        own_floor = median(by_name[f"floor: {name} clients"].runs_ms)
        no_pyc = median(by_name[f"handler (no .pyc): {name}"].runs_ms)
        libraries = median(by_name[f"libraries: {name}"].runs_ms)
        handlers[name] = {
            "median_ms": round(ms, 1),
            "median_ms_without_pyc": round(no_pyc, 1),
            "clients_at_init": clients[name],
            "floor_same_clients_ms": round(own_floor, 1),
            "libraries_ms": round(libraries, 1),
            "libraries_x_floor_same_clients": ratio(libraries, own_floor),
            "own_code_ms": round(ms - libraries, 1),
            "x_floor_sqs": ratio(ms, floor_sqs),
            "x_floor_same_clients": ratio(ms, own_floor),
            "x_peer": ratio(ms, peer),
            "x_peer_full_resource_set": ratio(ms, peer_full),
            "maxrss_mb_after_init": round(median(by_name[f"handler: {name}"].maxrss_kb) / 1024, 1),
            "meets_floor_target": ms <= 1.25 * own_floor,
            "meets_peer_target": ms <= 0.6 * peer,
            "importtime": breakdown[name],
        }
    return {
        "runs_per_variant": runs,
        "floor_sqs_ms": round(floor_sqs, 1),
        "peer_venv_floor_sqs_ms": round(peer_floor, 1),
        "peer_ms": round(peer, 1),
        "peer_full_resource_set_ms": round(peer_full, 1),
        "peer_x_its_floor": ratio(peer, peer_floor),
        "tracer_ms": round(tracer, 1),
        "tracer_added_ms": round(tracer - tracer_floor, 1),
        "tracer_x_floor": ratio(tracer, tracer_floor),
        "handlers": handlers,
        "raw_ms": {v.name: [round(x, 1) for x in v.runs_ms] for v in variants},
    }


def library_imports(name: str) -> str:
    """The handler's imports of pydantic and Powertools, as written in its source, in order."""
    source = (HANDLERS_DIR / f"{name}.py").read_text()
    wanted = (
        "from aws_lambda_powertools",
        "import aws_lambda_powertools",
        "from pydantic",
        "import pydantic",
    )
    return "\n".join(line for line in source.splitlines() if line.startswith(wanted)) or "pass"


def _floor(services: list[str]) -> str:
    return FLOOR_CLIENTS.format(services=services or ["sqs"])


def _run(variant: Variant) -> None:
    result = run_child([variant.python, "-c", TIMED.format(body=variant.body)], variant.env, cwd=variant.cwd)
    variant.runs_ms.append(float(result["ms"]))
    variant.maxrss_kb.append(int(result["maxrss_kb"]))
