"""The CloudTrail schema and the Failure each accepted record becomes, against the sample
records kept in tests/events/ (tests/events/expectations.toml says what each expects)."""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from credfix.models.cloudtrail import (
    CREDENTIAL_ERRORS,
    TEMPORARY_CREDENTIAL_ERRORS,
    Rejected,
    parse_failure,
    source_ip_kind,
)

EVENTS = Path(__file__).parent.parent / "events"
SAMPLES = sorted(EVENTS.glob("*.json"))
EXPECTATIONS = tomllib.loads((EVENTS / "expectations.toml").read_text())


def _load(path: Path) -> dict[str, Any]:
    """A sample as it is on disk: a plain EventBridge event, usable by `credfix diagnose`."""
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_record(path: Path) -> None:
    event = _load(path)
    expect = EXPECTATIONS[path.stem]
    assert expect["note"]
    if expect.get("accepted"):
        failure = parse_failure(event)
        assert failure.access_key_id == event["detail"]["userIdentity"]["accessKeyId"]
        assert failure.error_code == event["detail"]["errorCode"]
        assert failure.source_kind == "cloudtrail" and failure.event_time.tzinfo is not None
    else:
        with pytest.raises(Rejected) as info:
            parse_failure(event)
        assert expect["rejected"] in info.value.reason
    if expect.get("accepted_when_opted_in"):  # the expired-session codes (include_expired_token)
        opted_in = CREDENTIAL_ERRORS + TEMPORARY_CREDENTIAL_ERRORS
        failure = parse_failure(event, accepted_errors=opted_in)
        assert failure.error_code in TEMPORARY_CREDENTIAL_ERRORS


def test_every_sample_has_its_expectation_and_no_expectation_is_stale() -> None:
    assert sorted(EXPECTATIONS) == [p.stem for p in SAMPLES]


def test_there_are_samples_of_both_kinds() -> None:
    kinds = {bool(EXPECTATIONS[p.stem].get("accepted")) for p in SAMPLES}
    assert kinds == {True, False}


def test_user_agent_is_clipped_to_one_kilobyte() -> None:
    failure = parse_failure(_load(EVENTS / "ec2_auth_failure_truncated_user_agent.json"))
    assert failure.user_agent is not None and len(failure.user_agent) == 1024


def test_expired_token_accepted_when_opted_in() -> None:
    raw = _load(EVENTS / "expired_session_token_opt_in.json")
    failure = parse_failure(raw, accepted_errors=CREDENTIAL_ERRORS + TEMPORARY_CREDENTIAL_ERRORS)
    assert failure.error_code == "ExpiredToken"


def test_unknown_fields_are_ignored_and_wrong_types_rejected_with_the_field_named() -> None:
    raw = _load(EVENTS / "sts_get_caller_identity_invalid_token.json")
    raw["detail"]["brandNewField"] = {"x": 1}
    parse_failure(raw)
    raw["detail"]["eventTime"] = "yesterday"
    with pytest.raises(Rejected) as info:
        parse_failure(raw)
    assert info.value.reason.startswith("invalid CloudTrail record: detail.eventTime: ")


@pytest.mark.parametrize("raw", [None, [], "text", 3, {"detail-type": "Scheduled Event"}])
def test_non_objects_and_other_events_are_rejected(raw: Any) -> None:
    with pytest.raises(Rejected):
        parse_failure(raw)


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


def test_the_session_issuer_comes_from_the_session_context_or_an_assumed_role_arn() -> None:
    raw = _load(EVENTS / "sts_get_caller_identity_invalid_token.json")
    identity = raw["detail"]["userIdentity"]
    identity["accessKeyId"] = "ASIAY34FZKBOKMUTVV7A"
    identity["arn"] = "arn:aws:sts::123456789012:assumed-role/deploy/session-1"
    assert parse_failure(raw).session_issuer == "arn:aws:iam::123456789012:role/deploy"
    identity["sessionContext"] = {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/path/other"}}
    assert parse_failure(raw).session_issuer == "arn:aws:iam::123456789012:role/path/other"


def test_new_codes_are_in_the_rule_and_the_expired_session_codes_stay_opt_in() -> None:
    assert "InvalidSignatureException" in CREDENTIAL_ERRORS
    assert set(TEMPORARY_CREDENTIAL_ERRORS) == {"ExpiredToken", "ExpiredTokenException"}
    assert not set(TEMPORARY_CREDENTIAL_ERRORS) & set(CREDENTIAL_ERRORS)


@pytest.mark.parametrize(
    ("code", "message", "counted"),
    [
        ("Client.AuthFailure", "AWS was not able to validate the provided access credentials", True),
        ("AuthFailure", "AWS was not able to validate the provided access credentials", True),
        ("Client.AuthFailure", "Client.AuthFailure", True),  # the message only repeats the code
        ("AuthFailure", None, True),
        ("Client.AuthFailure", "Not authorized for images: [ami-x]", False),  # GnatorX-godaddy/cfnd README
        ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature", True),
        ("InvalidSignatureException", "Signature not yet current: 20210112T194419Z is still later", False),
        ("InvalidClientTokenId", "Signature expired: anything", True),  # only signature codes read it
    ],
)
def test_the_error_message_decides_only_where_aws_reuses_the_code(
    code: str, message: str | None, counted: bool
) -> None:
    raw = _load(EVENTS / "sts_get_caller_identity_invalid_token.json")
    raw["detail"]["errorCode"] = code
    raw["detail"]["errorMessage"] = message
    if counted:
        assert parse_failure(raw).error_code == code
    else:
        with pytest.raises(Rejected) as info:
            parse_failure(raw)
        assert info.value.reason.startswith("errorMessage shows a non-credential cause: ")


def test_a_bare_insights_record_is_rejected_as_one() -> None:
    insight = _load(EVENTS / "insights_event_is_not_a_failed_call.json")["detail"]
    with pytest.raises(Rejected) as info:
        parse_failure(insight)
    assert info.value.reason.startswith("a CloudTrail Insights event")
