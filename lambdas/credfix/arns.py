"""The fields of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE), for every module that
reads one: empty or missing fields read as None, anything that is not an ARN as no fields."""

from __future__ import annotations


def arn_parts(arn: str) -> list[str]:
    """[arn, partition, service, region, account, resource] (the resource keeps its own colons),
    fewer for a malformed ARN, none for something that is not an ARN."""
    return arn.split(":", 5) if arn.startswith("arn:") else []


def account_of(arn: str) -> str | None:
    parts = arn_parts(arn)
    return parts[4] or None if len(parts) == 6 else None


def region_of(arn: str) -> str | None:
    parts = arn_parts(arn)
    return parts[3] or None if len(parts) == 6 else None
