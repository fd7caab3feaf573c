"""remediate(): the act step. Plans, applies every guardrail in order, executes what is
left (in enforce mode only) and returns one Action per decision, each with its reason.

Order per action: attribution (in the plan) -> opt-out tags -> preconditions -> mode
(observe / kill switch / breaker) -> claim the target (idempotency + cooldown + blocks)
together with a slot of the account's and the key's sliding-window caps (one transaction)
-> execute -> settle (with the breaker's count, one transaction). A capped action is
`pending` with the time its window frees; the act step comes back for it then.
The claim comes before any change, so a redelivered message or a second worker that
loses the claim never acts twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.arns import account_of
from credfix.config import Settings
from credfix.core.remediate.actions import REGISTRY, RemediationAction
from credfix.core.remediate.guardrails import (
    BREAKER_WINDOW_SECONDS,
    STALE_CLAIM_SECONDS,
    OptOutUnknown,
    breaker_reason,
    cut_off_reason,
    effective_mode,
    lost_claim_reason,
    opt_out_check,
)
from credfix.core.remediate.model import NOTIFY, GuardrailStore, KillSwitchReader, PlannedAction
from credfix.core.remediate.planner import plan
from credfix.errortext import error_text
from credfix.keys import is_access_key_id, redact
from credfix.models.guardrails import Cap
from credfix.models.incident import Action, ActionStatus, Incident
from credfix.timefmt import iso_z

RATE_WINDOW_SECONDS = 3600  # the caps' sliding window
MAX_PENDING = timedelta(hours=24)  # a capped action waits at most this long after the incident opened


def caps_for(incident: Incident, p: PlannedAction, settings: Settings) -> tuple[Cap, ...]:
    """The sliding-window caps an action spends a slot of: its account's and its key's. Only
    attributed actions get this far, so nobody outside the account can spend them."""
    account = (
        (p.workload.account if p.workload else None)
        or account_of(p.guard_key)
        or (incident.accounts[0] if incident.accounts else "unknown")
    )
    # A workload's incident (runtime logs) with no key known spends its workload's slot.
    key = incident.access_key_id if is_access_key_id(incident.access_key_id) else incident.subject
    return (
        Cap(f"account#{account}", settings.max_actions_per_hour, RATE_WINDOW_SECONDS, f"account {account}"),
        Cap(f"key#{key}", settings.max_actions_per_key_per_hour, RATE_WINDOW_SECONDS, f"key {redact(key)}"),
    )


def _action(p: PlannedAction, status: ActionStatus, reason: str, at: datetime) -> Action:
    return Action(type=p.type, target=p.target, status=status, reason=reason, at=at)


def _because(p: PlannedAction, why: str) -> str:
    return f"{p.reason}; {why}" if p.reason else why


def remediate(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    store: GuardrailStore,
    *,
    kill_switch: KillSwitchReader | None = None,
    now: datetime | None = None,
    breaker_failures: int | None = None,
) -> list[Action]:
    """`breaker_failures`: the breaker as read with the incident (one read for both); read
    from the store when not given."""
    # Whole seconds: the guardrail store keeps timestamps to the second, and a redelivery must
    # reproduce the recorded action exactly.
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    mode = effective_mode(settings, store, kill_switch, now, breaker_failures)
    done: dict[str, ActionStatus] = {}  # target -> status, for actions that wait on another
    results: list[Action] = []
    for p in plan(incident, settings):
        result = _decide(p, incident, client_for, settings, store, mode.enforce, mode.why, done, now)
        if result.status == "failed" and mode.enforce:
            # A failure may open the breaker for the rest of this run too.
            failures = store.breaker_failures(now, BREAKER_WINDOW_SECONDS)
            if failures >= settings.breaker_failures:
                mode = type(mode)(False, breaker_reason(failures))
        done[p.target] = result.status
        results.append(result)
    return results


def _decide(
    p: PlannedAction,
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    store: GuardrailStore,
    enforce: bool,
    mode_why: str,
    done: dict[str, ActionStatus],
    now: datetime,
) -> Action:
    if p.skip is not None or p.type == NOTIFY:
        return _action(p, "skipped", p.skip or p.reason, now)
    action: RemediationAction = REGISTRY[p.type](p, client_for, settings)

    try:
        opted_out = opt_out_check(action)
        blocked = opted_out or action.precondition(now)
    except (OptOutUnknown, ClientError, BotoCoreError) as exc:
        # Reads failed: nothing was changed, so this is a skip, not a failed action.
        return _action(p, "skipped", _because(p, f"not acted on: {error_text(exc)}"), now)
    if blocked:
        return _action(p, "skipped", blocked, now)

    waiting = [t for t in p.after if done.get(t) != "executed"]
    if waiting and any(done.get(t) != "planned" for t in waiting):
        return _action(
            p,
            "skipped",
            f"waits for {', '.join(waiting)} to be refreshed first: a restart now reloads it",
            now,
        )
    if not enforce or waiting:
        return _action(p, "planned", _because(p, mode_why), now)

    cooldown = action.cooldown_seconds()
    claim = store.claim(
        p.guard_key, incident.incident_id, p.type, now, cooldown, caps=caps_for(incident, p, settings)
    )
    if claim.capped is not None:
        cap, frees = claim.capped, claim.retry_at
        full = f"{cap.label} reached its cap of {cap.limit} actions in any {cap.window_seconds // 60} min"
        if frees is None or frees - incident.opened_at > MAX_PENDING:
            return _action(
                p, "skipped", f"{full}, and no slot frees within {MAX_PENDING} of the incident", now
            )
        reason = f"held back: {full}; runs when the window frees at {iso_z(frees)}"
        return Action(type=p.type, target=p.target, status="pending", reason=reason, at=now, retry_at=frees)
    if not claim.won:
        holder = claim.holder
        assert holder is not None
        if (
            holder.incident_id == incident.incident_id
            and holder.outcome == "claimed"
            and holder.at <= now - timedelta(seconds=STALE_CLAIM_SECONDS)
        ):
            # Our own claim, older than any act run can last: the run that took it was cut off
            # after claiming. It may have acted; never repeat it, settle it as unknown.
            reason = _because(p, cut_off_reason(holder))
            store.settle(p.guard_key, incident.incident_id, "failed", reason, now)  # counts the failure
            return Action(type=p.type, target=p.target, status="failed", reason=reason, at=holder.at)
        if holder.incident_id == incident.incident_id and holder.outcome in ("executed", "failed"):
            # A redelivery: repeat the holder's own record, so the stored entry is not changed.
            return Action(
                type=p.type, target=p.target, status=holder.outcome, reason=holder.detail, at=holder.at
            )
        return _action(p, "skipped", lost_claim_reason(holder, incident.incident_id, cooldown), now)

    try:
        detail = action.execute(incident.incident_id, now)
    except Exception as exc:  # any failure is recorded and counted; the message is not lost
        reason = _because(p, f"failed: {error_text(exc)}")
        store.settle(p.guard_key, incident.incident_id, "failed", reason, now)  # counts the failure
        return _action(p, "failed", reason, now)
    reason = _because(p, detail)
    store.settle(p.guard_key, incident.incident_id, "executed", reason, now)  # closes the breaker
    return _action(p, "executed", reason, now)
