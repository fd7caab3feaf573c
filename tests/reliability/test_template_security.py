"""Security checks over EVERY synthesized template of both configurations (single account,
organisation with forwarders in several regions), walking resources by type so that a
queue, topic, table, bus or role added later is checked without touching this file.

tests/infra checks the home stack's specifics (counts, exact policies per role); these are
the cross-cutting invariants."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ORG_CONTEXT
from tests.reliability._support import measure

pytestmark = pytest.mark.infra

ORG_ID = str(ORG_CONTEXT["org"]["organization_id"])  # type: ignore[index]
# IAM actions that only read; anything else under iam: changes IAM.
IAM_READ_PREFIXES = ("iam:Get", "iam:List", "iam:Generate", "iam:Simulate")
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "FullAccess", "IAM")
TLS_DENY = {"Bool": {"aws:SecureTransport": "false"}}
CHECKED: Counter[str] = Counter()


def configurations(single: dict[str, Any], org: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'single/credfix-home', 'org/credfix-forwarder-us-west-2', ... -> template"""
    return {
        **{f"single/{name}": t for name, t in single.items()},
        **{f"org/{name}": t for name, t in org.items()},
    }


@pytest.fixture(scope="module")
def templates(
    single_account_templates: dict[str, Any], org_templates: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    found = configurations(single_account_templates, org_templates)
    assert len(found) >= 6  # home x2, member roles, member forwarder, region forwarders
    return found


def of_type(template: dict[str, Any], *kinds: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] in kinds}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document.get("Statement", []))


def refs(value: Any) -> set[str]:
    """Logical ids a property points at ({"Ref": id} or {"Fn::GetAtt": [id, ...]})."""
    found: set[str] = set()
    for item in as_list(value):
        if isinstance(item, dict) and "Ref" in item:
            found.add(item["Ref"])
        elif isinstance(item, dict) and "Fn::GetAtt" in item:
            found.add(item["Fn::GetAtt"][0])
    return found


def test_every_queue_topic_and_table_is_encrypted(templates: dict[str, dict[str, Any]]) -> None:
    for name, template in templates.items():
        for lid, queue in of_type(template, "AWS::SQS::Queue").items():
            props = queue["Properties"]
            assert "KmsMasterKeyId" in props or props.get("SqsManagedSseEnabled") is True, f"{name}/{lid}"
            CHECKED["queues"] += 1
        for lid, topic in of_type(template, "AWS::SNS::Topic").items():
            assert "KmsMasterKeyId" in topic["Properties"], f"{name}/{lid}"
            CHECKED["topics"] += 1
        for lid, table in of_type(template, "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable").items():
            props = table["Properties"]
            assert props.get("SSESpecification", {}).get("SSEEnabled") is True, f"{name}/{lid}"
            for replica in props.get("Replicas", []):  # a GlobalTable's key lives on each replica
                assert "KMSMasterKeyId" in replica.get("SSESpecification", {}), f"{name}/{lid}"
            CHECKED["tables"] += 1
    assert CHECKED["queues"] and CHECKED["topics"] and CHECKED["tables"]


@pytest.mark.parametrize(
    ("resource", "policy", "pointer"),
    [
        ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues"),
        ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics"),
    ],
)
def test_every_queue_and_topic_policy_denies_requests_without_tls(
    templates: dict[str, dict[str, Any]], resource: str, policy: str, pointer: str
) -> None:
    for name, template in templates.items():
        tls_only: set[str] = set()
        for policy_resource in of_type(template, policy).values():
            props = policy_resource["Properties"]
            if any(
                s["Effect"] == "Deny" and s.get("Condition") == TLS_DENY and "*" in str(s.get("Principal"))
                for s in statements(props["PolicyDocument"])
            ):
                tls_only |= refs(props[pointer])
        for lid in of_type(template, resource):
            assert lid in tls_only, f"{name}/{lid}: no policy denies aws:SecureTransport=false"
            CHECKED[f"tls-only {resource}"] += 1


def role_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, statement) for every permission statement of every role, however attached."""
    found: list[tuple[str, dict[str, Any]]] = []
    for lid, policy in of_type(template, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
        found += [(lid, s) for s in statements(policy["Properties"]["PolicyDocument"])]
    for lid, role in of_type(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(f"{lid}/{inline['PolicyName']}", s) for s in statements(inline["PolicyDocument"])]
    return found


def test_no_role_may_write_iam_or_use_wildcard_actions(templates: dict[str, dict[str, Any]]) -> None:
    for name, template in templates.items():
        for lid, role in of_type(template, "AWS::IAM::Role").items():
            for arn in role["Properties"].get("ManagedPolicyArns", []):
                assert not any(broad in str(arn) for broad in BROAD_MANAGED_POLICIES), f"{name}/{lid}: {arn}"
            CHECKED["roles"] += 1
        for where, statement in role_statements(template):
            assert "NotAction" not in statement, f"{name}/{where}: NotAction grants everything else"
            if statement["Effect"] != "Allow":
                continue
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}/{where}: wildcard action {action}"
                assert not (action.startswith("iam:") and not action.startswith(IAM_READ_PREFIXES)), (
                    f"{name}/{where}: IAM write {action}"
                )
                CHECKED["allowed actions"] += 1
    assert CHECKED["roles"] and CHECKED["allowed actions"]


def test_event_buses_accept_only_the_organisation(templates: dict[str, dict[str, Any]]) -> None:
    """Any statement that lets other accounts put events on a bus (a bus policy resource or a
    bus's inline Policy) must be conditioned on the organisation; single-account mode opens
    no bus at all."""
    for name, template in templates.items():
        opened: list[dict[str, Any]] = []
        for policy in of_type(template, "AWS::Events::EventBusPolicy").values():
            props = policy["Properties"]
            opened += as_list(props.get("Statement")) if "Statement" in props else [props]
        for bus in of_type(template, "AWS::Events::EventBus").values():
            opened += statements(bus["Properties"].get("Policy", {}))
        if name.startswith("single/"):
            assert opened == [], f"{name}: single-account mode opens an event bus"
        for statement in opened:
            if statement.get("Effect", "Allow") != "Allow":
                continue
            assert statement.get("Condition") == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}, name
            assert as_list(statement.get("Action")) == ["events:PutEvents"], name
            CHECKED["bus statements"] += 1
    assert CHECKED["bus statements"] >= 1  # org mode has its central bus


@pytest.fixture(scope="module", autouse=True)
def _report_what_was_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    failed_before = request.session.testsfailed
    yield
    failures = request.session.testsfailed - failed_before
    if CHECKED:
        measure(
            "template-security",
            injects="(static) every template of single-account + organisation synth",
            load=", ".join(f"{k} {v}" for k, v in sorted(CHECKED.items())),
            held={"failed_checks": failures},
        )
