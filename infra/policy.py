"""IAM policies derived from the code's own declarations (`credfix.permissions`).

The code names a resource *kind* for each call (`@needs("act", "ecs:UpdateService",
on="ecs-services")`); a stack maps each kind to one or more scopes (ARNs, optionally with
conditions). A kind the stack does not map fails synth, so a new call cannot ship with a
silently broader or missing permission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from credfix.permissions import Role
from credfix.registry import policy_for


@dataclass(frozen=True)
class Scope:
    resources: list[str]
    conditions: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # required when a resource holds a wildcard: goes into the cdk-nag acknowledgement


ANY = [
    Scope(
        ["*"],
        why="Describe/List APIs that support no resource-level permissions (declared with on='*' "
        "next to each call in credfix.adapters), and X-Ray tracing.",
    )
]

# How cdk-nag prints a wildcard ARN pattern (tokens rendered), for its acknowledgement id.
NAG_LABELS: dict[str, str] = {}


def arn(service: str, resource: str, region: str = "*", *, account: str | None = None) -> str:
    """An ARN pattern in this stack's partition; in this account unless `account` is given
    ("" for AWS-owned resources, "*" for any account)."""
    if account is None:
        account, label = Aws.ACCOUNT_ID, "<AWS::AccountId>"
    else:
        label = account
    pattern = f"arn:{Aws.PARTITION}:{service}:{region}:{account}:{resource}"
    NAG_LABELS[pattern] = f"arn:<AWS::Partition>:{service}:{region}:{label}:{resource}"
    return pattern


def statements_for(
    role: Role, scopes: dict[str, list[Scope]], *, only: set[str] | None = None
) -> list[iam.PolicyStatement]:
    """The role's declared permissions as statements; `only` limits them to some resource kinds
    (a member account's roles get the workload kinds, never the home account's)."""
    declared = {k: v for k, v in policy_for(role).items() if only is None or k in only}
    missing = sorted(set(declared) - set(scopes) - {"*"})
    if missing:
        raise ValueError(f"{role}: no IAM scope mapped for declared resource kinds {missing}")
    statements = []
    for kind, actions in declared.items():
        for n, scope in enumerate(scopes.get(kind, ANY)):
            sid = "".join(part.title() for part in f"{role}-{kind}".replace("*", "any").split("-"))
            statements.append(
                iam.PolicyStatement(
                    sid=f"{sid}{n}" if n else sid,
                    actions=actions,
                    resources=scope.resources,
                    conditions=scope.conditions or None,
                )
            )
    return statements


def wildcard_acknowledgements(role: Role, scopes: dict[str, list[Scope]]) -> list[tuple[str, str]]:
    """(cdk-nag rule id, reason) for every wildcard resource in the scopes this role uses."""
    found = []
    for kind in policy_for(role):
        if kind not in scopes:
            continue
        for scope in scopes.get(kind, []):
            for resource in scope.resources:
                if "*" in resource and resource != "*":
                    if not scope.why:
                        raise ValueError(f"scope with wildcard resource {resource} needs a reason")
                    found.append(
                        (f"AwsSolutions-IAM5[Resource::{NAG_LABELS.get(resource, resource)}]", scope.why)
                    )
    return found
