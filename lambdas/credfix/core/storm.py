"""Storms of distinct key IDs: cheap and fair (docs/threat-model.md).

Anyone who knows, or invents, key IDs can make AWS record failures for them, each from any
address they hold. Each new incident costs a triage (AWS lookups, two alerts), so ingest caps
how many new incidents one source address may open per window, and how many may open in all;
beyond the caps a key's records are counted in the window's storm record instead, and one
summary alert per window tells people (distinct keys, sources, first/last seen, a sample).

A source the account has already been shown to own (triage records the addresses it
attributed: `trusted`) is never capped: an outsider cannot send from it, so a storm cannot
crowd out the account's own failures. Keys that already have an incident known to this
process are counted as usual. Nothing here reads an event's content beyond what ingest
already parsed; the window is the clock's (one summary per window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from credfix.config import Settings
from credfix.models.incident import Incident
from credfix.models.observation import KeyDelta
from credfix.models.storm import (
    NO_ADDRESS,
    StormBatch,
    StormLimits,
    StormRecord,
    StormSummary,
    window_of,
)


def storm_limits(settings: Settings) -> StormLimits:
    return StormLimits(
        settings.max_new_incidents_per_source, settings.max_new_incidents, settings.storm_window_seconds
    )


class StormStore(Protocol):
    def take_openings(self, source: str, wanted: int, cap: int, window: datetime, now: datetime) -> int:
        """Take up to `wanted` of the window's `cap` new incidents of a budget source ("*": the
        overall budget); how many were taken."""
        ...

    def trusted(self, sources: Sequence[tuple[str, str | None]]) -> set[tuple[str, str | None]]: ...

    def record(self, window: datetime, batch: StormBatch, limits: StormLimits, now: datetime) -> bool:
        """Count the batch in the window's storm record; True when this write created it."""
        ...


class StormNotifier(Protocol):
    def storm_summary_due(self, window: datetime, at: datetime) -> None: ...


def _sources(delta: KeyDelta) -> list[tuple[str, str | None]]:
    return [(s.ip or NO_ADDRESS, s.vpc_endpoint_id) for s in delta.sources.values()]


def budget_source(delta: KeyDelta) -> str:
    """Whose budget a new key spends: the VPC endpoint its private address came through (one
    budget for a whole VPC behind one endpoint, the caller's or the account's), else the
    address of its first source."""
    first = next(iter(delta.sources.values()), None)
    if first is None:
        return NO_ADDRESS
    return first.vpc_endpoint_id or first.ip or NO_ADDRESS


def through_an_endpoint(delta: KeyDelta) -> bool:
    return any(s.vpc_endpoint_id for s in delta.sources.values())


class StormGate:
    """Admits new keys' records (their incidents may open) or diverts them to the storm record,
    a batch at a time. One per process: budgets known to be spent and addresses known (not) to
    be the account's are remembered for the rest of their window, so that a storm's steady
    state costs no call per key.

    Within a batch, keys from an address the account owns (`trusted`) come first and spend no
    budget, then keys through a VPC endpoint, then the rest: an outsider's keys earlier in the
    batch never use up the budget before the account's own."""

    def __init__(self, store: StormStore, limits: StormLimits) -> None:
        self._store = store
        self.limits = limits
        self._window: datetime | None = None
        self._full: set[str] = set()  # budget sources that are spent ("*": all of them)
        self._trusted: dict[tuple[str, str | None], bool] = {}

    def _roll(self, now: datetime) -> datetime:
        window = window_of(now, self.limits.window_seconds)
        if window != self._window:  # a new window: budgets refill, triage may have trusted more
            self._window, self._full, self._trusted = window, set(), {}
        return window

    def _trusted_sources(self, deltas: Sequence[KeyDelta]) -> None:
        unknown = {s for d in deltas for s in _sources(d) if s not in self._trusted and s[0] != NO_ADDRESS}
        if unknown:
            found = self._store.trusted(sorted(unknown, key=str))
            for s in unknown:
                self._trusted[s] = s in found

    def rank(self, delta: KeyDelta) -> int:
        """0: from an address the account owns, 1: through a VPC endpoint, 2: anything else."""
        if any(self._trusted.get(s, False) for s in _sources(delta)):
            return 0
        return 1 if through_an_endpoint(delta) else 2

    def admit(self, deltas: Sequence[KeyDelta], now: datetime) -> list[KeyDelta]:
        """The deltas whose incidents may open (in the order they should be handled); the others
        go to the storm record. At most one budget write per budget source and one for the
        overall budget per batch."""
        window = self._roll(now)
        self._trusted_sources(deltas)
        ordered = sorted(deltas, key=self.rank)
        admitted = [d for d in ordered if self.rank(d) == 0]
        wanted: dict[str, list[KeyDelta]] = {}
        for delta in ordered:
            if self.rank(delta) != 0:
                wanted.setdefault(budget_source(delta), []).append(delta)
        granted: list[KeyDelta] = []
        for source, keys in wanted.items():
            if "*" in self._full or source in self._full:
                continue
            n = self._store.take_openings(f"{source}", len(keys), self.limits.per_source, window, now)
            if n < len(keys):
                self._full.add(source)
            granted.extend(keys[:n])
        if granted and "*" not in self._full:
            n = self._store.take_openings("*", len(granted), self.limits.overall, window, now)
            if n < len(granted):
                self._full.add("*")
            admitted.extend(sorted(granted, key=self.rank)[:n])
        return admitted

    def divert(self, deltas: Sequence[KeyDelta], notifier: StormNotifier, now: datetime) -> StormBatch:
        """Count diverted keys in the window's storm record; schedule its one summary when this
        write opened the record (due at the window's end)."""
        batch = StormBatch()
        for delta in deltas:
            batch.add(delta)
        window = window_of(now, self.limits.window_seconds)
        if self._store.record(window, batch, self.limits, now):
            notifier.storm_summary_due(window, window + timedelta(seconds=self.limits.window_seconds))
        return batch


class StormSummaryDue(BaseModel):
    """The delayed message ingest sends when a window's storm record opens."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["storm-summary"]
    window: AwareDatetime


class StormRecords(Protocol):
    def load(self, window: datetime) -> StormRecord | None: ...
    def mark_alerted(self, window: datetime, now: datetime) -> bool: ...


class StormAlerter(Protocol):
    def storm(self, summary: StormSummary) -> str: ...


def summarise(
    window: datetime, records: StormRecords, alerter: StormAlerter, limits: StormLimits, now: datetime
) -> str:
    """The window's one summary alert (the delayed message ingest scheduled). Sent, then marked:
    a crash in between sends it again on redelivery rather than never."""
    record = records.load(window)
    if record is None:
        return "no storm record"
    if record.alerted:
        return "already sent"
    alerter.storm(StormSummary(record, limits.per_source, limits.overall))
    records.mark_alerted(window, now)
    return "sent"


class StormFolds(Protocol):
    def storming(self, window: datetime, addresses: Sequence[str]) -> bool: ...
    def fold(self, window: datetime) -> None: ...


class StormFolder:
    """The act step's question for an incident from outside the account: are its sources part
    of its window's storm? Then its alert is folded into the window's summary (and counted
    there) instead of going out on its own: one alert per storm, not one per key."""

    def __init__(self, store: StormFolds, limits: StormLimits) -> None:
        self._store = store
        self._limits = limits

    def folds(self, incident: Incident) -> bool:
        window = window_of(incident.opened_at, self._limits.window_seconds)
        addresses = [s.ip or NO_ADDRESS for s in incident.sources]
        if not addresses or not self._store.storming(window, addresses):
            return False
        self._store.fold(window)
        return True
