"""The act Lambda on the local AWS: the act queue's message shape in, the incident item
recorded (status "acted", `remediation` JSON), one delayed verify message out."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
from credfix.core.aggregate import aggregate
from credfix.core.remediate import NullAlerter
from credfix.models.cloudtrail import parse_failure
from harness.moto import ACCOUNT, REGION, LocalAws
from harness.pipeline import LambdaContext
from harness.records import cloudtrail_event
from tests.conftest import load_handler
from tests.integration.test_remediate import KEY, TABLE, EcsService, ecs_service, make_table, session

pytestmark = pytest.mark.integration


def open_incident(ddb: Any, events: int = 40) -> str:
    """An incident opened by the real ingest store, then given the triage stage's findings."""
    store = IncidentStore(ddb, TABLE, reopen_after=timedelta(hours=1))
    parsed = [parse_failure(cloudtrail_event(KEY), ref=f"m{i}") for i in range(events)]
    (delta,) = aggregate(parsed).values()
    return store.record(delta, datetime.now(UTC)).incident_id


def triaged(ddb: Any, svc: EcsService, verdict: str = "stale-consumer") -> None:
    """Write what triage stores: its JSON stage attribute and status "triaged"."""
    findings = {
        "verdict": verdict,
        "severity": "medium",
        "key_status": "Inactive",
        "owner_account": ACCOUNT,
        "workloads": [
            {
                "type": "ecs-task",
                "id": svc.task_arns[0],
                "confidence": "high",
                "region": REGION,
                "parent": svc.service_arn,
                "cluster": svc.cluster_arn,
            }
        ],
        "attribution": [{"ip": "10.0.1.25", "scope": "workload", "holders": [svc.task_arns[0]]}],
        "origin": "account",
        "timeline": [{"at": datetime.now(UTC).isoformat(), "what": "triage: verdict " + verdict}],
    }
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": key_pk(KEY)}},
        UpdateExpression="SET triage = :t, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":t": {"S": json.dumps(findings)}, ":s": {"S": "triaged"}},
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "rh",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:credfix-act",
                "awsRegion": REGION,
            }
            for body in bodies
        ]
    }


def message(incident_id: str) -> str:
    return json.dumps({"type": "incident-triaged", "access_key_id": KEY, "incident_id": incident_id})


@pytest.fixture
def act(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, str]:
    sqs = session().client("sqs")
    make_table(session().client("dynamodb"))
    verify_url = sqs.create_queue(QueueName="credfix-verify")["QueueUrl"]
    monkeypatch.setenv("CREDFIX_ACT_QUEUE_URL", sqs.create_queue(QueueName="credfix-act")["QueueUrl"])
    monkeypatch.setenv("CREDFIX_TABLE", TABLE)
    monkeypatch.setenv("CREDFIX_VERIFY_QUEUE_URL", verify_url)
    monkeypatch.setenv("CREDFIX_MODE", "enforce")
    monkeypatch.setenv("CREDFIX_DRAIN_SECONDS", "0")  # the local test cannot wait 15 minutes
    return load_handler("act"), verify_url


def verify_messages(url: str) -> list[dict[str, Any]]:
    got = session().client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def stored(ddb: Any) -> dict[str, Any]:
    return from_item(ddb.get_item(TableName=TABLE, Key={"pk": {"S": key_pk(KEY)}})["Item"])


def test_act_redeploys_records_and_schedules_verification(act: tuple[ModuleType, str]) -> None:
    handler, verify_url = act
    ddb, ecs = session().client("dynamodb"), session().client("ecs")
    svc = ecs_service()
    incident_id = open_incident(ddb)
    triaged(ddb, svc)
    before = svc.primary_deployment(ecs)

    response = handler.handler(sqs_event(message(incident_id)), LambdaContext("credfix-act"))

    assert response == {"batchItemFailures": []}
    assert svc.primary_deployment(ecs) != before
    item = stored(ddb)
    assert item["status"] == "acted"
    record = json.loads(item["remediation"])
    assert [(a["type"], a["target"], a["status"]) for a in record["actions"]] == [
        ("ecs-force-new-deployment", svc.service_arn, "executed")
    ]
    assert any(t["what"].startswith("act: executed ecs-force-new-deployment") for t in record["timeline"])
    # The incident document (as every reader sees it) carries the actions and both stages' timeline.
    doc = IncidentStore(ddb, TABLE, reopen_after=timedelta(hours=1)).get(KEY)
    assert doc is not None and doc.verdict == "stale-consumer" and doc.actions[0].status == "executed"
    assert [t.what.split(":")[0] for t in doc.timeline] == ["triage", "act"]
    (verify,) = verify_messages(verify_url)
    assert verify == {
        "type": "verify",
        "access_key_id": KEY,
        "incident_id": incident_id,
        "action_at": record["actions"][0]["at"].replace("+00:00", "Z"),
        "grace_seconds": 300,  # an ECS restart: old tasks keep serving until the new ones are up
    }


def test_redelivery_and_duplicate_in_one_batch_act_once(act: tuple[ModuleType, str]) -> None:
    handler, verify_url = act
    ddb = session().client("dynamodb")
    svc = ecs_service()
    incident_id = open_incident(ddb)
    triaged(ddb, svc)

    first = handler.handler(
        sqs_event(message(incident_id), message(incident_id)), LambdaContext("credfix-act")
    )
    after_first = stored(ddb)
    again = handler.handler(sqs_event(message(incident_id)), LambdaContext("credfix-act"))

    assert first == again == {"batchItemFailures": []}
    record = json.loads(stored(ddb)["remediation"])
    assert [a["status"] for a in record["actions"]] == ["executed"]
    assert stored(ddb)["remediation"] == after_first["remediation"]  # nothing new recorded
    assert len(verify_messages(verify_url)) == 1  # alert + verify sent once


def test_observe_mode_records_planned_actions(
    act: tuple[ModuleType, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDFIX_MODE", "observe")
    handler = load_handler("act")
    ddb, ecs = session().client("dynamodb"), session().client("ecs")
    svc = ecs_service()
    incident_id = open_incident(ddb)
    triaged(ddb, svc)
    before = svc.primary_deployment(ecs)

    handler.handler(sqs_event(message(incident_id)), LambdaContext("credfix-act"))

    assert svc.primary_deployment(ecs) == before
    record = json.loads(stored(ddb)["remediation"])
    assert [a["status"] for a in record["actions"]] == ["planned"]
    assert "observe mode" in record["actions"][0]["reason"]


def test_bad_message_fails_alone_and_stale_message_is_dropped(act: tuple[ModuleType, str]) -> None:
    handler, verify_url = act
    ddb, ecs = session().client("dynamodb"), session().client("ecs")
    svc = ecs_service()
    open_incident(ddb)
    triaged(ddb, svc)
    before = svc.primary_deployment(ecs)
    event = sqs_event(json.dumps({"type": "incident-triaged"}), message("an-older-incident"))

    response = handler.handler(event, LambdaContext("credfix-act"))

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert svc.primary_deployment(ecs) == before  # the superseded incident id is not acted on
    assert "remediation" not in stored(ddb)
    assert verify_messages(verify_url) == []


def test_alerter_is_a_no_op_until_a_topic_is_configured(act: tuple[ModuleType, str]) -> None:
    handler, _ = act
    from credfix.config import Settings

    assert isinstance(handler.alerter, NullAlerter)
    topic = session().client("sns").create_topic(Name="credfix-alerts")["TopicArn"]
    real = handler.build_alerter(Settings(CREDFIX_TOPIC_ARN=topic))
    assert type(real).__name__ == "TopicAlerter"
