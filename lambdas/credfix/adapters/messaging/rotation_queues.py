"""SQS senders of the rotation watch: the act queues (the same two lanes as triage's), with
the rotation incident's item key, and the rotation DLQ that keeps refused events with the
reason."""

from __future__ import annotations

import json
from typing import Any

from credfix.adapters.messaging.queues import send_set_aside
from credfix.models.pipeline import SetAside
from credfix.permissions import needs


class RotationActQueue:
    def __init__(self, client: Any, queue_url: str, bulk_queue_url: str = "") -> None:
        if not queue_url:
            raise ValueError("act queue URL is not set (CREDFIX_ACT_QUEUE_URL)")
        self._sqs = client
        self._url = queue_url
        self._bulk = bulk_queue_url or queue_url

    @needs("rotation", "sqs:SendMessage", on="act-queue")
    @needs("rotation", "sqs:SendMessage", on="act-bulk-queue")
    def incident_triaged(
        self, access_key_id: str, incident_id: str, item: str, lane: str = "priority"
    ) -> None:
        """The act step's usual message, with `item`: the incident is not under its key's item."""
        body = {
            "type": "incident-triaged",
            "access_key_id": access_key_id,
            "incident_id": incident_id,
            "item": item,
        }
        self._sqs.send_message(
            QueueUrl=self._bulk if lane == "bulk" else self._url, MessageBody=json.dumps(body)
        )


class RotationDeadLetters:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    @needs("rotation", "sqs:SendMessage", on="rotation-dlq")
    def set_aside(self, records: list[SetAside]) -> list[str]:
        """Refused events to the DLQ with their reason; the ids that could not be sent."""
        if not self._url:
            return [r.message_id for r in records]
        return send_set_aside(self._sqs, self._url, records)
