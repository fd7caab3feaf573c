"""The act step's own return visit: an action held back by a full cap comes back to the act
queue as a delayed "incident-triaged" message, timed for when the cap's window frees."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from credfix.permissions import needs

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit: a later slot takes several visits


class SqsActRetry:
    def __init__(self, client: Any, queue_url: str, item: str | None = None) -> None:
        if not queue_url:
            raise ValueError("act queue URL is not set (CREDFIX_ACT_QUEUE_URL)")
        self._sqs = client
        self._url = queue_url
        self._item = item  # a rotation incident's item key, carried on the message

    def at(self, item: str) -> SqsActRetry:
        """The same retry for an incident kept under `item` (a rotation incident)."""
        return SqsActRetry(self._sqs, self._url, item)

    @needs("act", "sqs:SendMessage", on="act-queue")
    def later(self, access_key_id: str, incident_id: str, at: datetime, now: datetime) -> None:
        delay = max(1, min(MAX_DELAY_SECONDS, int((at - now).total_seconds()) + 1))
        body = {"type": "incident-triaged", "access_key_id": access_key_id, "incident_id": incident_id}
        if self._item:
            body["item"] = self._item
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body), DelaySeconds=delay)
