"""IAM policies derived from the code's own declarations (`credfix.permissions`)."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from credfix.permissions import Role, policy_for


def statements_for(role: Role, resources: dict[str, list[str]]) -> list[iam.PolicyStatement]:
    """One statement per resource kind the code declares. An undeclared kind is a bug: fail synth."""
    declared = policy_for(role)
    missing = sorted(set(declared) - set(resources) - {"*"})
    if missing:
        raise ValueError(f"{role}: no ARN mapping for declared resource kinds {missing}")
    return [
        iam.PolicyStatement(
            sid=f"{role.title()}{kind.title().replace('-', '').replace('*', 'AnyResource')}",
            actions=actions,
            resources=resources.get(kind, ["*"]),
        )
        for kind, actions in declared.items()
    ]
