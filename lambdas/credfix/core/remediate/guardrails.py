"""Guardrails (DESIGN.md §4), all on by default: observe mode, the kill switch, opt-out
tags, a cooldown per target, a cap per hour, a circuit breaker, and the claim that makes
every action happen once across retries, redeliveries and concurrent workers.

The state lives behind `GuardrailStore` (incidents table or memory); this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from credfix.config import Settings
from credfix.core.remediate.actions import RemediationAction
from credfix.core.remediate.model import (
    OPT_OUT_TAG,
    OPT_OUT_VALUE,
    GuardrailStore,
    KillSwitchReader,
    OptOutUnknown,
)
from credfix.errortext import error_text
from credfix.models.guardrails import ClaimHolder
from credfix.timefmt import iso_z

BREAKER_WINDOW_SECONDS = 3600  # failures older than this no longer hold the breaker open
# Longer than an act run can last (the act Lambda's 120 s timeout), shorter than the act queue's
# visibility timeout: an unsettled claim this old has no live worker behind it.
STALE_CLAIM_SECONDS = 300


@dataclass(frozen=True)
class Mode:
    enforce: bool
    why: str  # for the reasons recorded on planned actions


def effective_mode(
    settings: Settings,
    store: GuardrailStore,
    kill_switch: KillSwitchReader | None,
    now: datetime,
    breaker_failures: int | None = None,
) -> Mode:
    """enforce only if configured, the kill switch is off and the breaker is closed
    (`breaker_failures` as already read, else read from the store)."""
    if settings.mode != "enforce":
        return Mode(False, "observe mode: nothing is changed (CREDFIX_MODE=enforce to act)")
    if kill_switch is not None:
        engaged, why = kill_switch.engaged()
        if engaged:
            return Mode(False, f"{why}: forced to observe, nothing is changed")
    failures = (
        store.breaker_failures(now, BREAKER_WINDOW_SECONDS) if breaker_failures is None else breaker_failures
    )
    if failures >= settings.breaker_failures:
        return Mode(False, breaker_reason(failures))
    return Mode(True, "enforce mode")


BREAKER_OPEN = "circuit breaker open"  # the start of every reason the breaker gives (metrics key on it)


def breaker_reason(failures: int) -> str:
    return (
        f"{BREAKER_OPEN} after {failures} recent action failures: enforcement paused, observe only "
        f"(closes {BREAKER_WINDOW_SECONDS // 60} min after the last failure, or after a success)"
    )


def is_opt_out(tags: dict[str, str], key: str = OPT_OUT_TAG) -> bool:
    return tags.get(key, "").strip().lower() == OPT_OUT_VALUE


def opt_out_check(action: RemediationAction) -> str | None:
    """Why the action is opted out (or cannot be shown not to be), else None.

    A required resource whose tags cannot be read blocks the action: an opt-out that
    cannot be checked is treated as present."""
    for source in action.tag_sources():
        try:
            tags = source.read()
        except (ClientError, BotoCoreError) as exc:
            if not source.required:
                continue
            raise OptOutUnknown(f"could not read the tags of {source.label} ({error_text(exc)})") from exc
        if is_opt_out(tags, source.key):
            return f"opted out: {source.kind} {source.key}={OPT_OUT_VALUE} on {source.label}"
    return None


def lost_claim_reason(holder: ClaimHolder, incident_id: str, cooldown_seconds: int) -> str:
    at = iso_z(holder.at)
    if holder.outcome == "blocked":
        return (
            f"target blocked since incident {holder.incident_id}: it kept failing after credfix acted "
            f"({holder.detail or 'escalated'}); the block expires, or a person clears it sooner"
        )
    if holder.incident_id == incident_id:
        if holder.outcome == "claimed":
            return f"already being handled for this incident by another worker (claimed {at})"
        return f"already handled by this incident at {at} ({holder.outcome})"
    return (
        f"already handled by incident {holder.incident_id} ({holder.action}, {holder.outcome}) at {at}; "
        f"one action per target every {cooldown_seconds} s"
    )


def cut_off_reason(holder: ClaimHolder) -> str:
    return (
        f"outcome unknown: an earlier attempt claimed the target at {iso_z(holder.at)} and was cut off "
        "before it recorded the result; the action may have run and is not repeated (check the target; "
        "verification tells whether the errors stopped)"
    )
