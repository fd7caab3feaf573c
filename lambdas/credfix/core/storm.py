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
from credfix.models.observation import KeyDelta
from credfix.models.storm import (
    NO_ADDRESS,
    Opening,
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
    def take_opening(self, source: str, window: datetime, limits: StormLimits, now: datetime) -> Opening: ...

    def trusted(self, sources: Sequence[tuple[str, str | None]]) -> set[tuple[str, str | None]]: ...

    def record(self, window: datetime, batch: StormBatch, limits: StormLimits, now: datetime) -> bool:
        """Count the batch in the window's storm record; True when this write created it."""
        ...


class StormNotifier(Protocol):
    def storm_summary_due(self, window: datetime, at: datetime) -> None: ...


def _sources(delta: KeyDelta) -> list[tuple[str, str | None]]:
    return [(s.ip or NO_ADDRESS, s.vpc_endpoint_id) for s in delta.sources.values()]


class StormGate:
    """Admits a new key's records (an incident may open) or diverts them to the storm record.
    One per process: budgets known to be spent are remembered for the rest of their window,
    so that a storm's steady state costs no call per key."""

    def __init__(self, store: StormStore, limits: StormLimits) -> None:
        self._store = store
        self.limits = limits
        self._window: datetime | None = None
        self._full: set[str] = set()  # sources whose budget is spent ("*": all of them)
        self._trusted: dict[tuple[str, str | None], bool] = {}

    def _roll(self, now: datetime) -> datetime:
        window = window_of(now, self.limits.window_seconds)
        if window != self._window:
            self._window, self._full = window, set()
        return window

    def _trusted_any(self, sources: list[tuple[str, str | None]]) -> bool:
        unknown = [s for s in sources if s not in self._trusted and s[0] != NO_ADDRESS]
        if unknown:
            found = self._store.trusted(unknown)
            for s in unknown:
                self._trusted[s] = s in found
        return any(self._trusted.get(s, False) for s in sources)

    def admits(self, delta: KeyDelta, now: datetime) -> bool:
        window = self._roll(now)
        sources = _sources(delta)
        primary = sources[0][0] if sources else NO_ADDRESS
        if "*" not in self._full and primary not in self._full:
            opening = self._store.take_opening(primary, window, self.limits, now)
            if opening == "ok":
                return True
            self._full.add("*" if opening == "overall-full" else primary)
        # Over a cap: still admitted when it comes from an address the account owns.
        return self._trusted_any(sources)

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
    alerter.storm(
        StormSummary(
            window=record.window,
            window_end=record.window_end,
            records=record.records,
            keys=record.keys,
            sources=record.sources,
            first_seen=record.first_seen,
            last_seen=record.last_seen,
            sample=record.sample,
            per_source=limits.per_source,
            overall=limits.overall,
        )
    )
    records.mark_alerted(window, now)
    return "sent"
