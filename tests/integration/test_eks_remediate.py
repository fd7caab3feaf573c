"""EKS remediation: a rollout restart sent through the cluster's Kubernetes API by credfix's own
client, behind the same guardrails as every action (attribution, opt-out, claim, caps), on the
local AWS and the local Kubernetes API; and one flow across every seam (record -> ingest ->
triage -> act -> alert)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from credfix.adapters.actions.kubernetes import RESTARTED_AT, RESTARTED_FOR
from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.config import Settings
from credfix.core.remediate import remediate
from credfix.models.incident import ConfiguredCredential, Workload
from harness import account as build
from harness.eks import LocalEks, env_from_secret, local_eks
from harness.kube import Rule, rbac_rules
from harness.moto import ACCOUNT, REGION, LocalAws
from harness.pipeline import LocalPipeline
from harness.records import FARGATE_UA
from tests.integration.test_remediate import ENFORCE, OBSERVE, factory, incident, make_table, session
from tests.integration.test_seams import assert_acted, deactivate, failures, key_value, run_credfix, user_keys

pytestmark = pytest.mark.integration
WATCHED = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/payments/aws-AbCdEf"


@pytest.fixture
def table(aws_env: LocalAws) -> DynamoGuardrailStore:
    ddb = session().client("dynamodb")
    make_table(ddb)
    return DynamoGuardrailStore(ddb, TABLE_NAME)


TABLE_NAME = "credfix-incidents"


def start(aws: LocalAws, rules: list[Rule] | None = None) -> LocalEks:
    return local_eks(aws, build.network(), rules=rules)


@pytest.fixture
def cluster(aws_env: LocalAws) -> Iterator[LocalEks]:
    eks = start(aws_env)
    yield eks
    eks.stop()


def stale_pod(
    cluster: LocalEks, *, namespace: str = "payments", name: str = "ledger-sync", **kw: object
) -> Workload:
    """A pod of `namespace/name` as triage locates it: a consumer of a watched secret (its
    Kubernetes Secret is synced from it by External Secrets)."""
    (pod,) = cluster.deployment(namespace, name, ips=["10.0.1.99"], env=env_from_secret(f"{name}-aws"), **kw)  # type: ignore[arg-type]
    return Workload(
        type="eks-pod",
        id=f"{namespace}/{pod}",
        confidence="high",
        region=REGION,
        account=ACCOUNT,
        parent=f"deployment/{namespace}/{name}",
        cluster=cluster.arn,
        credentials=[ConfiguredCredential(kind="secret", ref=WATCHED)],
    )


def patches(cluster: LocalEks) -> list[dict[str, object]]:
    return [r for r in cluster.kube.requests if r["method"] == "PATCH"]


def test_rollout_restart_is_sent_once_under_redelivery(
    table: DynamoGuardrailStore, cluster: LocalEks
) -> None:
    pod = stale_pod(cluster)
    inc = incident([pod])

    first = remediate(inc, factory(), ENFORCE, table)
    second = remediate(inc, factory(), ENFORCE, table)  # the act message, delivered again

    assert [(a.type, a.target, a.status) for a in first] == [
        ("eks-rollout-restart", "deployment/payments/ledger-sync", "executed")
    ]
    assert second == first  # the claim repeats the recorded decision; nothing is sent again
    (patch,) = patches(cluster)
    assert patch["path"] == "/apis/apps/v1/namespaces/payments/deployments/ledger-sync"
    assert patch["content_type"] == "application/strategic-merge-patch+json"
    body = json.loads(patch["body"])  # type: ignore[arg-type]
    annotations = body["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_FOR] == inc.incident_id
    assert set(annotations) == {RESTARTED_AT, RESTARTED_FOR}
    deployment = cluster.kube.get("Deployment", "ledger-sync", "payments")
    assert deployment is not None and deployment["metadata"]["generation"] == 2
    assert "generation 1 -> 2" in first[0].reason


def test_the_same_deployment_name_in_two_clusters_is_two_targets(
    aws_env: LocalAws, table: DynamoGuardrailStore
) -> None:
    """payments/ledger-sync in staging and in prod: a restart in one starts no cool-down in the
    other (the guardrails key a Kubernetes target by its cluster too)."""
    staging = local_eks(aws_env, build.network(), "staging")
    prod = local_eks(aws_env, build.network(), "prod")
    try:
        first = remediate(
            incident([stale_pod(staging)], incident_id="20260415T110500Z-VV7A-0001"),
            factory(),
            ENFORCE,
            table,
        )
        second = remediate(
            incident([stale_pod(prod)], incident_id="20260415T111000Z-VV7A-0002"), factory(), ENFORCE, table
        )
    finally:
        staging.stop()
        prod.stop()

    assert [(a.target, a.status) for a in first + second] == [
        ("deployment/payments/ledger-sync", "executed"),
        ("deployment/payments/ledger-sync", "executed"),
    ]
    assert len(patches(staging)) == len(patches(prod)) == 1
    claims = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    keys = sorted(str(i["pk"]["S"]) for i in claims if "ledger-sync" in str(i["pk"]["S"]))
    assert keys == sorted(f"target#{c.arn}/deployment/payments/ledger-sync" for c in (staging, prod)), keys


def test_a_restart_already_applied_for_the_incident_is_not_sent_again(
    table: DynamoGuardrailStore, cluster: LocalEks
) -> None:
    """The claim was lost (a fresh store here) but the earlier delivery's patch reached the API:
    the marker on the pod template says so, and no second rollout is started."""
    pod = stale_pod(cluster)
    inc = incident([pod])
    deployment = cluster.kube.get("Deployment", "ledger-sync", "payments")
    assert deployment is not None
    deployment["spec"]["template"]["metadata"]["annotations"] = {
        RESTARTED_FOR: inc.incident_id,
        RESTARTED_AT: "2026-11-30T10:00:00Z",
    }
    cluster.kube.put(deployment)

    (action,) = remediate(inc, factory(), ENFORCE, table)

    assert action.status == "executed"
    assert (
        "already applied (kubectl.kubernetes.io/restartedAt 2026-11-30T10:00:00Z): not sent again"
        in action.reason
    )
    assert patches(cluster) == []


@pytest.mark.parametrize("on", ["workload", "namespace"])
def test_opt_out_annotation(table: DynamoGuardrailStore, cluster: LocalEks, on: str) -> None:
    opt_out = {"credfix.io/remediate": "false"}
    if on == "namespace":
        cluster.namespace("payments", opt_out)
        pod = stale_pod(cluster)
        where = "namespace payments"
    else:
        cluster.namespace("payments")
        pod = stale_pod(cluster, annotations=opt_out)
        where = "deployment payments/ledger-sync"

    (action,) = remediate(incident([pod]), factory(), ENFORCE, table)

    assert action.status == "skipped"
    assert action.reason == f"opted out: annotation credfix.io/remediate=false on {where}"
    assert patches(cluster) == []


def test_rbac_denial_of_the_patch_is_reported_as_failed(
    aws_env: LocalAws, table: DynamoGuardrailStore
) -> None:
    """The act group may read but not patch: a 403 Status, recorded as a failed action."""
    reads = [r for r in rbac_rules("act", "credfix-act") if "patch" not in r.verbs]
    cluster = start(aws_env, rules=[*rbac_rules("triage", "credfix-triage"), *reads])
    try:
        cluster.namespace("payments")
        (action,) = remediate(incident([stale_pod(cluster)]), factory(), ENFORCE, table)
    finally:
        cluster.stop()
    assert action.status == "failed"
    assert (
        'deployments.apps "ledger-sync" is forbidden: User "credfix" cannot patch resource "deployments" '
        'in API group "apps" in the namespace "payments"'
    ) in action.reason
    assert [r["status"] for r in patches(cluster)] == [403]


def test_unreadable_opt_out_means_no_restart(aws_env: LocalAws, table: DynamoGuardrailStore) -> None:
    """No `get namespaces`: the namespace's opt-out cannot be shown absent, so nothing is sent."""
    rules = [r for r in rbac_rules("act", "credfix-act") if r.resources != {"namespaces"}]
    cluster = start(aws_env, rules=rules)
    try:
        (action,) = remediate(incident([stale_pod(cluster)]), factory(), ENFORCE, table)
    finally:
        cluster.stop()
    assert action.status == "skipped"
    assert "could not read the annotations of namespace payments (403 Forbidden: " in action.reason
    assert patches(cluster) == []


def test_observe_mode_plans_the_restart(table: DynamoGuardrailStore, cluster: LocalEks) -> None:
    (action,) = remediate(incident([stale_pod(cluster)]), factory(), OBSERVE, table)
    assert (action.type, action.status) == ("eks-rollout-restart", "planned")
    assert patches(cluster) == []


def test_a_key_in_the_manifest_is_never_restarted(table: DynamoGuardrailStore, cluster: LocalEks) -> None:
    pod = stale_pod(cluster).model_copy(
        update={
            "credentials": [
                ConfiguredCredential(kind="static-key", ref="AKIA…VV7A", access_key_id="AKIAY34FZKBOKMUTVV7A")
            ]
        }
    )
    settings = Settings(CREDFIX_MODE="enforce", CREDFIX_RESTART_ON_KEY_LIFECYCLE="true")
    (action,) = remediate(incident([pod], verdict="key-deactivated"), factory(), settings, table)
    assert action.status == "skipped"
    assert "the pod's manifest itself sets AWS_ACCESS_KEY_ID (AKIA…VV7A): a restart reloads the same key" in (
        action.reason
    )
    assert patches(cluster) == []


def test_a_pod_of_another_cluster_with_the_same_names_is_not_supported(
    table: DynamoGuardrailStore, cluster: LocalEks
) -> None:
    """The failing address is held by a pod of prod; a pod of a deployment with the same
    namespace and name in another cluster is no sibling of the holder: not attributed."""
    holder = stale_pod(cluster)
    assert holder.cluster is not None
    elsewhere = holder.model_copy(
        update={"id": "payments/ledger-sync-5d9f7c-x1", "cluster": holder.cluster.replace("/prod", "/dr")}
    )
    inc = incident([holder]).model_copy(update={"workloads": [elsewhere]})
    (refused,) = remediate(inc, factory(), OBSERVE, table)
    assert refused.status == "skipped" and refused.reason.startswith("not attributed:")
    sibling = holder.model_copy(update={"id": "payments/ledger-sync-5d9f7c-x2"})
    # Another pod of the holder's deployment in the holder's cluster: restarting it is
    # restarting the deployment the holder belongs to.
    both = incident([holder]).model_copy(update={"workloads": [sibling, holder]})
    (planned,) = remediate(both, factory(), OBSERVE, table)
    assert planned.status == "planned", planned.reason


# --- across the seams -------------------------------------------------------------------------


def test_stale_consumer_pod_is_restarted_end_to_end(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stale-consumer: the watched secret moved on to a new Active key and External Secrets
    synced it into the namespace's Secret; the pod started before the sync and keeps the old
    key. Its failing calls come through the account's STS endpoint from its address (a
    secondary address of its node's interface): located to the pod, restarted by deployment."""
    old, new = user_keys("ledger-bot", 2)
    sm = boto3.client("secretsmanager")
    secret = str(
        sm.create_secret(
            Name="prod/payments/ledger",
            SecretString=key_value(old),
            Tags=[{"Key": "credfix:watch", "Value": "true"}],
        )["ARN"]
    )
    sm.put_secret_value(SecretId=secret, SecretString=key_value(new))
    deactivate("ledger-bot", old)
    net = build.network()
    cluster = local_eks(pipeline.aws, net)
    try:
        node = cluster.node()
        ip = cluster.secondary_ip(node)
        now = datetime.now(UTC)
        cluster.external_secret(
            "payments",
            "ledger-aws",
            target="ledger-aws",
            remote_key="prod/payments/ledger",
            refreshed_at=now + timedelta(seconds=30),
        )
        cluster.deployment(
            "payments",
            "ledger-sync",
            ips=[ip],
            env=env_from_secret("ledger-aws"),
            started_at=now - timedelta(days=2),
        )
        out = run_credfix(pipeline, monkeypatch, failures(old, ip, build.sts_endpoint(net), FARGATE_UA))
    finally:
        cluster.stop()

    assert_acted(out, "stale-consumer", ("eks-rollout-restart", "deployment/payments/ledger-sync"))
    (workload,) = out.incident.workloads
    assert (workload.type, workload.parent, workload.cluster) == (
        "eks-pod",
        "deployment/payments/ledger-sync",
        cluster.arn,
    )
    assert [(c.kind, c.ref) for c in workload.credentials] == [("secret", secret)]
    (patch,) = patches(cluster)
    assert json.loads(patch["body"])["spec"]["template"]["metadata"]["annotations"][RESTARTED_FOR] == (  # type: ignore[arg-type]
        out.incident.incident_id
    )
