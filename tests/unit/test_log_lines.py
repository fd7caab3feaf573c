"""Recognising a credential failure in a workload's log line (credfix.models.logs), against
real lines each SDK and the AWS CLI print (tests/sdk_lines.py, with their sources), and the
workload a log group and stream name."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from credfix.models.cloudtrail import Rejected
from credfix.models.logs import (
    CONTROL_REASON,
    NO_SHAPE,
    LineMatch,
    filter_pattern,
    read_payload,
    recognise,
    workload_of,
)
from harness.logs import awslogs, control_message, matches, payload
from tests.sdk_lines import MASKED_KEY_LINE, NOT_THE_CREDENTIAL, S3_BODY_WITH_KEY, SDK_LINES, SdkLine

KEY = "AKIAY34FZKBOKMUTVV7A"


@pytest.mark.parametrize("sample", SDK_LINES, ids=[s.sdk for s in SDK_LINES])
def test_each_sdk_line_is_recognised_with_its_error_code(sample: SdkLine) -> None:
    found = recognise(sample.line)
    assert isinstance(found, LineMatch), found
    assert found.error_code == sample.code
    assert found.access_key_id is None and found.masked_key is None  # error lines carry no key ID


@pytest.mark.parametrize("sample", SDK_LINES, ids=[s.sdk for s in SDK_LINES])
def test_the_account_policy_filter_pattern_lets_each_sdk_line_through(sample: SdkLine) -> None:
    assert matches(filter_pattern(include_expired_token=False), sample.line)


@pytest.mark.parametrize("sample", NOT_THE_CREDENTIAL, ids=[s.sdk for s in NOT_THE_CREDENTIAL])
def test_lines_showing_another_cause_are_refused_with_the_reason(sample: SdkLine) -> None:
    found = recognise(sample.line)
    assert isinstance(found, str) and sample.code in found


@pytest.mark.parametrize(
    "line",
    [
        "retries after InvalidClientTokenId: 0",  # a code mentioned in passing
        "metric InvalidClientTokenId=0 UnrecognizedClientException=0",
        "user searched for 'The security token included in the request is invalid'",
    ],
)
def test_a_code_or_message_in_passing_is_no_failure(line: str) -> None:
    assert recognise(line) == NO_SHAPE


def test_a_whole_key_id_is_read_only_where_an_sdk_prints_one_and_a_masked_one_is_a_hint() -> None:
    body = recognise(S3_BODY_WITH_KEY.replace("KEY_HERE", KEY))
    assert isinstance(body, LineMatch) and (body.error_code, body.access_key_id) == (
        "SignatureDoesNotMatch",
        KEY,
    )
    signed = recognise(
        "An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security "
        "token included in the request is invalid. Authorization: AWS4-HMAC-SHA256 "
        f"Credential={KEY}/20200611/us-west-2/sts/aws4_request"
    )
    assert isinstance(signed, LineMatch) and signed.access_key_id == KEY
    masked = recognise(MASKED_KEY_LINE)
    assert isinstance(masked, LineMatch) and (masked.access_key_id, masked.masked_key) == (None, "AKIA…WXYZ")
    in_passing = recognise(
        f"botocore.exceptions.ClientError: An error occurred (InvalidClientTokenId) when calling the "
        f"GetCallerIdentity operation: The security token included in the request is invalid. user={KEY}"
    )
    assert isinstance(in_passing, LineMatch) and in_passing.access_key_id is None  # not an SDK's key field


def test_long_events_are_read_at_both_ends_in_bounded_time() -> None:
    traceback = "  File x.py, line 1\n" * 5000  # ~100 KB between the two ends
    line = SDK_LINES[0].line
    assert isinstance(recognise(line + "\n" + traceback), LineMatch)
    assert isinstance(recognise(traceback + line), LineMatch)
    assert recognise("(" * 200_000) == NO_SHAPE


@pytest.mark.parametrize(
    ("group", "stream", "kind", "key", "detail"),
    [
        ("/aws/lambda/orders", "2026/11/03/[$LATEST]0123456789abcdef0123456789abcdef", "lambda-function",
         "arn:aws:lambda:us-east-1:123456789012:function:orders", None),
        ("/aws/codebuild/deploy", "38ca1c4a-e9ca-4dbc-bef1-d52bfEXAMPLE", "codebuild-project",
         "arn:aws:codebuild:us-east-1:123456789012:project/deploy",
         "deploy:38ca1c4a-e9ca-4dbc-bef1-d52bfEXAMPLE"),
        ("/ecs/orders-api", "ecs/app/0123456789abcdef0123456789abcdef", "ecs-task",
         "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/orders-api:log-stream:ecs/app/*",
         "0123456789abcdef0123456789abcdef"),
        ("/ecs/orders-api", "svc/v2/app/c116709f-ba9a-4e9f-9780-072914e5fd19", "ecs-task",
         "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/orders-api:log-stream:svc/v2/app/*",
         "c116709f-ba9a-4e9f-9780-072914e5fd19"),
        ("runners", "i-0123456789abcdef0", "ec2-instance",
         "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", None),
        ("app", "web-1", "log-group", "arn:aws:logs:us-east-1:123456789012:log-group:app", None),
    ],
)  # fmt: skip
def test_the_workload_a_log_group_and_stream_name(
    group: str, stream: str, kind: str, key: str, detail: str | None
) -> None:
    named = workload_of(group, stream, "us-east-1", "123456789012")
    assert (named.kind, named.key, named.detail) == (kind, key, detail)
    assert named.subject == f"workload#{key}"


def test_every_task_of_an_ecs_container_shares_one_workload_key() -> None:
    one = workload_of("/ecs/orders-api", "ecs/app/" + "a" * 32, "eu-west-1", "123456789012")
    other = workload_of("/ecs/orders-api", "ecs/app/" + "b" * 32, "eu-west-1", "123456789012")
    assert one.key == other.key and one.detail != other.detail


def test_payload_in_both_shapes_and_the_control_message() -> None:
    decoded = payload("/ecs/x", "ecs/app/" + "a" * 32, [SDK_LINES[0].line])
    assert read_payload(awslogs(decoded)) == read_payload(decoded)
    with pytest.raises(Rejected) as info:
        read_payload(awslogs(control_message()))
    assert info.value.reason == CONTROL_REASON


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"awslogs": {"data": "not base64!"}}, "awslogs.data is not base64"),
        ({"awslogs": {"data": base64.b64encode(b"plain").decode()}}, "not gzip-compressed"),
        ({"awslogs": {"data": base64.b64encode(gzip.compress(b"[1]")).decode()}}, "invalid CloudWatch Logs"),
        ({"awslogs": {"data": base64.b64encode(gzip.compress(b"\0" * (17 * 2**20))).decode()}}, "more than"),
        ({"messageType": "DATA_MESSAGE", "logEvents": []}, "invalid CloudWatch Logs payload: owner"),
        ({**payload("/g", "s", []), "messageType": "OTHER"}, "is not DATA_MESSAGE"),
    ],
)
def test_bad_payloads_are_refused_with_a_clear_reason(raw: object, reason: str) -> None:
    with pytest.raises(Rejected) as info:
        read_payload(raw)
    assert reason in info.value.reason


def test_the_filter_pattern_stays_within_cloudwatch_logs_limit() -> None:
    for expired in (False, True):
        pattern = filter_pattern(expired)
        assert len(pattern) <= 1024 and json.dumps(pattern)
    assert "ExpiredToken" in filter_pattern(True) and "ExpiredToken" not in filter_pattern(False)
