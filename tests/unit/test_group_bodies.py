"""ingest's hot loop (`group_bodies`: SQS bodies parsed into the schema, classified, made
Failures and grouped by signature, with its shortcuts: a key classified once in a batch skips
the key-shape check) against the plain path (`json.loads`, `parse_failure` of each record,
then `aggregate`): for any batch, the same deltas, the same records set aside, same reasons."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credfix.core.aggregate import MAX_SESSION_ISSUERS, MAX_SOURCES_PER_BATCH, aggregate
from credfix.core.ingest import group_bodies
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, Rejected, parse_failure
from credfix.models.observation import Failure, KeyDelta
from harness.records import cloudtrail_event
from tests.reliability.test_hostile_input import GOOD_KEY, hostile_events

KEYS = (GOOD_KEY, "ASIAY34FZKBOKMUTVV7A", "AKIAY34FZKBOPQRSTUVW")
START = datetime(2026, 11, 3, 11, 5, 12, tzinfo=UTC)


def reference(
    records: Sequence[Mapping[str, Any]], accepted_errors: tuple[str, ...] = CREDENTIAL_ERRORS
) -> tuple[dict[str, KeyDelta], list[tuple[str, str]]]:
    """The plain path: json.loads, parse_failure, aggregate()."""
    failures: list[Failure] = []
    rejected: list[tuple[str, str]] = []
    for record in records:
        body = record.get("body")
        try:
            if not isinstance(body, str):
                raise Rejected("SQS message has no text body")
            try:
                raw = json.loads(body)
            except (ValueError, RecursionError):
                raise Rejected("body is not JSON") from None
            failures.append(parse_failure(raw, ref=record["messageId"], accepted_errors=accepted_errors))
        except Rejected as why:
            rejected.append((record["messageId"], why.reason))
    return aggregate(failures), rejected


def assert_same_as_reference(records: list[dict[str, Any]]) -> dict[str, KeyDelta]:
    groups, set_aside = group_bodies(records)
    deltas = groups.deltas()
    expected, rejected = reference(records)
    assert [(s.message_id, s.reason) for s in set_aside] == rejected
    assert deltas == expected
    for key, delta in deltas.items():  # dict equality ignores order; the store keeps the first sources
        assert list(delta.sources) == list(expected[key].sources)
    return deltas


@st.composite
def storm_like_events(draw: st.DrawFn) -> dict[str, Any]:
    """Valid credential failures from a few keys, sources, roles and zones: the records a
    signature groups together, and the ones it must tell apart."""
    event = cloudtrail_event(
        draw(st.sampled_from(KEYS)),
        error_code=draw(st.sampled_from(CREDENTIAL_ERRORS[:2])),
        region=draw(st.sampled_from(["us-east-1", "eu-west-1"])),
        source_ip=draw(st.sampled_from(["10.0.1.25", "10.0.1.26", None, "", "AWS Internal"])),
        user_agent=draw(st.sampled_from(["a", "b", None, ""])),
    )
    at = START + timedelta(seconds=draw(st.integers(0, 600)))
    event["detail"]["eventTime"] = draw(
        st.sampled_from(
            [
                at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                at.strftime("%Y-%m-%dT%H:%M:%S"),  # no zone: read as UTC
                at.astimezone(UTC).replace(tzinfo=None).isoformat() + "+01:00",
            ]
        )
    )
    identity = event["detail"]["userIdentity"]
    identity["sessionContext"] = draw(
        st.sampled_from(
            [
                None,
                {},
                {"sessionIssuer": {}},
                {"sessionIssuer": {"arn": ""}},
                {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/a"}},
                {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/b"}},
            ]
        )
    )
    if draw(st.booleans()):
        event["detail"]["recipientAccountId"] = draw(st.sampled_from(["", None]))
        if draw(st.booleans()):
            del event["account"]
    return event


def _records(events: list[Any]) -> list[dict[str, Any]]:
    return [
        {"messageId": f"m{i}", "body": event if not isinstance(event, dict) else json.dumps(event)}
        for i, event in enumerate(events)
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(
        st.one_of(
            storm_like_events(), storm_like_events(), hostile_events(), st.sampled_from([None, 3, "{"])
        ),
        max_size=40,
    )
)
def test_the_hot_loop_agrees_with_parse_failure_and_aggregate_on_any_batch(events: list[Any]) -> None:
    assert_same_as_reference(_records(events))


def test_a_key_checked_once_does_not_let_its_other_records_skip_the_rules() -> None:
    good = cloudtrail_event(GOOD_KEY)
    other_code = cloudtrail_event(GOOD_KEY, error_code="AccessDenied")
    other_type = {**cloudtrail_event(GOOD_KEY), "detail-type": "AWS Console Sign In via CloudTrail"}
    forged = {**cloudtrail_event(GOOD_KEY), "source": "my.aws.sts"}
    deltas = assert_same_as_reference(_records([good, other_code, other_type, forged, good]))
    assert deltas[GOOD_KEY].message_ids == ["m0", "m4"]


def test_records_whose_error_message_decides_are_each_read_even_for_a_key_checked_once() -> None:
    def auth_failure(message: str) -> dict[str, Any]:
        event = cloudtrail_event(GOOD_KEY, error_code="Client.AuthFailure")
        event["detail"]["errorMessage"] = message
        return event

    credential = auth_failure("AWS was not able to validate the provided access credentials")
    permission = auth_failure("Not authorized for images: [ami-x]")
    deltas = assert_same_as_reference(_records([credential, permission, credential]))
    assert deltas[GOOD_KEY].message_ids == ["m0", "m2"]


def test_caps_keep_the_first_sources_and_issuers_of_the_batch_in_its_order() -> None:
    events = []
    for i in range(MAX_SOURCES_PER_BATCH + 5):
        event = cloudtrail_event(GOOD_KEY, source_ip=f"10.0.0.{i}", event_time=START + timedelta(seconds=i))
        event["detail"]["userIdentity"]["sessionContext"] = {
            "sessionIssuer": {"arn": f"arn:aws:iam::1:role/r{i}"}
        }
        events.append(event)
    events += events[:3]  # sources seen again later in the batch
    (delta,) = assert_same_as_reference(_records(events)).values()
    kept = [s.ip for s in delta.sources.values()]
    assert kept == [f"10.0.0.{i}" for i in range(MAX_SOURCES_PER_BATCH)]
    assert delta.sources_dropped == 5
    assert delta.session_issuers == {f"arn:aws:iam::1:role/r{i}" for i in range(MAX_SESSION_ISSUERS)}
    assert delta.count == len(events)
    assert delta.first_seen == START and delta.last_seen == START + timedelta(
        seconds=MAX_SOURCES_PER_BATCH + 4
    )
    first = next(iter(delta.sources.values()))
    assert first.count == 2 and first.last_seen == START


def test_message_ids_of_each_key_stay_in_batch_order_across_sources() -> None:
    events = [
        cloudtrail_event(KEYS[i % 2], source_ip=f"10.0.0.{i % 3}", user_agent=f"ua{i % 4}") for i in range(24)
    ]
    deltas = assert_same_as_reference(_records(events))
    assert deltas[KEYS[0]].message_ids == [f"m{i}" for i in range(0, 24, 2)]
    assert deltas[KEYS[1]].message_ids == [f"m{i}" for i in range(1, 24, 2)]
