"""Who owns the failing key: STS is authoritative (sts:GetAccessKeyInfo), offline decoding
of the key ID is the fallback, recorded as such; and the accounts the failing calls went to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from credfix.adapters.readers.sts_ownership import StsOwnership
from credfix.keys import decode_account, partition_of_arn, partition_of_region
from credfix.models.iam import CallerIdentity
from credfix.models.incident import (
    Incident,
)


@dataclass(frozen=True)
class Ownership:
    owner_account: str | None
    method: Literal["sts", "offline-decoding", "iam", "none"]
    target_accounts: tuple[str, ...]  # accounts the failing calls were made to
    target_partitions: tuple[str, ...] = ("aws",)
    caller_account: str | None = None  # the account whose IAM and secrets credfix reads
    caller_partition: str | None = None
    sts_failure: str | None = None  # why GetAccessKeyInfo gave no answer
    note: str = ""


def only_account(accounts: Sequence[str]) -> str | None:
    return accounts[0] if len(accounts) == 1 else None


def establish_ownership(
    incident: Incident, sts: StsOwnership, caller_identity: CallerIdentity | None = None
) -> Ownership:
    """STS is authoritative; offline decoding of the key ID is the fallback, recorded as such.
    `caller_identity`: credfix's own account when already known (the Lambda's own ARN names it),
    which spares asking STS."""
    key = incident.access_key_id
    targets = tuple(sorted(a for a in incident.accounts if a.isdigit()))
    answer = sts.key_account(key)
    owner = answer.account_id
    method: Literal["sts", "offline-decoding", "none"] = "sts" if owner else "none"
    note = ""
    if owner is None:
        decoded = decode_account(key)
        owner, note = decoded.account_id, decoded.note
        method = "offline-decoding" if owner else "none"
    caller: CallerIdentity | None = None
    if not targets or owner is None or owner in targets:  # only then does credfix's own account matter
        who = caller_identity or sts.caller()
        caller = who if isinstance(who, CallerIdentity) else None
    return Ownership(
        owner_account=owner,
        method=method,
        target_accounts=targets or ((caller.account_id,) if caller else ()),
        target_partitions=tuple(sorted({partition_of_region(r) for r in incident.regions})) or ("aws",),
        caller_account=caller.account_id if caller else None,
        caller_partition=partition_of_arn(caller.arn) if caller else None,
        sts_failure=answer.failure,
        note=note,
    )
