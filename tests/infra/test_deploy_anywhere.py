"""Issue 7: configuration, forwarders per region, organisation mode, cfn-lint on every template."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from infra.config import ConfigError, load
from infra.detection import ALL_MANAGEMENT_EVENTS
from infra.rotation import rotation_patterns
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra

# CDK adds an explicit DependsOn on a function's role that a GetAtt already implies: harmless.
CFN_LINT_IGNORED = ["W3005"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"home_region": "mars-1"}, "home_region: Value error, 'mars-1' is not a region name"),
        ({"mode": "yolo"}, "mode: Input should be 'observe' or 'enforce'"),
        ({"regions": "eu-west-1,nowhere"}, "regions: Value error, not region names: ['nowhere']"),
        ({"alerts": {"emails": ["not-an-address"]}}, "alerts.emails: Value error, not e-mail addresses"),
        ({"alerts": {"https": ["http://plain.example.com"]}}, "HTTPS endpoints must start with https://"),
        ({"alerts": {"sqs": ["arn:aws:sns:us-east-1:123456789012:x"]}}, "not SQS queue ARNs"),
        ({"alerts": {"pager": ["x"]}}, "alerts.pager: Extra inputs are not permitted"),
        ({"drain_minutes": 30}, "drain_minutes: Input should be less than or equal to 15"),
        ({"org": {"enabled": True}}, "org.enabled needs org.organization_id"),
        ({"org": {"enabled": True, "organization_id": "o-abcd123456"}}, "org mode needs `account`"),
        ({"kill_switch_parameter": "no-slash"}, "kill_switch_parameter must be an SSM parameter path"),
        ({"ssm_command": "echo {{ secret }}"}, "ssm_command must not contain {{ }}"),
        (
            {"reannounce_after_minutes": 60, "stuck_alarm_minutes": 60},
            "stuck_alarm_minutes must be longer than reannounce_after_minutes",
        ),
        (
            {"reannounce_after_minutes": 1},
            "reannounce_after_minutes: Input should be greater than or equal to 5",
        ),
    ],
)
def test_bad_context_fails_with_a_clear_message(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(context.get)
    assert message in str(info.value)
    assert str(info.value).startswith("credfix: invalid cdk.json context:")


def test_defaults_are_safe() -> None:
    config = load({}.get)
    assert config.mode == "observe"
    assert config.home_region == "us-east-1" and config.forwarder_regions == []
    assert not config.org.enabled and not config.create_trail


def test_cli_style_overrides_are_coerced() -> None:
    config = load(
        {
            "regions": '["eu-west-1"]',
            "max_actions_per_hour": "5",
            "restart_on_key_lifecycle": "true",
            "alerts": json.dumps({"emails": ["a@example.com"]}),
        }.get
    )
    assert config.regions == ["eu-west-1"] and config.max_actions_per_hour == 5
    assert config.restart_on_key_lifecycle is True and config.alerts.emails == ["a@example.com"]


def test_cdk_json_context_is_valid() -> None:
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    config = load(context.get)
    assert config.mode == "observe"


def _rule(template: dict[str, Any]) -> dict[str, Any]:
    """The credential-failure rule (the others are the rotation watch's)."""
    (rule,) = [
        r
        for r in resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("State") == ALL_MANAGEMENT_EVENTS
    ]
    return dict(rule["Properties"])


def _rotation_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        dict(r["Properties"])
        for r in resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("Description", "").endswith("(rotation watch)")
    ]


def test_forwarder_per_region_with_the_same_rule_and_state(org_templates: dict[str, Any]) -> None:
    forwarders = sorted(name for name in org_templates if name.startswith("credfix-forwarder-"))
    # home eu-west-1; covered eu-central-1 and us-west-2; us-east-1 always (IAM and STS log there)
    assert forwarders == [
        "credfix-forwarder-eu-central-1",
        "credfix-forwarder-us-east-1",
        "credfix-forwarder-us-west-2",
    ]
    home_rule = next(
        r
        for r in resources(org_templates["credfix-home"], "AWS::Events::Rule").values()
        if "EventBusName" not in r["Properties"] and r["Properties"].get("State") == ALL_MANAGEMENT_EVENTS
    )["Properties"]
    patterns = sorted(json.dumps(p, sort_keys=True) for p in rotation_patterns().values())
    for name in forwarders:
        rotation = _rotation_rules(org_templates[name])
        assert sorted(json.dumps(r["EventPattern"], sort_keys=True) for r in rotation) == patterns
        for forwarded in rotation:
            assert "event-bus/default" in json.dumps(forwarded["Targets"][0]["Arn"])
            assert "DeadLetterConfig" in forwarded["Targets"][0]
        rule = _rule(org_templates[name])
        assert rule["State"] == ALL_MANAGEMENT_EVENTS
        assert rule["EventPattern"] == home_rule["EventPattern"]
        target = rule["Targets"][0]
        assert "event-bus/default" in json.dumps(target["Arn"]) and ":eu-west-1:" in json.dumps(target["Arn"])
        assert "RoleArn" in target and "DeadLetterConfig" in target


def test_single_account_in_us_east_1_needs_no_forwarder(single_account_templates: dict[str, Any]) -> None:
    assert sorted(single_account_templates) == ["credfix-home"]


def test_central_bus_accepts_only_the_organisation(org_templates: dict[str, Any]) -> None:
    home = org_templates["credfix-home"]
    (bus,) = resources(home, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "credfix-central"
    policies = resources(home, "AWS::Events::EventBusPolicy")
    statements = [p["Properties"]["Statement"] for p in policies.values()]
    assert statements and all(
        s["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcd123456"}} for s in statements
    )
    assert all(s["Action"] == "events:PutEvents" for s in statements)
    member_rule = _rule(org_templates["credfix-member-forwarder"])
    assert member_rule["State"] == ALL_MANAGEMENT_EVENTS
    assert "credfix-central" in json.dumps(member_rule["Targets"][0]["Arn"])
    member_rotation = _rotation_rules(org_templates["credfix-member-forwarder"])
    assert len(member_rotation) == len(rotation_patterns())
    assert all("credfix-central" in json.dumps(r["Targets"][0]["Arn"]) for r in member_rotation)
    central_rotation = [r for r in _rotation_rules(home) if "EventBusName" in r]
    assert len(central_rotation) == len(rotation_patterns())


def test_member_roles_trust_only_the_central_lambdas_and_hold_no_iam_write(
    org_templates: dict[str, Any],
) -> None:
    template = org_templates["credfix-member-roles"]
    roles = resources(template, "AWS::IAM::Role")
    assert {r["Properties"]["RoleName"] for r in roles.values()} == {
        "credfix-member-read",
        "credfix-member-act",
        "credfix-member-rotation",
    }
    for role in roles.values():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        principal = json.dumps(statement["Principal"])
        assert ":111122223333:role/credfix-" in principal and "-eu-west-1" in principal
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcd123456"}}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(
                a.startswith("iam:") and not a.startswith(("iam:Get", "iam:List")) for a in actions
            )
            assert not any(a.startswith(("dynamodb:", "sqs:", "sns:")) for a in actions)  # home-only kinds


def test_home_lambdas_may_assume_member_roles_in_org_mode_only(org_templates: dict[str, Any]) -> None:
    policies = resources(org_templates["credfix-home"], "AWS::IAM::Policy")
    assume = [
        s
        for lid, p in policies.items()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "sts:AssumeRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert len(assume) == 3  # triage, act and rotation
    assert all(s["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-abcd123456"}} for s in assume)


def test_opt_in_trail_is_multi_region() -> None:
    from tests.infra.conftest import synth

    with tempfile.TemporaryDirectory() as out:
        templates = synth({"create_trail": True}, out)
    (trail,) = resources(templates["credfix-home"], "AWS::CloudTrail::Trail").values()
    assert trail["Properties"]["IsMultiRegionTrail"] is True
    assert trail["Properties"]["IncludeGlobalServiceEvents"] is True


def test_cfn_lint_passes_on_every_template(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any]
) -> None:
    problems = []
    for name, template in {
        **single_account_templates,
        **{f"org/{k}": v for k, v in org_templates.items()},
    }.items():
        matches = lint(
            json.dumps(template), config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=["us-east-1"])
        )
        problems += [f"{name}: {m.rule.id} {m.message}" for m in matches]
    assert problems == []
