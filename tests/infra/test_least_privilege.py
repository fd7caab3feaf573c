"""Least privilege, read from the synthesized templates of both configurations (single account,
organisation) and of an organisation that configures an SSM command and untagged watch
prefixes: what can run code is opt-in, every write of the act role is scoped, credfix's own
functions are out of the act role's reach, and every grant to a service principal is bound to
its source (the confused deputy)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from credfix.core.remediate.model import SSM_DOCUMENT_NAME
from tests.conftest import ORG_CONTEXT, synth
from tests.infra.test_deploy_anywhere import CFN_LINT_IGNORED

pytestmark = pytest.mark.infra

READ_VERBS = ("Describe", "List", "Get")
# Active tracing (Lambda adds it): X-Ray's trace writes support no resource-level permission.
TRACING = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
SSM_CONTEXT = {**ORG_CONTEXT, "ssm_command": "systemctl restart gitlab-runner", "watch_untagged": True}
OPT_OUT = {"StringNotEquals": {"aws:ResourceTag/credfix:remediate": "false"}}
SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount")


@pytest.fixture(scope="module")
def ssm_templates() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth(SSM_CONTEXT, out)


def both(single: dict[str, Any], org: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**{f"single/{k}": v for k, v in single.items()}, **{f"org/{k}": v for k, v in org.items()}}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def role_statements(template: dict[str, Any], role_prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every statement of every policy attached to a role whose logical id starts with one of
    the prefixes (the home act Lambda's role, a member account's act role)."""
    found = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        roles = {r.get("Ref") for r in policy["Properties"].get("Roles", [])}
        if any(str(r).startswith(role_prefixes) for r in roles):
            found += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


ACT_ROLES = ("FunctionsActRole", "ActRole")


def allowed(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow" and action in as_list(s["Action"])]


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_default_context_grants_no_ssm_send_command(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any]
) -> None:
    for name, template in both(single_account_templates, org_templates).items():
        for policy in of_type(template, "AWS::IAM::Policy").values():
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                assert "ssm:SendCommand" not in as_list(statement["Action"]), name
        assert not of_type(template, "AWS::SSM::Document"), name
        for fn in of_type(template, "AWS::Lambda::Function").values():
            assert fn["Properties"]["Environment"]["Variables"].get("CREDFIX_SSM_DOCUMENT") == "", name


def test_configured_command_is_credfix_own_document_on_opted_in_instances_only(
    ssm_templates: dict[str, Any],
) -> None:
    home = ssm_templates["credfix-home"]
    (document,) = of_type(home, "AWS::SSM::Document").values()
    props = document["Properties"]
    assert props["Name"] == SSM_DOCUMENT_NAME and props["DocumentType"] == "Command"
    assert "parameters" not in props["Content"]  # the act role cannot pass a command of its own
    assert props["Content"]["mainSteps"][0]["inputs"]["runCommand"] == ["systemctl restart gitlab-runner"]
    # SSM documents are regional: every stack that covers a region of an account has it.
    for name in ("credfix-forwarder-us-east-1", "credfix-member-forwarder"):
        assert of_type(ssm_templates[name], "AWS::SSM::Document"), name
    for name in ("credfix-home", "credfix-member-roles"):
        sends = allowed(role_statements(ssm_templates[name], ACT_ROLES), "ssm:SendCommand")
        assert len(sends) == 2, name
        by_resource = {text(s["Resource"]): s.get("Condition") for s in sends}
        (document_arn,) = [r for r in by_resource if f"document/{SSM_DOCUMENT_NAME}" in r]
        (instances,) = [r for r in by_resource if "instance/*" in r]
        assert "AWS-RunShellScript" not in str(by_resource)
        assert by_resource[document_arn] is None
        assert by_resource[instances] == {"StringEquals": {"ssm:resourceTag/credfix:ssm-command": "true"}}
    env = next(iter(of_type(home, "AWS::Lambda::Function").values()))["Properties"]["Environment"]
    assert env["Variables"]["CREDFIX_SSM_DOCUMENT"] == SSM_DOCUMENT_NAME


def write_statements(templates: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, template in templates.items():
        for statement in role_statements(template, ACT_ROLES):
            if statement["Effect"] != "Allow":
                continue
            for action in as_list(statement["Action"]):
                verb = action.split(":", 1)[1]
                if not verb.startswith(READ_VERBS) and action not in TRACING:
                    yield name, action, statement


def test_no_act_write_on_any_resource_without_a_tag_condition(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any], ssm_templates: dict[str, Any]
) -> None:
    checked = 0
    templates = {**both(single_account_templates, org_templates), **ssm_templates}
    for name, action, statement in write_statements(templates):
        checked += 1
        tagged = "ResourceTag/" in text(statement.get("Condition", {})) or "resourceTag/" in text(
            statement.get("Condition", {})
        )
        assert "*" not in as_list(statement["Resource"]) or tagged, f"{name}: {action} on *"
    assert checked > 10


def test_lambda_invoke_only_on_tagged_rotation_functions(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any], ssm_templates: dict[str, Any]
) -> None:
    """RotateSecret needs lambda:InvokeFunction on the rotation function (AWS API reference,
    RotateSecret): granted only on functions tagged credfix:rotation-function=true, never on
    function:* alone."""
    templates = {**both(single_account_templates, org_templates), **ssm_templates}
    found = 0
    for name, template in templates.items():
        for policy in of_type(template, "AWS::IAM::Policy").values():
            for statement in allowed(
                as_list(policy["Properties"]["PolicyDocument"]["Statement"]), "lambda:InvokeFunction"
            ):
                found += 1
                assert statement["Condition"] == {
                    "StringEquals": {"aws:ResourceTag/credfix:rotation-function": "true"}
                }, name
                assert as_list(statement["Action"]) == ["lambda:InvokeFunction"], name
    assert found >= 3  # home (twice) and the member act role


def test_credfix_functions_cannot_be_touched_by_the_act_role(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any]
) -> None:
    for name, template in {"single": single_account_templates, "org": org_templates}.items():
        home = template["credfix-home"]
        functions = of_type(home, "AWS::Lambda::Function")
        statements = role_statements(home, ("FunctionsActRole",))
        (deny,) = [s for s in statements if s.get("Sid") == "DenyCredfixOwnFunctions"]
        assert deny["Effect"] == "Deny"
        assert set(deny["Action"]) >= {
            "lambda:UpdateFunctionConfiguration",
            "lambda:GetFunctionConfiguration",
        }
        denied = text(deny["Resource"])
        for lid, fn in functions.items():
            assert text({"Fn::GetAtt": [lid, "Arn"]}) in denied, f"{name}: {lid} not denied"
            assert {"Key": "credfix:remediate", "Value": "false"} in fn["Properties"]["Tags"]
        # and the grant itself excludes them by their tag
        (update,) = allowed(statements, "lambda:UpdateFunctionConfiguration")
        assert update["Condition"] == OPT_OUT
        # no layer can be attached through the refresh
        (layers,) = [s for s in statements if s.get("Sid") == "DenyLayerChanges"]
        assert layers["Effect"] == "Deny" and layers["Condition"] == {"Null": {"lambda:Layer": "false"}}


def service_grants(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource type, service principal, statement) of every Allow to a service principal in a
    resource policy (queue, topic, key, bus, bucket); Lambda permissions as statement-shaped."""
    documents = {
        "AWS::SQS::QueuePolicy": "PolicyDocument",
        "AWS::SNS::TopicPolicy": "PolicyDocument",
        "AWS::S3::BucketPolicy": "PolicyDocument",
        "AWS::KMS::Key": "KeyPolicy",
    }
    for kind, key in documents.items():
        for resource in of_type(template, kind).values():
            for statement in as_list(resource["Properties"][key]["Statement"]):
                services = (
                    as_list(statement.get("Principal", {}).get("Service", []))
                    if isinstance(statement.get("Principal"), dict)
                    else []
                )
                if statement["Effect"] == "Allow":
                    for service in services:
                        yield kind, str(service), statement
    for permission in of_type(template, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        if str(props["Principal"]).endswith(".amazonaws.com"):
            condition = {k: v for k, v in props.items() if k in ("SourceArn", "SourceAccount")}
            yield (
                "AWS::Lambda::Permission",
                str(props["Principal"]),
                {"Condition": {"aws:" + k: v for k, v in condition.items()}},
            )


def test_every_service_principal_grant_is_bound_to_its_source(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any], ssm_templates: dict[str, Any]
) -> None:
    """aws:SourceArn / aws:SourceAccount on every grant to an AWS service. One documented
    exception: a key policy cannot bind EventBridge's deliveries with them (AWS: not supported
    for EventBridge to an encrypted target; delivery fails), so that grant is bound to
    credfix's own queues by the SQS encryption context (kms:EncryptionContext:aws:sqs:arn)."""
    checked = 0
    templates = {**both(single_account_templates, org_templates), **ssm_templates}
    for name, template in templates.items():
        for kind, service, statement in service_grants(template):
            checked += 1
            keys = (
                {k.lower() for operator in statement.get("Condition", {}).values() for k in operator}
                if kind != "AWS::Lambda::Permission"
                else {k.lower() for k in statement["Condition"]}
            )
            if kind == "AWS::KMS::Key" and service == "events.amazonaws.com":
                assert keys == {"kms:encryptioncontext:aws:sqs:arn"}, name
                values = text(statement["Condition"])
                assert "credfix-events" in values and "credfix-events-dlq" in values, name
                continue
            assert keys & set(SOURCE_KEYS), f"{name}: {kind} grant to {service} has no source condition"
    assert checked >= 6


def test_watch_prefixes_need_the_tag_unless_untagged_is_explicit(
    org_templates: dict[str, Any], ssm_templates: dict[str, Any]
) -> None:
    """ORG_CONTEXT sets watch_prefixes without watch_untagged: every statement on secrets keeps
    the watch tag condition. With watch_untagged=true the prefixes get their own statement."""

    def secret_statements(templates: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            s
            for template in templates.values()
            for policy in of_type(template, "AWS::IAM::Policy").values()
            for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"])
            if any(
                a.startswith("secretsmanager:") and a != "secretsmanager:ListSecrets"
                for a in as_list(s["Action"])
            )
        ]

    tagged = {"StringEquals": {"secretsmanager:ResourceTag/credfix:watch": "true"}}
    default = secret_statements(org_templates)
    assert default and all(s.get("Condition") == tagged for s in default)
    untagged = [s for s in secret_statements(ssm_templates) if s.get("Condition") != tagged]
    assert untagged and all("secret:ci/*" in text(s["Resource"]) for s in untagged)
    assert not any("secret:*" in text(s["Resource"]) for s in untagged)


def test_cfn_lint_passes_with_a_command_and_untagged_prefixes(ssm_templates: dict[str, Any]) -> None:
    """cdk-nag ran in synth (a finding fails it); cfn-lint on these templates too."""
    problems = []
    for name, template in ssm_templates.items():
        matches = lint(
            json.dumps(template), config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=["us-east-1"])
        )
        problems += [f"{name}: {m.rule.id} {m.message}" for m in matches]
    assert problems == []
