"""One "incident-opened" message (the triage Lambda): triage an open incident once, on the lane
its sources earn, and hand it to the act queue at least once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from credfix.adapters.aws import ClientFactory
from credfix.config import Settings
from credfix.core.triage.location import Attributable, Locate, default_attributable, default_locate
from credfix.core.triage.workload import triage_any
from credfix.models.iam import CallerIdentity
from credfix.models.incident import (
    Incident,
    SourceAttribution,
    Verdict,
)
from credfix.models.pipeline import HandOffState


class IncidentReader(Protocol):
    def get(self, access_key_id: str) -> Incident | None: ...


class Deferrer(Protocol):
    def defer(self, access_key_id: str, incident_id: str) -> None: ...


class VerdictWriter(Protocol):
    def record(
        self,
        access_key_id: str,
        incident_id: str,
        *,
        verdict: str,
        severity: str,
        stage: dict[str, Any],
        now: datetime,
    ) -> HandOffState | None: ...

    def hand_off_state(self, access_key_id: str) -> HandOffState | None: ...

    def mark_act_queued(self, access_key_id: str, incident_id: str, now: datetime) -> None: ...

    def trust(self, attributed: Sequence[SourceAttribution], now: datetime) -> None: ...


class ActNotifier(Protocol):
    def incident_triaged(self, access_key_id: str, incident_id: str, lane: str = "priority") -> None: ...


TakeOutcome = Literal["triaged", "deferred", "act-resent", "already-handed-off", "stale-message"]
Lane = Literal["priority", "bulk"]


@dataclass(frozen=True)
class Taken:
    outcome: TakeOutcome
    verdict: Verdict | None = None


def take_opened_incident(
    access_key_id: str,
    incident_id: str,
    *,
    incidents: IncidentReader,
    writer: VerdictWriter,
    act: ActNotifier,
    client_for: ClientFactory,
    settings: Settings,
    locate: Locate = default_locate,
    now: datetime | None = None,
    route: Callable[[list[str]], ClientFactory] | None = None,
    home: CallerIdentity | None = None,
    lane: Lane = "priority",
    bulk: Deferrer | None = None,
    attributable: Attributable = default_attributable,
) -> Taken:
    """Triage an opened incident once and hand it to the act queue at least once.

    `route` (organisation mode) picks the clients of the incident's account. `home`: the
    account the home clients read (from the Lambda's own ARN); used when there is no `route`
    (with a route, the clients may be a member account's, and STS says which).

    Lanes: ingest sends keys from outside-looking addresses to the bulk lane itself; on the
    priority lane, an incident none of whose sources can be attributed to the account (a
    few address lookups, shared with what follows) goes to the `bulk` queue too, instead of
    being triaged here. So no storm message is ahead of the account's own incidents in the
    work queue; the bulk lane triages in full. Act's lane follows the result (nothing
    attributed: act's bulk queue). The addresses a triage attributes are remembered
    (`writer.trust`): ingest never caps new incidents from them.

    The verdict is written only while the item holds this incident, still open; the act
    message is sent after that write and then marked on the item. A crash between write and
    send leaves the item triaged but unmarked, so the redelivered message sends it then; a
    crash between send and mark sends it twice, which act tolerates (it moves the incident
    on with its own conditional write). A message for an incident that was re-opened since
    (new incident id) or is gone is dropped.
    """
    now = now or datetime.now(UTC)
    incident = incidents.get(access_key_id)
    if incident is None or incident.incident_id != incident_id:
        return Taken("stale-message")
    state: HandOffState | None = None
    if incident.status == "open":
        if route is not None:
            client_for = route(incident.accounts)
        known = home if route is None else None
        if lane == "priority" and bulk is not None:
            account = (
                incident.accounts[0] if len(incident.accounts) == 1 else (known.account_id if known else None)
            )
            if not attributable(incident, client_for, settings, account=account):
                bulk.defer(access_key_id, incident_id)
                return Taken("deferred")
        result = triage_any(incident, client_for, settings, locate=locate, now=now, caller_identity=known)
        writer.trust(result.incident.attribution, now)
        state = writer.record(
            access_key_id,
            incident_id,
            verdict=result.decision.verdict,
            severity=result.decision.severity,
            stage=result.stage(),
            now=now,
        )
        if state is None:
            # act's lane follows what triage found: nothing attributed, nothing to change.
            act_lane = "bulk" if result.incident.origin == "outside" else "priority"
            act.incident_triaged(access_key_id, incident_id, act_lane)
            writer.mark_act_queued(access_key_id, incident_id, now)
            return Taken("triaged", result.decision.verdict)
    state = state or writer.hand_off_state(access_key_id)
    if state is None or state.incident_id != incident_id:
        return Taken("stale-message")
    if state.status == "triaged" and state.act_queued_for != incident_id:
        act.incident_triaged(access_key_id, incident_id, "bulk" if state.outside else "priority")
        writer.mark_act_queued(access_key_id, incident_id, now)
        return Taken("act-resent")
    return Taken("already-handed-off")
