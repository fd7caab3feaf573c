"""Alerts for chat channels (Slack, Microsoft Teams) through Amazon Q Developer in chat
applications (formerly AWS Chatbot): the "custom notification" event, published as the SNS
message of credfix's chat topic (docs/deploy.md §5, "Chat").

The event format is AWS's ("Custom notifications using Amazon Q Developer in chat
applications", Event schema):

    {"version": "1.0", "source": "custom", "id": ...,
     "content": {"textType": "client-markdown", "title", "description", "nextSteps": [...],
                 "keywords": [...]},
     "metadata": {"threadId", "summary", "eventType", "relatedResources": [...],
                  "additionalContext": {...}}}

`version` must be "1.0" and `source` "custom"; `textType` "client-markdown" is the only one
supported. AWS states no length limits for the other fields, so credfix keeps its own
conservative ones (below) and the card short: the first screen of the e-mail alert.

Everything an event supplied (names, addresses, user agents) is sanitised to one line and
set in inline code, with angle brackets and backticks replaced, so no caller can add
formatting, links or channel mentions to the card.
"""

from __future__ import annotations

import json
from typing import Any

from credfix.config import DEFAULT_DOCS_BASE_URL
from credfix.core import attribution
from credfix.core.alerts.guide import advice
from credfix.core.alerts.render import (
    alert_account,
    did,
    key_line,
    next_line,
    primary_workload,
    services,
    short_name,
    span,
    subject,
    verdict_url,
)
from credfix.core.alerts.sanitise import sanitise
from credfix.keys import redact
from credfix.models.incident import Incident
from credfix.models.storm import StormSummary
from credfix.timefmt import iso_z

VERSION = "1.0"
SOURCE = "custom"
TEXT_TYPE = "client-markdown"
# credfix's own caps (AWS documents none): a card that fits a chat screen.
MAX_TITLE = 250
MAX_DESCRIPTION = 3000
MAX_STEPS = 5
MAX_STEP = 300
MAX_KEYWORDS = 5
MAX_RESOURCES = 10
_BRACKETS = str.maketrans({"<": "\u2039", ">": "\u203a"})  # single guillemets: no <!channel>, no <url|text>
_EMOJI = {"diagnosed": ":warning:", "remediated": ":wrench:", "resolved": ":white_check_mark:"}


def quoted(value: object, limit: int = 160) -> str:
    """A value from an event, safe in chat markdown: one line, in inline code, without the
    characters that open links, mentions or end the code span."""
    clean = sanitise(value, limit).replace("`", "'").translate(_BRACKETS)
    return f"`{clean}`" if clean else "`-`"


def _plain(text: str, limit: int) -> str:
    """credfix's own sentences (which may quote a sanitised value): one line, bounded."""
    return sanitise(text, limit).translate(_BRACKETS)


def chat_notification(
    incident: Incident, kind: str, docs_base_url: str = DEFAULT_DOCS_BASE_URL
) -> dict[str, Any]:
    """The custom-notification event for one incident alert."""
    guide = advice(incident)
    verdict = incident.verdict or "undiagnosed"
    workload = primary_workload(incident)
    where = (
        f"{workload.type} {quoted(short_name(workload.parent or workload.id), 80)}"
        if workload
        else "not located yet"
    )
    prefix = {"resolved": "RESOLVED ", "escalated": "ESCALATED "}.get(kind, "")
    emoji = _EMOJI.get(kind, ":rotating_light:")
    title = (
        f"{emoji} credfix {prefix}{verdict} ({incident.severity or 'unknown'}): "
        f"{sanitise(short_name(workload.parent or workload.id), 80) if workload else 'workload not located'}"
    )
    calls = f"{incident.event_count:,} calls" if incident.event_count != 1 else "1 call"
    codes = quoted(", ".join(incident.error_codes) or "rejected", 80)
    lines = [
        f"*Failing:* {calls}{_plain(services(incident), 120)} rejected ({codes}) {span(incident)}, "
        f"account {quoted(alert_account(incident), 32)}",
        f"*Key:* {quoted(key_line(incident), 200)}",
        f"*Why:* {_plain(guide.summary, 300)}",
        f"*Workload:* {where}",
        f"*Action:* {_plain(did(incident, kind), 400)}",
        f"*Next:* {_plain(next_line(incident, kind), 300)}",
        f"*Guide:* {verdict_url(incident, docs_base_url)}",
    ]
    if outside := attribution.headline(incident):
        lines.append(f"*Outside:* {_plain(outside, 400)}")
    steps = [_plain(step, MAX_STEP) for step in guide.steps][:MAX_STEPS]
    if kind == "resolved":
        steps = ["Nothing urgent: the failures stopped; the incident re-opens if the key fails again."]
    elif kind == "escalated":
        steps = ["credfix's action did not stop the failures: work through the steps by hand.", *steps][
            :MAX_STEPS
        ]
    targets = [a.target for a in incident.actions if a.type != "notify"]
    resources = [w.id for w in incident.workloads] + targets
    return {
        "version": VERSION,
        "source": SOURCE,
        "id": f"{sanitise(incident.incident_id, 120)}:{kind}",
        "content": {
            "textType": TEXT_TYPE,
            "title": _plain(title, MAX_TITLE),
            "description": "\n".join(lines)[:MAX_DESCRIPTION],
            "nextSteps": steps,
            "keywords": [verdict, incident.severity or "unknown", kind, f"account {alert_account(incident)}"][
                :MAX_KEYWORDS
            ],
        },
        "metadata": {
            # One thread per incident: its resolution or escalation lands under the first alert.
            "threadId": f"credfix-{sanitise(incident.incident_id, 120)}",
            "summary": subject(incident),
            "eventType": f"credfix.{kind}",
            "relatedResources": [sanitise(r, 300) for r in dict.fromkeys(resources)][:MAX_RESOURCES],
            "additionalContext": {
                "incident_id": sanitise(incident.incident_id, 120),
                "verdict": verdict,
                "severity": incident.severity or "unknown",
                "account": alert_account(incident),
                "key": redact(incident.access_key_id),
            },
        },
    }


def storm_notification(summary: StormSummary) -> dict[str, Any]:
    """The custom-notification event for a storm summary."""
    s = summary.record
    top = sorted(s.sources.items(), key=lambda kv: -kv[1])[:5]
    lines = [
        f"*Window:* {iso_z(s.window)} to {iso_z(s.window_end) if s.window_end else '?'} (UTC)",
        f"*Failing:* {s.keys:,} key ID(s), {s.records:,} rejected call(s), "
        f"from {len(s.sources):,} address(es)",
        "*Top sources:* " + ", ".join(f"{quoted(ip, 60)} ({n:,})" for ip, n in top),
        "*Action:* nothing changed: credfix acts only on failures attributed to the account",
    ]
    return {
        "version": VERSION,
        "source": SOURCE,
        "id": f"storm:{iso_z(s.window)}",
        "content": {
            "textType": TEXT_TYPE,
            "title": f":cyclone: credfix STORM: {s.keys:,} key IDs failing from {len(s.sources):,} source(s)",
            "description": "\n".join(lines)[:MAX_DESCRIPTION],
            "nextSteps": [
                "If the sources are not yours, someone is trying key IDs: check that none of the sampled "
                "keys is still Active.",
                "If a source is yours (a NAT gateway or proxy), raise max_new_incidents_per_source.",
            ],
            "keywords": ["storm", "high"],
        },
        "metadata": {
            "threadId": f"credfix-storm-{iso_z(s.window)}",
            "summary": f"credfix storm {iso_z(s.window)}",
            "eventType": "credfix.storm",
            "relatedResources": [],
            "additionalContext": {"window": iso_z(s.window), "keys": str(s.keys), "records": str(s.records)},
        },
    }


def chat_request(notification: dict[str, Any]) -> dict[str, Any]:
    """`sns.publish` keyword arguments (all but TopicArn): the event is the whole message."""
    return {"Message": json.dumps(notification, ensure_ascii=False, separators=(",", ":"))}
