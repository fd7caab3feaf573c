"""Chat alerts: Amazon Q Developer in chat applications custom notifications, checked against
the event schema AWS documents ("Custom notifications using Amazon Q Developer in chat
applications", Event schema and Parameter details):

    {"version": String, "source": String, "id": String,
     "content": {"textType": String, "title": String, "description": String,
                 "nextSteps": [String, ...], "keywords": [String, ...]},
     "metadata": {"threadId": String, "summary": String, "eventType": String,
                  "relatedResources": [String, ...],
                  "additionalContext": {"customerProvidedKey1": String, ...}}}

version "Must be 1.0", source "Must be custom", textType "Only client-markdown textType is
currently supported". AWS states no lengths; the schema below adds none, and credfix's own
caps are checked separately. No field outside the documented ones is allowed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from credfix.core.alerts.chat import (
    MAX_DESCRIPTION,
    MAX_STEPS,
    MAX_TITLE,
    chat_notification,
    chat_request,
    storm_notification,
)
from credfix.core.alerts.render import KINDS
from credfix.models.incident import Action
from credfix.models.storm import StormRecord, StormSummary
from tests.unit.test_alerts import KEY, SERVICE, VERDICTS, base, ecs_task, sample

_STRINGS = {"type": "array", "items": {"type": "string"}}
CUSTOM_NOTIFICATION = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "source"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "1.0"},
        "source": {"const": "custom"},
        "id": {"type": "string"},
        "content": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "textType": {"enum": ["client-markdown"]},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "nextSteps": _STRINGS,
                "keywords": _STRINGS,
            },
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "threadId": {"type": "string"},
                "summary": {"type": "string"},
                "eventType": {"type": "string"},
                "relatedResources": _STRINGS,
                "additionalContext": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}


def valid(notification: dict[str, Any]) -> None:
    jsonschema.validate(notification, CUSTOM_NOTIFICATION)
    content = notification["content"]
    # credfix's own bounds (AWS documents none): a card that fits a chat screen.
    assert content["title"] and len(content["title"]) <= MAX_TITLE
    assert content["description"] and len(content["description"]) <= MAX_DESCRIPTION
    assert 1 <= len(content["nextSteps"]) <= MAX_STEPS
    assert KEY not in json.dumps(notification)  # people see the key redacted, in chat too


@pytest.mark.parametrize("verdict", VERDICTS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_alert_is_a_valid_custom_notification(verdict: str, kind: str) -> None:
    incident, _ = sample(verdict)
    notification = chat_notification(incident, kind, "https://wiki.example.com/verdicts")
    valid(notification)
    text = notification["content"]["description"]
    for label in ("*Failing:*", "*Why:*", "*Workload:*", "*Action:*", "*Next:*", "*Guide:*"):
        assert label in text, label
    assert f"https://wiki.example.com/verdicts/{verdict}.md" in text
    assert verdict in notification["content"]["title"]
    assert (
        notification["metadata"]["threadId"] == f"credfix-{incident.incident_id}"
    )  # one thread per incident
    assert notification["metadata"]["eventType"] == f"credfix.{kind}"


def test_the_sns_message_is_the_notification_itself() -> None:
    notification = chat_notification(*sample("stale-consumer"))
    request = chat_request(notification)
    assert set(request) == {"Message"}  # no MessageStructure: every protocol gets the JSON
    assert json.loads(request["Message"]) == notification


def test_storm_summary_is_a_valid_custom_notification() -> None:
    record = StormRecord(
        window=datetime(2026, 11, 3, 11, 0, tzinfo=UTC),
        window_end=datetime(2026, 11, 3, 11, 15, tzinfo=UTC),
        records=20_000,
        keys=4_000,
        sources={"198.51.100.7": 15_000, "203.0.113.9": 5_000},
        first_seen="2026-11-03T11:00:02Z",
        last_seen="2026-11-03T11:14:58Z",
        sample=[KEY],
        alerted=False,
    )
    valid(storm_notification(StormSummary(record, per_source=10, overall=200)))


def test_event_content_cannot_format_link_or_mention_in_the_card() -> None:
    hostile = "<!channel> <https://evil.example|click> `code` *bold* \n2. fake step"
    incident = base(
        "stale-consumer",
        workloads=[ecs_task().model_copy(update={"parent": f"{SERVICE}/{hostile}", "id": f"task/{hostile}"})],
        actions=[
            Action(type="restart-ecs-service", target=f"{SERVICE}{hostile}", status="failed", reason=hostile)
        ],
    )
    notification = chat_notification(incident, "remediated")
    valid(notification)
    card = json.dumps(notification["content"], ensure_ascii=False)
    assert "<" not in card and ">" not in card
    assert "\n2. fake step" not in notification["content"]["description"]
    workload_line = next(
        line for line in notification["content"]["description"].splitlines() if line.startswith("*Workload:*")
    )
    assert workload_line.count("`") == 2  # the name sits in one code span it cannot close


def test_an_undiagnosed_incident_without_workload_is_still_valid() -> None:
    incident = base("unknown-key", workloads=[], severity=None).model_copy(update={"verdict": None})
    notification = chat_notification(incident, "diagnosed")
    valid(notification)
    assert "not located yet" in notification["content"]["description"]
