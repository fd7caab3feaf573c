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

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from credfix.adapters.dynamo import condition_failed
from credfix.core.remediate.model import ClaimHolder, ClaimOutcome, ClaimResult
from credfix.permissions import needs
from credfix.timefmt import iso_z, parse_iso_z

KEEP = timedelta(days=7)  # how long guardrail items outlive their window
BREAKER_KEY = {"pk": {"S": "breaker"}}
_CONFLICT_RETRIES = 5


def breaker_failures_in(item: dict[str, Any] | None, now: datetime, window_seconds: int) -> int:
    """Failures counted since the last success, or 0 if the last failure is older than the window."""
    if not item or "last_failure_at" not in item:
        return 0
    if parse_iso_z(item["last_failure_at"]["S"]) < now - timedelta(seconds=window_seconds):
        return 0
    return int(item.get("failures", {}).get("N", "0"))


def _hour(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H")


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

    def _claim_put(
        self, target: str, incident_id: str, action: str, now: datetime, cooldown_seconds: int
    ) -> dict[str, Any]:
        # Free if never claimed, or claimed by ANOTHER incident before the cooldown cut-off.
        # The same incident never claims a target twice: that is what makes a redelivery safe.
        return {
            "TableName": self._table,
            "Item": {
                "pk": {"S": f"target#{target}"},
                "incident_id": {"S": incident_id},
                "action": {"S": action},
                "last_action_at": {"S": iso_z(now)},
                "outcome": {"S": "claimed"},
                "expires_at": self._expires(now, cooldown_seconds),
            },
            # A target that verify blocked (it kept failing after an action) stays blocked
            # until a person clears the mark: enforcement stops for it.
            "ConditionExpression": (
                "attribute_not_exists(pk) OR (last_action_at < :cutoff AND incident_id <> :me "
                "AND attribute_not_exists(blocked))"
            ),
            "ExpressionAttributeValues": {
                ":cutoff": {"S": iso_z(now - timedelta(seconds=cooldown_seconds))},
                ":me": {"S": incident_id},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _rate_update(self, now: datetime, cap: int) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": f"ratelimit#{_hour(now)}"}},
            "UpdateExpression": "ADD actions :one SET expires_at = :exp",
            "ConditionExpression": "attribute_not_exists(actions) OR actions < :cap",
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":cap": {"N": str(cap)},
                ":exp": self._expires(now),
            },
        }

    def _lost_to(self, target: str, item: dict[str, Any] | None, cause: Exception) -> ClaimResult:
        if not item:  # released between our write and the failure report: read it back
            item = self._ddb.get_item(
                TableName=self._table, Key={"pk": {"S": f"target#{target}"}}, ConsistentRead=True
            ).get("Item")
        if not item:
            raise RuntimeError(f"claim on {target} lost to a claim that is gone; retry") from cause
        return ClaimResult(False, _holder(item))

    @needs("act", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", on="incidents-table")
    def claim(
        self,
        target: str,
        incident_id: str,
        action: str,
        now: datetime,
        cooldown_seconds: int,
        *,
        cap: int | None = None,
    ) -> ClaimResult:
        """With `cap`, the claim and one slot of the hour's cap are taken in one transaction:
        both or neither (a capped claim leaves no claim behind to release)."""
        put = self._claim_put(target, incident_id, action, now, cooldown_seconds)
        if cap is None or cap <= 0:
            try:
                self._ddb.put_item(**put)
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                return self._lost_to(target, exc.response.get("Item"), exc)
            if cap is not None:  # a cap of 0: nothing may run; the claim is given back
                self.release(target, incident_id)
                return ClaimResult(False, capped=True)
            return ClaimResult(True)
        reasons = self._transact([{"Put": put}, {"Update": self._rate_update(now, cap)}])
        if reasons is None:
            return ClaimResult(True)
        claim_reason, rate_reason = reasons
        if claim_reason.get("Code") == "ConditionalCheckFailed":
            return self._lost_to(target, claim_reason.get("Item"), RuntimeError(str(reasons)))
        if rate_reason.get("Code") == "ConditionalCheckFailed":
            return ClaimResult(False, capped=True)
        raise RuntimeError(f"claim on {target} cancelled: {reasons}")

    def _transact(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """TransactWriteItems; None when applied, else the cancellation reasons of a transaction
        cancelled by a failed condition. A conflict with another write on the same item (the
        shared counters are hot under a storm) is retried: it says nothing about the conditions."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self._ddb.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])
                if any(r.get("Code") == "TransactionConflict" for r in reasons):
                    time.sleep(random.uniform(0.02, 0.05) * (attempt + 1))  # noqa: S311  (jitter, not crypto)
                    continue
                if not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                    raise
                return reasons
            return None
        raise RuntimeError(f"transaction kept conflicting after {_CONFLICT_RETRIES} attempts; retry")

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def settle(
        self,
        target: str,
        incident_id: str,
        outcome: Literal["executed", "failed"],
        detail: str,
        now: datetime,
    ) -> None:
        """Record how the claimed action ended and count it for the circuit breaker (a success
        closes it, a failure counts towards opening it), in one transaction."""
        settle = {
            "TableName": self._table,
            "Key": {"pk": {"S": f"target#{target}"}},
            "UpdateExpression": "SET outcome = :o, detail = :d, settled_at = :now",
            "ConditionExpression": "incident_id = :me",
            "ExpressionAttributeValues": {
                ":o": {"S": outcome},
                ":d": {"S": detail[:1000]},
                ":now": {"S": iso_z(now)},
                ":me": {"S": incident_id},
            },
        }
        breaker = self._failure_update(now) if outcome == "failed" else self._success_update(now)
        reasons = self._transact([{"Update": settle}, {"Update": breaker}])
        if reasons is not None:
            raise RuntimeError(f"cannot settle {target}: the claim is no longer held by {incident_id}")

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
            if not condition_failed(exc):
                raise

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def take_rate_slot(self, now: datetime, cap: int) -> bool:
        if cap <= 0:
            return False
        try:
            self._ddb.update_item(**self._rate_update(now, cap))
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    @needs("act", "dynamodb:GetItem", on="incidents-table")
    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        item = self._ddb.get_item(TableName=self._table, Key=BREAKER_KEY, ConsistentRead=True).get("Item")
        return breaker_failures_in(item, now, window_seconds)

    def _failure_update(self, now: datetime) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": BREAKER_KEY,
            "UpdateExpression": "ADD failures :one SET last_failure_at = :now, expires_at = :exp",
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":now": {"S": iso_z(now)},
                ":exp": self._expires(now),
            },
        }

    def _success_update(self, now: datetime) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": BREAKER_KEY,
            "UpdateExpression": "SET failures = :zero, last_success_at = :now, expires_at = :exp",
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":now": {"S": iso_z(now)},
                ":exp": self._expires(now),
            },
        }

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def record_failure(self, now: datetime) -> None:
        self._ddb.update_item(**self._failure_update(now))

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def record_success(self, now: datetime) -> None:
        self._ddb.update_item(**self._success_update(now))


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
        self,
        target: str,
        incident_id: str,
        action: str,
        now: datetime,
        cooldown_seconds: int,
        *,
        cap: int | None = None,
    ) -> ClaimResult:
        with self._lock:
            old = self._claims.get(target)
            cutoff = now - timedelta(seconds=cooldown_seconds)
            if old is not None and not (old.at < cutoff and old.incident_id != incident_id):
                return ClaimResult(
                    False, ClaimHolder(old.incident_id, old.action, old.at, old.outcome, old.detail)
                )
            hour = _hour(now)
            if cap is not None:
                if self._hours.get(hour, 0) >= cap:
                    return ClaimResult(False, capped=True)
                self._hours[hour] = self._hours.get(hour, 0) + 1
            self._claims[target] = _Claim(incident_id, action, now)
            return ClaimResult(True)

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
            if outcome == "failed":
                self._failures += 1
                self._last_failure = now
            else:
                self._failures = 0

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
