"""CloudTrail's event history, read for one key: `LookupEvents` by `AccessKeyId` since a
moment (management events, in one region, for the last 90 days; most recent first).

Each record is reduced here to what attributes and describes a call (time, service, region,
source address and endpoint, user agent, error code, account): its request and response
never leave this module. The lookup supports no resource-level permission, hence `on="*"`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.models.paging import Page
from credfix.models.rotation import KeyUse
from credfix.permissions import needs

PAGE_SIZE = 50  # LookupEvents' maximum


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any, limit: int = 1024) -> str | None:
    return str(value)[:limit] if isinstance(value, str) and value else None


def key_use(event: dict[str, Any], region: str) -> KeyUse | None:
    """One LookupEvents entry as a KeyUse, or None when its record cannot be read."""
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    at = _time(event.get("EventTime")) or _time(record.get("eventTime"))
    if at is None:
        return None
    raw_identity = record.get("userIdentity")
    identity: dict[str, Any] = raw_identity if isinstance(raw_identity, dict) else {}
    return KeyUse(
        at=at,
        event_name=_text(event.get("EventName") or record.get("eventName"), 128) or "?",
        event_source=_text(event.get("EventSource") or record.get("eventSource"), 128) or "?",
        region=_text(record.get("awsRegion"), 32) or region,
        ip=_text(record.get("sourceIPAddress"), 128),
        vpc_endpoint_id=_text(record.get("vpcEndpointId"), 64),
        user_agent=_text(record.get("userAgent")),
        error_code=_text(record.get("errorCode"), 128),
        account=_text(identity.get("accountId"), 32) or _text(record.get("recipientAccountId"), 32),
    )


class KeyHistory:
    def __init__(self, client: Any, region: str) -> None:
        self._cloudtrail = client
        self._region = region

    @needs("rotation", "cloudtrail:LookupEvents", on="*")
    @needs("cli", "cloudtrail:LookupEvents", on="*")
    def uses(self, access_key_id: str, since: datetime, *, limit: int) -> Page[KeyUse]:
        """Calls signed with the key since `since` (inclusive), most recent first, at most `limit`;
        records that cannot be read are left out."""
        pages = self._cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}],
            StartTime=since,
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        listed = capped(pages, "Events", limit)
        uses = [u for u in (key_use(e, self._region) for e in listed.items) if u is not None]
        return Page(uses, listed.truncated)
