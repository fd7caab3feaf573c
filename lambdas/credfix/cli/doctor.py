"""`credfix doctor`: checks that the account can feed credfix (a logging multi-region trail),
and with `--eks-cluster NAME` that credfix's roles can reach that cluster's Kubernetes API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import client
from credfix.adapters.readers.cloudtrail import read_trails
from credfix.core.doctor import Check, DoctorReport, check_eks_cluster, check_trails

HOME_STACK = "credfix-home"  # infra.app.HOME_STACK_NAME
ROLE_OUTPUTS = ("TriageRoleArn", "ActRoleArn")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that CloudTrail feeds EventBridge (before deploying), and EKS access"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--eks-cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="also check this EKS cluster: the access entries of credfix's roles, and that its API answers",
    )
    parser.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="ROLE_ARN",
        help="a role that needs an access entry (default: the credfix-home stack's triage and act roles)",
    )
    parser.set_defaults(func=run)


def _principals(args: argparse.Namespace) -> list[str]:
    if args.principal:
        return list(args.principal)
    from credfix.adapters.readers.stack_outputs import stack_outputs

    outputs = stack_outputs(client("cloudformation"), HOME_STACK)
    return [outputs[k] for k in ROLE_OUTPUTS if outputs.get(k)]


def eks_checks(args: argparse.Namespace) -> list[Check]:
    from credfix.adapters.kubernetes import KubeError, connect
    from credfix.adapters.readers.eks import Eks

    checks: list[Check] = []
    try:
        principals = _principals(args)
    except (BotoCoreError, ClientError) as exc:
        checks.append(Check("credfix roles (credfix-home outputs)", False, f"could not be read: {exc}"))
        principals = []
    eks = Eks(client("eks"))
    for name in args.eks_cluster:
        try:
            cluster = eks.cluster(name)
            entries = {p: eks.access_entry_groups(name, p) for p in principals} if cluster else {}
        except (BotoCoreError, ClientError) as exc:
            checks.append(Check(f"EKS cluster {name}", False, f"could not be read: {exc}"))
            continue
        api_error: str | None = None
        if cluster is not None:
            try:
                connect(cluster, client("sts", eks.region)).get("/version")
            except KubeError as exc:
                api_error = exc.short
        checks += check_eks_cluster(name, cluster, entries, api_error)
    return checks


def run(args: argparse.Namespace) -> int:
    try:
        trails = read_trails(client("cloudtrail"))
    except (BotoCoreError, ClientError) as exc:
        print(f"credfix doctor: cannot read CloudTrail trails: {exc}", file=sys.stderr)
        return 1
    report = check_trails(trails)
    if args.eks_cluster:
        report = DoctorReport([*report.checks, *eks_checks(args)])
    if args.json:
        print(json.dumps({"ok": report.ok, "checks": [c.__dict__ for c in report.checks]}, indent=2))
    else:
        for check in report.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return 0 if report.ok else 1
