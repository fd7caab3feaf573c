"""Hostile and odd input, property-based (hypothesis): the event parser, the aggregator and
ingest's batch handling, with in-memory fakes of ingest's own Store and Notifier protocols.

CloudTrail fields are attacker-controlled: anyone can make a failing AWS call with any key
ID, user agent or request parameters, and a forged request can carry any source IP. What
must hold for any input: no exception escapes `ingest_batch`; each rejected record gets a
clear reason (non-empty, one line, no control characters, bounded, never echoing a
would-be secret); nothing hostile reaches the report's strings (log injection); and only
key IDs that pass `credfix.keys.is_access_key_id` are ever recorded.
"""

from __future__ import annotations

import copy
import json
import string
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credfix.core.aggregate import aggregate
from credfix.core.ingest import ingest_batch
from credfix.keys import is_access_key_id
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, Rejected, parse_failure
from credfix.models.observation import KeyDelta
from credfix.models.pipeline import RecordResult, SetAside
from harness.records import cloudtrail_event
from tests.reliability._support import measure

GOOD_KEY = "AKIAY34FZKBOKMUTVV7A"
# Would-be secrets an attacker or a careless operator puts where a key ID or text belongs.
SECRETS = (
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # the documented example secret access key
    "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d",
)
MAX_REASON = 200
EXAMPLES = 150
RUNS: Counter[str] = Counter()  # what the properties saw, for docs/reliability.md

hostile_text = st.one_of(
    st.text(max_size=64),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"]), max_size=16),
    st.sampled_from(
        [
            "",
            "\x1b[31mRED\x1b[0m",
            "line\nforged-log-line level=ERROR",
            "\r\n\t\x00",
            "\u2028\u2029\u202e",
            "A" * 100_000,
            "AWS Internal",
            "::1",
            "2600:1f18:4a3:6901::10",
            "fe80::1%eth0",
            *SECRETS,
        ]
    ),
)
wrong_type = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=3)
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
key_ids = st.one_of(
    st.sampled_from([GOOD_KEY, "ASIAY34FZKBOKMUTVV7A", "AKIAY34FZKBOKMUTVV7B"]),
    st.from_regex(r"\A(AKIA|ASIA)[A-Z0-9]{16}\Z"),
    st.sampled_from(
        [
            "",
            "AKIA",
            "akiay34fzkbokmutvv7a",
            "AKIA-not-a-key",
            "AKIAY34FZKBOKMUTVV7A\n",
            " AKIAY34FZKBOKMUTVV7A",
            "AKIAY34FZKBOKMUTVV7A\x1b[0m",
            "AKIA" + "Z" * 200,
            *SECRETS,
        ]
    ),
    hostile_text,
)
event_times = st.one_of(
    st.just("2026-11-03T11:05:12Z"),
    st.sampled_from(
        ["2026-11-03T11:05:12", "2026-11-03", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"]
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
    hostile_text,
)
# Where in a well-formed event a hostile value lands.
PATHS = (
    ("source",),
    ("detail-type",),
    ("account",),
    ("time",),
    ("resources",),
    ("detail",),
    ("detail", "userIdentity"),
    ("detail", "userIdentity", "accessKeyId"),
    ("detail", "userIdentity", "type"),
    ("detail", "userIdentity", "arn"),
    ("detail", "userIdentity", "sessionContext"),
    ("detail", "eventTime"),
    ("detail", "eventSource"),
    ("detail", "eventName"),
    ("detail", "awsRegion"),
    ("detail", "sourceIPAddress"),
    ("detail", "userAgent"),
    ("detail", "errorCode"),
    ("detail", "errorMessage"),
    ("detail", "requestParameters"),
    ("detail", "recipientAccountId"),
)


@st.composite
def hostile_events(draw: st.DrawFn) -> dict[str, Any]:
    """A real-looking record with some fields removed, emptied, made huge, retyped or poisoned."""
    event = cloudtrail_event(
        draw(key_ids),
        error_code=draw(st.sampled_from([*CREDENTIAL_ERRORS, "AccessDenied", "ExpiredToken"])),
        source_ip=draw(st.one_of(st.none(), hostile_text, st.ip_addresses().map(str))),
        user_agent=draw(st.one_of(st.none(), hostile_text)),
    )
    event["detail"]["eventTime"] = draw(event_times)
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3, unique=True)):
        parent: dict[str, Any] = event
        for part in path[:-1]:
            child = parent.get(part)
            parent = child if isinstance(child, dict) else {}
        action = draw(st.sampled_from(["delete", "empty", "wrong-type", "hostile", "json"]))
        if action == "delete":
            parent.pop(path[-1], None)
        elif action == "empty":
            parent[path[-1]] = ""
        elif action == "wrong-type":
            parent[path[-1]] = draw(wrong_type)
        elif action == "hostile":
            parent[path[-1]] = draw(hostile_text)
        else:
            parent[path[-1]] = draw(json_value)
    if draw(st.booleans()):  # forged: a custom source on a custom bus
        event["source"] = draw(st.sampled_from(["my.app", "aws", "AWS.sts", "awsx.sts", "custom.aws.sts"]))
    return event


def assert_clear_reason(reason: object) -> None:
    assert isinstance(reason, str) and reason.strip(), reason
    assert len(reason) <= MAX_REASON, reason
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in reason), repr(reason)
    assert not any(secret in reason for secret in SECRETS), reason


@dataclass
class FakeStore:
    """ingest's Store protocol in memory: the first delta of a key opens its incident."""

    deltas: list[KeyDelta] = field(default_factory=list)
    fail_with: str | None = None

    def record(self, delta: KeyDelta, now: datetime) -> RecordResult:
        if self.fail_with is not None:  # an AWS error that quotes the input back
            raise RuntimeError(self.fail_with.format(ua=next(iter(delta.sources.values())).user_agent))
        opened = all(d.access_key_id != delta.access_key_id for d in self.deltas)
        self.deltas.append(delta)
        return RecordResult("opened" if opened else "counted", f"inc-{delta.access_key_id[-4:]}")

    def claim_announcement(self, access_key_id: str, incident_id: str, now: datetime) -> bool:
        return True

    def release_announcement(self, access_key_id: str, incident_id: str) -> None:
        return None

    def mark_announced(self, access_key_id: str, incident_id: str) -> None:
        return None


@dataclass
class FakeNotifier:
    opened: list[tuple[str, str]] = field(default_factory=list)
    set_aside_records: list[SetAside] = field(default_factory=list)

    def incident_opened(self, access_key_id: str, incident_id: str, lane: str = "priority") -> None:
        self.opened.append((access_key_id, incident_id))

    def set_aside(self, records: list[SetAside]) -> list[str]:
        self.set_aside_records.extend(records)
        return []


@st.composite
def sqs_records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["event", "event", "event", "json", "text", "no-body"]))
    if kind == "event":
        body: Any = json.dumps(draw(hostile_events()))
    elif kind == "json":
        body = json.dumps(draw(json_value))
    elif kind == "text":
        body = draw(hostile_text)
    else:
        body = draw(wrong_type)
    message_id = draw(st.one_of(st.uuids().map(str), st.just(""), wrong_type))
    return {"messageId": message_id, "body": body}


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(hostile_events(), json_value))
def test_parser_accepts_only_valid_credential_failures_and_rejects_the_rest_clearly(raw: Any) -> None:
    try:
        failure = parse_failure(raw)
    except Rejected as rejected:
        RUNS["parser-rejected"] += 1
        assert_clear_reason(rejected.reason)
        return
    RUNS["parser-accepted"] += 1
    assert isinstance(raw, dict) and raw["source"].startswith("aws.")
    assert failure.error_code in CREDENTIAL_ERRORS
    assert failure.access_key_id and is_access_key_id(failure.access_key_id)
    for text in (failure.user_agent, failure.source_ip, failure.event_source, failure.region):
        assert text is None or len(text) <= 1024  # clipped, never stored huge


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(sqs_records(), min_size=1, max_size=12))
def test_no_hostile_batch_crashes_ingest_and_every_record_is_accounted_for(
    records: list[dict[str, Any]],
) -> None:
    store, notifier = FakeStore(), FakeNotifier()
    report = ingest_batch(copy.deepcopy(records), store, notifier, datetime.now(UTC))

    RUNS["batches"] += 1
    RUNS["records"] += len(records)
    RUNS["rejected"] += sum(report.rejected.values())
    assert report.accepted + report.duplicates + sum(report.rejected.values()) == len(records)
    assert not report.failed_message_ids and not report.errors
    assert len(notifier.set_aside_records) == sum(report.rejected.values())
    for item in notifier.set_aside_records:
        assert_clear_reason(item.reason)
    for reason in report.rejected:
        assert_clear_reason(reason)
    # never an action on unvalidated input: only shaped key IDs are recorded or announced
    assert all(is_access_key_id(d.access_key_id) for d in store.deltas)
    assert all(is_access_key_id(key) for key, _ in notifier.opened)
    assert len(notifier.opened) == len({d.access_key_id for d in store.deltas})


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_agent=hostile_text.filter(bool))
def test_a_failing_store_cannot_inject_into_the_report_errors(user_agent: str) -> None:
    """The error strings go to the logs verbatim (handlers/ingest.py): an AWS error quoting a
    hostile user agent back must not forge log lines or carry terminal escapes."""
    event = cloudtrail_event(GOOD_KEY, user_agent=user_agent)
    store = FakeStore(fail_with="ValidationException: invalid value {ua!s} in the request")
    report = ingest_batch(
        [{"messageId": "m-1", "body": json.dumps(event)}], store, FakeNotifier(), datetime.now(UTC)
    )
    RUNS["store-failures"] += 1
    assert report.failed_message_ids == ["m-1"]  # retried, not lost
    for error in report.errors:
        assert_clear_reason(error.replace(GOOD_KEY, ""))


def test_events_with_and_without_a_time_zone_in_one_batch_do_not_crash_it() -> None:
    """CloudTrail writes eventTime in UTC with a Z; a record without one is odd but must be
    counted or rejected, not crash the batch for everyone else (aggregate compares times)."""
    records = [
        {"messageId": f"m-{n}", "body": json.dumps(cloudtrail_event(GOOD_KEY, eventTime=when))}
        for n, when in enumerate(["2026-11-03T11:05:12Z", "2026-11-03T11:05:13", "2026-11-03"])
    ]
    report = ingest_batch(records, FakeStore(), FakeNotifier(), datetime.now(UTC))
    assert report.accepted + sum(report.rejected.values()) == 3
    for reason in report.rejected:
        assert_clear_reason(reason)


@pytest.mark.parametrize("source", ["aws.sts", "aws.iam", "aws.s3"])
def test_aws_sources_on_a_custom_bus_are_accepted_because_only_aws_and_the_org_can_put_them(
    source: str,
) -> None:
    """Why the parser's `source` check plus the central bus policy suffice.

    1. PutEvents refuses any Source that starts with `aws.` from a caller
       (NotAuthorizedForSourceException), on any bus: only AWS services emit them. A custom
       source (`my.app`, `AWS.sts`, `awsx.sts`) is rejected here (property test above).
    2. An `aws.*` event on credfix's central bus can only arrive through a rule in an account
       the bus policy admits, and that policy admits only the organisation
       (aws:PrincipalOrgID; tests/reliability/test_template_security.py checks it on every
       template): a member forwarding its own CloudTrail records.
    3. What stays attacker-controlled even in a genuine record (key ID, user agent, request
       parameters, source IP) is validated field by field: the properties above show that
       no value of those fields crashes the batch, reaches the logs raw, or gets a key ID
       that is not shaped like one recorded.
    So an `aws.*` record is counted whichever bus it came through: parse_failure does not (and
    cannot) know the bus, and does not need to."""
    event = cloudtrail_event(GOOD_KEY)
    event["source"] = source
    assert parse_failure(event).access_key_id == GOOD_KEY
    for forged in ("my.app", "AWS.sts", "awsx.sts", "custom.aws.sts", " aws.sts"):
        event["source"] = forged
        with pytest.raises(Rejected, match="source is not an aws"):
            parse_failure(event)


def test_aggregate_keeps_sources_bounded_for_a_thousand_forged_user_agents() -> None:
    """A caller can vary the user agent on every failing call: one batch must not grow the
    incident without bound."""
    events = [
        parse_failure(
            cloudtrail_event(GOOD_KEY, user_agent=f"evil-{n}-" + string.ascii_letters * 20), ref=f"m-{n}"
        )
        for n in range(1000)
    ]
    (delta,) = aggregate(events).values()
    assert delta.count == 1000
    assert len(delta.sources) == 20 and delta.sources_dropped == 980
    assert sum(s.count for s in delta.sources.values()) + delta.sources_dropped == 1000


@pytest.fixture(scope="module", autouse=True)
def _report_what_the_properties_saw(request: pytest.FixtureRequest) -> Iterator[None]:
    """After this module's tests (on this worker): the totals the properties exercised."""
    failed_before = request.session.testsfailed
    yield
    failures = request.session.testsfailed - failed_before
    if not RUNS["batches"]:
        return  # the property tests ran elsewhere (pytest -n) or were deselected
    measure(
        "hostile-input",
        injects="arbitrary JSON, missing/empty/huge/retyped fields, control chars, ANSI, IPv6, "
        "AWS Internal, forged sources, malformed key IDs, pasted secrets",
        load=f"{RUNS['batches']} batches / {RUNS['records']} records, {RUNS['parser-accepted']}"
        f" + {RUNS['parser-rejected']} parser cases",
        held={
            "failed_properties": failures,
            "rejected_with_clear_reason": RUNS["rejected"] + RUNS["parser-rejected"],
            "unvalidated_keys_recorded": 0,
        },
    )
