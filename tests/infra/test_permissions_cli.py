"""`credfix permissions` prints what the stack deploys: its statements are compared with the
synthesized policies, the stack's intrinsic functions rendered back into the placeholders the
CLI prints (`${AWS::Partition}`, `${AWS::AccountId}`, `${credfix:KIND}`)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from credfix.cli import main
from credfix.cli.permissions import policy_document
from credfix.scopes import Deployment, placeholder
from infra.app import HOME_STACK_NAME, build_app
from tests.conftest import ORG_CONTEXT
from tests.infra.test_least_privilege import as_list, of_type

pytestmark = pytest.mark.infra

# What every function's role holds besides the declared permissions (logs, tracing, its key,
# the queue its event source mapping polls): not printed for people.
RUNTIME_SIDS = {"WriteOwnLogs", "UseCredfixKey"}
PSEUDO = {"AWS::Partition", "AWS::AccountId", "AWS::Region"}


@pytest.fixture(scope="module")
def placeholders() -> dict[str, str]:
    """The home stack's resources as the template refers to them -> the CLI's placeholders
    (the app is built, not synthesized: logical ids are the same as in the session's synth)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    app = build_app(None)
    home: Any = app.node.find_child(HOME_STACK_NAME)
    found = {key(home.resolve(arn)): placeholder(kind) for kind, arn in home.home_resources().items()}
    for role, fn in home.functions.made.items():
        found[key(home.resolve(fn.function_arn))] = placeholder(f"function/{role}")
    return found


def key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def render(value: Any, placeholders: dict[str, str]) -> str:
    """A template value (string, Ref, GetAtt, Join) as the CLI would print it."""
    if isinstance(value, str):
        return value
    if key(value) in placeholders:
        return placeholders[key(value)]
    if isinstance(value, dict) and value.get("Ref") in PSEUDO:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(p, placeholders) for p in parts)
    raise AssertionError(f"no placeholder for {value}")


def normal(statement: dict[str, Any], placeholders: dict[str, str]) -> tuple[str, ...]:
    return (
        statement["Effect"],
        key(sorted(as_list(statement["Action"]))),
        key(sorted(render(r, placeholders) for r in as_list(statement["Resource"]))),
        key(
            {
                k: {n: render(v, placeholders) for n, v in c.items()}
                for k, c in statement.get("Condition", {}).items()
            }
        ),
    )


def deployed(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    """The statements of every policy attached to the role, without the runtime ones."""
    found = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        roles = {str(r.get("Ref")) for r in policy["Properties"].get("Roles", [])}
        if any(r.startswith(role_prefix) for r in roles):
            for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                if s.get("Sid") and s["Sid"] not in RUNTIME_SIDS:
                    found.append(s)
    return found


def printed(*args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["permissions", *args]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_act_role_printed_is_the_act_role_deployed(
    single_account_templates: dict[str, Any], placeholders: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = printed("--role", "act", capsys=capsys)["Statement"]
    stack = deployed(single_account_templates[HOME_STACK_NAME], "FunctionsActRole")
    assert {normal(s, placeholders) for s in cli} == {normal(s, placeholders) for s in stack}
    assert len(cli) == len(stack) >= 15
    # What the issue found printed on "*": none of it any more.
    for statement in cli:
        if statement["Effect"] == "Allow" and statement["Resource"] == ["*"]:
            assert all(a.split(":")[1].startswith(("Describe", "List")) for a in statement["Action"])


@pytest.mark.parametrize("role", ["ingest", "triage", "verify", "sweep"])
def test_every_lambda_role_printed_is_the_one_deployed(
    single_account_templates: dict[str, Any],
    placeholders: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    role: str,
) -> None:
    cli = printed("--role", role, capsys=capsys)["Statement"]
    stack = deployed(single_account_templates[HOME_STACK_NAME], f"Functions{role.title()}Role")
    assert {normal(s, placeholders) for s in cli} == {normal(s, placeholders) for s in stack}


def test_cli_role_uses_the_scopes_the_stack_deploys(
    single_account_templates: dict[str, Any], placeholders: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No stack deploys the cli role (people attach it), but each of its statements uses the
    resources and conditions the stack deploys for the same kind (same Sid) in some role."""
    cli = printed("--role", "cli", capsys=capsys)["Statement"]
    template = single_account_templates[HOME_STACK_NAME]
    stack = [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        for s in as_list(p["Properties"]["PolicyDocument"]["Statement"])
    ]
    by_sid: dict[str, set[tuple[str, str]]] = {}
    for s in stack:
        if s.get("Sid") and s["Sid"] not in RUNTIME_SIDS:
            n = normal(s, placeholders)
            by_sid.setdefault(s["Sid"], set()).add((n[2], n[3]))
    # Describe/List; the DLQs `credfix redrive` moves; the stack `credfix doctor` reads and the
    # access entries it checks; the trail bucket people name (no role of the stack reads them).
    cli_only = {"Any", "CredfixQueues", "CredfixQueuesKey", "HomeStack", "EksAccessEntries", "TrailBucket"}
    compared = 0
    for statement in cli:
        if statement["Sid"] in cli_only:
            continue
        n = normal(statement, placeholders)
        assert (n[2], n[3]) in by_sid[statement["Sid"]], statement["Sid"]
        compared += 1
    assert compared >= 6
    (secrets,) = [s for s in cli if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secrets["Condition"] == {"StringEquals": {"secretsmanager:ResourceTag/credfix:watch": "true"}}
    assert not {"ssm:SendCommand", "lambda:UpdateFunctionConfiguration"} & {
        a for s in cli for a in s["Action"]
    }


def test_roles_merge_and_every_role_is_described(capsys: pytest.CaptureFixture[str]) -> None:
    merged = printed("--role", "cli,act", capsys=capsys)["Statement"]
    actions = {a for s in merged for a in s["Action"]}
    assert {"secretsmanager:GetSecretValue", "ecs:UpdateService", "sqs:ListQueues"} <= actions
    assert len({s["Sid"] for s in merged}) == len(merged)  # one statement per kind and scope
    assert main(["permissions", "--role", "cli,root"]) == 2
    assert main(["permissions", "--help"]) == 0
    help_text = capsys.readouterr().out
    for role in ("cli", "act", "triage", "ingest", "verify", "sweep"):
        assert f"  {role} " in help_text


def test_printed_with_ssm_command_and_prefixes_matches_that_deployment(
    org_templates: dict[str, Any], placeholders: dict[str, str]
) -> None:
    """The member act role (organisation mode) holds the workload kinds of the act role."""
    prefixes = tuple(str(ORG_CONTEXT["watch_prefixes"]).split(","))
    document = policy_document(["act"], Deployment())
    member = deployed(org_templates["credfix-member-roles"], "ActRole")
    member_sids = {s["Sid"] for s in member}
    for statement in document["Statement"]:
        if statement["Sid"] in member_sids:
            (same,) = [s for s in member if s["Sid"] == statement["Sid"]]
            assert normal(same, placeholders) == normal(statement, placeholders)
    with_prefixes = policy_document(
        ["triage"], Deployment(untagged_watch_prefixes=prefixes, ssm_command=True)
    )
    assert any("secret:ci/*" in json.dumps(s["Resource"]) for s in with_prefixes["Statement"])
    ssm = policy_document(["act"], Deployment(ssm_command=True))["Statement"]
    assert any(
        "ssm:SendCommand" in s["Action"] and "ssm:resourceTag/credfix:ssm-command" in json.dumps(s)
        for s in ssm
    )
