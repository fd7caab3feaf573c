"""SQS senders of the triage step: the act queues (two lanes) and triage's own bulk lane."""

from __future__ import annotations

import json
from typing import Any

from credfix.permissions import needs


class ActQueue:
    """The act step's two lanes: incidents triaged on the bulk lane (no source attributed, so
    nothing to change) wait in their own queue, never ahead of the account's own."""

    def __init__(self, client: Any, queue_url: str, bulk_queue_url: str = "") -> None:
        self._sqs = client
        self._url = queue_url
        self._bulk = bulk_queue_url or queue_url

    @needs("triage", "sqs:SendMessage", on="act-queue")
    @needs("triage", "sqs:SendMessage", on="act-bulk-queue")
    def incident_triaged(self, access_key_id: str, incident_id: str, lane: str = "priority") -> None:
        body = {"type": "incident-triaged", "access_key_id": access_key_id, "incident_id": incident_id}
        url = self._bulk if lane == "bulk" else self._url
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


class BulkQueue:
    """The triage lane for incidents no source of which is attributed to the account."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    @needs("triage", "sqs:SendMessage", on="bulk-queue")
    def defer(self, access_key_id: str, incident_id: str) -> None:
        body = {
            "type": "incident-opened",
            "access_key_id": access_key_id,
            "incident_id": incident_id,
            "lane": "bulk",
        }
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))
