"""The rotation watch's step for one secret an event named (the rotation Lambda): read the
rotation from the account, and when its consumers or the old key's use show drift, open one
rotation-drift incident for the rotation and hand it to the act step (the same act queue,
guardrails, attribution rule and alerts as every incident).

One rotation produces several events (the label move, PutSecretValue,
UpdateSecretVersionStage, RotationSucceeded), in any order and possibly twice each. They
meet at the rotation's item (`rotation#<secret ARN>#<current version>`): the first that
finds drift creates it with a conditional write and sends the act message; the others find
it and stop before scanning anything (or re-send the act message if the first died between
the write and the send). The act step's claims do the rest: one restart per consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from credfix.adapters.aws import ClientFactory
from credfix.adapters.stores.rotation import rotation_pk
from credfix.config import Settings
from credfix.core.rotation.check import drifted, examine, read
from credfix.core.rotation.incident import incident_of
from credfix.core.rotation.secret import NoRotation
from credfix.models.incident import Incident
from credfix.models.pipeline import HandOffState
from credfix.models.rotation import RotationSignal

Outcome = Literal[
    "opened",
    "duplicate",
    "act-resent",
    "no-drift",
    "unwatched",
    "no-previous-version",
    "no-key-change",
    "unreadable",
]


class RotationStore(Protocol):
    def state(self, pk: str) -> HandOffState | None: ...

    def open(
        self, pk: str, incident: Incident, *, secret_arn: str, current: str, previous: str, now: datetime
    ) -> HandOffState | None: ...

    def mark_act_queued(self, pk: str, incident_id: str, now: datetime) -> None: ...


class ActNotifier(Protocol):
    def incident_triaged(
        self, access_key_id: str, incident_id: str, item: str, lane: str = "priority"
    ) -> None: ...


@dataclass(frozen=True)
class Watched:
    outcome: Outcome
    detail: str
    incident: Incident | None = None
    item: str | None = None


def _hand_off(
    state: HandOffState, pk: str, key: str, act: ActNotifier, store: RotationStore, now: datetime
) -> Watched:
    if state.incident_id and state.act_queued_for != state.incident_id and state.status == "triaged":
        act.incident_triaged(key, state.incident_id, pk, "bulk" if state.outside else "priority")
        store.mark_act_queued(pk, state.incident_id, now)
        return Watched("act-resent", f"incident {state.incident_id} handed to the act step again", item=pk)
    return Watched("duplicate", f"this rotation has incident {state.incident_id or '?'} already", item=pk)


def watch_rotation(
    signal: RotationSignal,
    client_for: ClientFactory,
    settings: Settings,
    *,
    store: RotationStore,
    act: ActNotifier,
    now: datetime | None = None,
) -> Watched:
    """Raises ClientError/BotoCoreError when Secrets Manager, IAM or the table cannot be reached
    (the event is retried)."""
    now = now or datetime.now(UTC)
    rotation = read(client_for, settings, signal.secret_ref, region=signal.region)
    if isinstance(rotation, NoRotation):
        return Watched(rotation.outcome, rotation.why)  # type: ignore[arg-type]
    pk = rotation_pk(rotation.secret_arn, rotation.current_version)
    key = rotation.old_keys[0]
    known = store.state(pk)
    if known is not None:
        return _hand_off(known, pk, key, act, store, now)
    checked = examine(client_for, settings, rotation, account=signal.account)
    if not drifted(checked.report):
        return Watched(
            "no-drift", f"every consumer of {rotation.secret_name} runs AWSCURRENT; the old key is unused"
        )
    incident = incident_of(checked, now)
    lost = store.open(
        pk,
        incident,
        secret_arn=rotation.secret_arn,
        current=rotation.current_version,
        previous=rotation.previous_version,
        now=now,
    )
    if lost is not None:
        return _hand_off(lost, pk, key, act, store, now)
    act.incident_triaged(
        key, incident.incident_id, pk, "bulk" if incident.origin == "outside" else "priority"
    )
    store.mark_act_queued(pk, incident.incident_id, now)
    return Watched("opened", f"{incident.verdict}: {len(incident.workloads)} workload(s)", incident, pk)
