"""The act step for one queued incident: read it, remediate, record every decision, then
alert and schedule verification once (a redelivery finds them done and does not repeat)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from credfix.adapters.aws import ClientFactory
from credfix.config import Settings
from credfix.core.remediate.engine import remediate
from credfix.core.remediate.guardrails import BREAKER_WINDOW_SECONDS
from credfix.core.remediate.model import Alerter, GuardrailStore, KillSwitchReader, VerifyScheduler
from credfix.keys import find_key_ids, redact
from credfix.models.incident import Action, Incident, TimelineEntry
from credfix.models.operator import Mute


class IncidentRead(Protocol):
    """The incident, the breaker and the key's mute as read once at the start of the act step."""

    @property
    def incident(self) -> Incident | None: ...
    @property
    def mute(self) -> Mute | None: ...
    def breaker_failures(self, now: datetime, window_seconds: int) -> int: ...


class RecordedIncident(Protocol):
    @property
    def incident(self) -> Incident: ...
    @property
    def followed_up_mark(self) -> str | None: ...
    @property
    def alerted(self) -> bool: ...


class Recorder(Protocol):
    def load(self, access_key_id: str) -> IncidentRead: ...

    def record(
        self,
        access_key_id: str,
        incident_id: str,
        actions: list[Action],
        timeline: list[TimelineEntry],
        *,
        read: Any = None,
    ) -> RecordedIncident: ...

    def mark_followed_up(self, access_key_id: str, incident_id: str, mark: str, now: datetime) -> None: ...

    def mark_alerted(self, access_key_id: str, incident_id: str, now: datetime) -> None: ...


class StormCheck(Protocol):
    def folds(self, incident: Incident) -> bool: ...


class ActRetry(Protocol):
    def later(self, access_key_id: str, incident_id: str, at: datetime, now: datetime) -> None: ...


@dataclass(frozen=True)
class ActOutcome:
    incident_id: str
    actions: list[Action]
    followed_up_now: bool  # alert + verify sent by this delivery
    note: str = ""


def _redacted(text: str) -> str:
    for key_id in find_key_ids(text):
        text = text.replace(key_id, redact(key_id))
    return text


def timeline_for(actions: list[Action], now: datetime) -> list[TimelineEntry]:
    """Human text: key IDs in it are redacted (the document's fields keep the full ID)."""
    return [
        TimelineEntry(
            at=a.at or now,
            what=_redacted(
                f"act: {a.status} {a.type} on {a.target}" + (f" ({a.reason})" if a.reason else "")
            ),
        )
        for a in actions
    ]


def action_time(actions: list[Action], now: datetime) -> datetime:
    """When verification counts from: the last executed action, else the decision itself."""
    executed = [a.at for a in actions if a.status == "executed" and a.at is not None]
    return max(executed) if executed else now


def follow_up_mark(incident_id: str, actions: list[Action]) -> str:
    """What an alert + verification are sent for: the incident, and how many of its actions
    have executed. A pending action that executes later changes the mark, so it is alerted on
    and verified too; a redelivery that changes nothing finds the same mark."""
    executed = {(a.type, a.target) for a in actions if a.status == "executed"}
    return f"{incident_id}#{len(executed)}" if executed else incident_id


def muted_note(mute: Mute, now: datetime) -> TimelineEntry:
    return TimelineEntry(
        at=now,
        what=_redacted(
            f"alert held back: this key's alerts are muted until {mute.until:%Y-%m-%d %H:%M} UTC "
            f"(by {mute.by}: {mute.reason})"
        ),
    )


def _alert(
    alerter: Alerter,
    recorder: Recorder,
    incident: Incident,
    mute: Mute | None,
    now: datetime,
) -> None:
    """The remediated alert, unless a person muted the key (`credfix mute`): then the incident's
    timeline says the alert was held back, and everything else goes on as if it was sent."""
    if mute is not None and mute.active(now):
        recorder.record(incident.access_key_id, incident.incident_id, [], [muted_note(mute, now)])
        return
    alerter.incident_remediated(incident)


def act_on_incident(
    access_key_id: str,
    incident_id: str,
    *,
    recorder: Recorder,
    client_for: ClientFactory,
    settings: Settings,
    store: GuardrailStore,
    kill_switch: KillSwitchReader | None,
    alerter: Alerter,
    verify: VerifyScheduler,
    retry: ActRetry | None = None,
    storms: StormCheck | None = None,
    now: datetime | None = None,
    route: Callable[[list[str]], ClientFactory] | None = None,
) -> ActOutcome:
    """`route` (organisation mode) picks the clients of the incident's account.

    The incident is read once (with the breaker); the record is written conditioned on the
    version of that read, so a concurrent record still makes it re-read and merge.

    An action held back by a full cap is `pending`: `retry` brings the incident back when the
    cap's window frees. While something is pending, people are alerted once and verification
    waits; once nothing is pending, the alert (again, if it said "pending") and verification
    follow.

    An incident whose failures all came from outside the account changed nothing and has
    nothing to verify: it gets its alert only (no verification), and no alert of its own when
    its sources are part of a storm (`storms`): the storm's summary stands for it."""
    now = now or datetime.now(UTC)
    read = recorder.load(access_key_id)
    incident = read.incident
    if incident is None or incident.incident_id != incident_id:
        # The key's incident was re-opened since this message was sent: nothing to act on.
        return ActOutcome(incident_id, [], False, f"incident for {redact(access_key_id)} superseded or gone")
    if route is not None:
        client_for = route(incident.accounts)
    actions = remediate(
        incident,
        client_for,
        settings,
        store,
        kill_switch=kill_switch,
        now=now,
        breaker_failures=read.breaker_failures(now, BREAKER_WINDOW_SECONDS),
    )
    recorded = recorder.record(access_key_id, incident_id, actions, timeline_for(actions, now), read=read)
    pending = [a.retry_at for a in recorded.incident.actions if a.status == "pending" and a.retry_at]
    if pending:
        # Every delivery that leaves something pending books the next visit (copies of a
        # message each keep their own chain, bounded by MAX_PENDING).
        if retry is not None:
            retry.later(access_key_id, incident_id, min(pending), now)
        if recorded.alerted or recorded.followed_up_mark:
            return ActOutcome(incident_id, actions, False, "pending actions: alert already sent")
        _alert(alerter, recorder, recorded.incident, read.mute, now)
        recorder.mark_alerted(access_key_id, incident_id, now)
        return ActOutcome(incident_id, actions, True, "pending actions: verification waits for them")
    mark = follow_up_mark(incident_id, recorded.incident.actions)
    if recorded.followed_up_mark == mark:
        return ActOutcome(incident_id, actions, False, "alert and verification already sent")
    outside = recorded.incident.origin == "outside"
    if outside and storms is not None and storms.folds(recorded.incident):
        recorder.mark_followed_up(access_key_id, incident_id, mark, now)
        return ActOutcome(incident_id, actions, True, "alert folded into the storm summary")
    _alert(alerter, recorder, recorded.incident, read.mute, now)
    # A rotation-drift incident has no failures to compare with the action time: its check is
    # `credfix rotation-check`, and a consumer that still fails later opens its own incident.
    rotation = recorded.incident.verdict == "rotation-drift"
    if not outside and not rotation:
        verify.schedule(recorded.incident, action_time(recorded.incident.actions, now))
    recorder.mark_followed_up(access_key_id, incident_id, mark, now)
    note = "nothing to verify: failures from outside" if outside else ""
    return ActOutcome(incident_id, actions, True, "verified by rotation-check" if rotation else note)
