"""The rotation watch's rules: Secrets Manager events that say a secret's active version
moved, on the default bus (home, forwarders, member accounts) or the central bus.

Two rules (an EventBridge pattern is one AND of fields; the two kinds of event share none):
- `Secret Label Updated` with `labelUpdated` AWSCURRENT, which Secrets Manager publishes
  itself (no trail needed);
- the CloudTrail records of successful PutSecretValue, UpdateSecretVersionStage and
  RotateSecret calls (`AWS API Call via CloudTrail`) and the RotationSucceeded service event
  (`AWS Service Event via CloudTrail`). These are write or service events, which EventBridge
  delivers with a plain ENABLED rule (only read-only management events need
  ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, infra/detection.py).
Every secret's events match: which ones are watched is decided by reading the account
(credfix.core.rotation), not by the event.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_events as events
from constructs import Construct

from credfix.core.rotation.events import (
    API_CALL,
    API_CALLS,
    CURRENT,
    EVENT_SOURCE,
    LABEL_UPDATED,
    SERVICE_EVENT,
    SERVICE_EVENTS,
    SOURCE,
)

ROTATION_RULE_DESCRIPTION = "credfix: a Secrets Manager secret's AWSCURRENT version moved (rotation watch)"
ROTATION_BATCH_SIZE = 10
# One rotation sends several events within seconds (label move, API calls, RotationSucceeded):
# a short window lets one invocation see them together; they meet at one item anyway.
ROTATION_BATCH_WINDOW_SECONDS = 5


def rotation_patterns() -> dict[str, dict[str, Any]]:
    """Construct id -> event pattern (as EventBridge reads it)."""
    return {
        "RotationLabelMoved": {
            "source": [SOURCE],
            "detail-type": [LABEL_UPDATED],
            "detail": {"labelUpdated": [CURRENT]},
        },
        "RotationCalls": {
            "source": [SOURCE],
            "detail-type": [API_CALL, SERVICE_EVENT],
            "detail": {
                "eventSource": [EVENT_SOURCE],
                "eventName": [*API_CALLS, *SERVICE_EVENTS],
                "errorCode": [{"exists": False}],
            },
        },
    }


def rotation_rules(
    scope: Construct, construct_id: str, *, event_bus: events.IEventBus | None = None
) -> list[events.Rule]:
    group = Construct(scope, construct_id)
    rules = []
    for rule_id, pattern in rotation_patterns().items():
        rules.append(
            events.Rule(
                group,
                # Unique across groups: the queue policy's statement ids are made from it.
                f"{construct_id}{rule_id}",
                description=ROTATION_RULE_DESCRIPTION,
                event_bus=event_bus,
                event_pattern=events.EventPattern(
                    source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
                ),
            )
        )
    return rules
