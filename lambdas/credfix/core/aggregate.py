"""Batch aggregation: many failure records become one delta per access key.

A crash-looping workload sends thousands of identical failures a minute; aggregating per
key per batch is what keeps DynamoDB at one write per key per batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from credfix.models.cloudtrail import CloudTrailEvent

MAX_SOURCES_PER_BATCH = 20


def source_hash(ip: str | None, user_agent: str | None) -> str:
    """A short stable name for a (source IP, user agent) pair, usable as a map key."""
    return "s" + hashlib.sha256(f"{ip}\x00{user_agent}".encode()).hexdigest()[:12]


@dataclass
class SourceDelta:
    ip: str | None
    user_agent: str | None
    count: int = 0
    last_seen: datetime | None = None


@dataclass
class KeyDelta:
    """What one batch adds to the incident of one access key."""

    access_key_id: str
    message_ids: list[str] = field(default_factory=list)
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    error_codes: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    event_sources: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    sources: dict[str, SourceDelta] = field(default_factory=dict)
    sources_dropped: int = 0
    session_issuers: set[str] = field(default_factory=set)

    def add(self, event: CloudTrailEvent, message_id: str, source_name: str | None = None) -> None:
        """Count one record; `source_name` is its source_hash when the caller has it already."""
        d = event.detail
        at = d.event_time
        self.message_ids.append(message_id)
        self.count += 1
        if self.first_seen is None or at < self.first_seen:
            self.first_seen = at
        if self.last_seen is None or at > self.last_seen:
            self.last_seen = at
        if d.error_code:
            self.error_codes.add(d.error_code)
        self.regions.add(d.aws_region)
        self.event_sources.add(d.event_source)
        self.accounts.add(d.recipient_account_id or event.account or "unknown")
        context = d.user_identity.session_context
        if (
            context
            and context.session_issuer
            and context.session_issuer.arn
            and len(self.session_issuers) < 5
        ):
            self.session_issuers.add(context.session_issuer.arn)
        name = source_name or source_hash(d.source_ip_address, d.user_agent)
        src = self.sources.get(name)
        if src is None:
            if len(self.sources) >= MAX_SOURCES_PER_BATCH:
                self.sources_dropped += 1
                return
            src = self.sources[name] = SourceDelta(d.source_ip_address, d.user_agent)
        src.count += 1
        if src.last_seen is None or at > src.last_seen:
            src.last_seen = at

    def batch_token(self) -> str:
        """Same records, same token: a redelivered batch is recognised and not counted twice."""
        joined = "\n".join(sorted(self.message_ids))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]


def aggregate(events: list[tuple[str, CloudTrailEvent]]) -> dict[str, KeyDelta]:
    deltas: dict[str, KeyDelta] = {}
    # A storm repeats a few (IP, user agent) pairs: hash each pair once per batch.
    names: dict[tuple[str | None, str | None], str] = {}
    for message_id, event in events:
        d = event.detail
        key = d.user_identity.access_key_id
        assert key  # parse_event guarantees it
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = KeyDelta(key)
        pair = (d.source_ip_address, d.user_agent)
        name = names.get(pair)
        if name is None:
            name = names[pair] = source_hash(*pair)
        delta.add(event, message_id, name)
    return deltas
