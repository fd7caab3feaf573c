"""The guardrail store's facts: who holds a target, the caps an action spends a slot of, and
what a claim came to (credfix.core.remediate decides with them; adapters/stores keeps them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ClaimOutcome = Literal["claimed", "executed", "failed", "blocked"]


def guard_key(target: str, cluster: str | None) -> str:
    """What the guardrails hold a target by (its claim, cool-down and block). An ARN names one
    resource; a Kubernetes `KIND/NAMESPACE/NAME` is unique only within its cluster, so it is
    qualified by the cluster's ARN: the same deployment name in two clusters is two targets."""
    if target.startswith("arn:") or not cluster:
        return target
    return f"{cluster}/{target}"


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds a target: the incident and action that claimed it, when, and how it ended."""

    incident_id: str
    action: str
    at: datetime
    outcome: ClaimOutcome
    detail: str = ""


@dataclass(frozen=True)
class Cap:
    """At most `limit` actions within any `window_seconds` (a sliding window, not the clock
    hour) for one scope: the account acted in, or the failing key."""

    scope: str  # "account#<id>" or "key#<access key id>": the rate item's name
    limit: int
    window_seconds: int
    label: str  # for people: "account 123456789012", "key AKIA…WXYZ"


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    holder: ClaimHolder | None = None  # set when the claim was lost to another holder
    capped: Cap | None = None  # not taken: this cap is full
    retry_at: datetime | None = None  # when the full cap's window frees a slot
