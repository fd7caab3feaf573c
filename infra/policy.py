"""IAM policies derived from the code's own declarations (`credfix.permissions`) and the one
mapping of resource kinds to scopes (`credfix.scopes`), as CDK statements.

The code names a resource *kind* for each call (`@needs("act", "ecs:UpdateService",
on="ecs-services")`); credfix.scopes maps each kind to one or more scopes (ARNs written with
CloudFormation pseudo parameters, optionally with conditions), and the stacks add their own
resources. A kind left unmapped fails synth, so a new call cannot ship with a silently
broader or missing permission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from credfix.permissions import Role
from credfix.registry import policy_for
from credfix.scopes import ANY, PSEUDO_PARAMETERS, Scope, Statement, denies, statements

_TOKENS = {"AWS::Partition": Aws.PARTITION, "AWS::AccountId": Aws.ACCOUNT_ID, "AWS::Region": Aws.REGION}


def resolved(value: str) -> str:
    """An ARN pattern with its pseudo parameters as CDK tokens (resolved at deploy time)."""
    for name in PSEUDO_PARAMETERS:
        value = value.replace("${" + name + "}", _TOKENS[name])
    return value


def nag_label(value: str) -> str:
    """How cdk-nag prints a resource pattern, for its acknowledgement id."""
    for name in PSEUDO_PARAMETERS:
        value = value.replace("${" + name + "}", f"<{name}>")
    return value


def cdk_statement(s: Statement) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=s.sid,
        effect=iam.Effect.DENY if s.effect == "Deny" else iam.Effect.ALLOW,
        actions=list(s.actions),
        resources=[resolved(r) for r in s.resources],
        conditions={k: dict(v) for k, v in s.conditions.items()} or None,
    )


def statements_for(
    role: Role, scopes: Mapping[str, list[Scope]], *, only: set[str] | None = None
) -> list[iam.PolicyStatement]:
    """The role's declared permissions; `only` limits them to some resource kinds (a member
    account's roles get the workload kinds, never the home account's)."""
    return [cdk_statement(s) for s in statements([role], scopes, only=only)]


def deny_statements(role: Role, own_functions: Sequence[str]) -> list[iam.PolicyStatement]:
    return [cdk_statement(s) for s in denies([role], own_functions)]


def wildcard_acknowledgements(role: Role, scopes: Mapping[str, list[Scope]]) -> list[tuple[str, str]]:
    """(cdk-nag rule id, reason) for every wildcard resource in the scopes this role uses."""
    found = []
    for kind in policy_for(role):
        for scope in scopes.get(kind, []):
            for resource in scope.resources:
                if "*" in resource and resource != "*":
                    if not scope.why:
                        raise ValueError(f"scope with wildcard resource {resource} needs a reason")
                    found.append((f"AwsSolutions-IAM5[Resource::{nag_label(resource)}]", scope.why))
    return found


__all__ = ["ANY", "Scope", "cdk_statement", "deny_statements", "statements_for", "wildcard_acknowledgements"]
