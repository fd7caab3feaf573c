"""The incidents table: one item per subject holds its current incident. The subject is the
failing access key ID (pk `key#<key ID>`), or, for failures only a workload's own logs show
with no usable key ID, the workload (pk `workload#<ARN>`, the subject itself: its item holds
`workload_key`, and `access_key_id` holds what is known of the key, possibly empty).

It is the dedup point: conditional writes decide which worker opens an incident, and a
ring of batch tokens recognises a redelivered batch so that nothing is counted twice.
An incident that was resolved is re-opened (new incident id) when the key fails again
after the cool-down; late CloudTrail deliveries inside the cool-down are counted into the
resolved incident instead, because they are usually failures from before the fix.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from credfix.adapters.stores.dynamo import condition_failed, update_if
from credfix.keys import WORKLOAD_SUBJECT, is_workload_subject
from credfix.models.observation import KeyDelta, SourceDelta
from credfix.models.pipeline import RecordOutcome, RecordResult
from credfix.permissions import needs
from credfix.timefmt import iso_z

# Imported where used: ingest never reads an incident, and the model costs ~11 ms of cold start.
if TYPE_CHECKING:
    from credfix.models.incident import Incident

ANNOUNCE_LEASE = timedelta(seconds=90)  # longer than one send; shorter than SQS's redelivery
TOKEN_SLOTS = 64  # remembered batches per key; a redelivery lands in the slot it wrote
MAX_SOURCES = 20  # distinct (IP, user agent) pairs kept per incident; the rest are counted
RETENTION = timedelta(days=90)

_ser = TypeSerializer()
_deser = TypeDeserializer()

STAGE_ATTRIBUTES = ("triage", "remediation", "verification")


@dataclass
class _Seen:
    """What this process knows of a key's current incident. Every counting write is conditional
    on `incident_id`, so this can only be stale in ways the write detects or that are harmless."""

    incident_id: str
    sources: set[str] = field(default_factory=set)  # hashes in source_info (never removed)
    first_seen: str = "~"  # the stored first_seen or later: it only ever moves back
    announced: bool = False  # goes False -> True once per incident id, never back

    @classmethod
    def of(cls, item: dict[str, Any]) -> _Seen:
        return cls(
            str(item["incident_id"]),
            set(item.get("source_info", {})),
            str(item.get("first_seen", "~")),
            item.get("announced") is not False,  # items without the flag count as announced
        )


def _source_info(source: SourceDelta) -> dict[str, str | None]:
    """A source as stored in `source_info` (the endpoint only when CloudTrail named one)."""
    info = {"ip": source.ip, "ua": source.user_agent}
    if source.vpc_endpoint_id:
        info["vpce"] = source.vpc_endpoint_id
    if source.log:  # runtime logs: the group and stream the lines came from
        info["log"] = source.log
    return info


def key_pk(subject: str) -> str:
    """The item of a subject: `key#<access key ID>`, or a workload subject as it is."""
    return subject if is_workload_subject(subject) else f"key#{subject}"


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deser.deserialize(v) for k, v in item.items()}


class IncidentStore:
    def __init__(self, client: Any, table_name: str, *, reopen_after: timedelta) -> None:
        self._ddb = client
        self._table = table_name
        self._reopen_after = reopen_after
        # Keys this process has seen open: their next batch tries the cheap counting write first,
        # sends only what the stored incident lacks, and new sources stop at MAX_SOURCES.
        self._known_open: dict[str, _Seen] = {}
        # Incidents whose announcement lease this process holds (it opened them, or claimed the
        # lease, and has not announced or released it: a failed release leaves it held here).
        self._leases: set[str] = set()

    def _unannounced(self, old: dict[str, Any], now: datetime) -> bool:
        """Open and never confirmed announced, and nobody else is announcing it right now."""
        mine = str(old.get("incident_id", "")) in self._leases
        lease_free = mine or str(old.get("announcing_at", "")) < iso_z(now - ANNOUNCE_LEASE)
        return old.get("status") == "open" and old.get("announced") is False and lease_free

    def knows_open(self, access_key_id: str) -> bool:
        """Whether this process has counted into the key's incident (no AWS call)."""
        return access_key_id in self._known_open

    @needs("ingest", "dynamodb:UpdateItem", "dynamodb:PutItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", "dynamodb:PutItem", on="incidents-table")
    def record(self, delta: KeyDelta, now: datetime) -> RecordResult:
        """Count one batch's failures of one key, opening the incident if there is none."""
        token = delta.batch_token()
        slot = f"t{int(token, 16) % TOKEN_SLOTS}"
        try_open = delta.access_key_id not in self._known_open
        for _ in range(4):  # open/accumulate can race with another worker; each loser retries once
            attempt = self._open if try_open else self._accumulate
            try:
                result = attempt(delta, token, slot, now)
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                old = from_item(exc.response.get("Item") or {})
                if old:
                    self._known_open[delta.access_key_id] = _Seen.of(old)
                else:
                    self._known_open.pop(delta.access_key_id, None)
                if old and old.get("batch_tokens", {}).get(slot) == token:
                    if old.get("announced") is False and old.get("announcing_at") == iso_z(now):
                        # Our own opening write, applied, whose answer was lost (botocore sent it
                        # again): the lease it took is ours.
                        self._leases.add(str(old["incident_id"]))
                    return RecordResult("duplicate", str(old["incident_id"]), self._unannounced(old, now))
                try_open = not old or self._reopenable(old, now)
                continue
            return RecordResult(*result)
        raise RuntimeError("incident write kept losing races; the batch will be retried")

    def _reopenable(self, item: dict[str, Any], now: datetime) -> bool:
        return item.get("status") == "resolved" and str(item.get("closed_at", "")) <= iso_z(
            now - self._reopen_after
        )

    def _new_incident_id(self, delta: KeyDelta, now: datetime) -> str:
        tail = "".join(c for c in delta.access_key_id if c.isalnum())[-4:]  # a workload subject ends in /*
        return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{tail}-{uuid.uuid4().hex[:8]}"

    def _open(self, delta: KeyDelta, token: str, slot: str, now: datetime) -> tuple[RecordOutcome, str, bool]:
        assert delta.first_seen and delta.last_seen
        incident_id = self._new_incident_id(delta, now)
        kept = list(delta.sources.items())[:MAX_SOURCES]
        dropped = delta.sources_dropped + sum(s.count for _, s in list(delta.sources.items())[MAX_SOURCES:])
        values = {
            ":id": incident_id,
            ":key": delta.access_key_id,
            ":open": "open",
            ":resolved": "resolved",
            ":cutoff": iso_z(now - self._reopen_after),
            ":n": delta.count,
            ":first": iso_z(delta.first_seen),
            ":last": iso_z(delta.last_seen),
            ":now": iso_z(now),
            ":codes": sorted(delta.error_codes),
            ":regions": sorted(delta.regions),
            ":evsrc": sorted(delta.event_sources),
            ":accounts": sorted(delta.accounts),
            ":info": {h: _source_info(s) for h, s in kept},
            ":counts": {h: s.count for h, s in kept},
            ":lastseen": {h: iso_z(s.last_seen) for h, s in kept if s.last_seen},
            ":dropped": dropped,
            ":tokens": {slot: token},
            ":false": False,
            ":expires": int((now + RETENTION).timestamp()),
        }
        update = (
            "SET incident_id = :id, access_key_id = :key, #status = :open, event_count = :n, "
            "first_seen = :first, last_seen = :last, opened_at = :now, error_codes = :codes, "
            "regions = :regions, event_sources = :evsrc, accounts = :accounts, source_info = :info, "
            "source_counts = :counts, source_last_seen = :lastseen, sources_dropped = :dropped, "
            "batch_tokens = :tokens, expires_at = :expires, announced = :false, announcing_at = :now "
            "REMOVE closed_at, verdict, severity, triage, remediation, verification"
        )
        if delta.session_issuers:
            update = update.replace(
                "announcing_at = :now ", "announcing_at = :now, session_issuers = :issuers "
            )
            values[":issuers"] = sorted(delta.session_issuers)
        else:
            update = update.replace("REMOVE closed_at,", "REMOVE closed_at, session_issuers,")
        if is_workload_subject(delta.access_key_id):  # keyed by the workload: the key as far as known
            values[":key"] = delta.known_key or ""
            values[":workload"] = delta.access_key_id.removeprefix(WORKLOAD_SUBJECT)
            update = update.replace(
                "announcing_at = :now", "announcing_at = :now, workload_key = :workload", 1
            )
        vals = _values(values)
        for name in (":codes", ":regions", ":evsrc", ":accounts", ":issuers"):
            if name in values:
                vals[name] = {"SS": values[name]}
        resp = self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": key_pk(delta.access_key_id)}},
            UpdateExpression=update,
            ConditionExpression="attribute_not_exists(pk) OR (#status = :resolved AND closed_at <= :cutoff)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=vals,
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        old = resp.get("Attributes")
        if old:  # a resolved incident is re-opened: keep the old one as the audit trail
            archived = dict(old)
            archived["pk"] = {"S": f"incident#{from_item(old)['incident_id']}"}
            self._ddb.put_item(TableName=self._table, Item=archived)
        self._known_open[delta.access_key_id] = _Seen(
            incident_id, {h for h, _ in kept}, iso_z(delta.first_seen), announced=False
        )
        self._leases.add(incident_id)  # the opener holds the announcement lease
        return "opened", incident_id, False

    def _accumulate(
        self, delta: KeyDelta, token: str, slot: str, now: datetime
    ) -> tuple[RecordOutcome, str, bool]:
        """The counting write. Sources already stored get only their count and time (their
        `source_info` is there for good); the answer is the whole old item only when this
        process must learn something from it (a new source, an unconfirmed announcement):
        for a storm's steady state request and answer stay small (docs/performance.md §2)."""
        assert delta.first_seen and delta.last_seen
        seen = self._known_open[delta.access_key_id]
        room = MAX_SOURCES - len(seen.sources)
        written: set[str] = set()
        names: dict[str, str] = {"#status": "status", "#slot": slot}
        values: dict[str, Any] = {
            ":n": delta.count,
            ":last": iso_z(delta.last_seen),
            ":token": token,
            ":id": seen.incident_id,
            ":resolved": "resolved",
            ":cutoff": iso_z(now - self._reopen_after),
            ":expires": int((now + RETENTION).timestamp()),
        }
        sets = ["last_seen = :last", "batch_tokens.#slot = :token", "expires_at = :expires"]
        dropped = delta.sources_dropped
        for i, (h, src) in enumerate(delta.sources.items()):
            if h not in seen.sources:
                if room <= 0:  # a new source beyond the cap: counted, not listed
                    dropped += src.count
                    continue
                room -= 1
                written.add(h)
                values[f":i{i}"] = _source_info(src)
                sets.append(f"source_info.#h{i} = if_not_exists(source_info.#h{i}, :i{i})")
            values[":zero"] = 0
            names[f"#h{i}"] = h
            values[f":c{i}"] = src.count
            sets.append(f"source_counts.#h{i} = if_not_exists(source_counts.#h{i}, :zero) + :c{i}")
            if src.last_seen:  # verify compares these event times with the action time
                values[f":l{i}"] = iso_z(src.last_seen)
                sets.append(f"source_last_seen.#h{i} = :l{i}")
        adds = [
            "event_count :n",
            "error_codes :codes",
            "regions :regions",
            "event_sources :evsrc",
            "accounts :accounts",
        ]
        if dropped:
            values[":dropped"] = dropped
            adds.append("sources_dropped :dropped")
        if delta.session_issuers:  # ASIA keys: the role whose session failed
            adds.append("session_issuers :issuers")
        vals = _values(values)
        if delta.session_issuers:
            vals[":issuers"] = {"SS": sorted(delta.session_issuers)}
        vals[":codes"] = {"SS": sorted(delta.error_codes)}
        vals[":regions"] = {"SS": sorted(delta.regions)}
        vals[":evsrc"] = {"SS": sorted(delta.event_sources)}
        vals[":accounts"] = {"SS": sorted(delta.accounts)}
        # The old item only when it teaches something: other workers' sources (before adding
        # ours against the cap) or whether the incident's announcement was confirmed.
        whole = bool(written) or not seen.announced
        condition = (
            "incident_id = :id AND (#status <> :resolved OR closed_at > :cutoff) "
            "AND (attribute_not_exists(batch_tokens.#slot) OR batch_tokens.#slot <> :token)"
        )
        if written:  # other workers may have listed sources since: the cap holds all the same
            condition += " AND size(source_info) <= :roomfor"
            vals[":roomfor"] = {"N": str(MAX_SOURCES - len(written))}
        resp = self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": key_pk(delta.access_key_id)}},
            UpdateExpression=f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=vals,
            ReturnValues="ALL_OLD" if whole else "UPDATED_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if whole:
            old = from_item(resp["Attributes"])
            fresh = self._known_open[delta.access_key_id] = _Seen.of(old)
            fresh.sources |= written
            self._repair_window(delta, fresh, str(old.get("last_seen", "")))
            return "counted", fresh.incident_id, self._unannounced(old, now)
        old_last = resp.get("Attributes", {}).get("last_seen", {}).get("S", "")
        self._repair_window(delta, seen, old_last)
        return "counted", seen.incident_id, False

    def _repair_window(self, delta: KeyDelta, seen: _Seen, old_last: str) -> None:
        """Out-of-order delivery: a late batch must not move last_seen back or miss first_seen.

        The main update cannot express min/max, so only the rare late batch pays one more write
        (conditional: a first_seen this process knows too late only costs a write that does nothing).
        """
        assert delta.first_seen and delta.last_seen
        if old_last > iso_z(delta.last_seen):
            self._set_if(delta.access_key_id, "last_seen", old_last, "<")
        first = iso_z(delta.first_seen)
        if seen.first_seen > first:
            self._set_if(delta.access_key_id, "first_seen", first, ">")
            seen.first_seen = first

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def _set_if(self, access_key_id: str, attr: str, value: str, op: Literal["<", ">"]) -> None:
        """Set `attr` to `value` only if the stored value is on the `op` side of it."""
        update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="SET #a = :v",
            ConditionExpression=f"#a {op} :v",
            ExpressionAttributeNames={"#a": attr},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def claim_announcement(self, access_key_id: str, incident_id: str, now: datetime) -> bool:
        """Take the lease to (re-)send an unannounced incident's "opened" message. Conditional,
        so of two workers that both find it unannounced, one sends. A lease this process holds
        already (its send failed and so did freeing the lease) is simply used again."""
        if incident_id in self._leases:
            return True
        claimed = update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="SET announcing_at = :now",
            ConditionExpression=(
                "incident_id = :id AND announced = :false "
                "AND (attribute_not_exists(announcing_at) OR announcing_at < :stale)"
            ),
            ExpressionAttributeValues={
                ":now": {"S": iso_z(now)},
                ":stale": {"S": iso_z(now - ANNOUNCE_LEASE)},
                ":id": {"S": incident_id},
                ":false": {"BOOL": False},
            },
        )
        if claimed:
            self._leases.add(incident_id)
        return claimed

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def release_announcement(self, access_key_id: str, incident_id: str) -> None:
        """The send failed: let the next delivery of these records announce at once (if this
        write fails too, the lease stays this process's, and its next delivery announces)."""
        update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="REMOVE announcing_at",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": incident_id}},
        )
        self._leases.discard(incident_id)

    @needs("ingest", "dynamodb:UpdateItem", on="incidents-table")
    @needs("logs", "dynamodb:UpdateItem", on="incidents-table")
    def mark_announced(self, access_key_id: str, incident_id: str) -> None:
        """The "opened" message went out: later batches need not send it again."""
        if not update_if(
            self._ddb,
            TableName=self._table,
            Key={"pk": {"S": key_pk(access_key_id)}},
            UpdateExpression="SET announced = :true REMOVE announcing_at",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":true": {"BOOL": True}, ":id": {"S": incident_id}},
        ):
            return  # re-opened meanwhile: that incident announces itself
        self._leases.discard(incident_id)
        seen = self._known_open.get(access_key_id)
        if seen and seen.incident_id == incident_id:
            seen.announced = True

    @needs("triage", "dynamodb:GetItem", on="incidents-table")
    def get(self, access_key_id: str) -> Incident | None:
        resp = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": key_pk(access_key_id)}}, ConsistentRead=True
        )
        item = resp.get("Item")
        return to_incident(from_item(item)) if item else None


def to_incident(item: dict[str, Any]) -> Incident:
    from credfix.models.incident import Incident, Source

    info: dict[str, Any] = item.get("source_info", {})
    counts: dict[str, Any] = item.get("source_counts", {})
    last_seen: dict[str, Any] = item.get("source_last_seen", {})
    sources = sorted(
        (
            Source(
                ip=v.get("ip"),
                user_agent=v.get("ua"),
                vpc_endpoint_id=v.get("vpce"),
                count=int(counts.get(h, 0)),
                last_seen=last_seen.get(h),
                log=v.get("log"),
            )
            for h, v in info.items()
        ),
        key=lambda s: -s.count,
    )
    # Each later stage keeps its findings in its own JSON attribute (triage, remediation,
    # verification) holding Incident fields; timelines from all stages are merged in order.
    stages: dict[str, Any] = {}
    timeline: list[dict[str, Any]] = []
    for attr in STAGE_ATTRIBUTES:
        if attr in item:
            found = json.loads(item[attr])
            timeline.extend(found.pop("timeline", []))
            stages.update(found)
    # What people did about this incident (adapters/stores/operator.py): the log is per key,
    # so only this incident's entries belong on its timeline.
    for entry in item.get("operator_log", []):
        if entry.get("incident_id") == item["incident_id"]:
            timeline.append({"at": entry["at"], "what": f"{entry['what']} (by {entry['by']})"})
    return Incident.model_validate(
        {
            **stages,
            "timeline": sorted(timeline, key=lambda entry: str(entry["at"])),
            "incident_id": item["incident_id"],
            # A workload's incident: the key triage derived from its configuration, else as its
            # lines showed it (only a workload's triage stage holds one).
            "access_key_id": stages.get("access_key_id") or item["access_key_id"],
            "workload_key": item.get("workload_key"),
            "status": item["status"],
            "event_count": int(item.get("event_count", 0)),
            "first_seen": item["first_seen"],
            "last_seen": item["last_seen"],
            "opened_at": item["opened_at"],
            "error_codes": sorted(item.get("error_codes", [])),
            "regions": sorted(item.get("regions", [])),
            "event_sources": sorted(item.get("event_sources", [])),
            "accounts": sorted(item.get("accounts", [])),
            "session_issuers": sorted(item.get("session_issuers", [])),
            "sources": sources,
            "sources_dropped": int(item.get("sources_dropped", 0)),
        }
    )
