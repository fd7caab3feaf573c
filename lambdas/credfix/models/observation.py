"""Credential failures observed: what one batch adds to a key's incident (KeyDelta, per source),
and the signature that groups records of the same key, source and call."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

# access key ID, source IP, user agent, error code, region, event source, account, session issuer
# ARN, VPC endpoint ID
Signature = tuple[str, str | None, str | None, str | None, str, str, str, str | None, str | None]


def source_hash(ip: str | None, user_agent: str | None, vpc_endpoint_id: str | None = None) -> str:
    """A short stable name for a (source IP, user agent, VPC endpoint) source, usable as a map
    key (sources without an endpoint keep the name they always had)."""
    endpoint = f"\x00{vpc_endpoint_id}" if vpc_endpoint_id else ""
    return "s" + hashlib.sha256(f"{ip}\x00{user_agent}{endpoint}".encode()).hexdigest()[:12]


@dataclass
class SourceDelta:
    ip: str | None
    user_agent: str | None
    vpc_endpoint_id: str | None = None
    count: int = 0
    last_seen: datetime | None = None


@dataclass
class KeyDelta:
    """What one batch adds to the incident of one access key."""

    access_key_id: str
    message_ids: list[str] = field(default_factory=list)  # in the batch's order
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    error_codes: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    event_sources: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    sources: dict[str, SourceDelta] = field(default_factory=dict)  # first seen first
    sources_dropped: int = 0
    session_issuers: set[str] = field(default_factory=set)  # the first few seen

    def batch_token(self) -> str:
        """Same records, same token: a redelivered batch is recognised and not counted twice."""
        joined = "\n".join(sorted(self.message_ids))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]
