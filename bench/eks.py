"""`python -m bench.eks`: what EKS support costs (docs/eks.md).

1. Cold start: nothing, for any workload (the handlers import no EKS module; a unit test checks).
   What it adds the first time an EKS workload is handled: importing the EKS modules on top of
   the triage handler and its locators (the act handler and its actions), in a fresh process
   with the Lambda-like environment, from a copy with bytecode compiled ahead and from sources
   only (what Lambda compiles when the asset ships no .pyc), median of N interleaved runs.
2. The bearer token: creating the cluster region's STS client (the session already made one, as
   triage and act have) and registering the CLI's two handlers, the first token, a later one
   (fresh process, median of N).
3. One pod located by its address on the local AWS and the local Kubernetes API: AWS calls,
   Kubernetes calls and wall time (loopback), median of N incidents (the shared lookup cache is
   emptied before each).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.coldstart import _copy_credfix, _env_with_code
from bench.common import LAMBDAS, lambda_environ, run_child

EKS_READS = (
    "credfix.adapters.kubernetes, credfix.adapters.readers.kubernetes, credfix.adapters.readers.eks, "
    "credfix.core.locate.eks, credfix.core.locate.eks_logs"
)
EKS_ACT = "credfix.adapters.kubernetes, credfix.adapters.actions.kubernetes, credfix.adapters.readers.eks"
# The baseline is what every triage (act) pays on its first incident anyway: the handler, then
# the locators (the planner and actions); the EKS modules are timed on top of it.
IMPORTS = """\
import time as _t
import credfix.handlers.{handler}
import {baseline}
_t1 = _t.perf_counter()
import {modules}
_t2 = _t.perf_counter()
import json
print(json.dumps({{"eks_ms": (_t2 - _t1) * 1000}}))
"""
TOKEN = """\
import time as _t, json, boto3
session = boto3.session.Session(region_name="eu-west-1")
from credfix.adapters.kubernetes import eks_token, register_cluster_header
session.client("sts")  # triage and act already have one (ownership, member roles): the model is loaded
t0 = _t.perf_counter()
sts = session.client("sts", region_name="eu-west-1")
register_cluster_header(sts)
t1 = _t.perf_counter()
first = eks_token(sts, "prod")
t2 = _t.perf_counter()
eks_token(sts, "prod")
t3 = _t.perf_counter()
print(json.dumps({"client_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "next_ms": (t3 - t2) * 1000,
                  "length": len(first)}))
"""


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def imports(runs: int) -> dict[str, Any]:
    variants = {
        "triage": IMPORTS.format(handler="triage", baseline="credfix.core.locate", modules=EKS_READS),
        "act": IMPORTS.format(handler="act", baseline="credfix.core.remediate.actions", modules=EKS_ACT),
    }
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="credfix-bench-eks-") as tmp:
        code = {
            "compiled": _copy_credfix(Path(tmp) / "compiled", compiled=True),
            "source": _copy_credfix(Path(tmp) / "source", compiled=False),
        }
        for _ in range(runs):
            order = [(name, kind) for name in variants for kind in code]
            random.shuffle(order)
            for name, kind in order:
                got = run_child([sys.executable, "-c", variants[name]], _env_with_code(name, code[kind]))
                samples.setdefault(f"{name} ({kind})", []).append(got["eks_ms"])
    return {label: _median(values) for label, values in sorted(samples.items())}


def token(runs: int) -> dict[str, Any]:
    env = {**lambda_environ("triage")}
    env.pop("AWS_ENDPOINT_URL", None)
    got = [run_child([sys.executable, "-c", TOKEN], env, cwd=LAMBDAS) for _ in range(runs)]
    return {
        "sts_client_and_handlers_ms": _median([g["client_ms"] for g in got]),
        "first_token_ms": _median([g["first_ms"] for g in got]),
        "later_token_ms": _median([g["next_ms"] for g in got]),
        "token_length": got[0]["length"],
    }


def locate_one_pod(runs: int) -> dict[str, Any]:
    from credfix.config import Settings
    from credfix.core.locate import locate_workloads
    from credfix.core.locate.context import SHARED
    from harness import account as build
    from harness.eks import env_from_secret, irsa_env, local_eks
    from harness.moto import ACCOUNT, local_aws

    with local_aws() as aws:
        os.environ.update(aws.environ())
        net = build.network()
        endpoint = build.sts_endpoint(net)
        cluster = local_eks(aws, net)
        try:
            node = cluster.node()
            ip = cluster.secondary_ip(node)
            role = f"arn:aws:iam::{ACCOUNT}:role/api"
            for n in range(20):  # a cluster of 20 deployments on IRSA around the one on a static key
                cluster.service_account("apps", f"svc{n}", role_arn=role)
                cluster.deployment(
                    "apps", f"svc{n}", ips=[f"10.0.3.{n + 1}"], env=irsa_env(role), service_account=f"svc{n}"
                )
            cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
            walls: list[float] = []
            aws_calls: list[int] = []
            kube_calls: list[int] = []
            for _ in range(runs):
                SHARED.clear()
                log = build.CallLog()
                before = len(cluster.kube.requests)
                start = time.perf_counter()
                result = locate_workloads(
                    build.incident((ip, build.RUNNER_UA, endpoint)),
                    log.factory,
                    Settings(),
                    secret_arns=[],
                    rotated_at=None,
                    account=ACCOUNT,
                )
                walls.append((time.perf_counter() - start) * 1000)
                assert [w.type for w in result.workloads] == ["eks-pod"], result.workloads
                aws_calls.append(len(log.calls))
                kube_calls.append(len(cluster.kube.requests) - before)
            return {
                "wall_ms": _median(walls),
                "aws_calls": aws_calls[0],
                "aws_call_names": log.calls,
                "kubernetes_calls": kube_calls[0],
                "kubernetes_requests": [
                    f"{r['method']} {r['path']}" for r in cluster.kube.requests[-kube_calls[0] :]
                ],
                "cluster_pods": 21,
            }
        finally:
            cluster.stop()


def measure(runs: int = 10) -> dict[str, Any]:
    """The three measurements, as `make bench` records them (bench/run.py, section eks)."""
    return {
        "imports": imports(runs),
        "token": token(max(5, runs // 2)),
        "locate_one_pod": locate_one_pod(5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(measure(args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
