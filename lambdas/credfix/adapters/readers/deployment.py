"""Where the deployed credfix is, and who is asking (for the day-two verbs): the home stack's
outputs (the incidents table's name, the guardrail settings it was deployed with) and the
caller's identity ARN, which every change a person makes is recorded with."""

from __future__ import annotations

from typing import Any

from credfix.permissions import needs


class StackNotFound(Exception):
    pass


@needs("operator", "cloudformation:DescribeStacks", on="home-stack")
@needs("cli", "cloudformation:DescribeStacks", on="home-stack")  # doctor --eks-cluster: the roles
def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """OutputKey -> OutputValue of the stack (StackNotFound when there is no such stack)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            raise StackNotFound(stack_name) from None
        raise
    if not stacks:
        raise StackNotFound(stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


@needs("operator", "sts:GetCallerIdentity")
def caller_arn(sts: Any) -> str:
    """The ARN of whoever runs the verb (GetCallerIdentity needs no permission; declared so
    the operator policy lists every call the verbs make)."""
    return str(sts.get_caller_identity()["Arn"])
