"""`credfix doctor` against trails on the local AWS."""

from __future__ import annotations

import json

import boto3
import pytest

from credfix.cli import main
from credfix.models.logs import POLICY_NAME, filter_pattern
from harness.moto import LocalAws

pytestmark = pytest.mark.integration


def _trail(name: str, *, multi_region: bool = True, read_write: str = "All", start: bool = True) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=f"{name}-logs")
    ct = boto3.client("cloudtrail")
    ct.create_trail(
        Name=name,
        S3BucketName=f"{name}-logs",
        IsMultiRegionTrail=multi_region,
        IncludeGlobalServiceEvents=True,
    )
    ct.put_event_selectors(
        TrailName=name, EventSelectors=[{"ReadWriteType": read_write, "IncludeManagementEvents": True}]
    )
    if start:
        ct.start_logging(Name=name)


def test_no_trail_fails_with_advice(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert "FAIL multi-region trail" in out and "create_trail=true" in out


def test_logging_multi_region_trail_passes(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    _trail("org-trail")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and "org-trail" in report["checks"][0]["detail"]


@pytest.mark.parametrize(
    "kwargs",
    [{"multi_region": False}, {"read_write": "WriteOnly"}, {"start": False}],
    ids=["single-region", "write-only (misses GetCallerIdentity failures)", "stopped"],
)
def test_unusable_trails_fail(aws_env: LocalAws, kwargs: dict[str, object]) -> None:
    _trail("weak", **kwargs)  # type: ignore[arg-type]
    assert main(["doctor"]) == 1


def test_unreachable_aws_exits_1(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from credfix.adapters import aws as aws_clients

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws_clients.reset_clients()
    try:
        assert main(["doctor"]) == 1
    finally:
        aws_clients.reset_clients()
    assert "cannot read CloudTrail trails" in capsys.readouterr().err


# --- The runtime-log signal's account policy -------------------------------------------------


def _policy(name: str, pattern: str, selection: str | None) -> None:
    kwargs = {"selectionCriteria": selection} if selection else {}
    boto3.client("logs").put_account_policy(
        policyName=name,
        policyType="SUBSCRIPTION_FILTER_POLICY",
        policyDocument=json.dumps(
            {"DestinationArn": "arn:aws:lambda:us-east-1:123456789012:function:x", "FilterPattern": pattern}
        ),
        scope="ALL",
        **kwargs,
    )


def _log_check(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)["checks"]
    return next(c for c in checks if c["name"].startswith("runtime-log signal"))


def test_no_log_policy_is_fine_and_says_how_to_turn_it_on(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _trail("org-trail")
    check = _log_check(capsys)
    assert check["ok"] is True and "log_signal" in str(check["detail"])


def test_credfixs_log_policy_passes_and_anothers_takes_the_only_slot(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _trail("org-trail")
    _policy(POLICY_NAME, filter_pattern(False), 'LogGroupName NOT IN ["/aws/lambda/credfix-ingest"]')
    assert _log_check(capsys)["ok"] is True
    _policy(POLICY_NAME, '?"InvalidClientTokenId"', 'LogGroupName NOT IN ["x"]')  # an old, narrower one
    check = _log_check(capsys)
    assert check["ok"] is False and "redeploy" in str(check["detail"])
    _policy(POLICY_NAME, filter_pattern(False), None)
    assert "excludes no log group" in str(_log_check(capsys)["detail"])

    boto3.client("logs").delete_account_policy(
        policyName=POLICY_NAME, policyType="SUBSCRIPTION_FILTER_POLICY"
    )
    _policy("siem-forwarder", "", None)
    check = _log_check(capsys)
    assert check["ok"] is False and "siem-forwarder already holds" in str(check["detail"])
    assert main(["doctor"]) == 1
