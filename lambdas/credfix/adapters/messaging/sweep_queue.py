"""The sweep's one message: an incident announced to triage again, on the work queue (triage
moves it to its bulk lane itself when none of its sources is the account's)."""

from __future__ import annotations

import json
from typing import Any

from credfix.permissions import needs


class Reannouncer:
    def __init__(self, client: Any, work_queue_url: str) -> None:
        self._sqs = client
        self._url = work_queue_url

    @needs("sweep", "sqs:SendMessage", on="work-queue")
    def incident_opened(self, access_key_id: str, incident_id: str, times: int) -> None:
        body = {
            "type": "incident-opened",
            "access_key_id": access_key_id,
            "incident_id": incident_id,
            "reannounced": times,  # for the logs; triage takes an incident once whatever it says
        }
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))
