"""Issue 20, day two: the operator verbs against the deployed table on the local AWS.

A real incident is made the way data flows (the record on the bus -> ingest -> triage ->
act, test_seams' stale ECS task), then people list and show it, see the guardrails, clear a
block, reset the breaker and mute the key, as `credfix` runs for them. Every change is
conditional (a stale read changes nothing and says so) and recorded with the caller's
identity and the reason, on the item and on the incident's timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.adapters.stores.incidents import IncidentStore, from_item, key_pk
from credfix.adapters.stores.operator import OperatorStore
from credfix.adapters.stores.verification import VerificationStore
from credfix.cli import main
from credfix.models.operator import Conflict
from harness import account as build
from harness.moto import ACCOUNT, REGION
from harness.pipeline import LocalPipeline
from harness.records import FARGATE_UA
from tests.conftest import load_handler
from tests.integration.test_seams import (
    deactivate,
    failures,
    key_value,
    run_credfix,
    user_keys,
    watched_secret,
)

pytestmark = pytest.mark.integration
SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/orders-api"
CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"  # what the local AWS answers to GetCallerIdentity


def stale_ecs_task(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The stale-consumer story up to act (enforce): (key, incident id)."""
    old, new = user_keys("orders-bot", 2)
    secret = watched_secret("prod/orders-api/aws", old)
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=key_value(new))
    deactivate("orders-bot", old)
    net = build.network()
    definition = build.task_definition("orders-api", secret_value_from=f"{secret}:AccessKeyId::")
    (task,) = build.ecs_service(net, "prod", "orders-api", definition)
    out = run_credfix(
        pipeline, monkeypatch, failures(old, build.private_ip_of(task), build.sts_endpoint(net), FARGATE_UA)
    )
    assert out.executed == [("ecs-force-new-deployment", SERVICE)]
    return old, out.incident.incident_id


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def item(pipeline: LocalPipeline, pk: str) -> dict[str, Any]:
    raw = pipeline.ddb.get_item(TableName=pipeline.names.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return from_item(raw.get("Item") or {})


def test_incidents_list_and_show(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key, incident_id = stale_ecs_task(pipeline, monkeypatch)

    code, listed, err = cli(capsys, "incidents", "list")
    assert code == 0, err
    assert listed["schema"] == "credfix.incidents/v1" and listed["table"] == pipeline.names.table
    assert [(i["incident_id"], i["status"], i["verdict"]) for i in listed["incidents"]] == [
        (incident_id, "acted", "stale-consumer")
    ]
    assert cli(capsys, "incidents", "list", "--status", "escalated")[1]["incidents"] == []
    assert len(cli(capsys, "incidents", "list", "--since", "1h")[1]["incidents"]) == 1
    assert main(["incidents", "list", "--status", "closed"]) == 2  # not a status

    for which in (key, incident_id):
        code, shown, err = cli(capsys, "incidents", "show", which)
        assert code == 0, err
        assert shown["incident"]["incident_id"] == incident_id and shown["mute"] is None
        assert any("ecs-force-new-deployment" in t["what"] for t in shown["incident"]["timeline"])
    assert main(["incidents", "show", "nope"]) == 2
    assert "no incident 'nope'" in capsys.readouterr().err

    assert main(["incidents", "list", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "stale-consumer" in text and "orders-api" in text and key not in text  # key redacted


def test_the_table_is_found_from_the_home_stacks_outputs(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDFIX_TABLE")
    assert main(["targets"]) == 2
    assert "no stack 'credfix-home' in this region" in capsys.readouterr().err
    template = {
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "IncidentsTableName": {"Value": pipeline.names.table},
            "OperatorSettings": {
                "Value": json.dumps({"target_cooldown_seconds": 600, "breaker_failures": 2})
            },
        },
    }
    boto3.client("cloudformation").create_stack(StackName="credfix-home", TemplateBody=json.dumps(template))
    code, view, err = cli(capsys, "targets")
    assert code == 0, err
    assert view["table"] == pipeline.names.table
    assert view["breaker"]["threshold"] == 2  # the deployed setting, from the output
    assert main(["targets", "--stack", "other"]) == 2


def test_unblock_clears_a_block_once_and_records_who_and_why(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key, incident_id = stale_ecs_task(pipeline, monkeypatch)
    now = datetime.now(UTC)
    VerificationStore(pipeline.ddb, pipeline.names.table).block_target(
        SERVICE, incident_id, key, "failures continue after the action", now, now + timedelta(days=7)
    )
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    later = now + timedelta(hours=2)  # past the cool-down: only the block holds the target
    assert not guardrails.claim(SERVICE, "incident-2", "ecs-force-new-deployment", later, 3600).won

    code, view, err = cli(capsys, "targets")
    assert code == 0, err
    (target,) = [t for t in view["targets"] if t["target"] == SERVICE]
    assert target["block"]["until"] == (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert target["block"]["incident_id"] == incident_id and target["cooldown_until"]

    assert main(["unblock", "orders-api", "--reason", "no"]) == 2  # a reason says why
    code, change, err = cli(capsys, "unblock", "orders-api", "--reason", "task definition fixed by hand")
    assert code == 0, err
    assert (change["target"], change["by"], change["recorded_on_incident"]) == (SERVICE, CALLER, True)
    stored = item(pipeline, f"target#{SERVICE}")
    assert "blocked" not in stored and "blocked_until" not in stored
    assert (stored["unblocked_by"], stored["unblock_reason"]) == (CALLER, "task definition fixed by hand")
    assert stored["last_block"]["reason"] == "failures continue after the action"
    assert stored["operator_log"][-1]["by"] == CALLER
    timeline = cli(capsys, "incidents", "show", key)[1]["incident"]["timeline"]
    assert any(
        t["what"] == f"block on {SERVICE} cleared: task definition fixed by hand (by {CALLER})"
        for t in timeline
    )
    assert guardrails.claim(SERVICE, "incident-2", "ecs-force-new-deployment", later, 3600).won

    # Again: nothing to clear, nothing written.
    assert main(["unblock", SERVICE, "--reason", "once more"]) == 3
    assert "not blocked" in capsys.readouterr().err


def test_unblock_conflicts_with_a_block_written_after_the_read(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, incident_id = stale_ecs_task(pipeline, monkeypatch)
    now = datetime.now(UTC)
    verification = VerificationStore(pipeline.ddb, pipeline.names.table)
    verification.block_target(SERVICE, incident_id, key, "first", now, now + timedelta(days=7))
    store = OperatorStore(pipeline.ddb, pipeline.names.table)
    seen = store.get(f"target#{SERVICE}")  # what the person was shown
    assert seen is not None
    # Meanwhile verify blocks it again, for longer.
    verification.block_target(SERVICE, incident_id, key, "again", now, now + timedelta(days=9))
    with pytest.raises(Conflict, match="block changed since it was read"):
        store.unblock(SERVICE, seen, by=CALLER, reason="stale view", now=now)
    assert item(pipeline, f"target#{SERVICE}")["blocked"] is True  # nothing was written
    # And a second person clearing the same block a moment later finds it cleared.
    fresh = store.get(f"target#{SERVICE}")
    assert fresh is not None
    store.unblock(SERVICE, fresh, by=CALLER, reason="first person", now=now)
    with pytest.raises(Conflict, match="no longer blocked"):
        store.unblock(SERVICE, fresh, by=CALLER, reason="second person", now=now)


def test_breaker_reset(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key, incident_id = stale_ecs_task(pipeline, monkeypatch)
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    now = datetime.now(UTC)
    for n in range(3):  # three failed actions (the act step settles each the same way)
        target = f"{SERVICE}-{n}"
        assert guardrails.claim(target, incident_id, "ecs-force-new-deployment", now, 3600).won
        guardrails.settle(target, incident_id, "failed", "AccessDenied", now)
    assert guardrails.breaker_failures(now, 3600) == 3

    code, view, _ = cli(capsys, "targets")
    assert view["breaker_open"] is True and view["breaker"]["failures"] == 3

    # A stale read: another failure lands between the read and the reset.
    store = OperatorStore(pipeline.ddb, pipeline.names.table)
    seen = store.get("breaker")
    guardrails.claim(f"{SERVICE}-3", incident_id, "x", now, 3600)
    guardrails.settle(f"{SERVICE}-3", incident_id, "failed", "AccessDenied", now)
    with pytest.raises(Conflict, match="changed since it was read"):
        store.reset_breaker(seen, by=CALLER, reason="stale", now=now)
    assert guardrails.breaker_failures(now, 3600) == 4

    code, change, err = cli(
        capsys, "breaker", "reset", "--reason", "IAM permission for ecs:UpdateService restored"
    )
    assert code == 0, err
    assert change["failures_before"] == 4 and change["recorded_on_incidents"] == [incident_id]
    assert guardrails.breaker_failures(now, 3600) == 0
    stored = item(pipeline, "breaker")
    assert (stored["last_reset_by"], stored["failures"]) == (CALLER, 0)
    timeline = cli(capsys, "incidents", "show", key)[1]["incident"]["timeline"]
    assert any("circuit breaker reset: IAM permission" in t["what"] for t in timeline)
    assert main(["breaker", "reset", "--reason", "again please"]) == 3


def test_mute_holds_back_the_alerts_but_not_the_actions(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seam: a key muted between triage and act is acted on (guardrails and all), with no
    alert on the topic; its verification resolves with no alert either; the timeline says so."""
    old, new = user_keys("orders-bot", 2)
    secret = watched_secret("prod/orders-api/aws", old)
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=key_value(new))
    deactivate("orders-bot", old)
    net = build.network()
    definition = build.task_definition("orders-api", secret_value_from=f"{secret}:AccessKeyId::")
    (task,) = build.ecs_service(net, "prod", "orders-api", definition)
    for name, value in {"CREDFIX_MODE": "enforce", "CREDFIX_DRAIN_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    ingest, triage, act, verify = (load_handler(n) for n in ("ingest", "triage", "act", "verify"))
    pipeline.put_events(failures(old, build.private_ip_of(task), build.sts_endpoint(net), FARGATE_UA))
    pipeline.ingest_poller(ingest.handler).drain()
    pipeline.poller(pipeline.names.work_queue, triage.handler, function_name="credfix-triage").drain()

    assert main(["mute", "AKIAY34FZKBOKMUTVV7Z", "--for", "7d", "--reason", "not ours"]) == 3  # no incident
    assert main(["mute", old, "--for", "100d", "--reason", "too long"]) == 2
    code, change, err = cli(
        capsys, "mute", old, "--for", "7d", "--reason", "known noisy: migration this week"
    )
    assert code == 0, err
    assert (change["change"], change["by"]) == ("mute", CALLER)

    pipeline.poller(pipeline.names.act_queue, act.handler, function_name="credfix-act").drain()
    stats = pipeline.poller(
        pipeline.names.verify_queue, verify.handler, function_name="credfix-verify"
    ).drain()
    assert (stats.delivered, stats.item_failures) == (1, 0)
    assert pipeline.queue_messages(pipeline.names.inbox) == []  # no alert went out

    incident = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=pipeline.reopen_after).get(old)
    assert incident is not None
    assert [(a.type, a.status) for a in incident.actions] == [("ecs-force-new-deployment", "executed")]
    assert incident.status == "resolved"
    held = [t.what for t in incident.timeline if t.what.startswith("alert held back")]
    assert len(held) == 2, [t.what for t in incident.timeline]  # the act alert and the verify alert
    assert any(t.what.startswith("alerts muted until") and CALLER in t.what for t in incident.timeline)

    code, view, _ = cli(capsys, "targets")
    assert [m[0] for m in view["mutes"]] == [old]
    stored = item(pipeline, key_pk(old))
    assert (stored["mute_by"], stored["mute_reason"]) == (CALLER, "known noisy: migration this week")

    # Lifting it, conditionally: a stale view of the mute changes nothing.
    store = OperatorStore(pipeline.ddb, pipeline.names.table)
    with pytest.raises(Conflict, match="mute changed since it was read"):
        store.mute(
            old,
            {**stored, "mute_until": "2020-01-01T00:00:00Z"},
            until=None,
            by=CALLER,
            reason="x",
            now=datetime.now(UTC),
        )
    code, change, _ = cli(capsys, "mute", old, "--off", "--reason", "migration done")
    assert code == 0 and change["change"] == "unmute"
    assert "mute_until" not in item(pipeline, key_pk(old))
    assert main(["mute", old, "--off", "--reason", "twice"]) == 3


def test_operator_permissions_are_what_the_verbs_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["permissions", "--role", "operator", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert actions == {
        "cloudformation:DescribeStacks",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "sts:GetCallerIdentity",
    }
    assert main(["permissions", "--role", "operator", "--format", "text"]) == 0
    assert "on ${credfix:incidents-table}" in capsys.readouterr().out
