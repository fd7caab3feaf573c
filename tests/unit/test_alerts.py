"""Alert rendering: subject, e-mail text (golden sample per verdict), SNS message, sanitising.

Regenerate the goldens after an intended wording change with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_alerts.py
and review the diff of tests/golden/alerts/.
"""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credfix.core.alerts import (
    MAX_PUBLISH_BYTES,
    SECTIONS,
    action_status,
    email_text,
    sanitise,
    sns_message,
    subject,
)
from credfix.core.alerts.render import MAX_LINE
from credfix.keys import redact
from credfix.models.incident import (
    Action,
    ConfiguredCredential,
    Evidence,
    Incident,
    Source,
    SourceAttribution,
    TimelineEntry,
    Verdict,
    Verification,
    Workload,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "alerts"
KEY = "AKIAY34FZKBOKMUTVV7A"
TEMP_KEY = "ASIAY34FZKBOKMUTVV7B"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
T0 = datetime(2026, 11, 3, 11, 2, tzinfo=UTC)  # rotation finishes in the control plane
FARGATE_UA = (
    "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
    "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy"
)
CLI_UA = "aws-cli/2.17.5 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0-1008-aws md/arch#x86_64 lang/python#3.11.9"
SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/orders-api"
TASK = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/4f1c2d9e8b7a4c3d9e2f1a0b9c8d7e6f"
CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/orders/aws-AbCdEf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-api-task"
VERDICTS: tuple[str, ...] = get_args(Verdict)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ecs_task(**extra: Any) -> Workload:
    return Workload(
        type="ecs-task",
        id=TASK,
        confidence="high",
        parent=SERVICE,
        cluster=CLUSTER,
        region="us-east-1",
        account=ACCOUNT,
        evidence=[
            "sourceIPAddress 10.0.1.25 is the private IP of ENI eni-0a1b2c3d4e5f60718 (awsvpc attachment)",
            "userAgent exec-env/AWS_ECS_FARGATE",
        ],
        **extra,
    )


def base(verdict: str, **fields: Any) -> Incident:
    doc: dict[str, Any] = {
        "incident_id": f"20261103T110512Z-VV7A-{VERDICTS.index(verdict):08x}",
        "access_key_id": KEY,
        "status": "acted",
        "key_status": "deleted",
        "owner_account": ACCOUNT,
        "verdict": verdict,
        "severity": "high",
        "event_count": 1234,
        "first_seen": at(3.2),
        "last_seen": at(12.5),
        "opened_at": at(4),
        "error_codes": ["InvalidClientTokenId"],
        "regions": ["us-east-1"],
        "event_sources": ["sts.amazonaws.com", "s3.amazonaws.com"],
        "accounts": [ACCOUNT],
        "sources": [
            Source(ip="10.0.1.25", user_agent=FARGATE_UA, count=1200),
            Source(ip="10.0.2.31", user_agent=FARGATE_UA, count=34),
        ],
        "workloads": [ecs_task()],
    }
    doc.update(fields)
    return Incident.model_validate(doc)


def sample(verdict: str) -> tuple[Incident, str]:
    """A fixed incident per verdict, and the alert kind its golden sample is rendered for."""
    if verdict == "stale-consumer":
        return base(
            verdict,
            evidence=[
                Evidence(
                    check="iam:ListAccessKeys for user deploy-bot", found=f"{redact(KEY)} is gone (deleted)"
                ),
                Evidence(
                    check="secretsmanager:GetSecretValue prod/orders/aws (AWSPREVIOUS)",
                    found=f"held {redact(KEY)}; AWSCURRENT holds AKIA…Q7XZ (Active)",
                ),
                Evidence(
                    check="ecs:DescribeTasks", found="task started 2026-11-01 08:14 UTC, before the rotation"
                ),
            ],
            actions=[
                Action(
                    type="restart-ecs-service",
                    target=SERVICE,
                    status="executed",
                    reason="tasks started before the rotation of prod/orders/aws",
                    at=at(14),
                )
            ],
            timeline=[
                TimelineEntry(at=T0, what="Secret prod/orders/aws rotated: AWSCURRENT now holds AKIA…Q7XZ"),
                TimelineEntry(at=at(1), what=f"Key {redact(KEY)} deactivated, then deleted"),
                TimelineEntry(at=at(9), what="Workload identified: ECS service orders-api (task 4f1c2d9e)"),
            ],
        ), "remediated"
    if verdict == "stale-secret":
        incident = base(
            verdict,
            status="escalated",
            key_status="Inactive",
            evidence=[
                Evidence(
                    check="secretsmanager:GetSecretValue prod/orders/aws (AWSCURRENT)",
                    found=f"holds {redact(KEY)}",
                ),
                Evidence(check="iam:ListAccessKeys for user deploy-bot", found=f"{redact(KEY)} is Inactive"),
            ],
            actions=[
                Action(
                    type="rotate-secret",
                    target=SECRET,
                    status="executed",
                    reason="rotation configured",
                    at=at(14),
                ),
                Action(
                    type="restart-ecs-service",
                    target=SERVICE,
                    status="executed",
                    reason="after refresh",
                    at=at(15),
                ),
            ],
            verification=Verification(
                outcome="escalated",
                checked_at=at(30),
                action_at=at(14),
                failures_after_action=1,
                detail="failures continue after 2026-11-03T11:16:00Z from 10.0.1.25",
                blocked_targets=[SERVICE],
            ),
            last_seen=at(27),
        )
        return incident, "escalated"
    if verdict == "signature-mismatch":
        return base(
            verdict,
            key_status="Active",
            severity="medium",
            error_codes=["SignatureDoesNotMatch"],
            event_sources=["s3.amazonaws.com"],
            evidence=[
                Evidence(
                    check="iam:GetAccessKeyLastUsed",
                    found=f"{redact(KEY)} is Active, last used 2026-11-03 10:58 UTC",
                ),
                Evidence(
                    check="errorCode",
                    found="SignatureDoesNotMatch: the key ID is known, the signature is not",
                ),
            ],
            actions=[
                Action(type="restart-ecs-service", target=SERVICE, status="planned", reason="observe mode"),
            ],
        ), "diagnosed"
    if verdict == "wrong-credential-source":
        return base(
            verdict,
            key_status="Inactive",
            workloads=[
                ecs_task(
                    credentials=[
                        ConfiguredCredential(kind="role", ref=ROLE),
                        ConfiguredCredential(kind="static-key", ref=redact(KEY), access_key_id=KEY),
                    ]
                )
            ],
            evidence=[
                Evidence(
                    check="ecs:DescribeTaskDefinition orders-api:42",
                    found=f"environment AWS_ACCESS_KEY_ID = {redact(KEY)}",
                ),
                Evidence(check="task role", found=f"{ROLE} (its sessions sign with ASIA… keys)"),
            ],
            actions=[
                Action(
                    type="restart-ecs-service",
                    target=SERVICE,
                    status="skipped",
                    reason="a restart does not fix it: the static key wins again",
                )
            ],
        ), "diagnosed"
    if verdict == "foreign-account":
        return base(
            verdict,
            key_status="not-in-account",
            owner_account=OTHER_ACCOUNT,
            severity="medium",
            evidence=[
                Evidence(
                    check="sts:GetAccessKeyInfo", found=f"{redact(KEY)} belongs to account {OTHER_ACCOUNT}"
                ),
            ],
        ), "diagnosed"
    if verdict == "key-deactivated":
        instance = Workload(
            type="ec2-instance",
            id="i-0a1b2c3d4e5f60718",
            confidence="medium",
            parent="ci-runners-asg",
            account=ACCOUNT,
            evidence=["sourceIPAddress 10.0.3.7 is instance i-0a1b2c3d4e5f60718 (tag ghr:Application)"],
        )
        return base(
            verdict,
            key_status="Inactive",
            sources=[Source(ip="10.0.3.7", user_agent=CLI_UA, count=12)],
            event_count=12,
            workloads=[instance],
            evidence=[
                Evidence(check="iam:ListAccessKeys for user ci-sandbox", found=f"{redact(KEY)} is Inactive")
            ],
            actions=[
                Action(
                    type="restart-instance",
                    target="i-0a1b2c3d4e5f60718",
                    status="skipped",
                    reason="restart_on_key_lifecycle is off",
                )
            ],
        ), "diagnosed"
    if verdict == "key-deleted":
        function = Workload(
            type="lambda-function",
            id=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nightly-report",
            confidence="high",
            account=ACCOUNT,
            evidence=[
                "userAgent exec-env/AWS_Lambda_python3.12",
                "function configuration names the key's owner",
            ],
        )
        return base(
            verdict,
            sources=[
                Source(ip="3.91.12.40", user_agent="Boto3/1.35.0 exec-env/AWS_Lambda_python3.12", count=40)
            ],
            event_count=40,
            workloads=[function],
            evidence=[
                Evidence(check="iam:GetAccessKeyLastUsed", found="NoSuchEntity: the key no longer exists")
            ],
            actions=[
                Action(
                    type="notify", target=function.id, status="executed", reason="no safe action", at=at(14)
                )
            ],
        ), "diagnosed"
    if verdict == "temporary-credentials":
        return base(
            verdict,
            access_key_id=TEMP_KEY,
            status="resolved",
            key_status="temporary",
            severity="medium",
            error_codes=["InvalidClientTokenId"],
            evidence=[Evidence(check="userIdentity.sessionContext", found=f"session issued by {ROLE}")],
            actions=[
                Action(
                    type="restart-ecs-service",
                    target=SERVICE,
                    status="executed",
                    reason="fresh session",
                    at=at(14),
                )
            ],
            verification=Verification(
                outcome="verified",
                checked_at=at(30),
                action_at=at(14),
                detail="no failure of the key after 2026-11-03T11:16:00Z; newest 2026-11-03T11:14:30Z",
            ),
            last_seen=at(12.5),
        ), "resolved"
    if verdict == "unknown-key":
        return base(
            verdict,
            key_status="unknown",
            owner_account=None,
            severity="low",
            workloads=[],
            evidence=[
                Evidence(
                    check="sts:GetAccessKeyInfo", found="AccessDenied; offline decoding: old-format key ID"
                )
            ],
        ), "diagnosed"
    if verdict == "rotation-drift":
        return base(
            verdict,
            status="acted",
            key_status="Active",
            severity="low",
            event_count=0,
            first_seen=T0,
            last_seen=T0,
            opened_at=at(0.5),
            error_codes=[],
            event_sources=[],
            sources=[],
            workloads=[
                Workload(
                    type="ecs-service",
                    id=SERVICE,
                    confidence="high",
                    cluster=CLUSTER,
                    region="us-east-1",
                    account=ACCOUNT,
                    evidence=[
                        "task definition orders-api:7 container app reads the secret into AWS_CREDENTIALS",
                        "1 of 1 running task(s) started before the rotation at 2026-11-03T11:02:00Z",
                    ],
                )
            ],
            evidence=[
                Evidence(
                    check="secretsmanager: watched secret prod/orders/aws",
                    found=f"AWSCURRENT is version a87ac6da (keys AKIA…Q7XZ) since 2026-11-03T11:02:00Z; "
                    f"AWSPREVIOUS version 1b2c3d4e holds {redact(KEY)}",
                ),
                Evidence(
                    check=f"iam:GetAccessKeyLastUsed {redact(KEY)}",
                    found="Active; last used 2026-11-03T10:58:00Z (sts in us-east-1), before the rotation",
                ),
            ],
            actions=[
                Action(
                    type="ecs-force-new-deployment",
                    target=SERVICE,
                    status="executed",
                    reason="a new deployment replaces the service's tasks, which load credentials afresh",
                    at=at(0.6),
                )
            ],
            timeline=[
                TimelineEntry(
                    at=T0, what="secret prod/orders/aws rotated: AWSCURRENT moved to version a87ac6da"
                )
            ],
        ), "remediated"
    raise AssertionError(verdict)


# ---------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("verdict", VERDICTS)
def test_email_text_matches_golden_sample(verdict: str) -> None:
    incident, kind = sample(verdict)
    text = email_text(incident, kind)
    path = GOLDEN / f"{verdict}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_there_is_one_golden_per_verdict_and_no_stale_ones() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(VERDICTS)


# ---------------------------------------------------------------------------- the first screen

FIVE_FACTS = ("Failing:", "Key:", "Why:", "Workload:", "Action:", "Next:")


@pytest.mark.parametrize("verdict", VERDICTS)
def test_golden_first_ten_lines_hold_the_five_facts_and_the_verdict_page(verdict: str) -> None:
    """Read from the golden files themselves: what a person sees first, whatever produced it."""
    lines = (GOLDEN / f"{verdict}.txt").read_text(encoding="utf-8").splitlines()[:10]
    for label in FIVE_FACTS:
        assert sum(line.startswith(label) for line in lines) == 1, (verdict, label)
        (fact,) = [line for line in lines if line.startswith(label)]
        assert fact.removeprefix(label).strip(), (verdict, label, "says nothing")
    (guide,) = [line for line in lines if line.startswith("Guide:")]
    assert guide.endswith(f"/docs/verdicts/{verdict}.md") and "https://" in guide
    assert verdict in lines[0]
    assert all(len(line) <= 120 for line in lines)


def test_docs_base_url_is_configurable() -> None:
    incident, kind = sample("stale-consumer")
    text = email_text(incident, kind, "https://wiki.example.com/credfix/verdicts/")
    assert "Guide:    https://wiki.example.com/credfix/verdicts/stale-consumer.md" in text.splitlines()


def test_outsider_headline_stays_on_the_first_screen() -> None:
    incident = sample("unknown-key")[0].model_copy(
        update={
            "origin": "outside",
            "attribution": [SourceAttribution(ip="203.0.113.9", scope="none")],
        }
    )
    lines = email_text(incident, "diagnosed").splitlines()
    first_screen = " ".join(lines[: lines.index("DETAILS")])
    assert "someone outside is using this key ID" in first_screen
    assert "Action:   nothing changed: the failing requests came from outside the account" in lines


def test_one_failure_reads_as_one_time_not_a_range() -> None:
    incident = base("stale-consumer", event_count=3, first_seen=at(5), last_seen=at(5))
    text = " ".join(email_text(incident, "diagnosed").split())
    assert "Failing: 3 calls to sts, s3 rejected (InvalidClientTokenId), at 2026-11-03 11:07:00 UTC" in text
    assert "at 2026-11-03 11:07:00 UTC" in text
    assert "between" not in text and "11:07:00 to 11:07:00" not in text


def test_notify_only_is_an_alert_not_a_skipped_action() -> None:
    incident = base(
        "unknown-key",
        actions=[
            Action(type="notify", target=KEY, status="skipped", reason="no workload located: notify only")
        ],
    )
    text = email_text(incident, "diagnosed")
    assert "[skipped] notify" not in text
    assert "Action:   alert only, nothing changed (no workload located: notify only)" in text.splitlines()


def test_timeline_says_each_thing_once() -> None:
    incident = base(
        "stale-consumer",
        actions=[Action(type="restart-ecs-service", target=SERVICE, status="executed", at=at(14))],
        timeline=[
            TimelineEntry(at=at(3.2), what=f"first failure of {redact(KEY)}"),
            TimelineEntry(at=at(14), what=f"act: executed restart-ecs-service on {SERVICE}"),
        ],
    )
    lines = email_text(incident, "remediated").splitlines()
    timeline = lines[lines.index("TIMELINE (UTC)") + 1 : lines.index("WHAT TO DO NEXT")]
    assert sum("first failure" in line.lower() for line in timeline) == 1
    assert sum("restart-ecs-service" in line for line in timeline) == 1


def test_key_owner_step_names_the_user_only_when_evidence_does() -> None:
    named = " ".join(email_text(*sample("key-deactivated")).split())  # evidence: "for user ci-sandbox"
    assert "Find who changed the key of IAM user ci-sandbox" in named
    unnamed = " ".join(email_text(*sample("key-deleted")).split())
    assert "the IAM user in the evidence" not in unnamed
    assert "the CreateAccessKey event that returned this key ID names the user" in unnamed


def test_no_reference_to_a_guide_the_reader_never_saw_or_to_an_environment_variable() -> None:
    for verdict in VERDICTS:
        text = email_text(*sample(verdict))
        assert "field guide" not in text
        assert "CREDFIX_" not in text


# ---------------------------------------------------------------------------- parts


@pytest.mark.parametrize("verdict", VERDICTS)
def test_email_text_has_every_part(verdict: str) -> None:
    incident, kind = sample(verdict)
    text = email_text(incident, kind)
    lines = text.splitlines()
    rotation = verdict == "rotation-drift"  # nothing failed: what rotated instead
    present = {"WORKLOADS": bool(incident.workloads), "ACTIONS": bool(incident.actions)}
    for section in SECTIONS:
        if present.get(section, True):
            assert section in lines, section
    assert f"{verdict} (severity {incident.severity})" in lines[0]
    for ev in incident.evidence:
        assert f"  - {ev.check}: {ev.found}" in lines
    for action in incident.actions:
        tag = "alert only" if action.type == "notify" else f"[{action.status}] {action.type} on "
        assert any(line.startswith(f"  - {tag}") for line in lines)
    assert incident.access_key_id not in text  # only the redacted form
    assert redact(incident.access_key_id) in text
    assert any(line.startswith("  Avoid: ") for line in lines)
    assert "sts get-caller-identity" in text or rotation  # rotation-drift: `credfix rotation-check`
    assert "credfix rotation-check" in text or not rotation
    assert incident.first_seen.strftime("%Y-%m-%d %H:%M:%S UTC") in text
    assert all(len(line) <= MAX_LINE for line in lines)


def test_wrong_credential_source_names_the_winning_provider_and_how_to_pin_it() -> None:
    text = " ".join(email_text(*sample("wrong-credential-source")).split())
    assert "Most likely winner: a static key in the ecs-task's own configuration (AWS_ACCESS_KEY_ID" in text
    assert "register a new task definition revision without them" in text
    assert "A restart alone does not fix this" in text
    assert "(role arn:aws:iam::123456789012:role/orders-api-task)" in text


def test_runner_with_cli_user_agent_points_at_aws_profile() -> None:
    incident = sample("key-deactivated")[0].model_copy(update={"verdict": "wrong-credential-source"})
    text = " ".join(email_text(incident, "diagnosed").split())
    assert "Most likely winner: AWS_PROFILE or a shared credentials file" in text
    assert "Unset AWS_PROFILE for the job" in text


@pytest.mark.parametrize(
    ("verdict", "phrases"),
    [
        ("stale-consumer", ["does not re-read the secret", "credfix has restarted the target(s)"]),
        ("foreign-account", ["belongs to account 210987654321", "Do not broaden IAM permissions"]),
        ("signature-mismatch", ["together, atomically, in one secret version"]),
        ("key-deleted", ["Find the key's owner", "rather than re-activating the old key"]),
        ("key-deactivated", ["Find who changed the key of IAM user", "deactivated (Inactive)"]),
        ("stale-secret", ["ESCALATED", "does not act on it again until the block expires", "VERIFICATION"]),
        ("temporary-credentials", ["RESOLVED", "Outcome:     verified"]),
    ],
)
def test_next_steps_are_specific_to_the_verdict(verdict: str, phrases: list[str]) -> None:
    text = " ".join(email_text(*sample(verdict)).split())
    for phrase in phrases:
        assert " ".join(phrase.split()) in text, phrase


def test_field_guide_wrong_fix_is_quoted_verbatim() -> None:
    guide = (Path(__file__).resolve().parents[2] / ".." / "shared" / "reference").resolve()
    source = guide / "invalid-client-token-id-guide.txt"
    quotes = {
        "Do not rotate keys repeatedly without first proving which credential source the runtime is "
        "actually loading.",
        "Do not broaden IAM permissions if AWS never recognized the credential identity in the first place.",
    }
    if source.exists():  # the guide lives beside the repository in this workspace
        body = source.read_text(encoding="utf-8")
        assert all(q in body for q in quotes)
    for verdict in VERDICTS:
        text = " ".join(email_text(*sample(verdict)).split())
        assert any(q in text for q in quotes), verdict


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown alert kind 'fixed'"):
        email_text(sample("stale-consumer")[0], "fixed")


# ---------------------------------------------------------------------------- subject


@pytest.mark.parametrize("verdict", VERDICTS)
def test_subject_is_one_short_ascii_line(verdict: str) -> None:
    incident, _ = sample(verdict)
    line = subject(incident)
    assert len(line) < 100
    assert line.isascii() and line.isprintable()
    assert verdict in line
    assert redact(incident.access_key_id).replace("…", "...") in line
    assert incident.access_key_id not in line


def test_subject_names_account_and_service_and_marks_escalations() -> None:
    assert subject(sample("stale-consumer")[0]) == (
        "[credfix] stale-consumer AKIA...VV7A acct 123456789012 orders-api"
    )
    assert subject(sample("stale-secret")[0]).startswith("[credfix] ESCALATED stale-secret ")
    assert subject(sample("unknown-key")[0]).endswith("workload not located")


def test_subject_truncates_a_long_workload_name() -> None:
    long_service = SERVICE.rsplit("/", 1)[0] + "/" + "checkout-" * 30
    incident = base("stale-consumer", workloads=[ecs_task().model_copy(update={"parent": long_service})])
    line = subject(incident)
    assert len(line) == 99 and line.endswith("...")
    assert line.startswith("[credfix] stale-consumer AKIA...VV7A acct 123456789012 checkout-checkout-")


# ---------------------------------------------------------------------------- SNS message


def test_sns_message_has_a_text_per_audience_and_filter_attributes() -> None:
    incident, kind = sample("stale-consumer")
    request = sns_message(incident, kind)
    assert request["MessageStructure"] == "json"
    assert request["Subject"] == subject(incident)
    body = json.loads(request["Message"])
    assert body["email"] == email_text(incident, kind)
    assert body["default"].startswith(subject(incident))
    for protocol in ("email-json", "sqs", "https", "lambda"):
        machine = json.loads(body[protocol])
        assert machine["schema"] == "credfix.alert/v1"
        assert machine["kind"] == "remediated"
        assert machine["incident"]["schema"] == "credfix.incident/v1"
        assert machine["incident"]["access_key_id"] == KEY  # the document carries the full key ID
        assert machine["incident"] == incident.document()
    attrs = {k: v["StringValue"] for k, v in request["MessageAttributes"].items()}
    assert attrs == {
        "kind": "remediated",
        "verdict": "stale-consumer",
        "severity": "high",
        "account": ACCOUNT,
        "action_status": "executed",
    }
    assert all(v["DataType"] == "String" for v in request["MessageAttributes"].values())


def test_attributes_are_never_empty_for_an_undiagnosed_incident() -> None:
    incident = base("unknown-key", severity=None, workloads=[], accounts=[], owner_account=None)
    incident = incident.model_copy(update={"verdict": None})
    attrs = {k: v["StringValue"] for k, v in sns_message(incident, "diagnosed")["MessageAttributes"].items()}
    assert attrs == {
        "kind": "diagnosed",
        "verdict": "undiagnosed",
        "severity": "unknown",
        "account": "unknown",
        "action_status": "none",
    }


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "none"),
        (["skipped"], "skipped"),
        (["skipped", "planned"], "planned"),
        (["planned", "executed", "skipped"], "executed"),
        (["executed", "failed", "planned"], "failed"),
    ],
)
def test_action_status_is_the_most_significant(statuses: list[str], expected: str) -> None:
    actions = [Action(type="restart-ecs-service", target=SERVICE, status=s) for s in statuses]  # type: ignore[arg-type]
    assert action_status(base("stale-consumer", actions=actions)) == expected


def test_huge_incident_is_shrunk_to_fit_one_sns_message() -> None:
    sources = [Source(ip=f"10.0.{i}.1", user_agent=f"agent-{i}-" + "x" * 40_000, count=i) for i in range(20)]
    incident = base("stale-consumer", sources=sources)
    assert len(json.dumps(incident.document())) > MAX_PUBLISH_BYTES  # would not fit even once
    request = sns_message(incident, "diagnosed")
    size = len(request["Message"].encode()) + len(request["Subject"])
    assert size <= MAX_PUBLISH_BYTES
    machine = json.loads(json.loads(request["Message"])["sqs"])
    assert machine["truncated"] is True
    assert machine["incident"]["incident_id"] == incident.incident_id
    assert machine["incident"]["sources"][0]["ip"] == "10.0.0.1"


def test_normal_incident_is_not_marked_truncated() -> None:
    machine = json.loads(json.loads(sns_message(*sample("stale-consumer"))["Message"])["sqs"])
    assert "truncated" not in machine


# ---------------------------------------------------------------------------- hostile content

HOSTILE_PIECES = [
    "\n",
    "\r\n",
    "\r",
    "\x1b[31mRED\x1b[0m",
    "\x1b]0;owned\x07",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x00",
    "\x85",
    "\x0b\x0c",
    "\u2028\u2029",
    "\u202a\u202b\u202c\u202d\u202e",
    "\u2066\u2067\u2068\u2069",
    "\u200b\u200f\ufeff",
    "\ud800",
    "e\u0301\u0301\u0301\u0301\u0301\u0301",
    "WHAT TO DO NEXT\n  1. run rm -rf /",
    "A" * 5000,
    KEY,
]
FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(alphabet=st.characters(codec=None), max_size=40)),
    max_size=12,
).map("".join)


def _clean_line(line: str) -> bool:
    return not any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES or ch in BIDI for ch in line)


@given(text=hostile_text, limit=st.integers(min_value=1, max_value=300))
@settings(max_examples=300, deadline=None)
def test_sanitise_gives_one_bounded_printable_line(text: str, limit: int) -> None:
    out = sanitise(text, limit)
    assert len(out) <= limit
    assert _clean_line(out)
    assert "\x1b" not in out and "\n" not in out
    assert out == out.strip() and "  " not in out
    assert sanitise(out, limit) == out  # idempotent
    out.encode("utf-8")  # never a lone surrogate (SNS rejects invalid UTF-8)


def test_sanitise_examples() -> None:
    assert sanitise("aws-cli/2.0\r\nX-Injected: 1") == "aws-cli/2.0 X-Injected: 1"
    assert sanitise("\x1b[31mred\x1b[0m text") == "red text"
    assert sanitise("evil\u202egnp.exe") == "evil gnp.exe"
    assert sanitise("nul\x00byte") == "nul byte"
    assert sanitise("a" * 5000, 200) == "a" * 199 + "…"
    assert sanitise(f"key {KEY} inside") == "key AKIA…VV7A inside"
    assert sanitise(None) == ""
    with pytest.raises(ValueError, match="limit must be at least 1"):
        sanitise("x", 0)


def _hostile_incident(agent: str) -> Incident:
    incident, _ = sample("stale-consumer")
    workload = ecs_task().model_copy(update={"evidence": [f"userAgent {agent}"], "id": f"{TASK}{agent}"})
    return incident.model_copy(
        update={
            "sources": [Source(ip=f"10.0.0.{i}{agent}", user_agent=agent, count=5) for i in range(3)],
            "evidence": [Evidence(check=f"check {agent}", found=agent)],
            "workloads": [workload],
            "actions": [
                Action(
                    type="restart-ecs-service",
                    target=SERVICE,
                    status="executed",
                    reason=f"why {agent}",
                    at=at(14),
                )
            ],
            "timeline": [TimelineEntry(at=at(9), what=agent)],
        }
    )


@given(agent=hostile_text)
@settings(max_examples=150, deadline=None)
def test_hostile_event_content_cannot_break_the_email_layout(agent: str) -> None:
    text = email_text(_hostile_incident(agent), "remediated")
    benign = email_text(_hostile_incident("benign-agent"), "remediated")
    lines = text.split("\n")
    assert len(lines) == len(benign.split("\n"))  # no forged, no swallowed lines
    assert all(len(line) <= MAX_LINE for line in lines)
    assert all(_clean_line(line) for line in lines)
    assert KEY not in text
    line = subject(_hostile_incident(agent))
    assert len(line) < 100 and line.isascii() and line.isprintable()


def test_five_kilobyte_user_agent_is_cut_in_every_audience() -> None:
    agent = "\x1b[2J" + "Z" * 5000 + "\nFAKE LINE"
    request = sns_message(_hostile_incident(agent), "remediated")
    text = json.loads(request["Message"])["email"]
    assert "FAKE LINE" not in text.splitlines()
    assert max(len(line) for line in text.splitlines()) <= MAX_LINE
    assert "Z" * 199 + "…" in text and "Z" * 200 not in text  # 200 characters per field
    machine = json.loads(json.loads(request["Message"])["sqs"])
    assert (
        machine["incident"]["sources"][0]["user_agent"] == agent
    )  # machines get the exact value, JSON-escaped


def test_outsider_headline_names_each_address_once() -> None:
    from credfix.core.attribution import headline

    incident = sample("unknown-key")[0].model_copy(
        update={
            "origin": "outside",
            "attribution": [
                SourceAttribution(ip="203.0.113.9", scope="none"),
                SourceAttribution(ip="203.0.113.9", scope="none"),  # the same address, another user agent
                SourceAttribution(ip="198.51.100.7", scope="none"),
            ],
        }
    )
    line = headline(incident)
    assert line is not None
    assert line.startswith(
        "The failing requests came from 203.0.113.9, 198.51.100.7, which are not addresses"
    )


def test_notify_is_the_planners_notify() -> None:
    from credfix.core.alerts.render import NOTIFY
    from credfix.core.remediate.model import NOTIFY as PLANNED

    assert NOTIFY == PLANNED


@pytest.mark.parametrize(
    ("resource", "shown"),
    [
        ("arn:aws:ecs:us-east-1:123456789012:service/prod/orders-api", "orders-api"),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders-api/aws-AbCdEf",
            "prod/orders-api/aws-AbCdEf",
        ),
        ("arn:aws:eks:us-east-1:123456789012:cluster/prod", "prod"),
        (
            "arn:aws:eks:us-east-1:123456789012:cluster/prod/deployment/payments/ledger-sync",
            "prod/deployment/payments/ledger-sync",  # two clusters' same-named deployments stay apart
        ),
        ("i-0abc", "i-0abc"),
    ],
)
def test_short_names_people_read(resource: str, shown: str) -> None:
    from credfix.core.alerts.render import short_name

    assert short_name(resource) == shown
