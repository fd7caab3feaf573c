"""The sweep: no incident stays open without a verdict.

An incident's "opened" message can be lost for good: it ends in the work DLQ after five triage
failures, expires there, or was never sent (ingest died between the write and the send, and
the key never failed again). Every few minutes the sweep reads the incidents still open,
announces again each one open longer than the bound (and not announced again within it), at
most `max_times` times, and measures the age of the oldest one: the alarm on that age tells a
person when announcing again did not help (the work DLQ holds why; `credfix redrive`).

Announcing again is safe: triage takes an incident once (its verdict write is conditional on
the incident still being open), so a message that was only slow costs one read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from credfix.errortext import error_text
from credfix.keys import redact
from credfix.models.sweep import OpenIncident


class OpenIncidents(Protocol):
    def open_incidents(self) -> list[OpenIncident]: ...

    def claim_reannouncement(
        self, incident: OpenIncident, now: datetime, *, not_after: datetime, max_times: int
    ) -> bool: ...


class Announcer(Protocol):
    def incident_opened(self, access_key_id: str, incident_id: str, times: int) -> None: ...


@dataclass
class SweepReport:
    open: int = 0
    oldest_open_seconds: float = 0.0  # 0 when nothing is open
    reannounced: list[str] = field(default_factory=list)  # incident ids
    given_up: list[str] = field(default_factory=list)  # announced again max_times already
    errors: list[str] = field(default_factory=list)


def sweep(
    store: OpenIncidents, announcer: Announcer, now: datetime, *, after: timedelta, max_times: int
) -> SweepReport:
    report = SweepReport()
    found = sorted(store.open_incidents(), key=lambda i: i.opened_at)
    report.open = len(found)
    if found:
        report.oldest_open_seconds = max(0.0, (now - found[0].opened_at).total_seconds())
    not_after = now - after
    for incident in found:
        if incident.opened_at > not_after:
            break  # sorted: the rest are younger still
        if incident.reannounced_at is not None and incident.reannounced_at > not_after:
            continue  # announced again within the bound: give triage that long
        if incident.reannounced >= max_times:
            report.given_up.append(incident.incident_id)
            continue
        try:
            if not store.claim_reannouncement(incident, now, not_after=not_after, max_times=max_times):
                continue  # triaged, re-opened or announced by another sweep meanwhile
            announcer.incident_opened(incident.access_key_id, incident.incident_id, incident.reannounced + 1)
        except Exception as exc:  # one incident's failure must not stop the others
            report.errors.append(f"{redact(incident.access_key_id)}: {error_text(exc)}")
            continue
        report.reannounced.append(incident.incident_id)
    return report
