"""The event model against the sample records kept in tests/events/ (each says what it expects)."""

import json
from pathlib import Path
from typing import Any

import pytest

from credfix.models.cloudtrail import (
    CREDENTIAL_ERRORS,
    TEMPORARY_CREDENTIAL_ERRORS,
    Rejected,
    parse_event,
    source_ip_kind,
)

EVENTS = Path(__file__).parent.parent / "events"
SAMPLES = sorted(EVENTS.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_record(path: Path) -> None:
    sample = _load(path)
    expect = sample["expect"]
    if expect.get("accepted"):
        event = parse_event(sample["event"])
        assert (
            event.detail.user_identity.access_key_id
            == sample["event"]["detail"]["userIdentity"]["accessKeyId"]
        )
        assert event.detail.error_code == sample["event"]["detail"]["errorCode"]
    else:
        with pytest.raises(Rejected) as info:
            parse_event(sample["event"])
        assert expect["rejected"] in info.value.reason


def test_there_are_samples_of_both_kinds() -> None:
    kinds = {bool(_load(p)["expect"].get("accepted")) for p in SAMPLES}
    assert kinds == {True, False}


def test_user_agent_is_clipped_to_one_kilobyte() -> None:
    event = parse_event(_load(EVENTS / "ec2_auth_failure_truncated_user_agent.json")["event"])
    assert event.detail.user_agent is not None and len(event.detail.user_agent) == 1024


def test_expired_token_accepted_when_opted_in() -> None:
    raw = _load(EVENTS / "expired_session_token_opt_in.json")["event"]
    event = parse_event(raw, accepted_errors=CREDENTIAL_ERRORS + TEMPORARY_CREDENTIAL_ERRORS)
    assert event.detail.error_code == "ExpiredToken"


def test_unknown_fields_are_ignored_and_wrong_types_rejected_with_the_field_named() -> None:
    raw = _load(EVENTS / "sts_get_caller_identity_invalid_token.json")["event"]
    raw["detail"]["brandNewField"] = {"x": 1}
    parse_event(raw)
    raw["detail"]["eventTime"] = "yesterday"
    with pytest.raises(Rejected) as info:
        parse_event(raw)
    assert "eventTime" in info.value.reason or "event_time" in info.value.reason


@pytest.mark.parametrize("raw", [None, [], "text", 3, {"detail-type": "Scheduled Event"}])
def test_non_objects_and_other_events_are_rejected(raw: Any) -> None:
    with pytest.raises(Rejected):
        parse_event(raw)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("10.0.1.25", "ipv4"),
        ("2600:1f18::1", "ipv6"),
        ("AWS Internal", "aws-service"),
        ("ecs-tasks.amazonaws.com", "aws-service"),
        (None, "missing"),
        ("<script>", "other"),
    ],
)
def test_source_ip_kinds(value: str | None, kind: str) -> None:
    assert source_ip_kind(value) == kind
