"""The deployed home stack's outputs, for `credfix doctor` (which roles to check in EKS)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from credfix.permissions import needs


@needs("cli", "cloudformation:DescribeStacks", on="*")
def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Output key -> value, or {} when the stack does not exist here."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack ... does not exist"
            return {}
        raise
    return {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs") or []}
