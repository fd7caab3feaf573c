"""ARN helpers for matching configuration against what the incident names."""

from __future__ import annotations

import re

from credfix.keys import partition_of_region

_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


def _secret_base(arn: str) -> str | None:
    """`arn:aws:secretsmanager:region:account:secret:name[-suffix]` without a
    `:json-key:version-stage:version-id` tail; None for anything that is not a secret ARN."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or parts[5] != "secret":
        return None
    return ":".join(parts[:7])


def references_secret(value_from: str, secret_arn: str) -> bool:
    """Whether an ECS `valueFrom` names the secret `secret_arn` (a full ARN, as Secrets Manager
    returns it): the full ARN, the partial ARN without the 6-character random suffix, either
    with a JSON-key/version tail. Plain names and SSM parameters never match."""
    reference = _secret_base(value_from)
    full = _secret_base(secret_arn)
    if reference is None or full is None:
        return False
    return reference == full or reference == _SECRET_SUFFIX.sub("", full)


def role_identity(arn: str) -> tuple[str | None, str] | None:
    """(account, role name) of an IAM role ARN or an STS assumed-role ARN; a bare name gives
    (None, name). Role paths are dropped: a role name is unique within an account."""
    if not arn:
        return None
    if not arn.startswith("arn:"):
        return None, arn.rsplit("/", 1)[-1]
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    account, resource = parts[4] or None, parts[5]
    if parts[2] == "iam" and resource.startswith("role/"):
        return account, resource.rsplit("/", 1)[-1]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        return account, resource.split("/")[1]
    return None


def same_role(configured: str | None, role: tuple[str | None, str]) -> bool:
    if not configured:
        return False
    mine = role_identity(configured)
    if mine is None:
        return False
    account, name = mine
    return name == role[1] and (account is None or role[0] is None or account == role[0])


def ec2_arn(region: str, account: str | None, kind: str, resource_id: str) -> str:
    """EC2 ARNs (instance, vpc): the account is required; without it, the plain ID."""
    if not account:
        return resource_id
    return f"arn:{partition_of_region(region)}:ec2:{region}:{account}:{kind}/{resource_id}"


def ecs_service_arn(cluster_arn: str, service_name: str) -> str:
    """The long-format service ARN of a service in a cluster, built from the cluster ARN."""
    prefix, _, cluster_name = cluster_arn.partition(":cluster/")
    return f"{prefix}:service/{cluster_name}/{service_name}"
