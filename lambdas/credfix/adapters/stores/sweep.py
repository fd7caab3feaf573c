"""The sweep's reads and writes of the incidents table: the incidents still open without a
verdict, and the conditional mark that one of them is being announced again (so two sweeps,
or a sweep racing triage, announce it once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credfix.adapters.stores.dynamo import update_if
from credfix.adapters.stores.incidents import from_item, key_pk
from credfix.models.sweep import OpenIncident
from credfix.permissions import needs
from credfix.timefmt import iso_z, parse_iso_z

MAX_PAGES = 1000  # a scan page is up to 1 MB: far beyond any incidents table


class SweepStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    @needs("sweep", "dynamodb:Scan", on="incidents-table")
    def open_incidents(self) -> list[OpenIncident]:
        """Every key's current incident whose status is still `open` (no verdict yet)."""
        found: list[OpenIncident] = []
        token: dict[str, Any] = {}
        for _page in range(MAX_PAGES):
            page = self._ddb.scan(
                TableName=self._table,
                FilterExpression="begins_with(pk, :key) AND #status = :open",
                ProjectionExpression="access_key_id, incident_id, opened_at, reannounced, reannounced_at",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":key": {"S": "key#"}, ":open": {"S": "open"}},
                **token,
            )
            for raw in page.get("Items", []):
                item = from_item(raw)
                again = item.get("reannounced_at")
                found.append(
                    OpenIncident(
                        access_key_id=str(item["access_key_id"]),
                        incident_id=str(item["incident_id"]),
                        opened_at=parse_iso_z(str(item["opened_at"])),
                        reannounced=int(item.get("reannounced", 0)),
                        reannounced_at=parse_iso_z(str(again)) if again else None,
                    )
                )
            if "LastEvaluatedKey" not in page:
                break
            token = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        return found

    @needs("sweep", "dynamodb:UpdateItem", on="incidents-table")
    def claim_reannouncement(
        self, incident: OpenIncident, now: datetime, *, not_after: datetime, max_times: int
    ) -> bool:
        """Count one more announcement of this incident, if it is still the key's incident,
        still open, opened and last announced again before `not_after`, and announced again
        fewer than `max_times` times. True: the caller sends the message."""
        return update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(incident.access_key_id)}},
            UpdateExpression="SET reannounced_at = :now ADD reannounced :one",
            ConditionExpression=(
                "incident_id = :id AND #status = :open AND opened_at <= :cutoff "
                "AND (attribute_not_exists(reannounced_at) OR reannounced_at <= :cutoff) "
                "AND (attribute_not_exists(reannounced) OR reannounced < :max)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": {"S": iso_z(now)},
                ":one": {"N": "1"},
                ":id": {"S": incident.incident_id},
                ":open": {"S": "open"},
                ":cutoff": {"S": iso_z(not_after)},
                ":max": {"N": str(max_times)},
            },
        )
