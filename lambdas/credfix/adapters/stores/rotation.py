"""Rotation incidents in the incidents table.

A rotation incident has no failing key to be keyed by: its item is keyed by the rotation
itself, `rotation#<secret ARN>#<version ID that became AWSCURRENT>` (`rotation_pk`). Every
event of one rotation (the label move, PutSecretValue, UpdateSecretVersionStage,
RotationSucceeded) names the same secret, and credfix reads the same current version for
each: they all meet at one item, and the conditional write that creates it lets exactly
one of them hand the incident to the act step. A failure of the old key later opens its own
incident under `key#<key ID>` (adapters/stores/incidents.py), as always: the two never share
an item, so the reactive path is not hidden by the preventive one.

The item holds what `to_incident` reads (the storage contract of the act step): the incident
fields at the top level, the verdict stage as JSON in `triage`, the sources of the old key's
successful uses in `source_info` / `source_counts` / `source_last_seen`; and, for people and
queries, `kind` = "rotation", the secret and both version IDs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed, update_if
from credfix.adapters.stores.incidents import from_item, to_incident
from credfix.models.incident import Incident
from credfix.models.pipeline import HandOffState
from credfix.permissions import needs
from credfix.timefmt import iso_z

PREFIX = "rotation#"
RETENTION = timedelta(days=90)
STAGE_FIELDS = (
    "key_status",
    "owner_account",
    "verdict",
    "severity",
    "evidence",
    "workloads",
    "attribution",
    "origin",
)


def rotation_pk(secret_arn: str, version_id: str) -> str:
    return f"{PREFIX}{secret_arn}#{version_id}"


def is_rotation_pk(pk: str) -> bool:
    return pk.startswith(PREFIX) and pk.count("#") >= 2


def _source_hash(ip: str | None, user_agent: str | None, endpoint: str | None) -> str:
    return hashlib.sha256(f"{ip}|{user_agent}|{endpoint}".encode()).hexdigest()[:16]


def item_for(
    pk: str, incident: Incident, *, secret_arn: str, current: str, previous: str, now: datetime
) -> dict[str, Any]:
    """The DynamoDB item (typed attribute values) of a triaged rotation incident."""
    doc = incident.document()
    stage = {name: doc[name] for name in STAGE_FIELDS}
    stage["timeline"] = doc["timeline"]
    item: dict[str, Any] = {
        "pk": {"S": pk},
        "kind": {"S": "rotation"},
        "incident_id": {"S": incident.incident_id},
        "access_key_id": {"S": incident.access_key_id},
        "status": {"S": incident.status},
        "verdict": {"S": str(incident.verdict)},
        "severity": {"S": str(incident.severity)},
        "origin": {"S": str(incident.origin or "unknown")},
        "event_count": {"N": str(incident.event_count)},
        "first_seen": {"S": iso_z(incident.first_seen)},
        "last_seen": {"S": iso_z(incident.last_seen)},
        "opened_at": {"S": iso_z(incident.opened_at)},
        "triaged_at": {"S": iso_z(now)},
        "triage": {"S": json.dumps(stage, separators=(",", ":"))},
        "secret_arn": {"S": secret_arn},
        "current_version": {"S": current},
        "previous_version": {"S": previous},
        "expires_at": {"N": str(int((now + RETENTION).timestamp()))},
    }
    for name in ("error_codes", "regions", "event_sources", "accounts"):
        values = sorted(set(getattr(incident, name)))
        if values:  # DynamoDB has no empty sets
            item[name] = {"SS": values}
    info: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    last_seen: dict[str, Any] = {}
    for source in incident.sources:
        h = _source_hash(source.ip, source.user_agent, source.vpc_endpoint_id)
        fields: dict[str, Any] = {}
        if source.ip:
            fields["ip"] = {"S": source.ip}
        if source.user_agent:
            fields["ua"] = {"S": source.user_agent}
        if source.vpc_endpoint_id:
            fields["vpce"] = {"S": source.vpc_endpoint_id}
        info[h] = {"M": fields}
        counts[h] = {"N": str(source.count)}
        if source.last_seen:
            last_seen[h] = {"S": iso_z(source.last_seen)}
    item["source_info"] = {"M": info}
    item["source_counts"] = {"M": counts}
    item["source_last_seen"] = {"M": last_seen}
    item["sources_dropped"] = {"N": str(incident.sources_dropped)}
    return item


def _state(item: dict[str, Any]) -> HandOffState | None:
    if not item:
        return None
    plain = from_item(item)
    queued = plain.get("act_queued_for")
    return HandOffState(
        str(plain.get("incident_id", "")),
        str(plain.get("status", "")),
        str(queued) if queued else None,
        outside=plain.get("origin") == "outside",
    )


class RotationIncidents:
    def __init__(self, client: Any, table_name: str) -> None:
        if not table_name:
            raise ValueError("the incidents table name is not set (CREDFIX_TABLE)")
        self._ddb = client
        self._table = table_name

    @needs("rotation", "dynamodb:GetItem", on="incidents-table")
    def state(self, pk: str) -> HandOffState | None:
        """Where the rotation's incident stands, or None when there is none."""
        resp = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": pk}},
            ConsistentRead=True,
            ProjectionExpression="incident_id, #status, act_queued_for, origin",
            ExpressionAttributeNames={"#status": "status"},
        )
        return _state(resp.get("Item") or {})

    @needs("rotation", "dynamodb:PutItem", on="incidents-table")
    def open(
        self, pk: str, incident: Incident, *, secret_arn: str, current: str, previous: str, now: datetime
    ) -> HandOffState | None:
        """Write the triaged incident unless the rotation has one: None when written, else the
        state of the one that is there (another event of the same rotation came first)."""
        item = item_for(pk, incident, secret_arn=secret_arn, current=current, previous=previous, now=now)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return _state(exc.response.get("Item") or {}) or HandOffState("", "missing", None)
        return None

    @needs("rotation", "dynamodb:UpdateItem", on="incidents-table")
    def mark_act_queued(self, pk: str, incident_id: str, now: datetime) -> None:
        update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET act_queued_for = :id, act_queued_at = :now",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": incident_id}, ":now": {"S": iso_z(now)}},
        )

    @needs("rotation", "dynamodb:GetItem", on="incidents-table")
    def get(self, pk: str) -> Incident | None:
        resp = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item = resp.get("Item")
        return to_incident(from_item(item)) if item else None
