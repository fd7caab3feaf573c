"""What people change by hand (the day-two verbs: `credfix unblock`, `breaker reset`, `mute`)
and what they read (`credfix targets`): pure data, kept by adapters/stores/operator.py.

Every change is made by someone (the caller's identity ARN) for a reason, and is recorded on
the item it changes and on the timeline of the incident it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_REASON = 500  # characters of an operator's reason kept


@dataclass(frozen=True)
class Mute:
    """A key's alerts are held back until `until` (actions still follow the guardrails)."""

    until: datetime
    by: str
    reason: str
    at: datetime

    def active(self, now: datetime) -> bool:
        return self.until > now

    @classmethod
    def of_item(cls, item: dict[str, Any]) -> Mute | None:
        """The mute a key's item (plain values) holds, in force or not; None without one."""
        until = _time(item.get("mute_until"))
        if until is None:
            return None
        return cls(
            until=until,
            by=str(item.get("mute_by", "")),
            reason=str(item.get("mute_reason", "")),
            at=_time(item.get("mute_at")) or until,
        )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Block:
    """Enforcement is off for a target until `until` (verify set it after a failed fix)."""

    at: datetime | None
    until: datetime | None
    reason: str
    incident_id: str
    access_key_id: str


@dataclass(frozen=True)
class TargetState:
    """A target's guardrail item: who claimed it last, how that ended, and any block."""

    target: str
    incident_id: str
    action: str
    last_action_at: datetime | None
    outcome: str
    cooldown_until: datetime | None
    block: Block | None = None  # set while the block holds
    unblocked: str = ""  # "at <time> by <arn>: <reason>" when a person cleared the last block


@dataclass(frozen=True)
class RateState:
    scope: str  # "account#<id>" or "key#<access key id>"
    in_window: int  # actions taken within the last hour


@dataclass(frozen=True)
class BreakerState:
    failures: int  # failed actions since the last success, within the window
    last_failure_at: datetime | None
    threshold: int
    reset: str = ""  # the last reset by a person, if any

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold


@dataclass(frozen=True)
class PendingAction:
    incident_id: str
    access_key_id: str
    type: str
    target: str
    retry_at: datetime | None
    reason: str


@dataclass(frozen=True)
class StormWindow:
    window: str
    keys: int
    records: int
    sources: int
    folded: int
    alerted: bool
    top_sources: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class GuardrailView:
    """Everything `credfix targets` shows, read in one pass over the table."""

    targets: list[TargetState]
    rates: list[RateState]
    breaker: BreakerState
    pending: list[PendingAction]
    storms: list[StormWindow]
    mutes: list[tuple[str, Mute]]  # (access key id, mute) for mutes still in force


class Conflict(Exception):
    """The item changed since it was read (or is not in the state the change needs): nothing
    was written. The message says what was found."""
