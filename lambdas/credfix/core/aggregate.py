"""Batch aggregation: many failure records become one delta per access key.

A crash-looping workload sends thousands of identical failures a minute; aggregating per
key per batch is what keeps DynamoDB at one write per key per batch.

Failures (credfix.models.observation) are first grouped by their signature, everything a
delta keeps of a failure except its time and reference: a storm's thousand records are a
handful of signatures, so the per-record work is one tuple and two appends, and the sets,
source hashes and caps are worked out once per signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from credfix.models.observation import Failure, KeyDelta, Signature, SourceDelta, signature, source_hash

MAX_SOURCES_PER_BATCH = 20
MAX_SESSION_ISSUERS = 5


@dataclass
class Groups:
    """Records grouped by signature: each signature's event times (timezone-aware) and the
    message ids of its key (one list per key, shared by the key's signatures, so that the
    ids stay in the batch's order)."""

    signatures: dict[Signature, tuple[list[datetime], list[str]]] = field(default_factory=dict)
    key_ids: dict[str, list[str]] = field(default_factory=dict)
    # Workload subjects (runtime logs) -> the masked key ID their lines showed, if any.
    known_keys: dict[str, str] = field(default_factory=dict)

    def add(self, failure: Failure) -> None:
        # ingest's hot loop (core/ingest.py, group_bodies) does the same inline
        sig = signature(failure)
        group = self.signatures.get(sig)
        if group is None:
            group = self.signatures[sig] = ([], self.key_ids.setdefault(failure.access_key_id, []))
        group[0].append(failure.event_time)
        group[1].append(failure.ref)

    def deltas(self) -> dict[str, KeyDelta]:
        """One delta per key, as if each record had been added to it in the batch's order:
        the first MAX_SOURCES_PER_BATCH distinct sources are kept (the rest only counted), and
        the first MAX_SESSION_ISSUERS session issuers."""
        deltas: dict[str, KeyDelta] = {}
        names: dict[tuple[str | None, str | None, str | None, str | None], str] = {}  # hashed once per batch
        for sig, (times, _) in self.signatures.items():
            key, ip, user_agent, code, region, event_source, account, issuer, endpoint, _, log = sig
            delta = deltas.get(key)
            if delta is None:
                delta = deltas[key] = KeyDelta(
                    key, message_ids=self.key_ids[key], known_key=self.known_keys.get(key)
                )
            count, first, last = len(times), min(times), max(times)
            delta.count += count
            if delta.first_seen is None or first < delta.first_seen:
                delta.first_seen = first
            if delta.last_seen is None or last > delta.last_seen:
                delta.last_seen = last
            if code:
                delta.error_codes.add(code)
            delta.regions.add(region)
            delta.event_sources.add(event_source)
            delta.accounts.add(account)
            if issuer and len(delta.session_issuers) < MAX_SESSION_ISSUERS:
                delta.session_issuers.add(issuer)
            origin = (ip, user_agent, endpoint, log)
            name = names.get(origin)
            if name is None:
                name = names[origin] = source_hash(ip, user_agent, endpoint, log)
            source = delta.sources.get(name)
            if source is None:
                if len(delta.sources) >= MAX_SOURCES_PER_BATCH:
                    delta.sources_dropped += count
                    continue
                source = delta.sources[name] = SourceDelta(ip, user_agent, endpoint, log=log)
            source.count += count
            if source.last_seen is None or last > source.last_seen:
                source.last_seen = last
        return deltas


def aggregate(failures: Iterable[Failure]) -> dict[str, KeyDelta]:
    """Deltas of failures, per access key."""
    groups = Groups()
    for failure in failures:
        groups.add(failure)
    return groups.deltas()
