"""The human alert: a one-line subject and a plain-text e-mail that reads in ten seconds.

The first screen (`first_screen`, also what `credfix diagnose` prints on a terminal and what
chat channels get) says, one labelled line each, what is failing, why, which workload, what
credfix did and what to do next, with the verdict's page. The details follow, each fact
once: the key, the sources, the evidence, every candidate workload and action, the timeline,
the verification and every step.

Pure functions of the incident document. Every value that came from an event goes
through `sanitise`, so no line can be forged, recoloured or reordered by a caller.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from typing import Literal, get_args

from credfix.config import DEFAULT_DOCS_BASE_URL
from credfix.core import attribution
from credfix.core.alerts.guide import advice, owner_user
from credfix.core.alerts.sanitise import ascii_line, sanitise
from credfix.keys import redact
from credfix.models.incident import Action, Incident, Workload

Kind = Literal["diagnosed", "remediated", "resolved", "escalated"]
KINDS: tuple[str, ...] = get_args(Kind)

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters", printable ASCII, no line breaks
MAX_LINE = 240  # every e-mail line: indentation + label + one sanitised field (<= 200)
WRAP = 96  # prose (credfix's own sentences) is wrapped, not cut
FIRST_SCREEN_WRAP = 104  # the labelled lines: a little wider, so that each fact takes one or two
MAX_SOURCES = 5
MAX_EVIDENCE = 12
MAX_WORKLOADS = 5
MAX_ACTIONS = 10
MAX_TIMELINE = 30
LABEL = 10  # width of the first screen's labels ("Workload: ")
FIRST_SCREEN_LABELS = ("Failing:", "Why:", "Workload:", "Action:", "Next:", "Guide:")

_CODE = re.compile(r"`[^`]*`")
_GLUE = "\x00"  # stands for a space inside `code` while wrapping (sanitised text has no NUL)

SECTIONS = (
    "DETAILS",
    "EVIDENCE",
    "WORKLOADS",
    "ACTIONS",
    "TIMELINE (UTC)",
    "WHAT TO DO NEXT",
)

# The plan's "tell a person, change nothing" entry (credfix.core.remediate.model.NOTIFY; not
# imported: the verify Lambda would load the whole remediation package for one string).
NOTIFY = "notify"
_CONFIDENCE = {"high": 0, "medium": 1, "low": 2}
_STATUS_RANK = {"failed": 5, "executed": 4, "pending": 3, "planned": 2, "skipped": 1}
_HEADLINE = {  # kind -> (prefix, what happened); the verdict goes between them
    "diagnosed": ("credfix:", "a workload signs with a credential AWS rejects"),
    "remediated": ("credfix:", "a workload signs with a credential AWS rejects"),
    "resolved": ("RESOLVED", "the failures stopped after credfix's action; the incident is closed"),
    "escalated": (
        "ESCALATED",
        "failures continue after credfix's action; a person needs to look (enforcement stopped for "
        "the target(s) they are attributed to)",
    ),
}


_ROTATION_HEADLINE = {  # rotation-drift: nothing has failed (credfix.core.rotation)
    "diagnosed": ("credfix:", "workloads still hold the previous version of a rotated secret"),
    "remediated": ("credfix:", "workloads still hold the previous version of a rotated secret"),
}


def _rotation(incident: Incident) -> bool:
    return incident.verdict == "rotation-drift"


_ESCALATED_UNBLOCKED = (
    "ESCALATED",
    "failures continue after credfix's action; a person needs to look (no target was blocked: the "
    "late failures are not attributed to a target credfix acted on)",
)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; expected one of {', '.join(KINDS)}")


def utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def verdict_url(incident: Incident, docs_base_url: str = DEFAULT_DOCS_BASE_URL) -> str:
    """The verdict's page in the docs (`<base>/<verdict>.md`; the base alone when undiagnosed)."""
    base = docs_base_url.rstrip("/")
    return f"{base}/{incident.verdict}.md" if incident.verdict else f"{base}/"


def span(incident: Incident) -> str:
    """When the failures happened: one time when there was one, else from and to."""
    first, last = incident.first_seen, incident.last_seen
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    if first == last:
        return f"at {utc(first)}"
    if first.date() == last.date():
        return f"{first:%Y-%m-%d %H:%M:%S} to {last:%H:%M:%S} UTC"
    return f"from {utc(first)} to {utc(last)}"


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
    """'arn:aws:ecs:…:service/prod/orders-api' -> 'orders-api'; 'i-0abc' stays 'i-0abc';
    'arn:aws:eks:…:cluster/prod/deployment/payments/ledger-sync' -> 'prod/deployment/payments/ledger-sync'."""
    if resource.startswith("arn:") and ":secret:" in resource:
        return resource.split(":secret:", 1)[1]  # secret names contain slashes themselves
    if resource.startswith("arn:") and ":eks:" in resource and resource.count("/") > 1:
        # A Kubernetes target as the guardrails key it: CLUSTER/KIND/NAMESPACE/NAME.
        return resource.split(":cluster/", 1)[-1]
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

    def label(self, label: str, value: object, *, wrap: bool = True) -> None:
        """A first-screen line: `Label:    value`, long values wrapped under the value."""
        if wrap:
            self.para(value, indent=" " * LABEL, first=f"{label:<{LABEL}}", width=FIRST_SCREEN_WRAP)
        else:
            self.lines.append(f"{label:<{LABEL}}{sanitise(value, 200)}")

    def item(self, value: object, indent: int = 4, limit: int = 200) -> None:
        self.lines.append(f"{' ' * indent}- {sanitise(value, limit)}")

    def para(self, value: object, indent: str, first: str = "", width: int = WRAP) -> None:
        """Wrapped prose; `first` replaces the indentation of the first line (e.g. '  1. ')."""
        first = first or indent
        # A `command` is never split across lines: copy-paste must work.
        clean = _CODE.sub(lambda m: m.group(0).replace(" ", _GLUE), sanitise(value, 2000))
        wrapped = textwrap.wrap(
            clean,
            width=width,
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


def _workload_phrase(workload: Workload) -> str:
    """'ecs-task 4f1c… of orders-api (high confidence)': the name people know first."""
    name = short_name(workload.id)
    parent = f" of {short_name(workload.parent)}" if workload.parent else ""
    return f"{workload.type} {name}{parent} ({workload.confidence} confidence)"


def _is_notify(action: Action) -> bool:
    return action.type == NOTIFY


def _action_phrase(action: Action) -> str:
    """One action as people read it (no status tag for "tell a person" entries)."""
    target = short_name(action.target)
    if _is_notify(action):
        return f"alert only, nothing changed ({action.reason})" if action.reason else "alert only"
    when = f" at {action.at.astimezone(UTC):%H:%M:%S} UTC" if action.at else ""
    if action.status == "executed":
        return f"{action.type} on {target}{when} (executed)"
    if action.status == "planned":
        return f"observe mode, nothing changed: would run {action.type} on {target}"
    if action.status == "pending":
        retry = f" (runs at {utc(action.retry_at)})" if action.retry_at else ""
        return f"{action.type} on {target} waits for a rate cap{retry}"
    if action.status == "failed":
        return f"FAILED: {action.type} on {target}: {action.reason}"
    return f"did not run {action.type} on {target}: {action.reason}"


def key_line(incident: Incident) -> str:
    """The key, its state and its owner: 'AKIA…VV7A, deleted, of IAM user deploy-bot in account …'."""
    status = {
        "Active": "active",
        "Inactive": "deactivated",
        "deleted": "deleted",
        "not-in-account": "not a key of this account",
        "temporary": "a temporary session key",
        "unknown": "status unknown",
    }.get(incident.key_status or "", "status not checked yet")
    user = owner_user(incident)
    if user and incident.owner_account:
        owner = f"of IAM user {user} in account {incident.owner_account}"
    elif incident.owner_account:
        owner = f"of account {incident.owner_account}"
    else:
        owner = "owner unknown"
    return f"{redact(incident.access_key_id)}, {status}, {owner}"


def services(incident: Incident) -> str:
    """' to sts, s3': the services called (at most three named), for the Failing line."""
    names = [s.removesuffix(".amazonaws.com") for s in incident.event_sources]
    if not names:
        return ""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f" to {shown}"


def did(incident: Incident, kind: str) -> str:
    """What credfix did, in one line: the most significant action, and how many more."""
    real = [a for a in incident.actions if not _is_notify(a)]
    if incident.origin == "outside":
        return "nothing changed: the failing requests came from outside the account"
    if not incident.actions:
        if kind == "diagnosed" and incident.status in ("open", "triaged"):
            return "nothing yet: remediation has not run"
        return "nothing: no action applies to this verdict"
    if not real:
        return _action_phrase(incident.actions[0])
    ranked = sorted(real, key=lambda a: -_STATUS_RANK[a.status])
    more = len(incident.actions) - 1
    return _action_phrase(ranked[0]) + (f"; {more} more below" if more else "")


def next_line(incident: Incident, kind: str) -> str:
    if kind == "resolved":
        return "nothing urgent: the failures stopped; the incident re-opens if the key fails again"
    if kind == "escalated":
        return "work through the steps below by hand: credfix's action did not stop the failures"
    return advice(incident).first


def first_screen(incident: Incident, kind: str, docs_base_url: str = DEFAULT_DOCS_BASE_URL) -> list[str]:
    """The lines a person reads first: a headline, then what is failing, why, which workload,
    what credfix did, what to do next and the verdict's page, one labelled line each (long
    ones wrapped), then the outsider headline when someone outside uses the key ID."""
    _check_kind(kind)
    text = _Text()
    blocked = incident.verification.blocked_targets if incident.verification else []
    prefix, happened = _HEADLINE[kind] if kind != "escalated" or blocked else _ESCALATED_UNBLOCKED
    if _rotation(incident) and kind in _ROTATION_HEADLINE:
        prefix, happened = _ROTATION_HEADLINE[kind]
    verdict = incident.verdict or "undiagnosed"
    text.para(
        f"{prefix} {verdict} (severity {incident.severity or 'unknown'}): {happened}",
        indent="",
        width=FIRST_SCREEN_WRAP,
    )
    codes = ", ".join(incident.error_codes) or "rejected"
    calls = f"{incident.event_count:,} calls" if incident.event_count != 1 else "1 call"
    # Lines that quote what an event supplied stay one line each (cut, never wrapped), so no
    # content can change the shape of the first screen; credfix's own sentences wrap.
    if _rotation(incident):  # nothing failed yet: when it rotated, and the old key's use since
        used = f"{incident.event_count:,} successful call(s) with the old key since"
        text.label("Failing:", f"nothing yet: rotated at {utc(incident.first_seen)}; {used}", wrap=False)
    else:
        text.label(
            "Failing:",
            f"{calls}{services(incident)} rejected ({codes}), {span(incident)}",
            wrap=False,
        )
    text.label("Key:", key_line(incident), wrap=False)
    text.label("Why:", advice(incident).summary)
    workload = primary_workload(incident)
    account = alert_account(incident)
    located = (
        f"{_workload_phrase(workload)}, account {account}"
        if workload
        else f"not located yet, account {account} (the sources below say where the calls came from)"
    )
    text.label("Workload:", located, wrap=False)
    text.label("Action:", did(incident, kind), wrap=False)
    text.label("Next:", next_line(incident, kind))
    text.label("Guide:", verdict_url(incident, docs_base_url), wrap=False)
    if outside := attribution.headline(incident):
        text.add("")
        text.para(outside, indent="")
    return text.lines


def _details(text: _Text, incident: Incident) -> None:
    text.section("DETAILS")
    text.field("Incident:", f"{incident.incident_id} (status {incident.status})", 120)
    text.field("Regions:", _join(incident.regions))
    if len(incident.accounts) > 1:
        text.field("Accounts:", _join(incident.accounts))
    if not incident.sources:
        return
    shown = incident.sources[:MAX_SOURCES]
    more = len(incident.sources) - len(shown)
    header = f"Sources (top {len(shown)} of {len(incident.sources)}):" if more else "Sources:"
    text.add(f"  {header}")
    for src in shown:
        via = f" via {src.vpc_endpoint_id}" if src.vpc_endpoint_id else ""
        agent = sanitise(src.user_agent or "(no user agent)", 100)
        text.item(f"{src.ip or 'no source IP'}{via}: {src.count:,} call(s), {agent}", indent=4, limit=160)
    if incident.sources_dropped:
        text.add(f"    (+ {incident.sources_dropped:,} call(s) from further sources, counted but not listed)")


def _evidence(text: _Text, incident: Incident) -> None:
    guide = advice(incident)
    text.section("EVIDENCE")
    text.para(guide.why, indent="  ")
    for ev in incident.evidence[:MAX_EVIDENCE]:
        text.item(f"{ev.check}: {ev.found}", indent=2)
    if len(incident.evidence) > MAX_EVIDENCE:
        text.add(f"  (+ {len(incident.evidence) - MAX_EVIDENCE} more in the incident document)")


def _workloads(text: _Text, incident: Incident) -> None:
    if not incident.workloads:
        return
    text.section("WORKLOADS")
    ordered = sorted(incident.workloads, key=lambda w: _CONFIDENCE[w.confidence])
    for workload in ordered[:MAX_WORKLOADS]:
        text.item(_workload_phrase(workload), indent=2)
        text.add(f"    id: {sanitise(workload.id)}")
        if workload.parent:
            text.add(f"    part of: {sanitise(workload.parent)}")
        for line in workload.evidence[:3]:
            text.add(f"    evidence: {sanitise(line)}")
    if len(ordered) > MAX_WORKLOADS:
        text.add(f"  (+ {len(ordered) - MAX_WORKLOADS} more candidate(s) in the incident document)")


def _action_line(action: Action, with_time: bool = True) -> str:
    if _is_notify(action):
        return "alert only (nothing changed)"
    when = f" at {utc(action.at)}" if action.at and with_time else ""
    return f"[{action.status}] {action.type} on {short_name(action.target)}{when}"


def _actions(text: _Text, incident: Incident) -> None:
    if not incident.actions:
        return
    text.section("ACTIONS")
    for action in incident.actions[:MAX_ACTIONS]:
        text.item(_action_line(action), indent=2)
        if not _is_notify(action):
            text.add(f"    target: {sanitise(action.target)}")
        if reason := sanitise(action.reason):
            text.add(f"    reason: {reason}")
        if action.status == "pending" and action.retry_at:
            text.add(f"    runs at: {utc(action.retry_at)} (when the rate cap's window frees a slot)")
    if len(incident.actions) > MAX_ACTIONS:
        text.add(f"  (+ {len(incident.actions) - MAX_ACTIONS} more in the incident document)")


def _timeline(text: _Text, incident: Incident) -> None:
    """The stages' own entries, and what none of them says (the opening, the newest failure,
    an action or verification no entry records), each once."""
    entries: list[tuple[datetime, str]] = [(e.at, e.what) for e in incident.timeline]
    said = " ".join(what.lower() for _, what in entries)
    failures = not _rotation(incident)  # a rotation-drift incident's times are the rotation's
    if failures and "first failure" not in said:
        first_call = incident.event_sources[0] if incident.event_sources else "AWS"
        entries.append((incident.first_seen, f"first failure (event time): {first_call} rejected the key"))
    entries.append((incident.opened_at, "credfix opened the incident"))
    if failures and incident.last_seen > incident.first_seen:
        entries.append((incident.last_seen, "latest failure seen so far (event time)"))
    for action in incident.actions:
        if action.at and not _is_notify(action) and f"act: {action.status} {action.type}" not in said:
            entries.append((action.at, f"act: {_action_line(action, with_time=False)}"))
    v = incident.verification
    if v and v.outcome != "pending" and "verification:" not in said:
        entries.append((v.checked_at, f"Verification: {v.outcome}: {v.detail}"))
    unique = sorted(dict.fromkeys(entries), key=lambda e: e[0])
    text.section("TIMELINE (UTC)")
    for at, what in unique[:MAX_TIMELINE]:
        text.add(f"  {utc(at)}  {sanitise(what)}")
    if len(unique) > MAX_TIMELINE:
        text.add(f"  (+ {len(unique) - MAX_TIMELINE} more entries in the incident document)")


def _verification(text: _Text, incident: Incident) -> None:
    v = incident.verification
    if v is None or v.outcome == "pending":
        return
    text.section("VERIFICATION")
    text.field("Outcome:", v.outcome)
    if v.action_at:
        text.field("Action at:", utc(v.action_at))
    text.field("Checked at:", utc(v.checked_at))
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
            "Check that the same runtime keeps using the intended credential across restarts and "
            "deploys; the incident re-opens if the key fails again.",
            *steps[-1:],
        ]
    elif kind == "escalated":
        steps = [
            "Where the late failures are attributed to the target, credfix does not act on it again "
            "until the block expires (`credfix targets` lists blocks; `credfix unblock` clears one): "
            "the cause is not what a restart fixes.",
            *steps,
        ]
    for number, step in enumerate(steps, 1):
        text.para(step, indent="     ", first=f"  {number}. ")
    text.add("")
    text.para(f"Avoid: {guide.wrong_fix}", indent="         ", first="  ")


def email_text(incident: Incident, kind: str, docs_base_url: str = DEFAULT_DOCS_BASE_URL) -> str:
    """The plain-text alert for e-mail subscribers. `kind` is diagnosed, remediated,
    resolved or escalated."""
    text = _Text()
    text.lines.extend(first_screen(incident, kind, docs_base_url))
    _details(text, incident)
    _evidence(text, incident)
    _workloads(text, incident)
    _actions(text, incident)
    _timeline(text, incident)
    _verification(text, incident)
    _next(text, incident, kind)
    text.add("")
    text.para(
        "Machine subscribers (SQS, HTTPS, Lambda) get this alert as credfix.alert/v1 JSON with the "
        "whole incident document.",
        indent="",
    )
    return text.render()
