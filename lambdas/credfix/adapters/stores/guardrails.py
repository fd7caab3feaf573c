"""Guardrail state: target claims (idempotency + cooldown + blocks), the sliding-window
action caps (per account, per key) and the circuit breaker. In AWS it lives in the incidents
table as separate items, next to the incidents they protect; the CLI without `--table` uses
the in-memory twin.

Items (pk):
- `target#<arn>`: incident_id, action, last_action_at, outcome (claimed/executed/failed), detail;
  and, once verify blocked it: blocked, blocked_at, blocked_until, blocked_reason, …
- `rate#<scope>` (scope `account#<id>` or `key#<access key id>`): `log`, the epoch seconds of
  the actions taken within the window, and `v`, a version every write is conditioned on
- `breaker`: failures (since the last success), last_failure_at
All carry `expires_at` (the table's TTL attribute) so they clean themselves up.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed
from credfix.models.guardrails import Cap, ClaimHolder, ClaimOutcome, ClaimResult
from credfix.permissions import needs
from credfix.timefmt import iso_z, parse_iso_z

KEEP = timedelta(days=7)  # how long guardrail items outlive their window
LEGACY_BLOCK = timedelta(days=7)  # blocks written before blocks expired: how long they last
BREAKER_KEY = {"pk": {"S": "breaker"}}
_CONFLICT_RETRIES = 5


def breaker_failures_in(item: dict[str, Any] | None, now: datetime, window_seconds: int) -> int:
    """Failures counted since the last success, or 0 if the last failure is older than the window."""
    if not item or "last_failure_at" not in item:
        return 0
    if parse_iso_z(item["last_failure_at"]["S"]) < now - timedelta(seconds=window_seconds):
        return 0
    return int(item.get("failures", {}).get("N", "0"))


def rate_pk(cap: Cap) -> str:
    return f"rate#{cap.scope}"


def window_of(log: Sequence[int], cap: Cap, now: datetime) -> tuple[list[int], datetime | None]:
    """The actions still inside the cap's window, and when a slot frees if the cap is full."""
    start = int(now.timestamp()) - cap.window_seconds
    inside = sorted(t for t in log if t > start)
    if len(inside) < cap.limit:
        return inside, None
    frees = inside[len(inside) - cap.limit] + cap.window_seconds + 1
    return inside, datetime.fromtimestamp(frees, UTC)


def block_active(item: dict[str, Any], now: datetime) -> bool:
    """A block holds until `blocked_until` (older blocks: LEGACY_BLOCK after they were set)."""
    if not item.get("blocked", {}).get("BOOL", False):
        return False
    until = item.get("blocked_until", {}).get("S")
    if until:
        return parse_iso_z(until) > now
    since = item.get("blocked_at", {}).get("S")
    return since is None or parse_iso_z(since) + LEGACY_BLOCK > now


def _holder(item: dict[str, Any], now: datetime) -> ClaimHolder:
    blocked = block_active(item, now)
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
            # A target that verify blocked (it kept failing after an attributed action) stays
            # blocked until the block expires or a person clears it: enforcement stops for it.
            "ConditionExpression": (
                "attribute_not_exists(pk) OR (last_action_at < :cutoff AND incident_id <> :me "
                "AND (attribute_not_exists(blocked) OR blocked_until < :now "
                "OR (attribute_not_exists(blocked_until) AND blocked_at < :legacy)))"
            ),
            "ExpressionAttributeValues": {
                ":cutoff": {"S": iso_z(now - timedelta(seconds=cooldown_seconds))},
                ":me": {"S": incident_id},
                ":now": {"S": iso_z(now)},
                ":legacy": {"S": iso_z(now - LEGACY_BLOCK)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _rate_update(self, cap: Cap, log: list[int], version: int | None, now: datetime) -> dict[str, Any]:
        """The cap's new log, written only if nobody wrote it since it was read (version)."""
        condition = "attribute_not_exists(v)" if version is None else "v = :v"
        values: dict[str, Any] = {
            ":log": {"L": [{"N": str(t)} for t in log]},
            ":next": {"N": str((version or 0) + 1)},
            ":exp": {"N": str(int(now.timestamp()) + cap.window_seconds + int(KEEP.total_seconds()))},
        }
        if version is not None:
            values[":v"] = {"N": str(version)}
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": rate_pk(cap)}},
            "UpdateExpression": "SET #log = :log, v = :next, expires_at = :exp",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#log": "log"},
            "ExpressionAttributeValues": values,
        }

    def _rate_logs(self, caps: Sequence[Cap]) -> dict[str, tuple[list[int], int | None]]:
        """Each cap's log and version, read strongly consistent in one request."""
        keys = [{"pk": {"S": rate_pk(c)}} for c in caps]
        found: dict[str, tuple[list[int], int | None]] = {}
        wanted: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(8):
            resp = self._ddb.batch_get_item(RequestItems=wanted)
            for item in resp.get("Responses", {}).get(self._table, []):
                log = [int(x["N"]) for x in item.get("log", {}).get("L", [])]
                found[item["pk"]["S"]] = (log, int(item["v"]["N"]) if "v" in item else None)
            wanted = resp.get("UnprocessedKeys") or {}
            if not wanted:
                return found
        raise RuntimeError("the incidents table kept leaving rate items unprocessed; retry")

    def _lost_to(
        self, target: str, item: dict[str, Any] | None, cause: Exception, now: datetime
    ) -> ClaimResult:
        if not item:  # released between our write and the failure report: read it back
            item = self._ddb.get_item(
                TableName=self._table, Key={"pk": {"S": f"target#{target}"}}, ConsistentRead=True
            ).get("Item")
        if not item:
            raise RuntimeError(f"claim on {target} lost to a claim that is gone; retry") from cause
        return ClaimResult(False, _holder(item, now))

    @needs("act", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", on="incidents-table")
    @needs("act", "dynamodb:BatchGetItem", on="incidents-table")
    def claim(
        self,
        target: str,
        incident_id: str,
        action: str,
        now: datetime,
        cooldown_seconds: int,
        *,
        caps: Sequence[Cap] = (),
    ) -> ClaimResult:
        """With `caps`, the claim and one slot of each cap are taken in one transaction: all or
        none (a capped claim leaves no claim behind). The caps' logs are read first; a write by
        another worker since then makes the transaction fail, and it is read and tried again."""
        put = self._claim_put(target, incident_id, action, now, cooldown_seconds)
        if not caps:
            try:
                self._ddb.put_item(**put)
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                return self._lost_to(target, exc.response.get("Item"), exc, now)
            return ClaimResult(True)
        for _ in range(_CONFLICT_RETRIES):
            logs = self._rate_logs(caps)
            updates = []
            for cap in caps:
                log, version = logs.get(rate_pk(cap), ([], None))
                inside, frees = window_of(log, cap, now)
                if cap.limit <= 0 or frees is not None:
                    return ClaimResult(False, capped=cap, retry_at=frees)
                updates.append(
                    {"Update": self._rate_update(cap, [*inside, int(now.timestamp())], version, now)}
                )
            reasons = self._transact([{"Put": put}, *updates])
            if reasons is None:
                return ClaimResult(True)
            claim_reason = reasons[0]
            if claim_reason.get("Code") == "ConditionalCheckFailed":
                return self._lost_to(target, claim_reason.get("Item"), RuntimeError(str(reasons)), now)
            # A cap's log moved since it was read (another worker took a slot): read again.
        raise RuntimeError(f"claim on {target}: the caps kept changing under it; retry")

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
        self._logs: dict[str, list[int]] = {}
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
        caps: Sequence[Cap] = (),
    ) -> ClaimResult:
        with self._lock:
            old = self._claims.get(target)
            cutoff = now - timedelta(seconds=cooldown_seconds)
            if old is not None and not (old.at < cutoff and old.incident_id != incident_id):
                return ClaimResult(
                    False, ClaimHolder(old.incident_id, old.action, old.at, old.outcome, old.detail)
                )
            logs: dict[str, list[int]] = {}
            for cap in caps:
                inside, frees = window_of(self._logs.get(rate_pk(cap), []), cap, now)
                if cap.limit <= 0 or frees is not None:
                    return ClaimResult(False, capped=cap, retry_at=frees)
                logs[rate_pk(cap)] = [*inside, int(now.timestamp())]
            self._logs.update(logs)
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

    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        with self._lock:
            if self._last_failure is None or self._last_failure < now - timedelta(seconds=window_seconds):
                return 0
            return self._failures
