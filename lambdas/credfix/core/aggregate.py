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
from typing import Any, Protocol

from credfix.models.observation import Failure, KeyDelta, Signature, SourceDelta, signature, source_hash


class TimeWindow(Protocol):
    def holds(self, at: datetime) -> bool: ...


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
        return _deltas(
            ((sig, len(times), min(times), max(times)) for sig, (times, _) in self.signatures.items()),
            self.key_ids,
            self.known_keys,
        )


@dataclass
class RunningGroups:
    """Groups for a stream of any length (`credfix diagnose` over a 200 MB log file): per
    signature only a count and the first and last event time, so memory follows the number
    of distinct signatures, not of records. No message ids: nothing is redelivered here."""

    signatures: dict[Signature, list[Any]] = field(default_factory=dict)
    known_keys: dict[str, str] = field(default_factory=dict)

    def add_groups(self, groups: Groups, window: TimeWindow | None = None) -> int:
        """Fold in a batch's groups (a log payload's lines), the times `window` holds; how many."""
        kept = 0
        for sig, (times, _) in groups.signatures.items():
            if window is not None:
                times = [at for at in times if window.holds(at)]
            if not times:
                continue
            kept += len(times)
            first, last = min(times), max(times)
            totals = self.signatures.get(sig)
            if totals is None:
                self.signatures[sig] = [len(times), first, last]
                continue
            totals[0] += len(times)
            totals[1] = min(totals[1], first)
            totals[2] = max(totals[2], last)
        for subject, key in groups.known_keys.items():
            self.known_keys.setdefault(subject, key)
        return kept

    def add(self, failure: Failure) -> None:
        sig = signature(failure)
        totals = self.signatures.get(sig)
        at = failure.event_time
        if totals is None:
            self.signatures[sig] = [1, at, at]
            return
        totals[0] += 1
        if at < totals[1]:
            totals[1] = at
        elif at > totals[2]:
            totals[2] = at

    def deltas(self) -> dict[str, KeyDelta]:
        return _deltas(((sig, t[0], t[1], t[2]) for sig, t in self.signatures.items()), {}, self.known_keys)


def _deltas(
    totals: Iterable[tuple[Signature, int, datetime, datetime]],
    key_ids: dict[str, list[str]],
    known_keys: dict[str, str] | None = None,
) -> dict[str, KeyDelta]:
    deltas: dict[str, KeyDelta] = {}
    names: dict[tuple[str | None, str | None, str | None, str | None], str] = {}  # hashed once per batch
    for sig, count, first, last in totals:
        key, ip, user_agent, code, region, event_source, account, issuer, endpoint, _, log = sig
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = KeyDelta(
                key, message_ids=key_ids.get(key, []), known_key=(known_keys or {}).get(key)
            )
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
