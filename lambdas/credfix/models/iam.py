"""IAM and STS facts: a key's lifecycle, its owning account as STS answers it, and the
caller's own identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

KeyStatusInIam = Literal["Active", "Inactive"]


@dataclass(frozen=True)
class KeyFacts:
    """What IAM says about a key that exists in the account credfix reads."""

    access_key_id: str
    user_name: str
    status: KeyStatusInIam
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


@dataclass(frozen=True)
class StsAnswer:
    """An account, or why STS could not give one (the caller then decodes the key offline)."""

    account_id: str | None
    failure: str | None = None


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str
    arn: str
