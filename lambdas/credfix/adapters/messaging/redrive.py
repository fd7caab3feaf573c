"""credfix's dead-letter queues, found by name prefix and paired with the queue that sends each
its messages (the source queue's RedrivePolicy), and moved back to it: `credfix redrive`.

Messages the events DLQ holds because ingest refused them carry a `reason` attribute
(credfix.adapters.messaging.queues.Queues.set_aside): sending them again changes nothing, so
they stay unless asked for. A message is deleted from the DLQ only after its copy was sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from credfix.permissions import needs

RECEIVE_VISIBILITY = 300  # a message being moved is hidden from a second redrive for this long


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    url: str
    source_name: str | None  # None: no credfix queue redrives into it (e.g. a forwarder's)
    source_url: str | None
    waiting: int  # ApproximateNumberOfMessages before the move


@dataclass
class Moved:
    moved: int = 0
    kept_rejected: int = 0  # refused by ingest with a reason: left in the DLQ
    failed: int = 0  # could not be sent back: left in the DLQ
    reasons: dict[str, int] = field(default_factory=dict)


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class DeadLetterQueues:
    def __init__(self, client: Any) -> None:
        self._sqs = client

    @needs("cli", "sqs:ListQueues", on="*")  # ListQueues has no resource-level permission
    @needs("cli", "sqs:GetQueueAttributes", on="credfix-queues")
    def find(self, prefix: str) -> list[DeadLetterQueue]:
        urls: list[str] = []
        for page in self._sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
            urls.extend(page.get("QueueUrls", []))
        attributes = {
            url: self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy", "ApproximateNumberOfMessages"]
            )["Attributes"]
            for url in urls
        }
        source_of: dict[str, str] = {}  # DLQ ARN -> source queue URL
        for url, attrs in attributes.items():
            if attrs.get("RedrivePolicy"):
                source_of.setdefault(json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"], url)
        found = []
        for url, attrs in sorted(attributes.items()):
            source = source_of.get(attrs.get("QueueArn", ""))
            is_dlq = source is not None or _name(url).lower().endswith(("dlq", "failures"))
            if is_dlq:
                found.append(
                    DeadLetterQueue(
                        _name(url),
                        url,
                        _name(source) if source else None,
                        source,
                        int(attrs.get("ApproximateNumberOfMessages", 0)),
                    )
                )
        return found

    @needs(
        "cli",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        on="credfix-queues",
    )
    @needs("cli", "kms:Decrypt", "kms:GenerateDataKey", on="credfix-queues-key")
    def move(self, dlq: DeadLetterQueue, *, include_rejected: bool = False, limit: int = 100_000) -> Moved:
        """Move the DLQ's messages back to its source queue, body and attributes unchanged."""
        assert dlq.source_url is not None
        result = Moved()
        kept: list[str] = []
        seen = 0
        while seen < limit:
            got = self._sqs.receive_message(
                QueueUrl=dlq.url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=RECEIVE_VISIBILITY,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                break
            seen += len(got)
            to_send = []
            for m in got:
                reason = m.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
                if reason and not include_rejected:
                    result.kept_rejected += 1
                    result.reasons[reason] = result.reasons.get(reason, 0) + 1
                    kept.append(m["ReceiptHandle"])
                else:
                    to_send.append(m)
            if not to_send:
                continue
            sent = self._sqs.send_message_batch(
                QueueUrl=dlq.source_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": m["Body"],
                        **(
                            {"MessageAttributes": m["MessageAttributes"]}
                            if m.get("MessageAttributes")
                            else {}
                        ),
                    }
                    for i, m in enumerate(to_send)
                ],
            )
            failed = {int(f["Id"]) for f in sent.get("Failed", [])}
            result.failed += len(failed)
            kept.extend(m["ReceiptHandle"] for i, m in enumerate(to_send) if i in failed)
            done = [m for i, m in enumerate(to_send) if i not in failed]
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=dlq.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            result.moved += len(done)
        for start in range(0, len(kept), 10):  # what stays is visible again at once
            self._sqs.change_message_visibility_batch(
                QueueUrl=dlq.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(kept[start : start + 10])
                ],
            )
        return result
