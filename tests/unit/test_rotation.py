"""The rotation watch's pure parts: what an event may say (and what is refused, with the
reason), which version an ECS service runs when a start time is missing, and what the
"rotation" attribution permits (rotation-drift only, its named consumers only)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.config import Settings
from credfix.core import attribution
from credfix.core.remediate.planner import plan
from credfix.core.rotation.consumers import _state_of_tasks, declares
from credfix.core.rotation.events import Refused, signal_of
from credfix.models.ecs import Deployment, Service, Task
from credfix.models.incident import Incident, SourceAttribution, Workload
from credfix.models.rotation import Rotation
from harness.records import rotation_succeeded, secret_label_updated

ACCOUNT = "123456789012"
ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/orders-api/aws-AbCdEf"
T0 = datetime(2026, 11, 3, 11, 2, tzinfo=UTC)


def put_secret_value(**detail: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "0",
        "id": "e1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager",
        "account": ACCOUNT,
        "region": "us-east-1",
        "detail": {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "PutSecretValue",
            "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT},
            "recipientAccountId": ACCOUNT,
            "requestParameters": {"secretId": "prod/orders-api/aws"},
            "responseElements": {"arn": ARN},
        },
    }
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize(
    ("event", "ref", "trigger"),
    [
        (secret_label_updated(ARN, "prod/orders-api/aws", "v2"), ARN, "Secret Label Updated (AWSCURRENT)"),
        (put_secret_value(), ARN, "PutSecretValue"),
        (put_secret_value(responseElements={"aRN": ARN}), ARN, "PutSecretValue"),  # before February 2024
        (put_secret_value(responseElements=None), "prod/orders-api/aws", "PutSecretValue"),
        (put_secret_value(eventName="UpdateSecretVersionStage"), ARN, "UpdateSecretVersionStage"),
        (rotation_succeeded(ARN), ARN, "RotationSucceeded"),
    ],
)
def test_an_event_names_the_secret_to_read(event: dict[str, Any], ref: str, trigger: str) -> None:
    signal = signal_of(event)
    assert (signal.account, signal.region, signal.secret_ref, signal.trigger) == (
        ACCOUNT,
        "us-east-1",
        ref,
        trigger,
    )


def test_rotation_succeeded_with_the_secret_in_service_event_details() -> None:
    event = rotation_succeeded(ARN)
    del event["detail"]["additionalEventData"]
    event["detail"]["serviceEventDetails"] = {"secretId": ARN}
    assert signal_of(event).secret_ref == ARN


def _edited(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    edited = copy.deepcopy(event)
    for path, value in changes.items():
        target = edited
        *parents, last = path.split("__")
        for name in parents:
            target = target[name]
        target[last] = value
    return edited


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not an event", "not an EventBridge event"),
        (_edited(put_secret_value(), source="aws.iam"), "is not aws.secretsmanager"),
        (_edited(put_secret_value(), account="nope"), "no 12-digit account"),
        (_edited(put_secret_value(), detail__eventSource="iam.amazonaws.com"), "eventSource"),
        (_edited(put_secret_value(), detail__eventName="GetSecretValue"), "does not move a version"),
        (_edited(put_secret_value(), detail__errorCode="AccessDenied"), "failed (AccessDenied)"),
        (
            _edited(put_secret_value(), detail__userIdentity={"accountId": "444455556666"}),
            "caller's identity",
        ),
        (_edited(put_secret_value(), detail__recipientAccountId="444455556666"), "delivered to account"),
        (
            _edited(
                put_secret_value(), detail__responseElements={"arn": ARN.replace(ACCOUNT, "444455556666")}
            ),
            "a secret of account 444455556666",
        ),
        (
            _edited(
                put_secret_value(), detail__responseElements={"arn": ARN.replace("us-east-1", "eu-west-1")}
            ),
            "in eu-west-1",
        ),
        (
            _edited(put_secret_value(), detail__responseElements={"arn": "arn:aws:iam::1:user/x"}),
            "not a secret's",
        ),
        (
            _edited(put_secret_value(), detail__responseElements=None, detail__requestParameters=None),
            "names no secret",
        ),
        (_edited(secret_label_updated(ARN, "n", "v"), detail__labelUpdated="AWSPENDING"), "not AWSCURRENT"),
        (_edited(secret_label_updated(ARN, "n", "v"), **{"detail-type": "Something Else"}), "detail-type"),
        (_edited(rotation_succeeded(ARN), detail__userIdentity={"accountId": ACCOUNT}), "not invoked by"),
        (_edited(rotation_succeeded(ARN), detail__eventName="RotationFailed"), "not a finished rotation"),
    ],
)
def test_what_the_watch_refuses_and_why(event: Any, reason: str) -> None:
    with pytest.raises(Refused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        signal_of(event)


def test_a_tag_may_declare_several_secrets() -> None:
    rotation = Rotation(
        ARN, "prod/orders-api/aws", "us-east-1", "v2", "v1", ("AKIANEW",), ("AKIAOLD",), T0, ""
    )
    assert declares(rotation, "prod/orders-api/aws")
    assert declares(rotation, "ci/token prod/orders-api/aws")
    assert declares(rotation, ARN)
    assert not declares(rotation, "prod/orders-api")


def _task(started: datetime | None, started_by: str | None = None) -> Task:
    return Task(
        arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{abs(hash((started, started_by))):x}",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod",
        task_definition_arn="td",
        group="service:api",
        last_status="RUNNING",
        launch_type="FARGATE",
        started_at=started,
        started_by=started_by,
    )


def test_a_task_without_a_start_time_is_dated_by_its_deployment() -> None:
    service = Service(
        arn="svc",
        name="api",
        cluster_arn="c",
        task_definition_arns=("td",),
        deployments=(
            Deployment("ecs-svc/old", "ACTIVE", "td", T0 - timedelta(hours=1)),
            Deployment("ecs-svc/new", "PRIMARY", "td", T0 + timedelta(minutes=1)),
        ),
    )
    assert _state_of_tasks([_task(None, "ecs-svc/new")], service, T0)[0] == "current"
    state, detail = _state_of_tasks([_task(None, "ecs-svc/old"), _task(None, "ecs-svc/new")], service, T0)
    assert state == "previous" and "its deployment was created" in detail
    assert _state_of_tasks([_task(None, None)], service, T0)[0] == "unknown"
    assert _state_of_tasks([_task(T0 - timedelta(seconds=1))], service, T0)[0] == "previous"
    assert _state_of_tasks([], service, T0)[0] == "current"


SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/api"
OTHER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/billing"


def _incident(verdict: str, *workloads: Workload, holders: list[str]) -> Incident:
    return Incident(
        incident_id="i",
        access_key_id="AKIAY34FZKBOKMUTVV7A",
        verdict=verdict,  # type: ignore[arg-type]
        first_seen=T0,
        last_seen=T0,
        opened_at=T0,
        workloads=list(workloads),
        attribution=[SourceAttribution(scope="rotation", account=ACCOUNT, holders=holders, why="rotation")],
    )


def _service(arn: str, confidence: str = "high") -> Workload:
    return Workload(type="ecs-service", id=arn, confidence=confidence, cluster="c")  # type: ignore[arg-type]


def test_the_rotation_attribution_permits_its_consumers_for_rotation_drift_only() -> None:
    drift = _incident("rotation-drift", _service(SERVICE), _service(OTHER), holders=[SERVICE])
    assert attribution.action_gate(drift, drift.workloads[0]) is None
    refused = attribution.action_gate(drift, drift.workloads[1])
    assert refused and refused.startswith("not attributed:")
    stale = _incident("stale-consumer", _service(SERVICE), holders=[SERVICE])
    assert "rotation-drift only" in str(attribution.action_gate(stale, stale.workloads[0]))


def test_the_planner_restarts_rotation_drift_consumers_and_never_low_confidence_ones() -> None:
    drift = _incident("rotation-drift", _service(SERVICE), _service(OTHER, "low"), holders=[SERVICE])
    planned = plan(drift, Settings())
    assert [(p.type, p.target, p.skip is None) for p in planned] == [
        ("ecs-force-new-deployment", SERVICE, True),
        ("notify", OTHER, False),
    ]


def test_the_cli_default_quiet_period_is_the_checks() -> None:
    """`credfix rotation-check --help` runs on the base install, so its default is a plain
    number: it must stay the check's own default."""
    from credfix.cli.rotation_check import QUIET_MINUTES
    from credfix.core.rotation.check import DEFAULT_QUIET

    assert timedelta(minutes=QUIET_MINUTES) == DEFAULT_QUIET
