"""Records the act step's decisions on the incident item (storage contract of
adapters/stores/incidents.py `to_incident`): top-level `status` = "acted" and a `remediation`
attribute holding JSON {"actions": [...], "timeline": [...]}.

Several deliveries of one incident may record concurrently (a redelivery, a second
worker), so the write is a read-merge-write guarded by a version number: an executed or
failed entry is never replaced by a later "already handled" one, whatever the order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed
from credfix.adapters.stores.guardrails import BREAKER_KEY, breaker_failures_in
from credfix.adapters.stores.incidents import from_item, key_pk, to_incident
from credfix.models.incident import Action, Incident, TimelineEntry
from credfix.models.operator import Mute
from credfix.permissions import needs
from credfix.timefmt import iso_z

TERMINAL = ("executed", "failed")
ADVANCES_TO_ACTED = ("open", "triaged", "acted")  # resolved/escalated are later stages: kept


class IncidentSuperseded(RuntimeError):
    """The key's item now holds another incident (re-opened): this incident is archived."""


@dataclass(frozen=True)
class Recorded:
    incident: Incident
    changed: bool  # False when this delivery added nothing (a pure redelivery)
    followed_up_mark: str | None  # what the last alert + verification were sent for (step.py)
    alerted: bool = False  # the alert went out while actions were still pending


def merge_actions(stored: list[Action], new: list[Action]) -> list[Action]:
    """Union of two records of the same incident. An executed/failed entry stands; a planned or
    skipped entry for the same (type, target) is replaced by the newer decision unless a
    terminal entry exists for it."""
    terminal = {(a.type, a.target) for a in [*stored, *new] if a.status in TERMINAL}
    newer = {(a.type, a.target) for a in new}
    out: list[Action] = []
    seen: set[tuple[str, str, str, str]] = set()
    for a in [*stored, *new]:
        key = (a.type, a.target)
        from_stored = a in stored and a not in new
        if a.status not in TERMINAL and (key in terminal or (from_stored and key in newer)):
            continue
        ident = (a.type, a.target, a.status, a.at.isoformat() if a.at else "")
        if ident not in seen:
            seen.add(ident)
            out.append(a)
    return out


def merge_timeline(stored: list[TimelineEntry], new: list[TimelineEntry]) -> list[TimelineEntry]:
    seen = {(t.at, t.what) for t in stored}
    return stored + [t for t in new if (t.at, t.what) not in seen]


@dataclass(frozen=True)
class ActRead:
    """What the act step reads once, in one call: the incident item as stored (its
    `remediation_version` is what the record write is conditioned on) and the breaker item."""

    item: dict[str, Any] | None  # the raw incident item; None if the key has none
    breaker: dict[str, Any] | None

    @property
    def incident(self) -> Incident | None:
        return to_incident(from_item(self.item)) if self.item else None

    @property
    def mute(self) -> Mute | None:
        """The key's mute (`credfix mute`), read with the incident at no extra cost."""
        if not self.item or "mute_until" not in self.item:
            return None
        return Mute.of_item(from_item(self.item))

    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        return breaker_failures_in(self.breaker, now, window_seconds)


class RemediationStore:
    def __init__(self, client: Any, table_name: str, item: str | None = None) -> None:
        self._ddb = client
        self._table = table_name
        self._item = item  # an incident kept under another item than its key's (a rotation's)

    def at(self, item: str) -> RemediationStore:
        """The same store for the incident kept under `item` (adapters/stores/rotation.py)."""
        return RemediationStore(self._ddb, self._table, item)

    def _pk(self, access_key_id: str) -> str:
        return self._item or key_pk(access_key_id)

    @needs("act", "dynamodb:BatchGetItem", on="incidents-table")
    def load(self, access_key_id: str) -> ActRead:
        """The incident and the circuit breaker, both strongly consistent, in one request."""
        key = {"pk": {"S": self._pk(access_key_id)}}
        wanted: dict[str, Any] = {self._table: {"Keys": [key, BREAKER_KEY], "ConsistentRead": True}}
        found: dict[str, dict[str, Any]] = {}
        for _ in range(8):
            resp = self._ddb.batch_get_item(RequestItems=wanted)
            for item in resp.get("Responses", {}).get(self._table, []):
                found[item["pk"]["S"]] = item
            wanted = resp.get("UnprocessedKeys") or {}
            if not wanted:
                return ActRead(found.get(key["pk"]["S"]), found.get(BREAKER_KEY["pk"]["S"]))
        raise RuntimeError("the incidents table kept leaving keys unprocessed; the message will be retried")

    @needs("act", "dynamodb:GetItem", "dynamodb:UpdateItem", on="incidents-table")
    def record(
        self,
        access_key_id: str,
        incident_id: str,
        actions: list[Action],
        timeline: list[TimelineEntry],
        *,
        read: ActRead | None = None,
    ) -> Recorded:
        """`read`: the item as the act step read it before acting. The write is conditioned on
        the version in it, so a record made since by another delivery still fails the write,
        and only then is the item read again and merged."""
        key = {"pk": {"S": self._pk(access_key_id)}}
        first = read.item if read is not None else None
        for _ in range(8):
            item = first or self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get(
                "Item"
            )
            first = None  # a retry after a lost race reads the item again
            if not item or item.get("incident_id", {}).get("S") != incident_id:
                raise IncidentSuperseded(f"incident {incident_id} is no longer the key's current incident")
            plain = from_item(item)
            stored = json.loads(plain.get("remediation", '{"actions": [], "timeline": []}'))
            old_actions = [Action.model_validate(a) for a in stored.get("actions", [])]
            old_timeline = [TimelineEntry.model_validate(t) for t in stored.get("timeline", [])]
            merged = merge_actions(old_actions, actions)
            merged_timeline = merge_timeline(old_timeline, timeline)
            mark = plain.get("remediation_followed_up")
            followed_up = str(mark) if mark and str(mark).split("#")[0] == incident_id else None
            alerted = plain.get("remediation_alerted") == incident_id
            status = "acted" if plain["status"] in ADVANCES_TO_ACTED else str(plain["status"])
            if merged == old_actions and merged_timeline == old_timeline and status == plain["status"]:
                return Recorded(
                    to_incident(plain), changed=False, followed_up_mark=followed_up, alerted=alerted
                )
            document = json.dumps(
                {
                    "actions": [a.model_dump(mode="json") for a in merged],
                    "timeline": [t.model_dump(mode="json") for t in merged_timeline],
                }
            )
            version = int(plain.get("remediation_version", 0))
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #status = :status, remediation = :doc, remediation_version = :next",
                    ConditionExpression=(
                        "incident_id = :id AND (attribute_not_exists(remediation_version) "
                        "OR remediation_version = :version)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":status": {"S": status},
                        ":doc": {"S": document},
                        ":next": {"N": str(version + 1)},
                        ":version": {"N": str(version)},
                        ":id": {"S": incident_id},
                    },
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                continue  # another delivery recorded first: merge with its record
            plain.update({"status": status, "remediation": document})
            return Recorded(to_incident(plain), changed=True, followed_up_mark=followed_up, alerted=alerted)
        raise RuntimeError(f"recording incident {incident_id} kept losing races; the message will be retried")

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def mark_followed_up(self, access_key_id: str, incident_id: str, mark: str, now: datetime) -> None:
        """Alert sent and verification scheduled for `mark` (the incident and what it executed):
        a redelivery finds the same mark and does not repeat them."""
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": self._pk(access_key_id)}},
            UpdateExpression="SET remediation_followed_up = :mark, remediation_followed_up_at = :now",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={
                ":id": {"S": incident_id},
                ":mark": {"S": mark},
                ":now": {"S": iso_z(now)},
            },
        )

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def mark_alerted(self, access_key_id: str, incident_id: str, now: datetime) -> None:
        """Alert sent while actions wait on a cap: their later run alerts only when they settle."""
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": self._pk(access_key_id)}},
            UpdateExpression="SET remediation_alerted = :id, remediation_alerted_at = :now",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": incident_id}, ":now": {"S": iso_z(now)}},
        )
