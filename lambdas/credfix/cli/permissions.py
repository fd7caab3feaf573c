"""`credfix permissions`: the IAM policy a role needs, from the code's own `@needs`
declarations (the same source the CDK stack builds its Lambda policies from).

For people running the CLI: `--role cli` covers `diagnose`, `remediate` in observe mode,
`doctor` and `preflight`; `remediate --mode enforce` also needs `--role act`. Resources are
`*` here because resource kinds (e.g. watched secrets by tag) are mapped by the stack;
narrow them to your account as the deployed policies do (see infra/scopes.py).

`--kubernetes` prints the role's Kubernetes RBAC instead (a ClusterRole and its binding to the
group the EKS access entry maps the role to), from the `@needs_rbac` declarations: what
docs/eks.md tells cluster owners to apply.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, get_args

from credfix.permissions import Role
from credfix.registry import policy_for, rbac_for

DEFAULT_GROUPS = {"triage": "credfix-triage", "act": "credfix-act", "cli": "credfix-operators"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("permissions", help="print the IAM policy a credfix role needs")
    parser.add_argument("--role", choices=get_args(Role), default="cli", help="default: cli (the CLI verbs)")
    parser.add_argument(
        "--kubernetes", action="store_true", help="the role's Kubernetes RBAC in EKS clusters (YAML) instead"
    )
    parser.add_argument("--group", help="the Kubernetes group to bind (default: credfix-<role>)")
    parser.set_defaults(func=run)


def policy_document(role: Role) -> dict[str, Any]:
    statements = [
        {
            "Sid": "".join(part.title() for part in f"{role}-{kind}".replace("*", "any").split("-")),
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }
        for kind, actions in policy_for(role).items()
        if kind != "member-roles"  # organisation mode only, and never for people
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _quoted(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def rbac_manifest(role: Role, group: str) -> str:
    """A ClusterRole with exactly the declared verbs, bound to `group` (YAML, stable order)."""
    rules: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for api_group, resource, verbs in rbac_for(role):
        rules.setdefault((api_group, verbs), []).append(resource)
    lines = [
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: ClusterRole",
        "metadata:",
        f"  name: {group}",
        "rules:",
    ]
    for (api_group, verbs), resources in sorted(rules.items()):
        lines += [
            f"  - apiGroups: {_quoted([api_group])}",
            f"    resources: {_quoted(sorted(resources))}",
            f"    verbs: {_quoted(verbs)}",
        ]
    lines += [
        "---",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: ClusterRoleBinding",
        "metadata:",
        f"  name: {group}",
        "roleRef:",
        "  apiGroup: rbac.authorization.k8s.io",
        "  kind: ClusterRole",
        f"  name: {group}",
        "subjects:",
        "  - apiGroup: rbac.authorization.k8s.io",
        "    kind: Group",
        f"    name: {group}",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.kubernetes:
        group = args.group or DEFAULT_GROUPS.get(args.role, f"credfix-{args.role}")
        print(rbac_manifest(args.role, group), end="")
        return 0
    print(json.dumps(policy_document(args.role), indent=2))
    return 0
