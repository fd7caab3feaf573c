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


def instance_id(value: str) -> str:
    """The EC2 instance ID of an instance ARN (arn:…:ec2:REGION:ACCOUNT:instance/i-…) or of a
    bare ID: what EC2, Auto Scaling and SSM take as InstanceId(s) and as a tag filter's
    resource-id. Workloads carry the ARN; every call that names an instance passes through here."""
    parts = arn_parts(value)
    if len(parts) == 6 and parts[2] == "ec2" and parts[5].startswith("instance/"):
        value = parts[5].removeprefix("instance/")
    if not value.startswith("i-") or not value[2:].isalnum():
        raise ValueError(f"not an EC2 instance ID or ARN: {value[:100]!r}")
    return value


def secret_arn(reference: str) -> str:
    """The secret's ARN from a reference as an ECS task definition's `valueFrom` holds it
    (…:secret:NAME-AbCdEf[:json-key:version-stage:version-id]): the SecretId Secrets Manager
    takes (it rejects the JSON-key/version tail), and one name per secret. Anything that is
    not a secret ARN is returned as it is."""
    parts = arn_parts(reference)
    if len(parts) == 6 and parts[2] == "secretsmanager" and parts[5].startswith("secret:"):
        return ":".join([*parts[:5], *parts[5].split(":")[:2]])
    return reference
