"""What the sweep reads of an incident still open without a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OpenIncident:
    access_key_id: str
    incident_id: str
    opened_at: datetime
    reannounced: int = 0  # how many times the sweep announced it again
    reannounced_at: datetime | None = None
