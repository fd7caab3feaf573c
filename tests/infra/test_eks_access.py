"""EKS access entries and the EKS calls' IAM scopes, as synthesized (cdk-nag runs at synth)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from infra.app import HOME_STACK_NAME
from infra.config import ConfigError, load
from tests.conftest import ORG_CONTEXT, synth
from tests.infra.conftest import resources
from tests.infra.test_deploy_anywhere import CFN_LINT_IGNORED

pytestmark = pytest.mark.infra
EKS = {"clusters": ["prod", "payments"], "act_group": "credfix-restarters"}


@pytest.fixture(scope="module")
def eks_template() -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth({"eks": json.dumps(EKS)}, out)[HOME_STACK_NAME]


def role_of(template: dict[str, Any], function_role: str) -> str:
    """The logical id of the role of function `function_role` (triage, act...)."""
    (logical,) = [
        k
        for k, v in resources(template, "AWS::IAM::Role").items()
        if v["Properties"].get("Description", "").startswith(f"credfix {function_role}:")
    ]
    return logical


def statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    return [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_an_access_entry_per_cluster_for_triage_and_act(eks_template: dict[str, Any]) -> None:
    triage, act = role_of(eks_template, "triage"), role_of(eks_template, "act")
    entries = sorted(
        (
            e["Properties"]["ClusterName"],
            e["Properties"]["PrincipalArn"]["Fn::GetAtt"][0],
            tuple(e["Properties"]["KubernetesGroups"]),
            e["Properties"]["Type"],
            "AccessPolicies" in e["Properties"],
        )
        for e in resources(eks_template, "AWS::EKS::AccessEntry").values()
    )
    assert entries == [
        ("payments", act, ("credfix-restarters",), "STANDARD", False),
        ("payments", triage, ("credfix-triage",), "STANDARD", False),
        ("prod", act, ("credfix-restarters",), "STANDARD", False),
        ("prod", triage, ("credfix-triage",), "STANDARD", False),
    ]


def test_eks_reads_are_scoped_to_the_named_clusters(eks_template: dict[str, Any]) -> None:
    triage = statements(eks_template, role_of(eks_template, "triage"))
    describe = [s for s in triage if "eks:DescribeCluster" in s["Action"]]
    (scoped,) = describe
    resources_ = [json.dumps(r) for r in scoped["Resource"]]
    assert len(resources_) == 2 and all(":cluster/" in r for r in resources_)
    assert any("cluster/prod" in r for r in resources_) and any("cluster/payments" in r for r in resources_)
    assert {"eks:ListFargateProfiles", "eks:ListPodIdentityAssociations"} <= set(scoped["Action"])
    listing = [s for s in triage if "eks:ListClusters" in s["Action"]]
    assert [s["Resource"] for s in listing] == ["*"]  # ListClusters has no resource-level permission
    act = statements(eks_template, role_of(eks_template, "act"))
    act_actions = {a for s in act for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "eks:DescribeCluster" in act_actions
    assert not {a for a in act_actions if a.startswith("eks:") and a != "eks:DescribeCluster"}


def test_no_access_entry_without_clusters_in_context(single_account_templates: dict[str, Any]) -> None:
    assert resources(single_account_templates[HOME_STACK_NAME], "AWS::EKS::AccessEntry") == {}


def test_member_roles_carry_the_eks_reads(org_templates: dict[str, Any]) -> None:
    """Organisation mode maps the same kinds in member accounts (no access entries there: see
    docs/eks.md); synth would fail if a declared kind had no scope."""
    roles = org_templates["credfix-member-roles"]
    actions = {
        a
        for p in resources(roles, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"eks:DescribeCluster", "eks:ListPodIdentityAssociations"} <= actions
    assert ORG_CONTEXT.get("eks") is None


def test_the_template_passes_cfn_lint(eks_template: dict[str, Any]) -> None:
    matches = lint(
        json.dumps(eks_template), config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=["us-east-1"])
    )
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


@pytest.mark.parametrize(
    ("eks", "message"),
    [
        ({"clusters": ["prod", "bad name"]}, "not EKS cluster names"),
        ({"clusters": ["arn:aws:eks:us-east-1:123456789012:cluster/prod"]}, "not EKS cluster names"),
        ({"clusters": ["prod"], "triage_group": "system:masters"}, "not empty and not system:*"),
        ({"clusters": ["prod"], "owners": ["x"]}, "eks.owners: Extra inputs are not permitted"),
    ],
)
def test_bad_eks_context_fails_with_a_clear_message(eks: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({"eks": json.dumps(eks)}.get)
    assert message in str(info.value)


def test_clusters_given_with_dash_c_as_text() -> None:
    assert load({"eks": '{"clusters": "prod,payments"}'}.get).eks.clusters == ["payments", "prod"]
