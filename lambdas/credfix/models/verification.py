"""What verification reads of an incident (per-source activity, the stored decision) and what
its outcome write returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from credfix.models.incident import Incident
from credfix.models.operator import Mute


@dataclass(frozen=True)
class SourceActivity:
    ip: str | None
    user_agent: str | None
    count: int
    last_seen: datetime | None = None  # event time of this source's newest failure, if ingest kept it
    vpc_endpoint_id: str | None = None
    log: str | None = None  # runtime logs: `GROUP:STREAM`


@dataclass(frozen=True)
class StoredIncident:
    incident: Incident
    sources: list[SourceActivity] = field(default_factory=list)
    decided: dict[str, Any] | None = None  # the verification attribute, once written
    alerted: bool = False  # the verification alert of this incident has gone out
    mute: Mute | None = None  # the key's alerts are held back while this is in force


@dataclass(frozen=True)
class Written:
    """The outcome write: whether this worker's outcome went in, and the item as it stands
    after it (returned by the write itself; None if the key holds no incident any more)."""

    won: bool
    current: StoredIncident | None
