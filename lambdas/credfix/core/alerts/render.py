"""The human alert: a one-line subject and a plain-text e-mail that reads like the field
guide's "Incident Timeline" (what is failing, why, what credfix did, when, what next).

Pure functions of the incident document. Every value that came from an event goes
through `sanitise`, so no line can be forged, recoloured or reordered by a caller.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from typing import Literal, get_args

from credfix.core import attribution
from credfix.core.alerts.guide import advice
from credfix.core.alerts.sanitise import ascii_line, sanitise
from credfix.keys import redact
from credfix.models.incident import Action, Incident, Workload

Kind = Literal["diagnosed", "remediated", "resolved", "escalated"]
KINDS: tuple[str, ...] = get_args(Kind)

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters", printable ASCII, no line breaks
MAX_LINE = 240  # every e-mail line: indentation + label + one sanitised field (<= 200)
WRAP = 96  # prose (credfix's own sentences) is wrapped, not cut
MAX_SOURCES = 5
MAX_EVIDENCE = 12
MAX_WORKLOADS = 5
MAX_ACTIONS = 10
MAX_TIMELINE = 30

_CODE = re.compile(r"`[^`]*`")
_GLUE = "\x00"  # stands for a space inside `code` while wrapping (sanitised text has no NUL)

SECTIONS = (
    "WHAT IS FAILING",
    "WHY",
    "WORKLOAD",
    "WHAT CREDFIX DID",
    "TIMELINE (UTC)",
    "WHAT TO DO NEXT",
)

_CONFIDENCE = {"high": 0, "medium": 1, "low": 2}
_STATUS_RANK = {"failed": 5, "executed": 4, "pending": 3, "planned": 2, "skipped": 1}
_HEADLINE = {
    "diagnosed": "credfix diagnosed a workload signing with a credential AWS rejects.",
    "remediated": "credfix acted on a workload signing with a credential AWS rejects.",
    "resolved": "Resolved: the failures stopped after credfix's action; the incident is closed.",
    "escalated": "ESCALATED: failures continue after credfix's action. A person needs to look; "
    "enforcement has stopped for the target(s) the late failures are attributed to.",
}


_ROTATION_HEADLINE = {  # rotation-drift: nothing has failed (credfix.core.rotation)
    "diagnosed": "credfix found workloads still on the previous version of a rotated secret.",
    "remediated": "credfix acted on workloads still on the previous version of a rotated secret.",
}


def _rotation(incident: Incident) -> bool:
    return incident.verdict == "rotation-drift"


_ESCALATED_UNBLOCKED = (
    "ESCALATED: failures continue after credfix's action. A person needs to look; no target was "
    "blocked: the late failures are not attributed to a target credfix acted on."
)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; expected one of {', '.join(KINDS)}")


def utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def action_status(incident: Incident) -> str:
    """The most significant status among the actions: failed > executed > pending > planned >
    skipped > none."""
    if not incident.actions:
        return "none"
    return max((a.status for a in incident.actions), key=lambda s: _STATUS_RANK[s])


def primary_workload(incident: Incident) -> Workload | None:
    if not incident.workloads:
        return None
    return min(incident.workloads, key=lambda w: _CONFIDENCE[w.confidence])


def short_name(resource: str) -> str:
    """'arn:aws:ecs:…:service/prod/orders-api' -> 'orders-api'; 'i-0abc' stays 'i-0abc'."""
    if resource.startswith("arn:") and ":secret:" in resource:
        return resource.split(":secret:", 1)[1]  # secret names contain slashes themselves
    tail = resource.split(":", 5)[-1] if resource.startswith("arn:") else resource
    return tail.replace(":", "/").rstrip("/").rsplit("/", 1)[-1] or resource


def workload_name(incident: Incident) -> str:
    workload = primary_workload(incident)
    if workload is None:
        return "workload not located"
    # A task's service is the name people know (tasks are replaced on every restart).
    return short_name(workload.parent or workload.id)


def alert_account(incident: Incident) -> str:
    """The account a person would act in: the workload's, else where the calls went, else the owner's."""
    workload = primary_workload(incident)
    for candidate in (
        workload.account if workload else None,
        incident.accounts[0] if incident.accounts else None,
        incident.owner_account,
    ):
        if candidate:
            return sanitise(candidate, 32)
    return "unknown"


def subject(incident: Incident) -> str:
    """One printable-ASCII line under 100 characters: verdict, redacted key, account, workload."""
    prefix = {"resolved": "[credfix] RESOLVED ", "escalated": "[credfix] ESCALATED "}.get(
        incident.status, "[credfix] "
    )
    head = ascii_line(
        f"{prefix}{incident.verdict or 'undiagnosed'} {redact(incident.access_key_id)} "
        f"acct {alert_account(incident)}"
    )
    workload = ascii_line(workload_name(incident))
    room = SUBJECT_LIMIT - len(head) - 1
    if room < 8:  # no useful room left for the workload: the head alone, cut
        return head[: SUBJECT_LIMIT - 3].rstrip() + "..." if len(head) > SUBJECT_LIMIT else head
    if len(workload) > room:
        workload = workload[: room - 3].rstrip() + "..."
    return f"{head} {workload}"


class _Text:
    """Lines of the e-mail; each value passed to `field` is sanitised and bounded."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str = "") -> None:
        self.lines.append(line)

    def field(self, label: str, value: object, limit: int = 200) -> None:
        self.lines.append(
            f"  {label:<11} {sanitise(value, limit)}" if label else f"  {sanitise(value, limit)}"
        )

    def item(self, value: object, indent: int = 4, limit: int = 200) -> None:
        self.lines.append(f"{' ' * indent}- {sanitise(value, limit)}")

    def para(self, value: object, indent: str, first: str = "") -> None:
        """Wrapped prose; `first` replaces the indentation of the first line (e.g. '  1. ')."""
        first = first or indent
        # A `command` is never split across lines: copy-paste must work.
        clean = _CODE.sub(lambda m: m.group(0).replace(" ", _GLUE), sanitise(value, 2000))
        wrapped = textwrap.wrap(
            clean,
            width=WRAP,
            initial_indent=first,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
        self.lines.extend(line.replace(_GLUE, " ") for line in wrapped or [first.rstrip()])

    def section(self, title: str) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")
        self.lines.append(title)

    def render(self) -> str:
        # Last line of defence: construction keeps lines short; never let one through long.
        out = [line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…" for line in self.lines]
        return "\n".join(out).rstrip() + "\n"


def _join(values: list[str], limit: int = 200) -> str:
    return sanitise(", ".join(values), limit) if values else "(none recorded)"


def _rotated(text: _Text, incident: Incident) -> None:
    """rotation-drift: what rotated and who used the old key since (no failure to show)."""
    text.section("WHAT ROTATED")
    owner = f", owner account {incident.owner_account}" if incident.owner_account else ""
    text.field(
        "Old key:", f"{redact(incident.access_key_id)} (status: {incident.key_status or 'unknown'}{owner})"
    )
    text.field("Rotated:", f"AWSCURRENT moved at {utc(incident.first_seen)}")
    text.field("Used since:", f"{incident.event_count:,} successful call(s) with the old key")
    for src in incident.sources[:MAX_SOURCES]:
        via = f" via {src.vpc_endpoint_id}" if src.vpc_endpoint_id else ""
        text.item(f"{src.ip or 'no source IP'}{via}: {src.count:,} call(s)", indent=4, limit=120)


def _failing(text: _Text, incident: Incident) -> None:
    if _rotation(incident):
        _rotated(text, incident)
        return
    key = redact(incident.access_key_id)
    text.section("WHAT IS FAILING")
    owner = f", owner account {incident.owner_account}" if incident.owner_account else ""
    text.field("Key:", f"{key} (status: {incident.key_status or 'not checked yet'}{owner})")
    span = (
        f"{incident.event_count:,} rejected call(s) between {utc(incident.first_seen)} "
        f"and {utc(incident.last_seen)}"
    )
    text.field("Failures:", span)
    text.field("Errors:", _join(incident.error_codes))
    text.field("Calls to:", _join(incident.event_sources))
    text.field("Regions:", _join(incident.regions))
    text.field("Accounts:", _join(incident.accounts))
    if not incident.sources:
        return
    shown = incident.sources[:MAX_SOURCES]
    more = len(incident.sources) - len(shown)
    header = f"Sources (top {len(shown)} of {len(incident.sources)}):" if more else "Sources:"
    text.add(f"  {header}")
    for src in shown:
        via = f" via {src.vpc_endpoint_id}" if src.vpc_endpoint_id else ""
        text.item(f"{src.ip or 'no source IP'}{via}: {src.count:,} call(s)", indent=4, limit=120)
        text.add(f"      user agent: {sanitise(src.user_agent or '(none)', 200)}")
    if incident.sources_dropped:
        text.add(f"    (+ {incident.sources_dropped:,} call(s) from further sources, counted but not listed)")


def _why(text: _Text, incident: Incident) -> None:
    guide = advice(incident)
    text.section("WHY")
    text.add(f"  Verdict: {incident.verdict or 'undiagnosed'} (severity {incident.severity or 'unknown'})")
    text.para(guide.why, indent="  ")
    if incident.evidence:
        text.add("  Evidence:")
        for ev in incident.evidence[:MAX_EVIDENCE]:
            text.item(f"{ev.check}: {ev.found}")
        if len(incident.evidence) > MAX_EVIDENCE:
            text.add(f"    (+ {len(incident.evidence) - MAX_EVIDENCE} more in the incident document)")


def _workloads(text: _Text, incident: Incident) -> None:
    text.section("WORKLOAD")
    if not incident.workloads:
        text.add("  Not located yet: see the sources above (IP and user agent) to find it.")
        return
    ordered = sorted(incident.workloads, key=lambda w: _CONFIDENCE[w.confidence])
    for workload in ordered[:MAX_WORKLOADS]:
        text.item(f"{workload.type} {short_name(workload.id)} ({workload.confidence} confidence)", indent=2)
        text.add(f"    id: {sanitise(workload.id)}")
        if workload.parent:
            text.add(f"    part of: {sanitise(workload.parent)}")
        for line in workload.evidence[:3]:
            text.add(f"    evidence: {sanitise(line)}")
    if len(ordered) > MAX_WORKLOADS:
        text.add(f"  (+ {len(ordered) - MAX_WORKLOADS} more candidate(s) in the incident document)")


def _action_line(action: Action, with_time: bool = True) -> str:
    when = f" at {utc(action.at)}" if action.at and with_time else ""
    return f"[{action.status}] {action.type} on {short_name(action.target)}{when}"


def _actions(text: _Text, incident: Incident) -> None:
    text.section("WHAT CREDFIX DID")
    if not incident.actions:
        text.add("  Nothing: no action applies to this verdict, or remediation has not run yet.")
        return
    if action_status(incident) == "planned":
        text.add("  Observe mode: nothing was changed; this is what credfix would do.")
    for action in incident.actions[:MAX_ACTIONS]:
        text.item(_action_line(action), indent=2)
        text.add(f"    target: {sanitise(action.target)}")
        if reason := sanitise(action.reason):
            text.add(f"    reason: {reason}")
    if len(incident.actions) > MAX_ACTIONS:
        text.add(f"  (+ {len(incident.actions) - MAX_ACTIONS} more in the incident document)")


def _timeline(text: _Text, incident: Incident) -> None:
    entries: list[tuple[datetime, str]] = [(e.at, e.what) for e in incident.timeline]
    first_call = incident.event_sources[0] if incident.event_sources else "AWS"
    if not _rotation(incident):  # a rotation-drift incident's times are the rotation's, not failures
        entries.append((incident.first_seen, f"First failure (event time): {first_call} rejected the key"))
    entries.append((incident.opened_at, "credfix opened the incident"))
    if incident.last_seen > incident.first_seen and not _rotation(incident):
        entries.append((incident.last_seen, "Latest failure seen so far (event time)"))
    for action in incident.actions:
        if action.at:
            entries.append((action.at, f"Action {_action_line(action, with_time=False)}"))
    if incident.verification and incident.verification.outcome != "pending":
        v = incident.verification
        entries.append((v.checked_at, f"Verification: {v.outcome}: {v.detail}"))
    entries.sort(key=lambda e: e[0])
    text.section("TIMELINE (UTC)")
    for at, what in entries[:MAX_TIMELINE]:
        text.add(f"  {utc(at)}  {sanitise(what)}")
    if len(entries) > MAX_TIMELINE:
        text.add(f"  (+ {len(entries) - MAX_TIMELINE} more entries in the incident document)")


def _verification(text: _Text, incident: Incident) -> None:
    v = incident.verification
    if v is None:
        return
    text.section("VERIFICATION")
    text.field("Outcome:", v.outcome)
    if v.action_at:
        text.field("Action at:", utc(v.action_at))
    text.field("Checked at:", utc(v.checked_at))
    text.field("Newest:", f"latest failure (event time) {utc(incident.last_seen)}")
    if v.outcome == "escalated":
        text.field("After it:", f"failures from {v.failures_after_action} source(s) after the action")
        text.field("Blocked:", ", ".join(short_name(t) for t in v.blocked_targets) or "no target")
    text.para(v.detail, indent="              ", first="  Detail:     ")


def _next(text: _Text, incident: Incident, kind: str) -> None:
    guide = advice(incident)
    text.section("WHAT TO DO NEXT")
    steps = list(guide.steps)
    if kind == "resolved":
        steps = [
            "Nothing urgent. Check that the same runtime keeps using the intended credential across "
            "restarts and deploys; the incident re-opens if the key fails again.",
            *steps[-1:],
        ]
    elif kind == "escalated":
        steps = [
            "credfix's action did not stop the failures. Where the late failures are attributed to the "
            "target, credfix does not act on it again until the block expires: the cause is not what a "
            "restart fixes. Work through the steps below by hand.",
            *steps,
        ]
    for number, step in enumerate(steps, 1):
        text.para(step, indent="     ", first=f"  {number}. ")
    text.add("")
    text.add("  Wrong fix to avoid (field guide):")
    text.para(f'"{guide.wrong_fix}"', indent="    ")


def email_text(incident: Incident, kind: str) -> str:
    """The plain-text alert for e-mail subscribers. `kind` is diagnosed, remediated,
    resolved or escalated."""
    _check_kind(kind)
    text = _Text()
    blocked = incident.verification.blocked_targets if incident.verification else []
    headline = _ROTATION_HEADLINE.get(kind) if _rotation(incident) else None
    text.add(headline or (_HEADLINE[kind] if kind != "escalated" or blocked else _ESCALATED_UNBLOCKED))
    text.add(
        f"Incident {sanitise(incident.incident_id, 80)} (status {incident.status}), key "
        f"{redact(incident.access_key_id)}, account {alert_account(incident)}"
    )
    if outside := attribution.headline(incident):
        text.add("")
        text.para(outside, indent="")
    _failing(text, incident)
    _why(text, incident)
    _workloads(text, incident)
    _actions(text, incident)
    _timeline(text, incident)
    _verification(text, incident)
    _next(text, incident, kind)
    text.add("")
    text.para(
        "The full incident document (credfix.incident/v1) goes to machine subscribers (SQS, HTTPS, Lambda).",
        indent="",
    )
    return text.render()
