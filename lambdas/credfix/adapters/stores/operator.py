"""What the day-two verbs read from and write to the incidents table (role `operator`).

Reads: a scan of the table (incidents, guardrail items, storm records), or one incident.
Writes, each conditioned on what the operator was shown (the item as read), so that two
people, or a person and a Lambda, never overwrite each other unseen; each records who did it
and why on the item itself (`operator_log`, a list of {at, by, what, incident_id}):

- `target#<arn>`: `unblock` removes `blocked`/`blocked_until` (the claim's own fields, and so
  its cool-down, stay), keeps the old block as `last_block` and sets `unblocked_at/by`,
  `unblock_reason`. Condition: still blocked, with the `blocked_at` and `blocked_until` read.
- `breaker`: `reset` sets `failures` = 0 and `last_reset_at/by/reason`. Condition: the
  `failures` and `last_failure_at` read.
- `key#<access key id>` (the key's incident item): `mute` sets `mute_until`, `mute_by`,
  `mute_reason`, `mute_at` (they outlive a re-opened incident: a mute is per key), `unmute`
  removes them. Condition: the item exists and its `mute_until` is the one read. `note` adds
  an entry to `operator_log` while the item still holds that incident: the incident's
  timeline (adapters/stores/incidents.py `to_incident` merges the entries of its incident).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed
from credfix.adapters.stores.guardrails import BREAKER_KEY
from credfix.adapters.stores.incidents import from_item, key_pk
from credfix.adapters.stores.verification import target_pk
from credfix.models.operator import MAX_REASON, Conflict
from credfix.permissions import needs
from credfix.timefmt import iso_z

# Item kinds no day-two view needs (per-window opening counters, trusted addresses).
_SKIPPED = ("opens#", "source#")
APPEND_LOG = "operator_log = list_append(if_not_exists(operator_log, :empty), :entry)"


def log_entry(now: datetime, by: str, what: str, incident_id: str = "") -> dict[str, Any]:
    """One `operator_log` entry, in DynamoDB's typed form."""
    entry = {"at": {"S": iso_z(now)}, "by": {"S": by[:400]}, "what": {"S": what[:1000]}}
    if incident_id:
        entry["incident_id"] = {"S": incident_id}
    return {"M": entry}


def _old(exc: ClientError) -> dict[str, Any]:
    return from_item(exc.response.get("Item") or {})


class OperatorStore:
    def __init__(self, client: Any, table_name: str) -> None:
        if not table_name:
            raise ValueError("the incidents table name is not set")
        self._ddb = client
        self._table = table_name

    def _update_as_seen(
        self,
        key: dict[str, Any],
        update: str,
        condition: str,
        values: dict[str, Any],
        conflict: Callable[[dict[str, Any]], str],
    ) -> dict[str, Any]:
        """One operator change, conditional on what the operator was shown: the item after it,
        or Conflict with `conflict(the item as it is now)`."""
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            raise Conflict(conflict(_old(exc))) from None
        return from_item(resp["Attributes"])

    @needs("operator", "dynamodb:Scan", on="incidents-table")
    def scan(self, *, archived: bool = False) -> Iterator[dict[str, Any]]:
        """Every item but the per-window counters and trusted addresses (archived incidents,
        `incident#<id>`, only with `archived`), plain Python values. Strongly consistent, so
        what a person is shown is what their conditional write is checked against."""
        skipped = _SKIPPED if archived else (*_SKIPPED, "incident#")
        names = {"#pk": "pk"}
        values = {f":s{i}": {"S": prefix} for i, prefix in enumerate(skipped)}
        condition = " AND ".join(f"NOT begins_with(#pk, :s{i})" for i in range(len(skipped)))
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            resp = self._ddb.scan(**request)
            for item in resp.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in resp:
                return
            request["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    @needs("operator", "dynamodb:GetItem", on="incidents-table")
    def get(self, pk: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True).get(
            "Item"
        )
        return from_item(item) if item else None

    @needs("operator", "dynamodb:UpdateItem", on="incidents-table")
    def unblock(
        self, target: str, seen: dict[str, Any], *, by: str, reason: str, now: datetime
    ) -> dict[str, Any]:
        """Clear the block `seen` (the target's item as shown). Conflict if it changed."""
        if seen.get("blocked") is not True:
            raise Conflict(f"{target} is not blocked")
        old_block = {
            "at": seen.get("blocked_at"),
            "until": seen.get("blocked_until"),
            "reason": seen.get("blocked_reason"),
            "incident_id": seen.get("blocked_incident_id"),
        }
        values: dict[str, Any] = {
            ":true": {"BOOL": True},
            ":now": {"S": iso_z(now)},
            ":by": {"S": by[:400]},
            ":why": {"S": reason[:MAX_REASON]},
            ":old": {
                "M": {name: {"S": str(value)} for name, value in old_block.items() if value is not None}
            },
            ":entry": {
                "L": [log_entry(now, by, f"block cleared: {reason}", str(seen.get("incident_id", "")))]
            },
            ":empty": {"L": []},
        }
        condition = ["blocked = :true"]
        for attr in ("blocked_at", "blocked_until"):
            if seen.get(attr) is None:
                condition.append(f"attribute_not_exists({attr})")
            else:
                condition.append(f"{attr} = :seen_{attr}")
                values[f":seen_{attr}"] = {"S": str(seen[attr])}

        def conflict(now_item: dict[str, Any]) -> str:
            if now_item.get("blocked") is not True:
                return f"{target} is no longer blocked (someone cleared it meanwhile)"
            return (
                f"{target}'s block changed since it was read (now blocked at {now_item.get('blocked_at')} "
                f"until {now_item.get('blocked_until')}): look again and retry"
            )

        return self._update_as_seen(
            {"pk": {"S": target_pk(target)}},
            "REMOVE blocked, blocked_until SET unblocked_at = :now, unblocked_by = :by, "
            f"unblock_reason = :why, last_block = :old, {APPEND_LOG}",
            " AND ".join(condition),
            values,
            conflict,
        )

    @needs("operator", "dynamodb:UpdateItem", on="incidents-table")
    def reset_breaker(
        self, seen: dict[str, Any] | None, *, by: str, reason: str, now: datetime
    ) -> dict[str, Any]:
        """Close the circuit breaker as `seen` (its item as shown). Conflict if it changed."""
        if not seen or int(seen.get("failures", 0)) == 0:
            raise Conflict("the circuit breaker has no failures counted: nothing to reset")
        values: dict[str, Any] = {
            ":zero": {"N": "0"},
            ":seen": {"N": str(int(seen["failures"]))},
            ":now": {"S": iso_z(now)},
            ":by": {"S": by[:400]},
            ":why": {"S": reason[:MAX_REASON]},
            ":entry": {"L": [log_entry(now, by, f"circuit breaker reset from {seen['failures']}: {reason}")]},
            ":empty": {"L": []},
        }
        condition = "failures = :seen"
        if seen.get("last_failure_at") is not None:
            condition += " AND last_failure_at = :seen_at"
            values[":seen_at"] = {"S": str(seen["last_failure_at"])}
        return self._update_as_seen(
            BREAKER_KEY,
            "SET failures = :zero, last_reset_at = :now, last_reset_by = :by, "
            f"last_reset_reason = :why, {APPEND_LOG}",
            condition,
            values,
            lambda now_item: (
                f"the circuit breaker changed since it was read (now {now_item.get('failures', 0)} "
                f"failure(s), last at {now_item.get('last_failure_at')}): look again and retry"
            ),
        )

    @needs("operator", "dynamodb:UpdateItem", on="incidents-table")
    def mute(
        self,
        access_key_id: str,
        seen: dict[str, Any],
        *,
        until: datetime | None,
        by: str,
        reason: str,
        now: datetime,
    ) -> dict[str, Any]:
        """Mute the key's alerts until `until` (None: lift the mute), as `seen` showed it."""
        incident_id = str(seen.get("incident_id", ""))
        what = f"alerts muted until {iso_z(until)}: {reason}" if until else f"alerts unmuted: {reason}"
        values: dict[str, Any] = {
            ":entry": {"L": [log_entry(now, by, what, incident_id)]},
            ":empty": {"L": []},
        }
        if until is not None:
            update = (
                f"SET mute_until = :until, mute_by = :by, mute_reason = :why, mute_at = :now, {APPEND_LOG}"
            )
            values.update(
                {
                    ":until": {"S": iso_z(until)},
                    ":by": {"S": by[:400]},
                    ":why": {"S": reason[:MAX_REASON]},
                    ":now": {"S": iso_z(now)},
                }
            )
        else:
            update = f"REMOVE mute_until, mute_by, mute_reason, mute_at SET {APPEND_LOG}"
        condition = "attribute_exists(pk)"
        if seen.get("mute_until") is None:
            condition += " AND attribute_not_exists(mute_until)"
        else:
            condition += " AND mute_until = :seen_until"
            values[":seen_until"] = {"S": str(seen["mute_until"])}

        def conflict(now_item: dict[str, Any]) -> str:
            if not now_item:
                return "no incident for this key: nothing to mute"
            return (
                f"the key's mute changed since it was read (now until {now_item.get('mute_until')}, by "
                f"{now_item.get('mute_by')}): look again and retry"
            )

        return self._update_as_seen({"pk": {"S": key_pk(access_key_id)}}, update, condition, values, conflict)

    @needs("operator", "dynamodb:UpdateItem", on="incidents-table")
    def note(self, access_key_id: str, incident_id: str, *, by: str, what: str, now: datetime) -> bool:
        """An entry on the incident's timeline; False when the key holds another incident now."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key_pk(access_key_id)}},
                UpdateExpression=f"SET {APPEND_LOG}",
                ConditionExpression="incident_id = :id",
                ExpressionAttributeValues={
                    ":id": {"S": incident_id},
                    ":entry": {"L": [log_entry(now, by, what, incident_id)]},
                    ":empty": {"L": []},
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
