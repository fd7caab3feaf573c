"""The runtime-log signal in the synthesized stacks (opt-in `log_signal`): the account policy in
every covered account and region, what it excludes, its destination, and the least privilege of
the intake and the relays (exactly what their code declares)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from credfix.models.logs import POLICY_NAME, filter_pattern
from credfix.registry import policy_for
from infra.config import ConfigError
from tests.conftest import ORG_CONTEXT, synth
from tests.infra.conftest import resources
from tests.infra.test_deploy_anywhere import CFN_LINT_IGNORED
from tests.infra.test_home_stack import IAM_WRITES, RUNTIME_ACTIONS, _actions, role_actions

pytestmark = pytest.mark.infra
SIGNAL = {"log_signal": {"enabled": True, "exclude_log_groups": "/aws/lambda/chatty,/app/debug"}}


@pytest.fixture(scope="module")
def org_signal() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth({**ORG_CONTEXT, **SIGNAL, "include_expired_token": True}, out)


@pytest.fixture(scope="module")
def single_signal() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth(SIGNAL, out)


def _flat(value: Any) -> str:
    """A CloudFormation value with Fn::Join resolved and references as <Ref:LogicalId>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_flat(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value)


def _policy(template: dict[str, Any]) -> dict[str, Any]:
    (policy,) = resources(template, "AWS::Logs::AccountPolicy").values()
    props: dict[str, Any] = policy["Properties"]
    return props


def test_the_signal_is_off_unless_asked_for(single_account_templates: dict[str, Any]) -> None:
    for template in single_account_templates.values():
        assert resources(template, "AWS::Logs::AccountPolicy") == {}
    fns = resources(single_account_templates["credfix-home"], "AWS::Lambda::Function").values()
    assert "credfix.handlers.logs.handler" not in {f["Properties"]["Handler"] for f in fns}


def test_the_home_policy_sends_candidate_lines_to_the_intake_and_never_credfixs_own(
    single_signal: dict[str, Any],
) -> None:
    home = single_signal["credfix-home"]
    props = _policy(home)
    assert (props["PolicyName"], props["PolicyType"], props["Scope"]) == (
        POLICY_NAME,
        "SUBSCRIPTION_FILTER_POLICY",
        "ALL",
    )
    document = json.loads(_flat(props["PolicyDocument"]).replace('"<GetAtt:', '"GetAtt:').replace('>"', '"'))
    (intake,) = [
        k
        for k, f in resources(home, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "credfix.handlers.logs.handler"
    ]
    assert document == {"DestinationArn": f"GetAtt:{intake}.Arn", "FilterPattern": filter_pattern(False)}
    assert "RoleArn" not in document  # a same-account Lambda needs no role to pass
    criteria = _flat(props["SelectionCriteria"])
    groups = [k for k in resources(home, "AWS::Logs::LogGroup")]
    assert len(groups) == 7  # ingest, triage, act, verify, rotation, sweep, and the intake's own
    assert (
        criteria
        == "LogGroupName NOT IN ["
        + ", ".join([f'"<Ref:{g}>"' for g in groups] + ['"/app/debug"', '"/aws/lambda/chatty"'])
        + "]"
    )
    (permission,) = [
        p["Properties"]
        for p in resources(home, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "logs.amazonaws.com"
    ]
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert _flat(permission["SourceArn"]).endswith(":log-group:*")
    (invoke_config,) = resources(home, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    assert "OnFailure" in invoke_config["Properties"]["DestinationConfig"]


def test_the_intake_holds_exactly_what_its_code_declares(single_signal: dict[str, Any]) -> None:
    granted = role_actions(single_signal["credfix-home"], "logs")
    declared = {a for actions in policy_for("logs").values() for a in actions}
    # The on-failure destination's send to its (credfix-key encrypted) dead-letter queue.
    destination = {"sqs:SendMessage", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
    assert granted == declared | RUNTIME_ACTIONS | destination
    assert declared == {
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:BatchGetItem",
        "sqs:SendMessage",
    }  # counting, as ingest counts: nothing that reads or changes a workload
    assert not any(a.startswith(IAM_WRITES) for a in granted)


def test_act_may_never_touch_the_intake(single_signal: dict[str, Any]) -> None:
    home = single_signal["credfix-home"]
    (intake,) = [
        k
        for k, f in resources(home, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "credfix.handlers.logs.handler"
    ]
    (guard,) = [p for lid, p in resources(home, "AWS::IAM::Policy").items() if lid.startswith("ActGuard")]
    denied = json.dumps(guard["Properties"]["PolicyDocument"])
    assert intake in denied


def test_every_account_and_region_relays_home_with_one_permission(org_signal: dict[str, Any]) -> None:
    relays = {name: t for name, t in org_signal.items() if "forwarder" in name}
    assert sorted(relays) == [
        "credfix-forwarder-eu-central-1",
        "credfix-forwarder-us-east-1",
        "credfix-forwarder-us-west-2",
        "credfix-member-forwarder",
    ]
    for name, template in relays.items():
        props = _policy(template)
        document = json.loads(_flat(props["PolicyDocument"]))
        assert document["FilterPattern"] == filter_pattern(True), name  # include_expired_token
        (fn,) = resources(template, "AWS::Lambda::Function").values()
        assert fn["Properties"]["Handler"] == "credfix.handlers.relay.handler"
        policies = resources(template, "AWS::IAM::Policy")
        statements = [
            s
            for lid, p in policies.items()
            if lid.startswith("FunctionsRelayRole")
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        put = [s for s in statements if "events:PutEvents" in _actions(s)]
        assert [_flat(s["Resource"]) for s in put] == [
            "arn:<Ref:AWS::Partition>:events:<Ref:AWS::Region>:<Ref:AWS::AccountId>:event-bus/default"
        ], name
        actions = {a for s in statements for a in _actions(s)}
        assert actions - {"events:PutEvents", "sqs:SendMessage"} <= RUNTIME_ACTIONS, name
        relayed = [
            r["Properties"]
            for r in resources(template, "AWS::Events::Rule").values()
            if r["Properties"].get("EventPattern", {}).get("source") == ["credfix.logs"]
        ]
        assert len(relayed) == 1 and relayed[0]["Targets"][0]["DeadLetterConfig"], name


def test_the_home_stack_queues_relayed_lines_from_its_bus_and_the_central_bus(
    org_signal: dict[str, Any],
) -> None:
    home = org_signal["credfix-home"]
    relayed = [
        r["Properties"]
        for r in resources(home, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["credfix.logs"]
    ]
    assert len(relayed) == 2  # the default bus (other regions) and the central bus (member accounts)
    assert {json.dumps(r.get("EventBusName")) for r in relayed} != {"null"}
    mappings = resources(home, "AWS::Lambda::EventSourceMapping").values()
    queues = {_flat(m["Properties"]["EventSourceArn"]) for m in mappings}
    assert any("LogEventsQueue" in q for q in queues)


def test_bad_exclusions_fail_synth_with_the_names() -> None:
    with tempfile.TemporaryDirectory() as out, pytest.raises(ConfigError) as info:
        synth({"log_signal": {"enabled": True, "exclude_log_groups": ["ok/group", "bad group!"]}}, out)
    assert "log_signal.exclude_log_groups" in str(info.value) and "bad group!" in str(info.value)


def test_cfn_lint_passes_with_the_signal(single_signal: dict[str, Any], org_signal: dict[str, Any]) -> None:
    problems = []
    for name, template in {**single_signal, **{f"org/{k}": v for k, v in org_signal.items()}}.items():
        matches = lint(
            json.dumps(template), config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=["us-east-1"])
        )
        problems += [f"{name}: {m.rule.id} {m.message}" for m in matches]
    assert problems == []
