"""The day-two views (`credfix incidents`, `credfix targets`): what the incidents table's
items say, worked out for people. Pure functions of the items as the operator store reads
them (plain values) and of the guardrail settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from credfix.adapters.stores.guardrails import block_active, breaker_failures_in
from credfix.adapters.stores.incidents import to_incident
from credfix.core.remediate.guardrails import BREAKER_WINDOW_SECONDS
from credfix.models.incident import Incident
from credfix.models.operator import (
    Block,
    BreakerState,
    GuardrailView,
    Mute,
    PendingAction,
    RateState,
    StormWindow,
    TargetState,
)
from credfix.timefmt import iso_z, parse_iso_z

# The items that hold a current incident: per key, per workload (runtime logs), per rotation.
CURRENT_INCIDENTS = ("key#", "workload#", "rotation#")
RATE_WINDOW_SECONDS = 3600
STORM_SOURCE_PREFIX = "src:"


@dataclass(frozen=True)
class GuardrailSettings:
    """What `credfix targets` needs of the deployed settings (the stack's OperatorSettings
    output; the defaults otherwise)."""

    target_cooldown_seconds: int = 3600
    breaker_failures: int = 3


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso_z(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None


def mute_of(item: dict[str, Any]) -> Mute | None:
    """The key's mute as its item holds it (whether or not still in force)."""
    return Mute.of_item(item)


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    """The few typed attributes the guardrail helpers read, from a plain item."""
    typed: dict[str, Any] = {}
    for name in ("blocked_until", "blocked_at", "last_failure_at"):
        if item.get(name) is not None:
            typed[name] = {"S": str(item[name])}
    if "blocked" in item:
        typed["blocked"] = {"BOOL": bool(item["blocked"])}
    if "failures" in item:
        typed["failures"] = {"N": str(int(item["failures"]))}
    return typed


def target_state(item: dict[str, Any], now: datetime, settings: GuardrailSettings) -> TargetState:
    target = str(item["pk"]).removeprefix("target#")
    last = _time(item.get("last_action_at"))
    block = None
    if block_active(_typed(item), now):
        block = Block(
            at=_time(item.get("blocked_at")),
            until=_time(item.get("blocked_until")),
            reason=str(item.get("blocked_reason", "")),
            incident_id=str(item.get("blocked_incident_id", item.get("incident_id", ""))),
            access_key_id=str(item.get("blocked_access_key_id", "")),
        )
    cooldown_until = last + timedelta(seconds=settings.target_cooldown_seconds) if last else None
    unblocked = ""
    if item.get("unblocked_at"):
        unblocked = (
            f"at {item['unblocked_at']} by {item.get('unblocked_by', '?')}: {item.get('unblock_reason', '')}"
        )
    return TargetState(
        target=target,
        incident_id=str(item.get("incident_id", "")),
        action=str(item.get("action", "")),
        last_action_at=last,
        outcome=str(item.get("outcome", "claimed")),
        cooldown_until=cooldown_until if cooldown_until and cooldown_until > now else None,
        block=block,
        unblocked=unblocked,
    )


def _pending(item: dict[str, Any]) -> list[PendingAction]:
    if item.get("status") != "acted" or "remediation" not in item:
        return []
    try:
        actions = json.loads(item["remediation"]).get("actions", [])
    except (ValueError, AttributeError):
        return []
    return [
        PendingAction(
            incident_id=str(item.get("incident_id", "")),
            access_key_id=str(item.get("access_key_id", "")),
            type=str(a.get("type", "")),
            target=str(a.get("target", "")),
            retry_at=_time(a.get("retry_at")),
            reason=str(a.get("reason", "")),
        )
        for a in actions
        if a.get("status") == "pending"
    ]


def _storm(item: dict[str, Any]) -> StormWindow:
    sources = {
        k.removeprefix(STORM_SOURCE_PREFIX): int(v)
        for k, v in item.items()
        if k.startswith(STORM_SOURCE_PREFIX)
    }
    return StormWindow(
        window=str(item["pk"]).removeprefix("storm#"),
        keys=int(item.get("keys", 0)),
        records=int(item.get("records", 0)),
        sources=len(sources),
        folded=int(item.get("folded", 0)),
        alerted="alerted_at" in item,
        top_sources=sorted(sources.items(), key=lambda kv: -kv[1])[:3],
    )


def guardrail_view(
    items: Iterable[dict[str, Any]], now: datetime, settings: GuardrailSettings
) -> GuardrailView:
    """Targets (cool-downs and blocks), the caps' windows, the breaker, pending capped actions,
    storm windows and mutes in force, from one pass over the table."""
    targets: list[TargetState] = []
    rates: list[RateState] = []
    pending: list[PendingAction] = []
    storms: list[StormWindow] = []
    mutes: list[tuple[str, Mute]] = []
    breaker_item: dict[str, Any] | None = None
    start = int(now.timestamp()) - RATE_WINDOW_SECONDS
    for item in items:
        pk = str(item.get("pk", ""))
        if pk.startswith("target#"):
            state = target_state(item, now, settings)
            if state.block or state.cooldown_until or state.outcome in ("claimed", "failed"):
                targets.append(state)
        elif pk.startswith("rate#"):
            inside = [int(t) for t in item.get("log", []) if int(t) > start]
            if inside:
                rates.append(RateState(pk.removeprefix("rate#"), len(inside)))
        elif pk == "breaker":
            breaker_item = item
        elif pk.startswith("storm#"):
            storms.append(_storm(item))
        elif pk.startswith("key#"):
            pending.extend(_pending(item))
            mute = mute_of(item)
            if mute is not None and mute.active(now):
                mutes.append((pk.removeprefix("key#"), mute))
    failures = breaker_failures_in(
        _typed(breaker_item) if breaker_item else None, now, BREAKER_WINDOW_SECONDS
    )
    reset = ""
    if breaker_item and breaker_item.get("last_reset_at"):
        reset = (
            f"at {breaker_item['last_reset_at']} by {breaker_item.get('last_reset_by', '?')}: "
            f"{breaker_item.get('last_reset_reason', '')}"
        )
    breaker = BreakerState(
        failures=failures,
        last_failure_at=_time(breaker_item.get("last_failure_at")) if breaker_item else None,
        threshold=settings.breaker_failures,
        reset=reset,
    )
    return GuardrailView(
        targets=sorted(targets, key=lambda t: (t.block is None, t.target)),
        rates=sorted(rates, key=lambda r: r.scope),
        breaker=breaker,
        pending=sorted(pending, key=lambda p: (p.retry_at is None, p.retry_at or now)),
        storms=sorted(storms, key=lambda s: s.window, reverse=True)[:10],
        mutes=sorted(mutes),
    )


def incidents(
    items: Iterable[dict[str, Any]], *, statuses: set[str] | None = None, since: datetime | None = None
) -> list[Incident]:
    """The incidents among the items (current ones, `key#…`, `workload#…` for runtime-log
    incidents and `rotation#…` for the rotation watch's; archived ones, `incident#…`, when the
    scan included them), newest first."""
    found = []
    cutoff = iso_z(since) if since else ""
    for item in items:
        pk = str(item.get("pk", ""))
        if not pk.startswith((*CURRENT_INCIDENTS, "incident#")) or "incident_id" not in item:
            continue
        if statuses and item.get("status") not in statuses:
            continue
        if cutoff and str(item.get("opened_at", "")) < cutoff:
            continue
        found.append(to_incident(item))
    return sorted(found, key=lambda i: i.opened_at, reverse=True)
