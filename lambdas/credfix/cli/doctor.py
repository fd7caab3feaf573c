"""`credfix doctor`: checks that the account can feed credfix (a logging multi-region trail, and
the runtime-log signal's account policy in this region), and with `--eks-cluster NAME` that
credfix's roles can reach that cluster's Kubernetes API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from credfix.cli.output import add_format_argument, emit, fail

if TYPE_CHECKING:
    from credfix.core.doctor import Check

HOME_STACK = "credfix-home"  # infra.app.HOME_STACK_NAME
ROLE_OUTPUTS = ("TriageRoleArn", "ActRoleArn")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that CloudTrail feeds EventBridge (before deploying)"
    )
    add_format_argument(parser, json_flag=True)
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
    from credfix.adapters.aws import client
    from credfix.adapters.readers.deployment import StackNotFound, stack_outputs

    if args.principal:
        return list(args.principal)
    try:
        outputs = stack_outputs(client("cloudformation"), HOME_STACK)
    except StackNotFound:
        return []
    return [outputs[k] for k in ROLE_OUTPUTS if outputs.get(k)]


def eks_checks(args: argparse.Namespace) -> list[Check]:
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.aws import client
    from credfix.adapters.kubernetes import KubeError, connect
    from credfix.adapters.readers.eks import Eks
    from credfix.core.doctor import Check, check_eks_cluster
    from credfix.errortext import error_text

    checks: list[Check] = []
    try:
        principals = _principals(args)
    except (BotoCoreError, ClientError) as exc:
        checks.append(
            Check("credfix roles (credfix-home outputs)", False, f"could not be read: {error_text(exc)}")
        )
        principals = []
    eks = Eks(client("eks"))
    for name in args.eks_cluster:
        try:
            cluster = eks.cluster(name)
            entries = {p: eks.access_entry_groups(name, p) for p in principals} if cluster else {}
        except (BotoCoreError, ClientError) as exc:
            checks.append(Check(f"EKS cluster {name}", False, f"could not be read: {error_text(exc)}"))
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
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.aws import client
    from credfix.adapters.readers.cloudtrail import read_trails
    from credfix.adapters.readers.log_policies import read_subscription_policies
    from credfix.core.doctor import LOG_SIGNAL, Check, DoctorReport, check_log_policy, check_trails
    from credfix.errortext import error_text

    try:
        trails = read_trails(client("cloudtrail"))
    except (BotoCoreError, ClientError) as exc:
        return fail("doctor", 1, f"cannot read CloudTrail trails: {error_text(exc)}")
    report = check_trails(trails)
    logs = client("logs")
    try:
        report.checks.append(check_log_policy(read_subscription_policies(logs), logs.meta.region_name))
    except (BotoCoreError, ClientError) as exc:
        report.checks.append(Check(LOG_SIGNAL, False, f"cannot read account policies: {type(exc).__name__}"))
    if args.eks_cluster:
        report = DoctorReport([*report.checks, *eks_checks(args)])
    text = "\n".join(
        f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}" for check in report.checks
    )
    emit(args, {"ok": report.ok, "checks": [c.__dict__ for c in report.checks]}, text)
    return 0 if report.ok else 1
