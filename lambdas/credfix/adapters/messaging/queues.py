"""SQS: the work queue that hands an opened incident to triage, the DLQ that keeps records
ingest refuses, each with the reason, and the delayed storm-summary message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from credfix.models.pipeline import SetAside
from credfix.permissions import needs
from credfix.timefmt import iso_z

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit


def send_set_aside(sqs: Any, queue_url: str, records: list[SetAside]) -> list[str]:
    """Refused records to a dead-letter queue, each with its reason and the message it came
    from; the ids of those that could not be sent. (Callers declare sqs:SendMessage.)"""
    failed: list[str] = []
    for start in range(0, len(records), 10):  # SendMessageBatch takes 10 at a time
        chunk = records[start : start + 10]
        resp = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": r.body or "(empty body)",
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": r.reason[:256]},
                        "source_message_id": {"DataType": "String", "StringValue": r.message_id[:256]},
                    },
                }
                for i, r in enumerate(chunk)
            ],
        )
        failed.extend(chunk[int(f["Id"])].message_id for f in resp.get("Failed", []))
    return failed


class Queues:
    def __init__(
        self,
        client: Any,
        *,
        work_queue_url: str,
        dead_letter_url: str,
        verify_queue_url: str = "",
        bulk_queue_url: str = "",
    ) -> None:
        self._sqs = client
        self._work = work_queue_url
        self._bulk = bulk_queue_url or work_queue_url
        self._dlq = dead_letter_url
        self._verify = verify_queue_url

    @needs("ingest", "sqs:SendMessage", on="verify-queue")
    @needs("logs", "sqs:SendMessage", on="verify-queue")
    def storm_summary_due(self, window: datetime, at: datetime) -> None:
        """The window's storm summary, delivered to the verify step (which alerts) when it is due."""
        if not self._verify:
            raise ValueError("verify queue URL is not set (CREDFIX_VERIFY_QUEUE_URL)")
        delay = max(0, min(MAX_DELAY_SECONDS, int((at - datetime.now(UTC)).total_seconds()) + 1))
        body = json.dumps({"type": "storm-summary", "window": iso_z(window)})
        self._sqs.send_message(QueueUrl=self._verify, MessageBody=body, DelaySeconds=delay)

    @needs("ingest", "sqs:SendMessage", on="work-queue")
    @needs("logs", "sqs:SendMessage", on="work-queue")
    @needs("ingest", "sqs:SendMessage", on="bulk-queue")
    @needs("logs", "sqs:SendMessage", on="bulk-queue")
    def incident_opened(self, access_key_id: str, incident_id: str, lane: str = "priority") -> None:
        """To triage's priority lane (the work queue) or its bulk lane."""
        message = {"type": "incident-opened", "access_key_id": access_key_id, "incident_id": incident_id}
        if lane == "bulk":
            message["lane"] = "bulk"
        url = self._bulk if lane == "bulk" else self._work
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))

    @needs("ingest", "sqs:SendMessage", on="events-dlq")
    def set_aside(self, records: list[SetAside]) -> list[str]:
        """Send refused records to the DLQ with their reason; return the ids that could not be sent."""
        return send_set_aside(self._sqs, self._dlq, records)
