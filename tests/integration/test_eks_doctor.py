"""`credfix doctor --eks-cluster`: the access entries of credfix's roles and an API that answers,
on the local AWS and the local Kubernetes API."""

from __future__ import annotations

import json

import boto3
import pytest

from credfix.cli import main
from harness import account as build
from harness.eks import local_eks
from harness.moto import ACCOUNT, LocalAws

pytestmark = pytest.mark.integration
TRIAGE = f"arn:aws:iam::{ACCOUNT}:role/credfix-home-TriageRole"
ACT = f"arn:aws:iam::{ACCOUNT}:role/credfix-home-ActRole"


def checks(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, tuple[bool, str]]:
    main(["doctor", "--json", *args])  # exit 1 here in any case: the local AWS has no trail
    return {c["name"]: (c["ok"], c["detail"]) for c in json.loads(capsys.readouterr().out)["checks"]}


def test_access_entries_and_the_api(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = local_eks(aws_env, build.network())
    boto3.client("eks").create_access_entry(
        clusterName="prod", principalArn=TRIAGE, kubernetesGroups=["credfix-triage"]
    )
    try:
        found = checks(capsys, "--eks-cluster", "prod", "--principal", TRIAGE, "--principal", ACT)
    finally:
        cluster.stop()
    assert found["EKS cluster prod"] == (True, f"ACTIVE, API {cluster.kube.url}")
    assert found[f"EKS cluster prod: access entry for {TRIAGE}"] == (True, "Kubernetes groups credfix-triage")
    ok, detail = found[f"EKS cluster prod: access entry for {ACT}"]
    assert not ok and detail.startswith("none: deploy with -c 'eks={\"clusters\": [...]}'")
    assert found["EKS cluster prod: Kubernetes API answers"] == (
        True,
        "GET /version answered with this identity's EKS token",
    )
    assert [r["path"] for r in cluster.kube.requests] == ["/version"]


def test_an_api_that_refuses_the_token_and_an_unknown_cluster(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = local_eks(aws_env, build.network(), with_access_entry=False)
    try:
        found = checks(capsys, "--eks-cluster", "prod", "--eks-cluster", "gone")
    finally:
        cluster.stop()
    assert found["EKS cluster prod: Kubernetes API answers"] == (False, "401 Unauthorized: Unauthorized")
    # No --principal and no credfix-home stack here: nothing to check the entries of, said so.
    assert found["EKS cluster prod: access entries"][0] is False
    assert found["EKS cluster gone"] == (False, "not found in this account and region")
