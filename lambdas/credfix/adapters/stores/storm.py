"""Storm state in the incidents table (credfix.core.storm): opening budgets per window, the
addresses triage showed to be the account's own, and each window's storm record.

Items (pk):
- `opens#<window>` and `opens#<window>#<address>`: `n`, new incidents opened in the window
- `source#<address>[#<vpc endpoint>]`: an address triage attributed to the account (scope,
  vpc_id, attributed_at), kept 30 days after it was last seen attributed
- `storm#<window>`: records, keys (summed per batch), first_seen, last_seen, `src:<address>`
  record counts, sample (key IDs), window_end, alerted_at once its summary went out
All carry `expires_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed, update_if
from credfix.models.storm import StormBatch, StormLimits, StormRecord
from credfix.permissions import needs
from credfix.timefmt import iso_z

TRUST_FOR = timedelta(days=30)
KEEP = timedelta(days=7)
MAX_SOURCES_PER_WRITE = 20  # addresses counted by name per batch; the rest as "(further sources)"
SOURCE_PREFIX = "src:"
_deser = TypeDeserializer()


def source_pk(ip: str, vpc_endpoint_id: str | None) -> str:
    return f"source#{ip}#{vpc_endpoint_id}" if vpc_endpoint_id else f"source#{ip}"


def storm_pk(window: datetime) -> str:
    return f"storm#{iso_z(window)}"


class StormStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def _expires(self, now: datetime, extra: timedelta) -> dict[str, str]:
        return {"N": str(int((now + extra).timestamp()))}

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def take_openings(self, source: str, wanted: int, cap: int, window: datetime, now: datetime) -> int:
        """One counter per budget source and window (`opens#<window>[#<source>]`): add `wanted`,
        unless the counter is already at the cap; the answer says how many fit under it. Slots
        asked for beyond the cap are lost, which only tightens it. One write, whatever `wanted`."""
        if cap <= 0 or wanted <= 0:
            return 0
        pk = f"opens#{iso_z(window)}" + ("" if source == "*" else f"#{source}")
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}},
                UpdateExpression="ADD n :k SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(n) OR n < :cap",
                ExpressionAttributeValues={
                    ":k": {"N": str(wanted)},
                    ":cap": {"N": str(cap)},
                    ":exp": self._expires(now, timedelta(seconds=900) + KEEP),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return 0
            raise
        before = int(resp["Attributes"]["n"]["N"]) - wanted
        return max(0, min(wanted, cap - before))

    @needs("ingest", "dynamodb:BatchGetItem", on="incidents-table")
    @needs("logs", "dynamodb:BatchGetItem", on="incidents-table")
    def trusted(self, sources: Sequence[tuple[str, str | None]]) -> set[tuple[str, str | None]]:
        """Which of these addresses (with their endpoint) triage has attributed to the account."""
        wanted = {source_pk(ip, vpce): (ip, vpce) for ip, vpce in sources}
        found: set[tuple[str, str | None]] = set()
        keys = [{"pk": {"S": pk}} for pk in wanted]
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self._table: {"Keys": keys[start : start + 100]}}
            for _ in range(8):
                resp = self._ddb.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self._table, []):
                    found.add(wanted[item["pk"]["S"]])
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def record(self, window: datetime, batch: StormBatch, limits: StormLimits, now: datetime) -> bool:
        names: dict[str, str] = {}
        values: dict[str, Any] = {
            ":r": {"N": str(batch.records)},
            ":k": {"N": str(batch.keys)},
            ":zero": {"N": "0"},
            ":sample": {"L": [{"S": k} for k in batch.sample]},
            ":end": {"S": iso_z(window + timedelta(seconds=limits.window_seconds))},
            ":exp": self._expires(now, timedelta(seconds=limits.window_seconds) + KEEP),
        }
        sets = ["#sample = if_not_exists(#sample, :sample)", "window_end = :end", "expires_at = :exp"]
        if batch.first_seen and batch.last_seen:
            values[":first"] = {"S": iso_z(batch.first_seen)}
            values[":last"] = {"S": iso_z(batch.last_seen)}
            sets += ["first_seen = if_not_exists(first_seen, :first)", "last_seen = :last"]
        ranked = batch.sources.most_common()
        named = ranked[:MAX_SOURCES_PER_WRITE]
        rest = sum(n for _, n in ranked[MAX_SOURCES_PER_WRITE:])
        for i, (address, count) in enumerate([*named, *([("(further sources)", rest)] if rest else [])]):
            names[f"#s{i}"] = f"{SOURCE_PREFIX}{address}"
            values[f":c{i}"] = {"N": str(count)}
            sets.append(f"#s{i} = if_not_exists(#s{i}, :zero) + :c{i}")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": storm_pk(window)}},
            "UpdateExpression": f"SET {', '.join(sets)} ADD #records :r, #keys :k",
            "ExpressionAttributeValues": values,
            # "sample", "keys" and "records" are reserved words in DynamoDB expressions.
            "ExpressionAttributeNames": {
                **names,
                "#keys": "keys",
                "#records": "records",
                "#sample": "sample",
            },
            "ReturnValues": "UPDATED_OLD",
        }
        resp = self._ddb.update_item(**request)
        return "records" not in resp.get("Attributes", {})

    @needs("act", "dynamodb:GetItem", on="incidents-table")
    def storming(self, window: datetime, addresses: Sequence[str]) -> bool:
        """Whether any of these addresses is counted in the window's storm record."""
        names = {f"#a{i}": f"{SOURCE_PREFIX}{a}" for i, a in enumerate(addresses[:50])}
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": storm_pk(window)}},
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        return bool(item)

    @needs("act", "dynamodb:UpdateItem", on="incidents-table")
    def fold(self, window: datetime) -> None:
        """One more incident of the window whose alert the storm summary stands for."""
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": storm_pk(window)}},
            UpdateExpression="ADD folded :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    @needs("verify", "dynamodb:GetItem", on="incidents-table")
    def load(self, window: datetime) -> StormRecord | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": storm_pk(window)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        plain = {k: _deser.deserialize(v) for k, v in item.items()}
        end = plain.get("window_end")
        return StormRecord(
            window=window,
            window_end=datetime.fromisoformat(str(end).replace("Z", "+00:00")) if end else None,
            records=int(plain.get("records", 0)),
            keys=int(plain.get("keys", 0)),
            sources={
                k.removeprefix(SOURCE_PREFIX): int(v) for k, v in plain.items() if k.startswith(SOURCE_PREFIX)
            },
            first_seen=plain.get("first_seen"),
            last_seen=plain.get("last_seen"),
            sample=[str(k) for k in plain.get("sample", [])],
            folded=int(plain.get("folded", 0)),
            alerted="alerted_at" in plain,
        )

    @needs("verify", "dynamodb:UpdateItem", on="incidents-table")
    def mark_alerted(self, window: datetime, now: datetime) -> bool:
        """Claim the window's one summary (conditional: a redelivery finds it sent)."""
        return update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": storm_pk(window)}},
            UpdateExpression="SET alerted_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(alerted_at)",
            ExpressionAttributeValues={":now": {"S": iso_z(now)}},
        )
