"""`credfix permissions`: the IAM policy of one or more credfix roles, exactly as the stack
deploys it: the same statements, resources and conditions, built from the same `@needs`
declarations and the same mapping of resource kinds to scopes (credfix.scopes).

Values the stack resolves at deploy time are placeholders: `${AWS::Partition}` and
`${AWS::AccountId}` (CloudFormation's pseudo parameters), and `${credfix:KIND}` for the home
stack's own resources (`${credfix:incidents-table}`: the table's ARN, `${credfix:function/act}`:
the act function's ARN, ...; see the stack's resources or outputs).

For people running the CLI: `--role cli` covers `diagnose`, `remediate` in observe mode,
`doctor`, `preflight` (and `--from s3://…`, the trail bucket's read) and `redrive`;
`remediate --mode enforce` also needs `--role act`; the day-two verbs (`incidents`,
`targets`, `unblock`, `breaker`, `mute`) need `--role operator`. On a terminal the policy is
listed for reading; piped (or `--format json`) it is the IAM policy document.

`--kubernetes` prints one role's Kubernetes RBAC instead (a ClusterRole and its binding to the
group the EKS access entry maps the role to, YAML whatever `--format` says), from the
`@needs_rbac` declarations: what docs/eks.md tells cluster owners to apply.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, get_args

from credfix.cli.output import add_format_argument, emit, fail
from credfix.permissions import Role

DEFAULT_GROUPS = {"triage": "credfix-triage", "act": "credfix-act", "cli": "credfix-operators"}

if TYPE_CHECKING:  # credfix.scopes loads the actions (the Lambda extra): imported when the verb runs
    from credfix.scopes import Deployment

ROLES: dict[str, str] = {
    "cli": "the CLI verbs: diagnose, remediate in observe mode, doctor, preflight, redrive, "
    "rotation-check, sweep in observe mode",
    "act": "the only role that changes workloads: add it for `remediate --mode enforce`",
    "triage": "the triage Lambda: read-only lookups of keys, secrets and workloads",
    "ingest": "the ingest Lambda: the incidents table and the queues to triage",
    "verify": "the verify Lambda: the incidents table and the alerts topic",
    "sweep": "the sweep Lambda: open incidents in the table, the work queue",
    "logs": "the runtime-log intake (log_signal): counts log lines into the incidents table",
    "relay": "a runtime-log relay (log_signal, other regions and member accounts): its default bus",
    "operator": "the day-two verbs: incidents, targets, unblock, breaker, mute",
    "rotation": "the rotation Lambda: watched secrets, their consumers, the old key's use; the act queue",
}
assert set(ROLES) == set(get_args(Role)), "every role needs a line of --help"


def _roles(text: str) -> list[Role]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in ROLES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown role(s) {unknown or text!r}; choose from {', '.join(ROLES)}"
        )
    return [n for n in ROLES if n in names]  # type: ignore[misc]


def register(subparsers: Any) -> None:
    roles = "\n".join(f"  {name:<8} {what}" for name, what in ROLES.items())
    parser = subparsers.add_parser(
        "permissions",
        help="print the IAM policy credfix roles need, as the stack deploys it",
        description="Print the IAM policy of one or more credfix roles: the statements the stack "
        "deploys, with ${AWS::Partition}, ${AWS::AccountId} and ${credfix:KIND} placeholders "
        "where the stack resolves a value at deploy time.\n\nroles:\n" + roles,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--role",
        type=_roles,
        default=["cli"],
        metavar="ROLE[,ROLE...]",
        help="one role or several, comma-separated, merged into one policy (default: cli)",
    )
    parser.add_argument(
        "--ssm-command",
        action="store_true",
        help="as deployed with ssm_command configured (act may run credfix's command document)",
    )
    parser.add_argument(
        "--watch-prefixes",
        default="",
        metavar="P1,P2",
        help="as deployed with watch_prefixes and watch_untagged=true (secrets under these "
        "prefixes readable without the tag)",
    )
    add_format_argument(parser)
    parser.add_argument(
        "--kubernetes", action="store_true", help="one role's Kubernetes RBAC in EKS clusters (YAML) instead"
    )
    parser.add_argument("--group", help="the Kubernetes group to bind (default: credfix-<role>)")
    parser.set_defaults(func=run)


def policy_document(roles: list[Role], deployment: Deployment | None = None) -> dict[str, Any]:
    from credfix.registry import policy_for
    from credfix.scopes import (
        Deployment,
        denies,
        own_function_placeholders,
        placeholder_home_scopes,
        relay_scopes,
        statements,
        workload_scopes,
    )

    deployment = deployment or Deployment()
    scopes = {**placeholder_home_scopes(), **workload_scopes(deployment), **relay_scopes()}
    # Organisation mode's member roles are assumed by the Lambdas, never by people.
    # Every other declared kind is printed: one `scopes` does not map raises, never drops.
    kinds = {kind for role in roles for kind in policy_for(role) if kind != "member-roles"}
    found = statements(roles, scopes, only=kinds) + denies(roles, own_function_placeholders())
    return {"Version": "2012-10-17", "Statement": [s.document() for s in found]}


def policy_text(roles: list[Role], document: dict[str, Any]) -> str:
    """The policy for reading: per statement its effect, actions, resources and conditions."""
    lines = [f"credfix role(s) {', '.join(roles)}, as the stack deploys them:"]
    for statement in document["Statement"]:
        actions, resources = statement["Action"], statement["Resource"]
        lines.append(f"  {statement['Effect']} ({statement.get('Sid', '-')}):")
        lines.extend(f"    {a}" for a in ([actions] if isinstance(actions, str) else actions))
        lines.append("    on " + ", ".join([resources] if isinstance(resources, str) else resources))
        for operator, values in statement.get("Condition", {}).items():
            lines.append(f"    when {operator} {values}")
    lines.append("--format json prints the IAM policy document.")
    return "\n".join(lines)


def _quoted(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def rbac_manifest(role: Role, group: str) -> str:
    """A ClusterRole with exactly the declared verbs, bound to `group` (YAML, stable order)."""
    from credfix.registry import rbac_for

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
        if len(args.role) != 1:
            return fail("permissions", 2, "--kubernetes prints one role's RBAC: name one --role")
        (role,) = args.role
        group = args.group or DEFAULT_GROUPS.get(role, f"credfix-{role}")
        print(rbac_manifest(role, group), end="")
        return 0
    prefixes = tuple(p.strip() for p in args.watch_prefixes.split(",") if p.strip())
    from credfix.scopes import Deployment

    deployment = Deployment(untagged_watch_prefixes=prefixes, ssm_command=args.ssm_command)
    document = policy_document(args.role, deployment)
    emit(args, document, policy_text(args.role, document))
    return 0
