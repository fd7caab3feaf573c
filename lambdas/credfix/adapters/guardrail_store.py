"""Guardrail state: target claims (idempotency + cooldown), the hourly action counter and
the circuit breaker. In AWS it lives in the incidents table as separate items, next to the
incidents they protect; the CLI without `--table` uses the in-memory twin.

Items (pk):
- `target#<arn>`: incident_id, action, last_action_at, outcome (claimed/executed/failed), detail
- `ratelimit#<YYYY-MM-DDTHH>`: actions (counter, conditioned on < cap)
- `breaker`: failures (since the last success), last_failure_at
All carry `expires_at` (the table's TTL attribute) so they clean themselves up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from credfix.core.remediate.model import ClaimHolder, ClaimOutcome, ClaimResult
from credfix.permissions import needs
from credfix.timefmt import iso_z, parse_iso_z

KEEP = timedelta(days=7)  # how long guardrail items outlive their window


def _hour(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _holder(item: dict[str, Any]) -> ClaimHolder:
    blocked = item.get("blocked", {}).get("BOOL", False)
    return ClaimHolder(
        incident_id=item["incident_id"]["S"],
        action=item.get("action", {}).get("S", ""),
        at=parse_iso_z(item["last_action_at"]["S"]),
        outcome="blocked" if blocked else item.get("outcome", {}).get("S", "claimed"),
        detail=item.get("blocked_reason", {}).get("S", "")
        if blocked
        else item.get("detail", {}).get("S", ""),
    )


class DynamoGuardrailStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def _expires(self, now: datetime, extra_seconds: int = 0) -> dict[str, str]:
        return {"N": str(int((now + KEEP + timedelta(seconds=extra_seconds)).timestamp()))}

    @needs("act", "dynamodb:PutItem", "dynamodb:GetItem", on="incidents-table")
    def claim(
        self, target: str, incident_id: str, action: str, now: datetime, cooldown_seconds: int
    ) -> ClaimResult:
        # Free if never claimed, or claimed by ANOTHER incident before the cooldown cut-off.
        # The same incident never claims a target twice: that is what makes a redelivery safe.
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"target#{target}"},
                    "incident_id": {"S": incident_id},
                    "action": {"S": action},
                    "last_action_at": {"S": iso_z(now)},
                    "outcome": {"S": "claimed"},
                    "expires_at": self._expires(now, cooldown_seconds),
                },
                # A target that verify blocked (it kept failing after an action) stays blocked
                # until a person clears the mark: enforcement stops for it.
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (last_action_at < :cutoff AND incident_id <> :me "
                    "AND attribute_not_exists(blocked))"
                ),
                ExpressionAttributeValues={
                    ":cutoff": {"S": iso_z(now - timedelta(seconds=cooldown_seconds))},
                    ":me": {"S": incident_id},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            item = exc.response.get("Item")
            if not item:  # released between our write and the failure report: read it back
                item = self._ddb.get_item(
                    TableName=self._table, Key={"pk": {"S": f"target#{target}"}}, ConsistentRead=True
                ).get("Item")
            if not item:
                raise RuntimeError(f"claim on {target} lost to a claim that is gone; retry") from exc
            return ClaimResult(False, _holder(item))
        return ClaimResult(True)

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def settle(
        self,
        target: str,
        incident_id: str,
        outcome: Literal["executed", "failed"],
        detail: str,
        now: datetime,
    ) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"target#{target}"}},
            UpdateExpression="SET outcome = :o, detail = :d, settled_at = :now",
            ConditionExpression="incident_id = :me",
            ExpressionAttributeValues={
                ":o": {"S": outcome},
                ":d": {"S": detail[:1000]},
                ":now": {"S": iso_z(now)},
                ":me": {"S": incident_id},
            },
        )

    @needs("act", "dynamodb:DeleteItem", on="incidents-table")
    def release(self, target: str, incident_id: str) -> None:
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"target#{target}"}},
                ConditionExpression="incident_id = :me AND outcome = :claimed",
                ExpressionAttributeValues={":me": {"S": incident_id}, ":claimed": {"S": "claimed"}},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def take_rate_slot(self, now: datetime, cap: int) -> bool:
        if cap <= 0:
            return False
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"ratelimit#{_hour(now)}"}},
                UpdateExpression="ADD actions :one SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(actions) OR actions < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":exp": self._expires(now),
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    @needs("act", "dynamodb:GetItem", on="incidents-table")
    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": "breaker"}}, ConsistentRead=True
        ).get("Item")
        if not item or "last_failure_at" not in item:
            return 0
        if parse_iso_z(item["last_failure_at"]["S"]) < now - timedelta(seconds=window_seconds):
            return 0
        return int(item.get("failures", {}).get("N", "0"))

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def record_failure(self, now: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": "breaker"}},
            UpdateExpression="ADD failures :one SET last_failure_at = :now, expires_at = :exp",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":now": {"S": iso_z(now)},
                ":exp": self._expires(now),
            },
        )

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def record_success(self, now: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": "breaker"}},
            UpdateExpression="SET failures = :zero, last_success_at = :now, expires_at = :exp",
            ExpressionAttributeValues={
                ":zero": {"N": "0"},
                ":now": {"S": iso_z(now)},
                ":exp": self._expires(now),
            },
        )


@dataclass
class _Claim:
    incident_id: str
    action: str
    at: datetime
    outcome: ClaimOutcome = "claimed"
    detail: str = ""


class MemoryGuardrailStore:
    """The same rules in memory, for one CLI run (or one process) without a table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}
        self._hours: dict[str, int] = {}
        self._failures = 0
        self._last_failure: datetime | None = None

    def claim(
        self, target: str, incident_id: str, action: str, now: datetime, cooldown_seconds: int
    ) -> ClaimResult:
        with self._lock:
            old = self._claims.get(target)
            cutoff = now - timedelta(seconds=cooldown_seconds)
            if old is None or (old.at < cutoff and old.incident_id != incident_id):
                self._claims[target] = _Claim(incident_id, action, now)
                return ClaimResult(True)
            return ClaimResult(
                False, ClaimHolder(old.incident_id, old.action, old.at, old.outcome, old.detail)
            )

    def settle(
        self,
        target: str,
        incident_id: str,
        outcome: Literal["executed", "failed"],
        detail: str,
        now: datetime,
    ) -> None:
        with self._lock:
            claim = self._claims.get(target)
            if claim is None or claim.incident_id != incident_id:
                raise RuntimeError(f"no claim of {incident_id} on {target} to settle")
            claim.outcome, claim.detail = outcome, detail

    def release(self, target: str, incident_id: str) -> None:
        with self._lock:
            claim = self._claims.get(target)
            if claim and claim.incident_id == incident_id and claim.outcome == "claimed":
                del self._claims[target]

    def take_rate_slot(self, now: datetime, cap: int) -> bool:
        with self._lock:
            hour = _hour(now)
            if self._hours.get(hour, 0) >= cap:
                return False
            self._hours[hour] = self._hours.get(hour, 0) + 1
            return True

    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        with self._lock:
            if self._last_failure is None or self._last_failure < now - timedelta(seconds=window_seconds):
                return 0
            return self._failures

    def record_failure(self, now: datetime) -> None:
        with self._lock:
            self._failures += 1
            self._last_failure = now

    def record_success(self, now: datetime) -> None:
        with self._lock:
            self._failures = 0
