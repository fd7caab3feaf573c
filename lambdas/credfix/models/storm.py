"""Storm facts: the caps on new incidents, what a batch adds to a window's storm record, the
record as stored and the summary people get (credfix.core.storm decides with them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from credfix.models.observation import KeyDelta

Opening = Literal["ok", "source-full", "overall-full"]


SAMPLE = 10  # key IDs kept in the storm record and shown (redacted) in its alert


NO_ADDRESS = "(no address)"


@dataclass(frozen=True)
class StormLimits:
    per_source: int  # new incidents one source address may open per window
    overall: int  # new incidents all sources together may open per window
    window_seconds: int


def window_of(now: datetime, seconds: int) -> datetime:
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start, UTC)


@dataclass
class StormBatch:
    """What one batch adds to its window's storm record."""

    records: int = 0
    keys: int = 0
    sources: Counter[str] = field(default_factory=Counter)  # address -> records
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)

    def add(self, delta: KeyDelta) -> None:
        self.records += delta.count
        self.keys += 1
        for source in delta.sources.values():
            self.sources[source.ip or NO_ADDRESS] += source.count
        if delta.sources_dropped:
            self.sources["(further sources)"] += delta.sources_dropped
        if delta.first_seen and (self.first_seen is None or delta.first_seen < self.first_seen):
            self.first_seen = delta.first_seen
        if delta.last_seen and (self.last_seen is None or delta.last_seen > self.last_seen):
            self.last_seen = delta.last_seen
        if len(self.sample) < SAMPLE:
            self.sample.append(delta.access_key_id)
        self.message_ids.extend(delta.message_ids)


@dataclass(frozen=True)
class StormRecord:
    """A window's storm record as stored."""

    window: datetime
    window_end: datetime | None
    records: int
    keys: int
    sources: dict[str, int]
    first_seen: str | None
    last_seen: str | None
    sample: list[str]
    alerted: bool
    folded: int = 0  # incidents from these sources whose alerts the summary stands for


@dataclass(frozen=True)
class StormSummary:
    """What the window's summary alert says (credfix.core.alerts.storm renders it): the record
    and the caps it was kept under."""

    record: StormRecord
    per_source: int
    overall: int
