"""Verification of an incident seen in a workload's own log lines (credfix.core.verify): a late
line from the restarted workload (a new ECS task writes a new stream of the same container's
log configuration) is attributed to the acted-on service and blocks it; quiet logs verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from credfix.core.attribution import runtime_log
from credfix.core.verify import VerifyRequest, decide
from credfix.models.incident import Action, Incident, Workload
from credfix.models.logs import workload_of
from credfix.models.verification import SourceActivity, StoredIncident

ACCOUNT, REGION = "123456789012", "us-east-1"
GROUP = "/ecs/orders-api"
OLD_TASK, NEW_TASK = "a" * 32, "b" * 32
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{OLD_TASK}"
SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/orders-api"
ACTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def stored(*late: tuple[str, datetime]) -> StoredIncident:
    old_stream = f"{GROUP}:ecs/app/{OLD_TASK}"
    named = workload_of(GROUP, f"ecs/app/{OLD_TASK}", REGION, ACCOUNT)
    newest = max([ACTED - timedelta(minutes=5), *(t for _, t in late)])
    incident = Incident(
        incident_id="inc-1",
        access_key_id="AKIAY34FZKBOKMUTVV7A",
        workload_key=named.key,
        status="acted",
        verdict="stale-consumer",
        first_seen=ACTED - timedelta(minutes=30),
        last_seen=newest,
        opened_at=ACTED - timedelta(minutes=29),
        regions=[REGION],
        accounts=[ACCOUNT],
        workloads=[Workload(type="ecs-task", id=TASK, confidence="high", parent=SERVICE)],
        attribution=[runtime_log(old_stream, ACCOUNT, REGION, [TASK], "ecs-task app")],
        actions=[Action(type="ecs-force-new-deployment", target=SERVICE, status="executed", at=ACTED)],
    )
    sources = [SourceActivity(None, None, 5, ACTED - timedelta(minutes=5), log=old_stream)]
    sources += [SourceActivity(None, None, 1, at, log=log) for log, at in late]
    return StoredIncident(incident, sources)


def test_quiet_logs_after_the_restart_verify() -> None:
    decision = decide(stored(), ACTED)
    assert decision.outcome == "verified"


def test_the_restarted_tasks_own_failing_lines_escalate_and_block_the_service() -> None:
    decision = decide(stored((f"{GROUP}:ecs/app/{NEW_TASK}", ACTED + timedelta(minutes=2))), ACTED)
    assert decision.outcome == "escalated" and decision.block_targets == (SERVICE,)
    assert not decision.outsiders_after


def test_another_groups_lines_never_block_the_acted_on_target() -> None:
    decision = decide(stored(("/ecs/other:ecs/app/" + NEW_TASK, ACTED + timedelta(minutes=2))), ACTED)
    assert decision.outcome == "escalated" and decision.block_targets == ()


def test_verify_messages_take_a_workload_subject_and_nothing_else() -> None:
    subject = "workload#" + workload_of(GROUP, f"ecs/app/{OLD_TASK}", REGION, ACCOUNT).key
    request = VerifyRequest.model_validate(
        {"type": "verify", "access_key_id": subject, "incident_id": "inc-1", "action_at": ACTED.isoformat()}
    )
    assert request.access_key_id == subject
    with pytest.raises(ValidationError):
        VerifyRequest.model_validate(
            {
                "type": "verify",
                "access_key_id": "not-a-key",
                "incident_id": "inc-1",
                "action_at": ACTED.isoformat(),
            }
        )
