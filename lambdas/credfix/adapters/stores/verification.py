"""What verification reads from and writes to the incidents table.

Writes (the storage contract other stages rely on):
- the incident item (pk `key#<access key id>`, or a workload subject), only while it is the same incident and
  its status is `acted`: `status` = resolved | escalated, `closed_at` (resolved only, ISO
  Z; ingest re-opens a resolved incident after its cool-down from here) and
  `verification` = JSON {"verification": {...}, "timeline": [...], ["severity",
  "blocked_targets" when escalated]}.
- `verification_alerted` = the incident id whose verification alert has gone out (so a
  redelivered message does not alert twice).
- a target marker (pk `target#<target id>`, the guardrail store's claim item): `blocked` =
  true, `blocked_at`, `blocked_reason`, `blocked_incident_id`, `blocked_access_key_id`;
  `blocked_until` (the block expires then, unless a person clears it first) and `expires_at`
  after it; the claim's own `incident_id`, `last_action_at`, `outcome` are set only where
  missing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed, update_if
from credfix.adapters.stores.incidents import from_item, key_pk, to_incident
from credfix.models.operator import Mute
from credfix.models.verification import SourceActivity, StoredIncident, Written
from credfix.permissions import needs
from credfix.timefmt import iso_z


def target_pk(target: str) -> str:
    return f"target#{target}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sources(item: dict[str, Any]) -> list[SourceActivity]:
    """Per-source activity; a source's newest failure time comes from `source_last_seen`
    (a map beside `source_info`) or an `ls` entry inside `source_info`, whichever ingest keeps."""
    info: dict[str, Any] = item.get("source_info", {})
    counts: dict[str, Any] = item.get("source_counts", {})
    last_seen: dict[str, Any] = item.get("source_last_seen", {})
    return [
        SourceActivity(
            ip=v.get("ip"),
            user_agent=v.get("ua"),
            vpc_endpoint_id=v.get("vpce"),
            count=int(counts.get(h, 0)),
            last_seen=_parse_time(last_seen.get(h) or v.get("ls")),
            log=v.get("log"),
        )
        for h, v in info.items()
    ]


def _stored(raw: dict[str, Any] | None) -> StoredIncident | None:
    if not raw:
        return None
    item = from_item(raw)
    decided = json.loads(item["verification"]) if "verification" in item else None
    return StoredIncident(
        incident=to_incident(item),
        sources=_sources(item),
        decided=decided,
        alerted=item.get("verification_alerted") == item["incident_id"],
        mute=Mute.of_item(item),
    )


class VerificationStore:
    def __init__(self, client: Any, table_name: str) -> None:
        if not table_name:
            raise ValueError("the incidents table name is not set (CREDFIX_TABLE)")
        self._ddb = client
        self._table = table_name

    @needs("verify", "dynamodb:GetItem", on="incidents-table")
    def load(self, access_key_id: str) -> StoredIncident | None:
        resp = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": key_pk(access_key_id)}}, ConsistentRead=True
        )
        return _stored(resp.get("Item"))

    @needs("verify", "dynamodb:UpdateItem", on="incidents-table")
    def record_outcome(
        self, access_key_id: str, incident_id: str, status: str, closed_at: datetime | None, verification: str
    ) -> Written:
        """Write the outcome if the item still holds this incident, awaiting verification
        (`won` False when it does not: another worker decided, or the incident moved on). The
        item as it stands after the write comes back with the write (ALL_NEW, or ALL_OLD when
        the condition failed), so the caller needs no second read."""
        if status not in ("resolved", "escalated"):
            raise ValueError(f"verification ends in resolved or escalated, not {status!r}")
        sets = ["#status = :status", "verification = :v"]
        values: dict[str, Any] = {
            ":status": {"S": status},
            ":v": {"S": verification},
            ":id": {"S": incident_id},
            ":acted": {"S": "acted"},
        }
        if closed_at is not None:
            sets.append("closed_at = :closed")
            values[":closed"] = {"S": iso_z(closed_at)}
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key_pk(access_key_id)}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="incident_id = :id AND #status = :acted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return Written(False, _stored(exc.response.get("Item")))
            raise
        return Written(True, _stored(resp.get("Attributes")))

    @needs("verify", "dynamodb:UpdateItem", on="incidents-table")
    def block_target(
        self, target: str, incident_id: str, access_key_id: str, reason: str, now: datetime, until: datetime
    ) -> None:
        """Stop enforcement for a target until `until` (idempotent: the same marker again on
        redelivery)."""
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": target_pk(target)}},
            # The guardrails' claim fields are filled only where missing (a marker on a target
            # that was never claimed still reads as a holder); the TTL outlives the block.
            UpdateExpression=(
                "SET blocked = :true, blocked_at = if_not_exists(blocked_at, :now), blocked_reason = :why, "
                "blocked_until = :until, blocked_incident_id = :id, blocked_access_key_id = :key, "
                "incident_id = if_not_exists(incident_id, :id), "
                "last_action_at = if_not_exists(last_action_at, :now), "
                "outcome = if_not_exists(outcome, :blocked), expires_at = :expires"
            ),
            ExpressionAttributeValues={
                ":true": {"BOOL": True},
                ":now": {"S": iso_z(now)},
                ":why": {"S": reason[:1000] or "escalated by verification"},
                ":id": {"S": incident_id},
                ":key": {"S": access_key_id},
                ":blocked": {"S": "blocked"},
                ":until": {"S": iso_z(until)},
                ":expires": {"N": str(int((until + timedelta(days=7)).timestamp()))},
            },
        )

    @needs("verify", "dynamodb:UpdateItem", on="incidents-table")
    def mark_alerted(self, access_key_id: str, incident_id: str, now: datetime) -> None:
        # A failed condition: the key re-opened as a new incident, nothing of this one to mark.
        update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="SET verification_alerted = :id, verification_alerted_at = :now",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": incident_id}, ":now": {"S": iso_z(now)}},
        )
