"""`credfix diagnose --event FILE` against the local AWS (the standard AWS environment points
at it), through credfix.cli.main as a user runs it."""

from __future__ import annotations

import gzip
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from credfix.cli import main
from credfix.models.logs import CONTROL_REASON
from harness.logs import awslogs, control_message, payload
from harness.moto import ACCOUNT, REGION, LocalAws
from harness.records import cloudtrail_event
from tests.sdk_lines import SDK_LINES

pytestmark = pytest.mark.integration
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def rotated_key(aws_env: LocalAws) -> tuple[str, str]:
    """deploy-bot's old key rotated out of a watched secret and deactivated: (old, new)."""
    iam, sm = boto3.client("iam"), boto3.client("secretsmanager")
    iam.create_user(UserName="deploy-bot")
    old, new = (iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"] for _ in range(2))
    arn = sm.create_secret(
        Name="prod/deploy-bot",
        SecretString=json.dumps({"aws_access_key_id": old, "aws_secret_access_key": SECRET}),
        Tags=[{"Key": "credfix:watch", "Value": "true"}],
    )["ARN"]
    sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"aws_access_key_id": new, "aws_secret_access_key": SECRET})
    )
    iam.update_access_key(UserName="deploy-bot", AccessKeyId=old, Status="Inactive")
    return old, new


def diagnose(tmp_path: Path, content: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    path = tmp_path / "events.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    code = main(["diagnose", "--event", str(path)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else out), err


def test_cloudtrail_log_file_gives_one_incident_per_key_and_reports_rejects(
    rotated_key: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = rotated_key
    records = [cloudtrail_event(old)["detail"] for _ in range(3)]  # bare records, as in a log file
    denied = cloudtrail_event(old, error_code="AccessDenied")["detail"]
    no_key = cloudtrail_event(old)["detail"]
    del no_key["userIdentity"]["accessKeyId"]

    code, report, err = diagnose(tmp_path, {"Records": [*records, denied, no_key]}, capsys)

    assert code == 0, err
    assert report["schema"] == "credfix.report/v1"
    (incident,) = report["incidents"]
    assert incident["schema"] == "credfix.incident/v1"
    assert incident["access_key_id"] == old
    assert (incident["verdict"], incident["key_status"], incident["owner_account"]) == (
        "stale-consumer",
        "Inactive",
        ACCOUNT,
    )
    assert incident["event_count"] == 3
    assert incident["status"] == "triaged"
    for field in ("evidence", "workloads", "actions"):
        assert isinstance(incident[field], list)
    assert any("prod/deploy-bot" in e["check"] for e in incident["evidence"])
    assert report["rejected"] == {
        "count": 2,
        "reasons": {
            "errorCode 'AccessDenied' is not a credential failure": 1,
            "no userIdentity.accessKeyId: the failing credential cannot be identified": 1,
        },
    }
    assert SECRET not in json.dumps(report)


def test_eventbridge_events_bare_records_and_gzip_are_all_accepted(
    rotated_key: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = rotated_key
    one_event = cloudtrail_event(old)
    code, report, _ = diagnose(tmp_path, one_event, capsys)
    assert code == 0 and [i["event_count"] for i in report["incidents"]] == [1]

    code, report, _ = diagnose(tmp_path, one_event["detail"], capsys)  # one bare record
    assert code == 0 and report["incidents"][0]["verdict"] == "stale-consumer"

    mixed = [
        cloudtrail_event(old),
        cloudtrail_event(old)["detail"],
        cloudtrail_event(new, error_code="SignatureDoesNotMatch"),
    ]
    code, report, _ = diagnose(tmp_path, mixed, capsys)
    verdicts = {i["access_key_id"]: (i["verdict"], i["event_count"]) for i in report["incidents"]}
    assert verdicts == {old: ("stale-consumer", 2), new: ("signature-mismatch", 1)}

    log_file = gzip.compress(json.dumps({"Records": [one_event["detail"]]}).encode())
    code, report, _ = diagnose(tmp_path, log_file, capsys)
    assert code == 0 and report["incidents"][0]["access_key_id"] == old


def test_session_issuer_from_the_records_names_the_role(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "ASIAY34FZKBOKMUTVV7A"
    record = cloudtrail_event(key)["detail"]
    record["userIdentity"] = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/runner-17",
        "accountId": ACCOUNT,
        "accessKeyId": key,
    }
    code, report, _ = diagnose(tmp_path, [record], capsys)
    assert code == 0
    (incident,) = report["incidents"]
    assert (incident["verdict"], incident["key_status"]) == ("temporary-credentials", "temporary")
    assert incident["session_issuers"] == [f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"]
    assert any(e["found"] == f"role: arn:aws:iam::{ACCOUNT}:role/ci-deploy" for e in incident["evidence"])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json {", "is not JSON"),
        ({"hello": "world"}, "is not a CloudTrail record, an EventBridge event"),
        ({"Records": "x"}, '"Records" is not a list'),
        (b"\x1f\x8b not really gzip", "is not valid gzip"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, reason: str
) -> None:
    code, out, err = diagnose(tmp_path, content, capsys)
    assert code == 2
    assert out == ""
    assert reason in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_exits_2(aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--event", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and err.count("\n") == 1


def test_unreachable_aws_exits_1(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the standard variable the CLI honours
    start = time.monotonic()
    code, out, err = diagnose(tmp_path, cloudtrail_event("AKIAY34FZKBOKMUTVV7A"), capsys)
    assert code == 1
    assert out == ""
    assert "cannot triage AKIA…VV7A: AWS call failed: EndpointConnectionError" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert time.monotonic() - start < 30


# --- Runtime-log payloads, Insights records, per-source times ------------------------------


def test_a_log_payload_in_both_shapes_gives_the_same_workload_report(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CloudWatch Logs subscription payload as Lambda receives it (base64 of gzip) and
    decoded: one incident keyed by the workload its group names, in the same report schema."""
    iam = boto3.client("iam")
    iam.create_user(UserName="orders-fn")
    key = iam.create_access_key(UserName="orders-fn")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="orders-fn", AccessKeyId=key, Status="Inactive")
    role = iam.create_role(RoleName="orders-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName="orders-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": {"ORDERS_KEY_ID": key}},
    )
    decoded = payload("/aws/lambda/orders-fn", "2026/11/30/[$LATEST]ab", [s.line for s in SDK_LINES[:3]])

    reports = []
    for shape in (awslogs(decoded), decoded):
        code, report, err = diagnose(tmp_path, shape, capsys)
        assert code == 0, err
        reports.append(report)

    assert reports[0] == {**reports[1], "incidents": reports[0]["incidents"]}
    for report in reports:
        (incident,) = report["incidents"]
        assert report["schema"] == "credfix.report/v1" and incident["schema"] == "credfix.incident/v1"
        assert incident["workload_key"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-fn"
        assert (incident["verdict"], incident["access_key_id"], incident["event_count"]) == (
            "key-deactivated",
            key,
            3,
        )
        assert [s["log"] for s in incident["sources"]] == ["/aws/lambda/orders-fn:2026/11/30/[$LATEST]ab"]
        assert incident["sources"][0]["last_seen"] is not None


def test_a_control_message_is_ignored_with_its_reason(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err = diagnose(tmp_path, awslogs(control_message()), capsys)
    assert code == 0, err
    assert report["incidents"] == []
    assert report["rejected"] == {"count": 1, "reasons": {CONTROL_REASON: 1}}


def test_insights_records_are_rejected_as_insights_records_alone_or_in_a_log_file(
    rotated_key: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = rotated_key
    sample = json.loads(
        (Path(__file__).parent.parent / "events" / "insights_event_is_not_a_failed_call.json").read_text()
    )
    insight = sample["detail"]
    for content in (insight, {"Records": [insight, cloudtrail_event(old)["detail"]]}, sample):
        code, report, err = diagnose(tmp_path, content, capsys)
        assert code == 0, err
        (reason,) = report["rejected"]["reasons"]
        assert reason.startswith("a CloudTrail Insights event"), reason


def test_every_source_keeps_the_time_of_its_newest_failure(
    rotated_key: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = rotated_key
    records = [
        cloudtrail_event(old, source_ip=ip, event_time=datetime(2026, 11, 3, 11, minute, tzinfo=UTC))
        for ip, minute in (("203.0.113.9", 1), ("203.0.113.9", 4), ("198.51.100.7", 2))
    ]
    code, report, err = diagnose(tmp_path, records, capsys)
    assert code == 0, err
    (incident,) = report["incidents"]
    assert {s["ip"]: s["last_seen"] for s in incident["sources"]} == {
        "203.0.113.9": "2026-11-03T11:04:00Z",
        "198.51.100.7": "2026-11-03T11:02:00Z",
    }
