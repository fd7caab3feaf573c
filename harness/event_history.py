"""CloudTrail's event history on the local AWS: `LookupEvents`, answered from the records the
local CloudTrail (harness/cloudtrail.py) writes, in AWS's request and response shape.

moto 5.2.5 has no `LookupEvents`. The local CloudTrail runs in the process whose clients it
watches; it posts each record it writes (successful calls and rejected ones) to the server
at `POST /_credfix/cloudtrail/records`, and this middleware keeps them per region and
answers `LookupEvents` from them as the CloudTrail API reference and the service model
(botocore `cloudtrail/2013-11-01`) describe it:

- at most one `LookupAttributes` entry (AttributeKey one of EventId, EventName, ReadOnly,
  Username, ResourceType, ResourceName, EventSource, AccessKeyId), else
  `InvalidLookupAttributesException`;
- `StartTime` / `EndTime` inclusive, a start after the end is `InvalidTimeRangeException`;
- `MaxResults` 1..50 (default 50), else `InvalidMaxResultsException`;
- events sorted by time, the most recent first; `NextToken` while more remain, and a token
  used with other parameters than the call that issued it is `InvalidNextTokenException`;
- each event: EventId, EventName, ReadOnly ("true"/"false"), AccessKeyId, EventTime,
  EventSource, Username, Resources, and CloudTrailEvent (the record as a JSON string).

`POST /moto-api/reset` clears the history with the rest of the local AWS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

RECORDS_PATH = "/_credfix/cloudtrail/records"
LOOKUP_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
ATTRIBUTE_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50


class LookupRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _time(value: Any) -> float:
    """A request timestamp (the JSON protocol sends epoch seconds; ISO text accepted too)."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _event_time(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00")).timestamp()


def _username(record: dict[str, Any]) -> str | None:
    identity = record.get("userIdentity") or {}
    name = identity.get("userName")
    if name:
        return str(name)
    arn = str(identity.get("arn") or "")
    return arn.rsplit("/", 1)[-1] if "/" in arn else None


def _value_of(record: dict[str, Any], key: str) -> list[str]:
    """The record's values for one lookup attribute (resources can give several)."""
    identity = record.get("userIdentity") or {}
    resources = record.get("resources") or []
    values: dict[str, list[Any]] = {
        "EventId": [record.get("eventID")],
        "EventName": [record.get("eventName")],
        "ReadOnly": [str(bool(record.get("readOnly"))).lower()],
        "Username": [_username(record)],
        "ResourceType": [r.get("type") for r in resources],
        "ResourceName": [r.get("ARN") or r.get("arn") for r in resources],
        "EventSource": [record.get("eventSource")],
        "AccessKeyId": [identity.get("accessKeyId")],
    }
    return [str(v) for v in values[key] if v]


def _event(record: dict[str, Any]) -> dict[str, Any]:
    identity = record.get("userIdentity") or {}
    event: dict[str, Any] = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": str(bool(record.get("readOnly"))).lower(),
        "EventTime": _event_time(record),
        "EventSource": record.get("eventSource"),
        "Resources": [
            {"ResourceType": r.get("type"), "ResourceName": r.get("ARN") or r.get("arn")}
            for r in record.get("resources") or []
        ],
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if identity.get("accessKeyId"):
        event["AccessKeyId"] = identity["accessKeyId"]
    if username := _username(record):
        event["Username"] = username
    return event


class EventHistory:
    """The records of every region, kept in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_region: dict[str, list[dict[str, Any]]] = {}

    def add(self, region: str, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._by_region.setdefault(region, []).extend(records)

    def clear(self) -> None:
        with self._lock:
            self._by_region.clear()

    def lookup(self, region: str, request: dict[str, Any]) -> dict[str, Any]:
        attributes = request.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise LookupRefused(
                "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute."
            )
        for attribute in attributes:
            if attribute.get("AttributeKey") not in ATTRIBUTE_KEYS or not attribute.get("AttributeValue"):
                raise LookupRefused("InvalidLookupAttributesException", "Invalid lookup attribute.")
        limit = request.get("MaxResults", MAX_RESULTS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise LookupRefused("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        start = _time(request["StartTime"]) if request.get("StartTime") is not None else None
        end = _time(request["EndTime"]) if request.get("EndTime") is not None else None
        if start is not None and end is not None and start > end:
            raise LookupRefused("InvalidTimeRangeException", "The start time is after the end time.")
        # A token is bound to the parameters of the call that issued it, as AWS requires.
        fingerprint = hashlib.sha256(
            json.dumps([attributes, start, end, limit], sort_keys=True).encode()
        ).hexdigest()[:16]
        offset = 0
        if request.get("NextToken"):
            try:
                token = json.loads(base64.urlsafe_b64decode(str(request["NextToken"]).encode()))
                offset, bound = int(token["offset"]), str(token["fingerprint"])
            except (ValueError, KeyError, TypeError):
                raise LookupRefused("InvalidNextTokenException", "Invalid NextToken.") from None
            if bound != fingerprint:
                raise LookupRefused(
                    "InvalidNextTokenException",
                    "The NextToken must be passed with the same parameters as the call that returned it.",
                )
        with self._lock:
            records = list(self._by_region.get(region, []))
        matching = [
            r
            for r in records
            if (start is None or _event_time(r) >= start)
            and (end is None or _event_time(r) <= end)
            and all(a["AttributeValue"] in _value_of(r, a["AttributeKey"]) for a in attributes)
        ]
        matching.sort(key=_event_time, reverse=True)  # the most recent event first
        page = matching[offset : offset + limit]
        answer: dict[str, Any] = {"Events": [_event(r) for r in page]}
        if offset + limit < len(matching):
            token = json.dumps({"offset": offset + limit, "fingerprint": fingerprint}).encode()
            answer["NextToken"] = base64.urlsafe_b64encode(token).decode()
        return answer


def _region(environ: dict[str, Any]) -> str:
    # Authorization: AWS4-HMAC-SHA256 Credential=AKIA…/20261128/us-east-1/cloudtrail/aws4_request, …
    parts = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=", 1)[-1].split("/")
    return parts[2] if len(parts) > 3 else "us-east-1"


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def with_event_history(app: WsgiApp, history: EventHistory) -> WsgiApp:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == RECORDS_PATH and environ.get("REQUEST_METHOD") == "POST":
            posted = json.loads(_body(environ) or b"{}")
            history.add(str(posted["region"]), list(posted["records"]))
            return _json(start_response, "200 OK", {"stored": len(posted["records"])})
        if path == "/moto-api/reset":
            history.clear()
        if environ.get("HTTP_X_AMZ_TARGET") == LOOKUP_TARGET:
            try:
                answer = history.lookup(_region(environ), json.loads(_body(environ) or b"{}"))
            except LookupRefused as exc:
                return _json(start_response, "400 Bad Request", {"__type": exc.code, "message": exc.message})
            return _json(start_response, "200 OK", answer)
        return app(environ, start_response)

    return wrapped
