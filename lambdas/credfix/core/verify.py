"""Verification: did the fix hold?

A delayed message wakes this step a drain period after an action. CloudTrail delivers
records minutes late, so arrival time proves nothing; the failures' own event times do.
Ingest keeps the event time of the key's newest failure (`last_seen`, a true maximum:
a late batch never moves it back) and, per source, the newest failure of that source.

- No failure of the key after the action (plus an optional grace period for old tasks that
  drain during a rolling restart) ⇒ `verified`: the incident is resolved and closed.
- Failures after it ⇒ `escalated`: a high-severity alert, and enforcement stops for the
  acted-on targets (a `blocked` marker the remediation guardrails read).

The whole key is judged, not only the remediated workload's old source IPs: a restarted
ECS task comes back with a new IP, so "no failures from the old IPs" would call a failed
restart a success. Per-source times are used to say *who* still fails, and to spare a
target when every late failure comes from a different, located workload.

Observe mode works the same way with `action_at` = the time of diagnosis: if the
failures stopped by themselves the incident is resolved ("failures stopped without an
action").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from credfix.core.alerts.sanitise import sanitise
from credfix.core.attribution import holder_family
from credfix.keys import is_access_key_id, is_workload_subject
from credfix.models.guardrails import guard_key
from credfix.models.incident import Incident, Severity, SourceAttribution
from credfix.models.logs import split_log_source, workload_of
from credfix.models.operator import Mute
from credfix.models.verification import SourceActivity, StoredIncident, Written
from credfix.timefmt import iso_z

Outcome = Literal["verified", "escalated", "duplicate", "skipped"]
MAX_GRACE = timedelta(hours=1)
DEFAULT_BLOCK = timedelta(days=7)


class VerifyRequest(BaseModel):
    """The delayed SQS message the act step sends after acting (or after diagnosing, in observe mode)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["verify"]
    access_key_id: str  # the incident's subject: its key ID, or `workload#<ARN>` (runtime logs)
    incident_id: str = Field(min_length=1, max_length=200)
    action_at: AwareDatetime
    # Failures this long after the action are still tolerated (e.g. an ECS rolling restart
    # keeps the old tasks until the new ones are healthy). Must stay below the drain period
    # minus CloudTrail's delivery lag, or late failures are never seen.
    grace_seconds: int = Field(0, ge=0, le=int(MAX_GRACE.total_seconds()))

    @field_validator("access_key_id")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not (is_access_key_id(value) or (is_workload_subject(value) and len(value) <= 2048)):
            raise ValueError("access_key_id is neither an access key ID nor a workload subject")
        return value


@dataclass(frozen=True)
class Decision:
    outcome: Literal["verified", "escalated"]
    failures_after_action: int  # distinct sources seen failing after the action (>= 1 when escalated)
    detail: str
    block_targets: tuple[str, ...] = ()
    outsiders_after: bool = False  # some failures after the action are not attributed to the account


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    incident_id: str
    detail: str
    blocked_targets: tuple[str, ...] = ()
    alerted: bool = False


class Store(Protocol):
    def load(self, access_key_id: str) -> StoredIncident | None: ...
    def record_outcome(
        self, access_key_id: str, incident_id: str, status: str, closed_at: datetime | None, verification: str
    ) -> Written: ...
    def block_target(
        self, target: str, incident_id: str, access_key_id: str, reason: str, now: datetime, until: datetime
    ) -> None: ...
    def mark_alerted(self, access_key_id: str, incident_id: str, now: datetime) -> None: ...


class Alerter(Protocol):
    def incident_resolved(self, incident: Incident) -> str: ...
    def incident_escalated(self, incident: Incident) -> str: ...


def _ips_in(texts: list[str], ips: set[str]) -> set[str]:
    """Which of `ips` a workload's evidence names (triage cites the source IP it matched)."""
    joined = "\n".join(texts)
    return {ip for ip in ips if re.search(rf"(?<![\w.:]){re.escape(ip)}(?![\w:]|\.\d)", joined)}


def attribution_of(source: SourceActivity, incident: Incident) -> SourceAttribution | None:
    """What a failing source is attributed to, from what triage established: the same
    address (and endpoint), or a new address through an endpoint triage found to be the
    account's (a restarted task comes back with a new private IP, through the same endpoint).
    None when triage never attributed anything like it."""
    attributed = [a for a in incident.attribution if a.scope != "none"]
    if source.log:  # runtime logs: the same workload's lines (a restarted task writes a new stream)
        for a in attributed:
            if a.log and same_log_workload(a.log, source.log, incident):
                return a if a.log == source.log else a.model_copy(update={"log": source.log})
        return None
    for a in attributed:
        if a.log:
            continue
        if a.ip == source.ip and a.vpc_endpoint_id == source.vpc_endpoint_id:
            return a
    for a in attributed:
        if source.vpc_endpoint_id and a.vpc_endpoint_id == source.vpc_endpoint_id:
            return a.model_copy(update={"ip": source.ip, "scope": "vpc", "holders": []})
    return None


def same_log_workload(attributed: str, late: str, incident: Incident) -> bool:
    """Whether a late failure's log stream names the workload an attributed stream named (the
    key of credfix.models.logs: a restarted ECS task writes a new stream of the same service)."""
    region = incident.regions[0] if incident.regions else ""
    account = incident.accounts[0] if incident.accounts else ""
    before = workload_of(*split_log_source(attributed), region, account)
    return before.key == workload_of(*split_log_source(late), region, account).key


def _attributed_to(a: SourceAttribution, target: str, incident: Incident) -> bool:
    """Whether an attributed late failure points at an acted-on target: its holder is the
    target or one of the target's workloads, or it comes from the VPC the target runs in."""
    holders = holder_family(a.holders, incident.workloads)
    for w in incident.workloads:
        if target not in (w.id, w.parent):
            continue
        if a.scope == "workload" and (w.id in holders or target in holders):
            return True
        if a.scope == "vpc" and a.vpc_id and w.vpc_id == a.vpc_id:
            return True
    return False


def _guard_key_of(incident: Incident, target: str) -> str:
    """The key act claimed the target by (a pod's deployment is qualified by its cluster)."""
    cluster = next((w.cluster for w in incident.workloads if w.parent == target and w.cluster), None)
    return guard_key(target, cluster)


def decide(stored: StoredIncident, action_at: datetime, grace: timedelta = timedelta(0)) -> Decision:
    """Pure: compare the failures' event times with the action time. A target is blocked only
    when failures after the action are attributed to it (an outsider's late failure never
    blocks anything)."""
    incident = stored.incident
    cutoff = action_at + grace
    executed = [a for a in incident.actions if a.status == "executed"]
    targets = tuple(dict.fromkeys(a.target for a in executed))
    newest = incident.last_seen
    after = f"after {iso_z(cutoff)}" + (f" (action at {iso_z(action_at)} + {grace} grace)" if grace else "")
    if newest <= cutoff:
        if not executed:
            detail = f"failures stopped without an action: newest failure {iso_z(newest)} (event time)"
        else:
            detail = f"no failure of the key {after}; newest failure {iso_z(newest)} (event time)"
        return Decision("verified", 0, detail)

    late = [s for s in stored.sources if s.last_seen is not None and s.last_seen > cutoff]
    late_ips = {s.ip for s in late if s.ip}
    all_ips = {s.ip for s in stored.sources if s.ip}
    targeted = [w for w in incident.workloads if w.id in targets or (w.parent and w.parent in targets)]
    others = [w for w in incident.workloads if w not in targeted]
    workload_ips = _ips_in([e for w in targeted for e in w.evidence], all_ips)
    other_ips = _ips_in([e for w in others for e in w.evidence], all_ips) - workload_ips
    who = ", ".join(sorted(late_ips)) or "sources not recorded per source"
    count = max(1, len(late))
    if not executed:
        detail = f"failures continue {after} (newest {iso_z(newest)}, from {who}) and credfix changed nothing"
        return Decision("escalated", count, sanitise(detail, 400))
    inside = [(s, a) for s in late if (a := attribution_of(s, incident)) is not None]
    if late and not inside:
        detail = (
            f"failures continue {after} only from addresses not attributed to the account ({who}; newest "
            f"{iso_z(newest)}): nothing shows the remediated workload still failing, so no target is "
            "blocked; someone outside may be using this key ID"
        )
        return Decision("escalated", count, sanitise(detail, 400), outsiders_after=True)
    if late and late_ips and late_ips <= other_ips and len(late_ips) == len(late):
        detail = (
            f"the remediated workload is quiet, but failures continue {after} from other located "
            f"workload(s) at {who} (newest {iso_z(newest)})"
        )
        return Decision("escalated", count, sanitise(detail, 400))
    blocked = tuple(
        _guard_key_of(incident, t) for t in targets if any(_attributed_to(a, t, incident) for _, a in inside)
    )
    mine = sorted(late_ips & workload_ips)
    origin = (
        f"from the remediated workload's source(s) {', '.join(mine)}"
        if mine
        else f"from {who} (possibly the restarted workload under a new IP)"
    )
    detail = f"failures continue {after} {origin}; newest {iso_z(newest)} (event time)"
    if not blocked:
        detail += "; not attributed to an acted-on target, so none is blocked"
    outsiders = len(inside) < len(late)
    return Decision("escalated", count, sanitise(detail, 400), blocked, outsiders_after=outsiders)


def _escalated_severity(current: Severity | None) -> Severity:
    return "critical" if current == "critical" else "high"


def verification_attribute(
    incident: Incident, decision: Decision, action_at: datetime, now: datetime, mute: Mute | None = None
) -> str:
    """The `verification` attribute (JSON): Incident fields this stage contributes."""
    what = f"Verification: {decision.outcome}: {decision.detail}"
    doc: dict[str, Any] = {
        "verification": {
            "outcome": decision.outcome,
            "checked_at": iso_z(now),
            "action_at": iso_z(action_at),
            "failures_after_action": decision.failures_after_action,
            "detail": decision.detail,
            "blocked_targets": list(decision.block_targets),
        },
        "timeline": [{"at": iso_z(now), "what": what}],
    }
    if mute is not None and mute.active(now):
        held = (
            f"alert held back: this key's alerts are muted until {iso_z(mute.until)} "
            f"(by {mute.by}: {mute.reason})"
        )
        doc["timeline"].append({"at": iso_z(now), "what": sanitise(held, 600)})
    if decision.outcome == "escalated":
        doc["severity"] = _escalated_severity(incident.severity)
        doc["blocked_targets"] = list(decision.block_targets)
        if decision.outsiders_after and incident.origin == "account":
            doc["origin"] = "mixed"  # someone outside failed with the key after the action
    return json.dumps(doc)


def _finish(
    stored: StoredIncident,
    store: Store,
    alerter: Alerter,
    now: datetime,
    *,
    redelivered: bool,
    block_for: timedelta,
) -> VerifyResult:
    """Send the alert for an outcome already written (once: redelivery only re-sends an
    alert that has not gone out)."""
    incident = stored.incident
    decided = stored.decided or {}
    blocked = tuple(str(t) for t in decided.get("blocked_targets", []))
    detail = str(decided.get("verification", {}).get("detail", ""))
    if stored.alerted:
        return VerifyResult("duplicate", incident.incident_id, "already verified and alerted", blocked)
    # A muted key (`credfix mute`) gets no alert; its timeline says so (verification_attribute).
    muted = stored.mute is not None and stored.mute.active(now)
    if incident.status == "escalated":
        for target in blocked:  # idempotent: a crash between writes left no gap
            store.block_target(target, incident.incident_id, incident.subject, detail, now, now + block_for)
        if not muted:
            alerter.incident_escalated(incident)
        outcome: Outcome = "escalated"
    else:
        if not muted:
            alerter.incident_resolved(incident)
        outcome = "verified"
    store.mark_alerted(incident.subject, incident.incident_id, now)
    note = "alert re-sent after an interrupted run" if redelivered else detail
    return VerifyResult(outcome, incident.incident_id, note, blocked, alerted=True)


def verify(
    request: VerifyRequest,
    store: Store,
    alerter: Alerter,
    now: datetime,
    *,
    block_for: timedelta = DEFAULT_BLOCK,
) -> VerifyResult:
    """`block_for`: how long an escalation keeps enforcement off a target it is attributed to."""
    now = now.astimezone(UTC).replace(microsecond=0)
    stored = store.load(request.access_key_id)
    if stored is None:
        return VerifyResult("skipped", request.incident_id, "no incident for this key")
    incident = stored.incident
    if incident.incident_id != request.incident_id:
        return VerifyResult("skipped", request.incident_id, f"superseded by incident {incident.incident_id}")
    if incident.status in ("resolved", "escalated") and stored.decided is not None:
        return _finish(stored, store, alerter, now, redelivered=True, block_for=block_for)
    if incident.status != "acted":
        return VerifyResult(
            "skipped", incident.incident_id, f"incident is {incident.status}, not awaiting verification"
        )

    decision = decide(stored, request.action_at, timedelta(seconds=request.grace_seconds))
    # Stop enforcement before recording the outcome: if the run dies in between, a
    # redelivery finds the incident still "acted" and decides again.
    for target in decision.block_targets:
        until = now + block_for
        store.block_target(target, incident.incident_id, incident.subject, decision.detail, now, until)
    status = "resolved" if decision.outcome == "verified" else "escalated"
    written = store.record_outcome(
        incident.subject,
        incident.incident_id,
        status,
        now if status == "resolved" else None,
        verification_attribute(incident, decision, request.action_at, now, stored.mute),
    )
    fresh = written.current  # the write returns the item: no second read
    if fresh is None or fresh.incident.incident_id != incident.incident_id or fresh.decided is None:
        return VerifyResult("skipped", incident.incident_id, "incident changed while verifying")
    # Lost the race to another worker: finish whatever it decided (its alert, once).
    return _finish(fresh, store, alerter, now, redelivered=not written.won, block_for=block_for)
