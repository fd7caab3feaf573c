"""Schedules the verify step: a delayed message on the verify queue, so that verification
looks at the failures after the restarted workloads had time to drain (DESIGN.md §1)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from credfix.models.incident import Incident
from credfix.permissions import needs
from credfix.timefmt import iso_z

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
# ECS keeps the old tasks serving until their replacements are healthy (minutes), so failures
# just after a new deployment are expected: verify forgives them for this long.
ECS_ROLLOUT_GRACE_SECONDS = 300


class SqsVerifyScheduler:
    def __init__(self, client: Any, queue_url: str, delay_seconds: int) -> None:
        if not queue_url:
            raise ValueError("verify queue URL is not set (CREDFIX_VERIFY_QUEUE_URL)")
        self._sqs = client
        self._url = queue_url
        self._delay = max(0, min(delay_seconds, MAX_DELAY_SECONDS))

    @needs("act", "sqs:SendMessage", on="verify-queue")
    def schedule(self, incident: Incident, action_at: datetime) -> None:
        body: dict[str, object] = {
            "type": "verify",
            "access_key_id": incident.subject,  # the item's subject (a workload's, for runtime logs)
            "incident_id": incident.incident_id,
            "action_at": iso_z(action_at),
        }
        if any(a.status == "executed" and a.type.startswith("ecs-") for a in incident.actions):
            body["grace_seconds"] = ECS_ROLLOUT_GRACE_SECONDS
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body), DelaySeconds=self._delay)
