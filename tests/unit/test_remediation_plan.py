"""plan() as a pure function of the incident document, the action registry's permission
declarations, and the merge rule that keeps an executed action on record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.config import Settings
from credfix.core.remediate import REGISTRY, plan
from credfix.core.remediate.model import NOTIFY
from credfix.models.incident import Action, ConfiguredCredential, Incident, SourceAttribution, Workload
from credfix.registry import policy_for

KEY = "AKIAY34FZKBOKMUTVV7A"
SERVICE = "arn:aws:ecs:eu-west-1:123456789012:service/prod/billing"
CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/billing-AbCdEf"


def task(n: int = 1, confidence: str = "high", parent: str | None = SERVICE, **kw: Any) -> Workload:
    return Workload(
        type="ecs-task",
        id=f"arn:aws:ecs:eu-west-1:123456789012:task/prod/{n:032x}",
        confidence=confidence,  # type: ignore[arg-type]
        parent=parent,
        cluster=CLUSTER,
        **kw,
    )


def through_endpoint(*holders: str, ip: str = "10.0.1.25") -> SourceAttribution:
    return SourceAttribution(ip=ip, vpc_endpoint_id="vpce-1", scope="workload", holders=list(holders))


def incident(
    workloads: list[Workload],
    verdict: str | None = "stale-consumer",
    key_status: str = "Inactive",
    attribution: list[SourceAttribution] | None = None,
) -> Incident:
    """Attributed by default: the failing address is held by every workload given."""
    now = datetime.now(UTC)
    found = [through_endpoint(*(w.id for w in workloads))] if attribution is None else attribution
    return Incident.model_validate(
        {
            "attribution": [a.model_dump() for a in found],
            "incident_id": "inc-1",
            "access_key_id": KEY,
            "verdict": verdict,
            "key_status": key_status,
            "workloads": [w.model_dump() for w in workloads],
            "first_seen": now - timedelta(minutes=5),
            "last_seen": now,
            "opened_at": now,
        }
    )


def summary(incident_: Incident, settings: Settings | None = None) -> list[tuple[str, str, bool]]:
    return [(p.type, p.target, p.actionable) for p in plan(incident_, settings or Settings())]


def test_tasks_of_one_service_make_one_new_deployment() -> None:
    planned = plan(incident([task(1), task(2), task(3)]), Settings())
    assert [(p.type, p.target, p.actionable) for p in planned] == [
        ("ecs-force-new-deployment", SERVICE, True)
    ]
    assert planned[0].cluster == CLUSTER and planned[0].region == "eu-west-1"


def test_each_workload_type_gets_its_restart() -> None:
    fn = "arn:aws:lambda:eu-west-1:123456789012:function:exporter"
    workloads = [
        task(1, parent=None),
        Workload(type="ecs-service", id=SERVICE, confidence="high", cluster=CLUSTER),
        Workload(type="lambda-function", id=fn, confidence="high"),
        Workload(type="ec2-instance", id="i-0runner", confidence="high", parent="gh-runners"),
        Workload(type="ec2-instance", id="i-0pet", confidence="high"),
        Workload(type="codebuild-project", id="deploy", confidence="high"),
    ]
    assert summary(incident(workloads)) == [
        ("ecs-stop-task", workloads[0].id, True),
        ("ecs-force-new-deployment", SERVICE, True),
        ("lambda-refresh", fn, True),
        ("ec2-recycle-instance", "i-0runner", True),
        (NOTIFY, "i-0pet", False),
        (NOTIFY, "deploy", False),
    ]
    with_command = plan(incident(workloads[4:5]), Settings(CREDFIX_SSM_DOCUMENT="credfix-reload-credentials"))
    assert [(p.type, p.actionable) for p in with_command] == [("ec2-ssm-command", True)]


@pytest.mark.parametrize("verdict", ["wrong-credential-source", "foreign-account", "unknown-key"])
def test_verdicts_a_restart_cannot_fix_get_no_restart(verdict: str) -> None:
    planned = plan(incident([task()], verdict=verdict), Settings(CREDFIX_MODE="enforce"))
    assert planned and not any(p.actionable for p in planned)
    assert all(p.skip for p in planned)
    if verdict == "wrong-credential-source":
        assert "a restart reloads the same winning provider" in (planned[0].skip or "")


def test_no_restart_verdict_without_a_located_workload_is_a_notify_entry() -> None:
    planned = plan(incident([], verdict="foreign-account"), Settings())
    assert [(p.type, p.target) for p in planned] == [(NOTIFY, KEY)]
    assert "another account" in (planned[0].skip or "")


@pytest.mark.parametrize("verdict", ["key-deactivated", "key-deleted", "temporary-credentials"])
def test_key_lifecycle_restarts_only_when_configured(verdict: str) -> None:
    assert not any(p.actionable for p in plan(incident([task()], verdict=verdict), Settings()))
    skipped = plan(incident([task()], verdict=verdict), Settings())[0]
    assert "CREDFIX_RESTART_ON_KEY_LIFECYCLE" in (skipped.skip or "")
    configured = plan(incident([task()], verdict=verdict), Settings(CREDFIX_RESTART_ON_KEY_LIFECYCLE="true"))
    assert [(p.type, p.actionable) for p in configured] == [("ecs-force-new-deployment", True)]


def test_low_confidence_is_never_acted_on() -> None:
    planned = plan(incident([task(1, confidence="low")]), Settings())
    assert not any(p.actionable for p in planned)
    assert any("low-confidence" in (p.skip or "") for p in planned)


def test_only_the_highest_confidence_workloads_are_targets() -> None:
    other = "arn:aws:ecs:eu-west-1:123456789012:service/prod/other"
    planned = plan(incident([task(1), task(2, confidence="medium", parent=other)]), Settings())
    assert [(p.type, p.target, p.actionable) for p in planned] == [
        ("ecs-force-new-deployment", SERVICE, True),
        (NOTIFY, task(2).id, False),
    ]
    assert "higher-confidence" in (planned[1].skip or "")
    medium_only = plan(incident([task(2, confidence="medium")]), Settings())
    assert [(p.type, p.actionable) for p in medium_only] == [("ecs-force-new-deployment", True)]


def test_stale_secret_rotates_first_and_restarts_wait_for_it() -> None:
    consumer = task(1, credentials=[ConfiguredCredential(kind="secret", ref=SECRET)])
    planned = plan(incident([consumer], verdict="stale-secret"), Settings())
    assert [(p.type, p.target, p.actionable) for p in planned] == [
        ("secret-rotate", SECRET, True),
        ("ecs-force-new-deployment", SERVICE, True),
    ]
    assert planned[1].after == (SECRET,)
    assert planned[0].region == "eu-west-1"


def test_secret_rotate_is_only_for_stale_secret() -> None:
    consumer = task(1, credentials=[ConfiguredCredential(kind="secret", ref=SECRET)])
    for verdict in ("stale-consumer", "signature-mismatch"):
        assert "secret-rotate" not in [
            p.type for p in plan(incident([consumer], verdict=verdict), Settings())
        ]


def test_stale_secret_with_an_active_key_is_not_rotated_nor_restarted() -> None:
    consumer = task(1, credentials=[ConfiguredCredential(kind="secret", ref=SECRET)])
    planned = plan(incident([consumer], verdict="stale-secret", key_status="Active"), Settings())
    assert not any(p.actionable for p in planned)
    assert "Active" in (planned[0].skip or "")


def test_stale_secret_without_a_named_secret_restarts_nothing() -> None:
    planned = plan(incident([task(1)], verdict="stale-secret"), Settings())
    assert not any(p.actionable for p in planned)


def test_untriaged_incident_is_not_acted_on() -> None:
    planned = plan(incident([task()], verdict=None), Settings())
    assert [(p.type, p.actionable) for p in planned] == [(NOTIFY, False)]


# --- permissions ----------------------------------------------------------------------------

IAM_WRITE_PREFIXES = ("iam:Create", "iam:Delete", "iam:Attach", "iam:Put", "iam:Update", "iam:Detach")


def test_every_action_declares_permissions_that_its_adapters_declare() -> None:
    act = policy_for("act")
    declared = {(action, kind) for kind, actions in act.items() for action in actions}
    assert set(REGISTRY) == {
        "ecs-force-new-deployment",
        "ecs-stop-task",
        "lambda-refresh",
        "ec2-recycle-instance",
        "ec2-ssm-command",
        "secret-rotate",
        "eks-rollout-restart",
    }
    for name, cls in REGISTRY.items():
        assert cls.permissions, f"{name} declares no permission"
        missing = set(cls.permissions) - declared
        assert not missing, f"{name} needs {missing} but no adapter declares them with @needs('act', ...)"
        assert cls.resource_kind in {kind for _, kind in cls.permissions}


def test_act_policy_has_no_iam_write_and_no_wildcard_action() -> None:
    for kind, actions in policy_for("act").items():
        for action in actions:
            assert not action.startswith(IAM_WRITE_PREFIXES), f"IAM write {action} on {kind}"
            assert "*" not in action, f"wildcard action {action} on {kind}"


def test_write_actions_are_scoped_to_a_resource_kind() -> None:
    """Only APIs without resource-level permissions (tag reads, the SSM command lookup) may be on '*'."""
    unscoped = set(policy_for("act").get("*", []))
    assert unscoped <= {"ec2:DescribeTags", "autoscaling:DescribeTags", "ssm:ListCommands"}


# --- record merge ---------------------------------------------------------------------------


def test_merge_keeps_the_executed_entry_whatever_the_order() -> None:
    from credfix.adapters.stores.remediation import merge_actions

    at = datetime(2026, 4, 15, 11, 5, tzinfo=UTC)
    executed = Action(
        type="ecs-force-new-deployment", target=SERVICE, status="executed", reason="done", at=at
    )
    loser = Action(
        type="ecs-force-new-deployment", target=SERVICE, status="skipped", reason="being handled", at=at
    )
    assert merge_actions([executed], [loser]) == [executed]
    assert merge_actions([loser], [executed]) == [executed]
    assert merge_actions([executed], [executed]) == [executed]
    planned = Action(type="lambda-refresh", target="fn", status="planned", reason="observe", at=at)
    later = Action(
        type="lambda-refresh", target="fn", status="executed", reason="ok", at=at + timedelta(hours=1)
    )
    assert merge_actions([executed, planned], [later]) == [executed, later]


# --- attribution before action (credfix.core.attribution) ---------------------------------

OUTSIDER = SourceAttribution(
    ip="203.0.113.50", scope="none", why="203.0.113.50 is not an address of account 123456789012"
)
NAT = SourceAttribution(ip="198.51.100.7", scope="vpc", vpc_id="vpc-a", why="NAT gateway of vpc-a")


def service(name: str, vpc: str | None) -> Workload:
    arn = f"arn:aws:ecs:eu-west-1:123456789012:service/prod/{name}"
    return Workload(type="ecs-service", id=arn, confidence="medium", cluster=CLUSTER, vpc_id=vpc)


def test_an_outsider_moves_nothing_and_every_skip_says_why() -> None:
    planned = plan(incident([task(1)], attribution=[OUTSIDER]), Settings())
    assert [(p.type, p.actionable) for p in planned] == [("ecs-force-new-deployment", False)]
    assert planned[0].skip is not None and planned[0].skip.startswith("not attributed: 203.0.113.50 is not")


@pytest.mark.parametrize("verdict", ["stale-consumer", "stale-secret"])
def test_a_vpc_address_permits_restarting_stragglers_running_there(verdict: str) -> None:
    consumer = service("orders", "vpc-a").model_copy(
        update={"credentials": [ConfiguredCredential(kind="secret", ref=SECRET)]}
    )
    planned = plan(incident([consumer], verdict=verdict, attribution=[NAT]), Settings())
    assert [p.actionable for p in planned if p.type == "ecs-force-new-deployment"] == [True]


def test_a_vpc_address_never_restarts_elsewhere_or_for_other_verdicts() -> None:
    elsewhere = plan(incident([service("orders", "vpc-b")], attribution=[NAT]), Settings())
    assert "runs in vpc-b, not in vpc-a" in str(elsewhere[0].skip)
    unknown_vpc = plan(incident([service("orders", None)], attribution=[NAT]), Settings())
    assert "VPC is unknown" in str(unknown_vpc[0].skip)
    for verdict in ("signature-mismatch", "key-deleted"):
        settings = Settings(CREDFIX_RESTART_ON_KEY_LIFECYCLE=True)
        planned = plan(incident([service("orders", "vpc-a")], verdict=verdict, attribution=[NAT]), settings)
        assert planned[0].skip is not None and "permits restarting rotation stragglers" in planned[0].skip


def test_sources_that_disagree_act_on_nothing() -> None:
    a, b = service("orders", "vpc-a"), service("billing", "vpc-a")
    planned = plan(incident([a, b], attribution=[through_endpoint(a.id), through_endpoint(b.id)]), Settings())
    assert not any(p.actionable for p in planned)
    assert all(str(p.skip).startswith("not attributed:") for p in planned)


def test_an_outsiders_noise_does_not_stop_the_attributed_action() -> None:
    planned = plan(incident([task(1)], attribution=[through_endpoint(task(1).id), OUTSIDER]), Settings())
    assert [(p.type, p.actionable) for p in planned] == [("ecs-force-new-deployment", True)]


def test_a_stale_secret_rotation_waits_for_an_attributed_consumer() -> None:
    consumer = task(1, credentials=[ConfiguredCredential(kind="secret", ref=SECRET)])
    planned = plan(incident([consumer], verdict="stale-secret", attribution=[OUTSIDER]), Settings())
    rotation = next(p for p in planned if p.type == "secret-rotate")
    assert not rotation.actionable and str(rotation.skip).startswith("not attributed:")
