"""Triage's writes to the incidents table: the verdict (once per incident) and the mark
that the incident was handed to the act queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed, update_if
from credfix.adapters.stores.incidents import from_item, key_pk
from credfix.adapters.stores.storm import TRUST_FOR, source_pk
from credfix.models.incident import SourceAttribution
from credfix.models.pipeline import HandOffState
from credfix.permissions import needs
from credfix.timefmt import iso_z


def _state(item: dict[str, Any]) -> HandOffState | None:
    if not item:
        return None
    plain = from_item(item)
    queued = plain.get("act_queued_for")
    return HandOffState(
        str(plain.get("incident_id", "")),
        str(plain.get("status", "")),
        queued and str(queued),
        outside=plain.get("origin") == "outside",
    )


class TriageStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name
        self._trusted: dict[str, float] = {}  # source pk -> when this process last wrote it

    @needs("triage", "dynamodb:UpdateItem", on="incidents-table")
    def record(
        self,
        access_key_id: str,
        incident_id: str,
        *,
        verdict: str,
        severity: str,
        stage: dict[str, Any],
        now: datetime,
    ) -> HandOffState | None:
        """Write the verdict if the item still holds this incident, open. None when written;
        otherwise the item's state (already triaged by another delivery, or re-opened)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key_pk(access_key_id)}},
                UpdateExpression=(
                    "SET #status = :triaged, verdict = :verdict, severity = :severity, triage = :triage, "
                    "origin = :origin, triaged_at = :now REMOVE act_queued_for"
                ),
                ConditionExpression="incident_id = :id AND #status = :open",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":triaged": {"S": "triaged"},
                    ":open": {"S": "open"},
                    ":id": {"S": incident_id},
                    ":verdict": {"S": verdict},
                    ":severity": {"S": severity},
                    ":origin": {"S": str(stage.get("origin") or "unknown")},
                    ":triage": {"S": json.dumps(stage, separators=(",", ":"))},
                    ":now": {"S": iso_z(now)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return _state(exc.response.get("Item") or {}) or HandOffState("", "missing", None)
        return None

    @needs("triage", "dynamodb:GetItem", on="incidents-table")
    def hand_off_state(self, access_key_id: str) -> HandOffState | None:
        resp = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            ConsistentRead=True,
            ProjectionExpression="incident_id, #status, act_queued_for, origin",
            ExpressionAttributeNames={"#status": "status"},
        )
        return _state(resp.get("Item") or {})

    @needs("triage", "dynamodb:UpdateItem", on="incidents-table")
    def mark_act_queued(self, access_key_id: str, incident_id: str, now: datetime) -> None:
        """Remember that the act message went out, so a redelivery does not send it again."""
        # A failed condition: re-opened meanwhile, the mark belongs to an incident that is gone.
        update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="SET act_queued_for = :id, act_queued_at = :now",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": incident_id}, ":now": {"S": iso_z(now)}},
        )

    @needs("triage", "dynamodb:BatchWriteItem", "dynamodb:PutItem", on="incidents-table")
    def trust(self, attributed: Sequence[SourceAttribution], now: datetime) -> None:
        """Remember the addresses this triage attributed to the account (ingest never caps new
        incidents from them): written at most once an hour per address per process."""
        fresh = [
            a
            for a in attributed
            if a.scope != "none"
            and a.ip
            and self._trusted.get(source_pk(a.ip, a.vpc_endpoint_id), 0) < now.timestamp() - 3600
        ]
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": source_pk(a.ip or "", a.vpc_endpoint_id)},
                        "scope": {"S": a.scope},
                        "vpc_id": {"S": a.vpc_id or ""},
                        "attributed_at": {"S": iso_z(now)},
                        "expires_at": {"N": str(int((now + TRUST_FOR).timestamp()))},
                    }
                }
            }
            for a in fresh
        ]
        for start in range(0, len(items), 25):
            request: dict[str, Any] = {self._table: items[start : start + 25]}
            for _ in range(8):
                request = self._ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
        for a in fresh:
            self._trusted[source_pk(a.ip or "", a.vpc_endpoint_id)] = now.timestamp()
