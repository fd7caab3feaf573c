"""`parse_body` (ingest's one-pass parse of an SQS body into the CloudTrail schema): its fast
path (pydantic-core validating the JSON text) and its slow path (json.loads, clip, validate)
accept the same records and word the same rejections; long text is clipped, never rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credfix.models.cloudtrail import MAX_TEXT, Rejected, parse_body, parse_failure, to_failure
from harness.records import cloudtrail_event
from tests.reliability.test_hostile_input import GOOD_KEY, hostile_events, json_value


def _outcome(body: str) -> tuple[str, Any]:
    try:
        return "accepted", to_failure(parse_body(body), "m")
    except Rejected as rejected:
        return "rejected", rejected.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(hostile_events(), json_value))
def test_a_body_and_the_object_it_holds_give_the_same_failure_or_the_same_reason(raw: Any) -> None:
    """ingest (the body's text) and the CLI (the file's parsed object) use one schema."""
    try:
        expected: tuple[str, Any] = ("accepted", parse_failure(raw, ref="m"))
    except Rejected as rejected:
        expected = ("rejected", rejected.reason)
    assert _outcome(json.dumps(raw)) == expected


# Every clipped field, by its place in the record.
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
def test_long_text_is_clipped_not_rejected(path: tuple[str, ...]) -> None:
    raw = cloudtrail_event(GOOD_KEY)
    raw["detail"]["userIdentity"]["sessionContext"] = {"sessionIssuer": {"arn": "arn:aws:iam::1:role/r"}}
    parent = raw["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"] if path[0] == "issuer" else raw
    for part in path[:-1] if path[0] != "issuer" else ():
        parent = parent[part]
    parent[path[-1]] = "x" * (MAX_TEXT * 3)
    dumped = json.dumps(parse_body(json.dumps(raw)), default=str)
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


def test_fields_are_read_by_cloudtrails_names_only() -> None:
    """Python-style names are not CloudTrail's: ignored like any unknown field (the record is
    still counted, without a user agent), and a required one is missing."""
    raw = cloudtrail_event(GOOD_KEY)
    raw["detail"]["user_agent"] = raw["detail"].pop("userAgent")
    assert "userAgent" not in parse_body(json.dumps(raw))["detail"]
    assert parse_failure(raw).user_agent is None
    raw["detail"]["event_time"] = raw["detail"].pop("eventTime")
    assert _outcome(json.dumps(raw)) == (
        "rejected",
        "invalid CloudTrail record: detail.eventTime: Field required",
    )
