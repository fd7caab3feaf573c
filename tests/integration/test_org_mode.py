"""Organisation mode: act works in the member account an incident happened in, through the
member role (moto's STS issues credentials scoped to the role's account)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from credfix.adapters.aws import AccountRouter
from credfix.adapters.stores.guardrails import MemoryGuardrailStore
from credfix.config import Settings
from credfix.core.remediate import remediate
from credfix.models.incident import Incident, SourceAttribution, Workload
from harness.moto import ACCOUNT, LocalAws

pytestmark = pytest.mark.integration
MEMBER = "111111111111"
ROLE = "credfix-member-act"


def _home(service: str, region: str | None = None) -> object:
    return boto3.client(service, region_name=region)


def _member_session() -> boto3.session.Session:
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/{ROLE}", RoleSessionName="setup"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _primary(ecs: object) -> str:
    service = ecs.describe_services(cluster="prod", services=["orders"])["services"][0]  # type: ignore[attr-defined]
    return next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY")


def test_router_uses_home_clients_for_the_own_account(aws_env: LocalAws) -> None:
    router = AccountRouter(_home, ROLE)
    assert router.own_account() == ACCOUNT
    assert router.for_accounts([ACCOUNT]) is _home
    assert AccountRouter(_home, "").for_accounts([MEMBER]) is _home  # single-account deployment


def test_act_restarts_the_service_in_the_member_account(aws_env: LocalAws) -> None:
    ecs = _member_session().client("ecs")
    ecs.create_cluster(clusterName="prod")
    definition = ecs.register_task_definition(
        family="orders", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    service_arn = ecs.create_service(
        cluster="prod", serviceName="orders", taskDefinition=definition, desiredCount=1
    )["service"]["serviceArn"]
    assert f":{MEMBER}:" in service_arn
    before = _primary(ecs)
    now = datetime.now(UTC)
    incident = Incident(
        incident_id="org-1",
        access_key_id="AKIAY34FZKBOKMUTVV7A",
        status="triaged",
        verdict="stale-consumer",
        severity="medium",
        first_seen=now - timedelta(minutes=5),
        last_seen=now,
        opened_at=now,
        accounts=[MEMBER],
        # The member's own endpoint: triage checked it in the member account.
        attribution=[
            SourceAttribution(
                ip="10.0.1.25",
                vpc_endpoint_id="vpce-0123",
                scope="workload",
                account=MEMBER,
                holders=[service_arn],
            )
        ],
        workloads=[
            Workload(
                type="ecs-service",
                id=service_arn,
                confidence="high",
                account=MEMBER,
                cluster=f"arn:aws:ecs:us-east-1:{MEMBER}:cluster/prod",
            )
        ],
    )
    client_for = AccountRouter(_home, ROLE).for_accounts(incident.accounts)
    actions = remediate(
        incident, client_for, Settings(CREDFIX_MODE="enforce"), MemoryGuardrailStore(), now=now
    )
    assert [(a.type, a.status) for a in actions] == [("ecs-force-new-deployment", "executed")]
    assert _primary(ecs) != before
    # The home account has no such service: the action did not run there.
    assert boto3.client("ecs").list_clusters()["clusterArns"] == []
