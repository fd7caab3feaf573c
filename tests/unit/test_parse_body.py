"""`parse_body` (ingest's one-pass parse of an SQS body into TypedDicts) against `parse_event`
(json.loads, then the models): for any record, the same fields or the same rejection reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credfix.models.cloudtrail import (
    MAX_TEXT,
    CloudTrailEvent,
    CloudTrailRecord,
    Rejected,
    as_utc,
    parse_body,
    parse_event,
)
from harness.records import cloudtrail_event
from tests.reliability.test_hostile_input import GOOD_KEY, hostile_events, json_value


def _fields(parsed: CloudTrailEvent | CloudTrailRecord) -> dict[str, Any]:
    """What the record said, by CloudTrail's names: a model's fields that the input set, or
    the TypedDicts (which hold only those), with the event time read as UTC."""
    if isinstance(parsed, CloudTrailEvent):
        return parsed.model_dump(by_alias=True, exclude_unset=True)
    fields = copy.deepcopy(dict(parsed))
    fields["detail"]["eventTime"] = as_utc(fields["detail"]["eventTime"])
    return fields


def _outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        parsed = parse(value)
    except Rejected as rejected:
        return "rejected", rejected.reason
    return "accepted", _fields(parsed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(hostile_events(), json_value))
def test_one_pass_parse_agrees_with_parse_event_on_any_record(raw: Any) -> None:
    assert _outcome(parse_body, json.dumps(raw)) == _outcome(parse_event, raw)


# Every clipped field, by its place in the record (the models' free text).
CLIPPED = [
    ("detail", k)
    for k in (
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorMessage",
        "requestID",
        "eventID",
        "recipientAccountId",
        "vpcEndpointId",
    )
] + [("detail", "userIdentity", k) for k in ("type", "principalId", "arn", "accountId", "userName")]
ISSUER = ("type", "arn", "accountId", "userName")


@pytest.mark.parametrize("path", CLIPPED + [("issuer", k) for k in ISSUER], ids="/".join)
def test_long_text_is_clipped_not_rejected_on_both_paths(path: tuple[str, ...]) -> None:
    raw = cloudtrail_event(GOOD_KEY)
    raw["detail"]["userIdentity"]["sessionContext"] = {"sessionIssuer": {"arn": "arn:aws:iam::1:role/r"}}
    parent = raw["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"] if path[0] == "issuer" else raw
    for part in path[:-1] if path[0] != "issuer" else ():
        parent = parent[part]
    parent[path[-1]] = "x" * (MAX_TEXT * 3)
    body = json.dumps(raw)
    for event in (parse_event(raw).model_dump(mode="json"), parse_body(body)):
        dumped = json.dumps(event, default=str)
        assert "x" * MAX_TEXT in dumped and "x" * (MAX_TEXT + 1) not in dumped
    assert parent[path[-1]] == "x" * (MAX_TEXT * 3)  # the caller's record is not changed


@pytest.mark.parametrize(
    "body", ["", "not json", "{", "[" * 100_000, '{"a": "\\ud800"', "\x00"], ids=lambda b: repr(b[:8])
)
def test_text_that_is_not_json_is_rejected_with_a_reason_not_an_exception(body: str) -> None:
    """`[` nested 100,000 deep makes json.loads raise RecursionError (not a ValueError): it
    must be a rejected record, not a crashed batch."""
    with pytest.raises(Rejected, match="body is not JSON"):
        parse_body(body)


def test_a_json_value_that_is_not_an_object_is_named() -> None:
    with pytest.raises(Rejected, match=r"not a JSON object \(list\)"):
        parse_body("[1, 2]")


def test_fields_are_read_by_cloudtrails_names_only_on_both_paths() -> None:
    """CloudTrail never sends the models' Python names: both paths ignore them, like any
    unknown field (the record is still counted, without a user agent)."""
    raw = cloudtrail_event(GOOD_KEY)
    raw["detail"]["user_agent"] = raw["detail"].pop("userAgent")
    assert _outcome(parse_body, json.dumps(raw)) == _outcome(parse_event, raw)
    assert "userAgent" not in parse_body(json.dumps(raw))["detail"]
    assert parse_event(raw).detail.user_agent is None
    raw["detail"]["event_time"] = raw["detail"].pop("eventTime")
    for outcome in (_outcome(parse_body, json.dumps(raw)), _outcome(parse_event, raw)):
        assert outcome == ("rejected", "invalid CloudTrail record: detail.eventTime: Field required")
