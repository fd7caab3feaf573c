"""EKS: from a failing pod's address to the pod, its deployment and what it signs with, with
credfix's real Kubernetes client over real HTTPS against the local cluster (harness/eks.py:
moto for EKS and EC2, harness/kube.py for the Kubernetes API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credfix.config import Settings
from credfix.core.locate import LocateResult, locate_workloads
from credfix.models.incident import Workload
from harness import account as build
from harness.eks import LocalEks, env_from_secret, env_literal, irsa_env, local_eks, pod_identity_env
from harness.kube import Rule
from harness.moto import ACCOUNT, REGION, LocalAws

pytestmark = pytest.mark.integration

ROLE = f"arn:aws:iam::{ACCOUNT}:role/payments-reader"
WATCHED = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/payments/aws-AbCdEf"


@pytest.fixture
def net(aws_env: LocalAws) -> build.Network:
    return build.network()


@pytest.fixture
def cluster(aws_env: LocalAws, net: build.Network) -> Iterator[LocalEks]:
    eks = local_eks(aws_env, net)
    yield eks
    eks.stop()


def locate(
    ip: str,
    endpoint: str | None,
    *,
    key: str = build.KEY,
    secret_arns: list[str] | None = None,
    rotated_at: datetime | None = None,
    last_seen: datetime | None = None,
) -> LocateResult:
    incident = build.incident((ip, build.RUNNER_UA, endpoint), key=key, last_seen=last_seen)
    return locate_workloads(
        incident,
        build.clients,
        Settings(),
        secret_arns=secret_arns or [],
        rotated_at=rotated_at,
        account=ACCOUNT,
    )


def siblings(cluster: LocalEks) -> None:
    """The rest of the cluster on roles: two deployments with IRSA, one with Pod Identity (their
    addresses lie outside every subnet, so a moto-drawn pod address can never collide)."""
    cluster.service_account("payments", "api", role_arn=ROLE)
    cluster.deployment("payments", "api", ips=["10.0.3.200"], env=irsa_env(ROLE), service_account="api")
    cluster.service_account("payments", "billing", role_arn=ROLE)
    cluster.deployment(
        "payments", "billing", ips=["10.0.3.201"], env=irsa_env(ROLE), service_account="billing"
    )
    cluster.pod_identity("orders", "worker", ROLE)
    cluster.deployment(
        "orders", "worker", ips=["10.0.3.202"], env=pod_identity_env(), service_account="worker"
    )


def test_pod_by_secondary_ip_on_a_node_interface(cluster: LocalEks, net: build.Network) -> None:
    node = cluster.node()
    ip = cluster.secondary_ip(node)
    siblings(cluster)
    (pod,) = cluster.deployment(
        "payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"), node=node
    )
    result = locate(ip, build.sts_endpoint(net))

    (workload,) = result.workloads
    assert workload.type == "eks-pod"
    assert workload.id == f"payments/{pod}"
    assert workload.parent == "deployment/payments/ledger-sync"
    assert workload.cluster == cluster.arn
    assert workload.vpc_id == net.vpc
    assert workload.confidence == "high"
    assert (
        f"source IP {ip} is a secondary address of {node.eni_id} on node {node.instance_id} "
        "of EKS cluster prod" in workload.evidence
    )
    assert [(c.kind, c.ref) for c in workload.credentials] == [("static-key", "Secret payments/ledger-aws")]
    (attributed,) = result.attribution
    assert attributed.scope == "workload" and attributed.holders == [workload.id]
    finding = next(
        f.found for f in result.findings if f.check == "EKS workload deployment/payments/ledger-sync"
    )
    assert finding == (
        "static credentials in deployment/payments/ledger-sync (Secret ledger-aws) while 3 other deployments "
        "use IRSA/Pod Identity (cluster prod; 2 of them in namespace payments): move it to a role; a restart "
        "would reload the same key"
    )
    # The Kubernetes calls it took: the pod by IP, its owners, the survey (pods, service accounts).
    replica_set = pod.rsplit("-", 1)[0]
    assert [(r["method"], r["path"], r["status"]) for r in cluster.kube.requests] == [
        ("GET", "/api/v1/pods", 200),
        ("GET", f"/apis/apps/v1/namespaces/payments/replicasets/{replica_set}", 200),
        ("GET", "/apis/apps/v1/namespaces/payments/deployments/ledger-sync", 200),
        ("GET", "/api/v1/pods", 200),
        ("GET", "/api/v1/serviceaccounts", 200),
    ]
    assert cluster.kube.requests[0]["query"]["fieldSelector"] == f"status.podIP={ip}"


def test_pod_with_security_groups_on_a_branch_interface(cluster: LocalEks, net: build.Network) -> None:
    node = cluster.node(self_managed=True)
    branch, ip = cluster.branch_ip(node)
    (pod,) = cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
    result = locate(ip, build.sts_endpoint(net))
    (workload,) = result.workloads
    assert (workload.type, workload.id, workload.parent) == (
        "eks-pod",
        f"payments/{pod}",
        "deployment/payments/ledger-sync",
    )
    assert (
        f"source IP {ip} is the address of {branch}, a branch interface (security groups for pods) of EKS "
        f"cluster prod, on trunk {node.eni_id} of node {node.instance_id}"
    ) in workload.evidence


def test_fargate_pod_has_its_own_interface(cluster: LocalEks, net: build.Network) -> None:
    ip = cluster.fargate_ip("batch")
    (pod,) = cluster.deployment("batch", "nightly-export", ips=[ip], env=env_from_secret("export-aws"))
    result = locate(ip, build.sts_endpoint(net))
    (workload,) = result.workloads
    assert (workload.type, workload.id, workload.parent) == (
        "eks-pod",
        f"batch/{pod}",
        "deployment/batch/nightly-export",
    )
    assert any(
        "an EKS Fargate pod's interface in a subnet of a Fargate profile of prod" in e
        for e in workload.evidence
    )
    assert result.attribution[0].holders == [workload.id]


def test_api_unreachable_leaves_the_node_with_the_reason(cluster: LocalEks, net: build.Network) -> None:
    node = cluster.node()
    ip = cluster.secondary_ip(node)
    cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
    cluster.kube.stop()  # the API server is gone: connection refused
    result = locate(ip, build.sts_endpoint(net))
    (workload,) = result.workloads
    assert workload.type == "eks-node"
    assert workload.id.endswith(f"instance/{node.instance_id}")
    assert workload.cluster == cluster.arn
    reason = next(e for e in workload.evidence if e.startswith("not located to a pod: "))
    assert "the Kubernetes API of prod did not answer: API not reachable (" in reason
    assert "ConnectionRefusedError" in reason
    assert workload.credentials == []  # the node's instance profile says nothing of the pod's
    assert result.attribution[0].scope == "workload" and result.attribution[0].holders == [workload.id]


def test_rbac_denial_is_reported_not_crashed(aws_env: LocalAws, net: build.Network) -> None:
    """The access entry maps credfix to a group that may get pods but not list them: 403."""
    cluster = local_eks(aws_env, net, rules=[Rule("group:credfix-triage", {"get"}, {""}, {"pods"})])
    try:
        ip = cluster.secondary_ip(cluster.node())
        cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
        result = locate(ip, build.sts_endpoint(net))
    finally:
        cluster.stop()
    (workload,) = result.workloads
    assert workload.type == "eks-node"
    denied = (
        'pods is forbidden: User "credfix" cannot list resource "pods" in API group "" at the cluster scope'
    )
    assert any(f.found == f"failed: 403 Forbidden: {denied}" for f in result.findings), result.findings
    assert any(denied in e for e in workload.evidence)


def test_a_survey_refused_is_said_not_counted(aws_env: LocalAws, net: build.Network) -> None:
    """RBAC without `list serviceaccounts`: the pod is located, the rest of the cluster cannot be
    surveyed, and the finding says so instead of counting zero deployments."""
    from harness.kube import rbac_rules

    rules = [r for r in rbac_rules("triage", "credfix-triage") if r.resources != {"serviceaccounts"}]
    cluster = local_eks(aws_env, net, rules=rules)
    try:
        ip = cluster.secondary_ip(cluster.node())
        cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
        result = locate(ip, build.sts_endpoint(net))
    finally:
        cluster.stop()
    (workload,) = result.workloads
    assert workload.type == "eks-pod"
    finding = next(
        f.found for f in result.findings if f.check == "EKS workload deployment/payments/ledger-sync"
    )
    assert "(the rest of cluster prod could not be surveyed: see the findings)" in finding
    assert any(f.check == "Kubernetes API of prod: list serviceaccounts" for f in result.findings)


def test_no_access_entry_is_unauthorized(aws_env: LocalAws, net: build.Network) -> None:
    cluster = local_eks(aws_env, net, with_access_entry=False)
    try:
        ip = cluster.secondary_ip(cluster.node())
        cluster.deployment("payments", "ledger-sync", ips=[ip])
        result = locate(ip, build.sts_endpoint(net))
    finally:
        cluster.stop()
    assert [w.type for w in result.workloads] == ["eks-node"]
    assert any(f.found == "failed: 401 Unauthorized: Unauthorized" for f in result.findings)
    assert cluster.kube.token_errors == ["no access entry for testing"]  # the token itself verified


def test_a_pod_created_after_the_failures_is_an_ip_reuse(cluster: LocalEks, net: build.Network) -> None:
    ip = cluster.secondary_ip(cluster.node())
    cluster.deployment("payments", "newcomer", ips=[ip], started_at=datetime.now(UTC))
    result = locate(ip, build.sts_endpoint(net), last_seen=datetime.now(UTC) - timedelta(hours=1))
    (workload,) = result.workloads
    assert workload.confidence == "low"
    assert any(e.endswith("the IP was probably reused") for e in workload.evidence)


def test_host_network_pods_share_the_nodes_address(cluster: LocalEks, net: build.Network) -> None:
    node = cluster.node()
    cluster.deployment("kube-system", "kube-proxy", ips=[node.ip], host_network=True, kind="DaemonSet")
    cluster.deployment("logging", "fluent-bit", ips=[node.ip], host_network=True, kind="DaemonSet")
    result = locate(node.ip, build.sts_endpoint(net))
    assert sorted((w.type, w.parent, w.confidence) for w in result.workloads) == [
        ("eks-pod", "daemonset/kube-system/kube-proxy", "medium"),
        ("eks-pod", "daemonset/logging/fluent-bit", "medium"),
    ]
    assert all(
        f"source IP {node.ip} is the primary address of {node.eni_id} on node {node.instance_id} "
        "of EKS cluster prod" in w.evidence
        for w in result.workloads
    )


# --- credential configuration ---------------------------------------------------------------


def located(cluster: LocalEks, net: build.Network, **deployment: Any) -> tuple[LocateResult, Workload]:
    ip = cluster.secondary_ip(cluster.node())
    cluster.deployment("payments", "ledger-sync", ips=[ip], **deployment)
    result = locate(ip, build.sts_endpoint(net))
    (workload,) = result.workloads
    return result, workload


def test_literal_key_in_the_manifest(cluster: LocalEks, net: build.Network) -> None:
    result, workload = located(cluster, net, env=env_literal(build.KEY))
    assert [(c.kind, c.access_key_id) for c in workload.credentials] == [("static-key", build.KEY)]
    assert "that is the failing key, written into the workload's manifest" in workload.evidence
    text = repr(result)
    assert "never-read-by-credfix" not in text  # the secret access key never leaves the adapter


def test_env_from_a_whole_secret(cluster: LocalEks, net: build.Network) -> None:
    _, workload = located(cluster, net, env_from_secret="ledger-env")
    assert [(c.kind, c.ref) for c in workload.credentials] == [("static-key", "Secret payments/ledger-env")]
    assert (
        "container ledger-sync loads every key of Secret ledger-env as environment (envFrom)"
        in workload.evidence
    )


def test_mounted_credentials_file(cluster: LocalEks, net: build.Network) -> None:
    ip = cluster.secondary_ip(cluster.node())
    cluster.deployment("payments", "ledger-sync", ips=[ip])
    (pod,) = cluster.pods("payments")
    pod["spec"]["volumes"] = [{"name": "aws", "secret": {"secretName": "ledger-aws-files"}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "aws", "mountPath": "/home/app/.aws", "readOnly": True}
    ]
    cluster.kube.put(pod)
    (workload,) = locate(ip, build.sts_endpoint(net)).workloads
    assert [(c.kind, c.ref) for c in workload.credentials] == [
        ("static-key", "Secret payments/ledger-aws-files")
    ]
    assert (
        "container ledger-sync mounts a credentials file at /home/app/.aws from Secret ledger-aws-files"
        in (workload.evidence)
    )


def test_irsa_service_account(cluster: LocalEks, net: build.Network) -> None:
    cluster.service_account("payments", "ledger", role_arn=ROLE)
    _, workload = located(cluster, net, env=irsa_env(ROLE), service_account="ledger")
    assert [(c.kind, c.ref) for c in workload.credentials] == [("role", ROLE)]


def test_pod_identity_association_role_comes_from_describe(cluster: LocalEks, net: build.Network) -> None:
    cluster.pod_identity("payments", "ledger", ROLE)
    _, workload = located(cluster, net, env=pod_identity_env(), service_account="ledger")
    assert [(c.kind, c.ref) for c in workload.credentials] == [("role", ROLE)]


def test_static_key_wins_over_the_service_accounts_role(cluster: LocalEks, net: build.Network) -> None:
    cluster.service_account("payments", "ledger", role_arn=ROLE)
    env = [*env_from_secret("ledger-aws"), *irsa_env(ROLE)]
    _, workload = located(cluster, net, env=env, service_account="ledger")
    assert [(c.kind, c.ref) for c in workload.credentials] == [
        ("static-key", "Secret payments/ledger-aws"),
        ("role", ROLE),
    ]
    assert any(e.endswith("the static key in its environment wins over them") for e in workload.evidence)


def test_secret_synced_from_a_watched_secret_before_the_pod_restarted(
    cluster: LocalEks, net: build.Network
) -> None:
    """External Secrets wrote the new key into the Kubernetes Secret after the rotation; the pod
    started before that: a stale consumer of the watched secret, which a restart fixes."""
    now = datetime.now(UTC)
    rotated = now - timedelta(hours=3)
    cluster.external_secret(
        "payments",
        "ledger-aws",
        target="ledger-aws",
        remote_key="prod/payments/aws",
        refreshed_at=now - timedelta(hours=2),
    )
    ip = cluster.secondary_ip(cluster.node())
    cluster.deployment(
        "payments",
        "ledger-sync",
        ips=[ip],
        env=env_from_secret("ledger-aws"),
        started_at=now - timedelta(days=3),
    )
    (workload,) = locate(ip, build.sts_endpoint(net), secret_arns=[WATCHED], rotated_at=rotated).workloads
    assert [(c.kind, c.ref) for c in workload.credentials] == [("secret", WATCHED)]
    assert workload.confidence == "high"
    assert any("before the Secret was synced" in e for e in workload.evidence)


def test_secret_not_synced_since_the_rotation_is_never_restarted(
    cluster: LocalEks, net: build.Network
) -> None:
    now = datetime.now(UTC)
    cluster.external_secret(
        "payments",
        "ledger-aws",
        target="ledger-aws",
        remote_key=WATCHED,
        refreshed_at=now - timedelta(hours=5),
    )
    ip = cluster.secondary_ip(cluster.node())
    cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
    (workload,) = locate(
        ip, build.sts_endpoint(net), secret_arns=[WATCHED], rotated_at=now - timedelta(hours=1)
    ).workloads
    assert workload.confidence == "low"  # never acted on: a restart would reload the old key
    assert any("has not refreshed since the rotation" in e for e in workload.evidence)


# --- behind a NAT gateway: by configuration --------------------------------------------------


def test_behind_nat_the_only_static_key_deployment_of_the_vpc_is_named(
    cluster: LocalEks, net: build.Network
) -> None:
    siblings(cluster)
    ip = cluster.secondary_ip(cluster.node())
    (pod,) = cluster.deployment("payments", "ledger-sync", ips=[ip], env=env_from_secret("ledger-aws"))
    _, nat_ip = build.nat_gateway(net)
    result = locate(nat_ip, None)
    pods = [w for w in result.workloads if w.type == "eks-pod"]
    assert [(w.id, w.parent, w.confidence, w.vpc_id) for w in pods] == [
        (f"payments/{pod}", "deployment/payments/ledger-sync", "medium", net.vpc)
    ]
    assert "the only workload of the VPC's clusters that signs with a static key" in pods[0].evidence
    assert result.attribution[0].scope == "vpc" and result.attribution[0].vpc_id == net.vpc


def test_behind_nat_the_literal_failing_key_is_high(cluster: LocalEks, net: build.Network) -> None:
    cluster.deployment("payments", "a", ips=["10.0.1.210"], env=env_from_secret("a-aws"))
    cluster.deployment("payments", "b", ips=["10.0.1.211"], env=env_literal(build.KEY))
    _, nat_ip = build.nat_gateway(net)
    pods = {w.parent: w.confidence for w in locate(nat_ip, None).workloads if w.type == "eks-pod"}
    assert pods == {"deployment/payments/a": "low", "deployment/payments/b": "high"}


# --- from the pod's own log lines (the runtime-log signal's workload hint) --------------------


def test_a_pod_named_by_its_container_insights_stream(cluster: LocalEks, net: build.Network) -> None:
    """Behind a NAT gateway the address names only the VPC; the pod's own log stream names it."""
    from credfix.core.locate.context import LocateContext
    from credfix.core.locate.eks_logs import locate_from_log, pod_from_log_stream
    from credfix.core.locate.merge import Candidates

    (pod,) = cluster.deployment(
        "payments", "ledger-sync", ips=["10.0.1.77"], env=env_from_secret("ledger-aws")
    )
    stream = (
        f"ip-10-0-1-23.ec2.internal-application.var.log.containers.{pod}_payments_ledger-sync-{'a' * 64}.log"
    )
    logged = pod_from_log_stream("/aws/containerinsights/prod/application", stream)
    assert logged is not None
    ctx = LocateContext(build.clients, Settings(), account=ACCOUNT)
    found = Candidates()

    ids = locate_from_log(ctx, found, REGION, logged, incident_key=build.KEY)

    (workload,) = found.all()
    assert ids == [workload.id] == [f"payments/{pod}"]
    assert (workload.type, workload.parent, workload.cluster, workload.confidence) == (
        "eks-pod",
        "deployment/payments/ledger-sync",
        cluster.arn,
        "high",
    )
    assert workload.evidence[0] == (
        "its own log lines name it (container ledger-sync): log group "
        f"/aws/containerinsights/prod/application, stream {stream}"
    )
    assert cluster.kube.requests[0]["path"] == f"/api/v1/namespaces/payments/pods/{pod}"
    gone = pod_from_log_stream(
        "/aws/containerinsights/prod/application", stream.replace(pod, "ledger-sync-0-gone")
    )
    assert gone is not None and locate_from_log(ctx, Candidates(), REGION, gone, incident_key=build.KEY) == []
    assert any("does not know it (any more)" in f.found for f in ctx.findings)
