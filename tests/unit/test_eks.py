"""EKS pieces that need no cluster: what a pod's plan is, how a static key read from a Secret
weighs in the verdict, the log-stream locator's parsing, the permissions and RBAC the code
declares, and that nothing of it is imported for other workloads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credfix.cli import main
from credfix.config import Settings
from credfix.core.locate.eks_logs import pod_from_log_record, pod_from_log_stream
from credfix.core.remediate import plan
from credfix.core.remediate.model import NOTIFY
from credfix.core.triage.evidence import credential_fit
from credfix.models.incident import ConfiguredCredential, Incident, SourceAttribution, Workload
from credfix.models.secrets import SecretsScan

ROOT = Path(__file__).resolve().parents[2]
KEY = "AKIAY34FZKBOKMUTVV7A"
CLUSTER = "arn:aws:eks:us-east-1:123456789012:cluster/prod"
CONTAINER_ID = "5f08ea472f14acc17caf0e32ab56030fbb950f6960c41ae1d40f63c34c842a7a"


def pod(parent: str | None = "deployment/payments/ledger-sync", **kw: object) -> Workload:
    fields: dict[str, object] = {
        "type": "eks-pod",
        "id": "payments/ledger-sync-5d9f7c8b6d-x7k2p",
        "confidence": "high",
        "region": "us-east-1",
        "parent": parent,
        "cluster": CLUSTER,
        "credentials": [ConfiguredCredential(kind="static-key", ref="Secret payments/ledger-aws")],
    }
    return Workload.model_validate({**fields, **kw})


def incident(workload: Workload, verdict: str) -> Incident:
    now = datetime.now(UTC)
    return Incident(
        incident_id="inc-1",
        access_key_id=KEY,
        verdict=verdict,  # type: ignore[arg-type]
        key_status="Inactive",
        workloads=[workload],
        first_seen=now - timedelta(minutes=5),
        last_seen=now,
        opened_at=now,
        attribution=[
            SourceAttribution(
                ip="10.0.1.50", vpc_endpoint_id="vpce-1", scope="workload", holders=[workload.id]
            )
        ],
    )


# --- the plan for a pod -----------------------------------------------------------------------


def test_a_stale_consumer_pod_gets_a_rollout_restart_of_its_deployment() -> None:
    synced = pod(credentials=[ConfiguredCredential(kind="secret", ref="arn:aws:secretsmanager:x")])
    (planned,) = plan(incident(synced, "stale-consumer"), Settings())
    assert (planned.type, planned.target, planned.cluster, planned.actionable) == (
        "eks-rollout-restart",
        "deployment/payments/ledger-sync",
        CLUSTER,
        True,
    )


def test_a_static_key_from_a_secret_is_notify_only_for_key_lifecycle() -> None:
    (planned,) = plan(incident(pod(), "key-deactivated"), Settings())
    assert planned.type == "eks-rollout-restart" and not planned.actionable
    assert planned.skip is not None and "a restart would load the same key" in planned.skip


@pytest.mark.parametrize(
    ("workload", "why"),
    [
        (
            pod(credentials=[ConfiguredCredential(kind="static-key", ref="AKIA…VV7A", access_key_id=KEY)]),
            "the pod's manifest itself sets AWS_ACCESS_KEY_ID (AKIA…VV7A)",
        ),
        (pod(parent="job/batch/nightly-export"), "a job's pods cannot be restarted in place"),
        (pod(parent=None), "a pod without a controller"),
    ],
)
def test_what_a_rollout_restart_cannot_fix_is_never_planned(workload: Workload, why: str) -> None:
    settings = Settings(CREDFIX_RESTART_ON_KEY_LIFECYCLE="true")
    (planned,) = plan(incident(workload, "key-deactivated"), settings)
    assert planned.type == NOTIFY and planned.skip is not None and why in planned.skip


def test_a_static_key_read_from_a_secret_wins_over_the_role_beside_it() -> None:
    both = pod(
        credentials=[
            ConfiguredCredential(kind="static-key", ref="Secret payments/ledger-aws"),
            ConfiguredCredential(kind="role", ref="arn:aws:iam::123456789012:role/payments"),
        ]
    )
    fit, why = credential_fit(both, KEY, [], SecretsScan(), {})
    assert fit == "neutral"  # not "contradicts": the environment's key wins over the role
    assert why.startswith(
        "configured with a static key from Secret payments/ledger-aws (its key ID is not read)"
    )


# --- the log-stream locator (the runtime-log signal's workload hint) --------------------------


def test_container_insights_fluent_bit_stream_names_the_pod() -> None:
    stream = (
        "ip-10-0-1-23.ec2.internal-application.var.log.containers."
        f"ledger-sync-5d9f7c8b6d-x7k2p_payments_ledger-sync-{CONTAINER_ID}.log"
    )
    logged = pod_from_log_stream("/aws/containerinsights/prod/application", stream)
    assert logged is not None
    assert (logged.cluster, logged.namespace, logged.pod, logged.container) == (
        "prod",
        "payments",
        "ledger-sync-5d9f7c8b6d-x7k2p",
        "ledger-sync",
    )


@pytest.mark.parametrize(
    ("pod", "owner"),
    [
        ("ledger-sync-5d9f7c8b6d-x7k2p", "ledger-sync"),  # a Deployment's pod
        ("ledger-sync-7f6c9-abcde", "ledger-sync"),
        ("kafka-2", "kafka"),  # a StatefulSet's
        ("standalone", "standalone"),
    ],
)
def test_a_pods_incident_is_keyed_by_its_owner_so_restarts_share_it(pod: str, owner: str) -> None:
    from credfix.models.logs import workload_of

    group = "/aws/containerinsights/prod/application"
    stream = f"ip-10-0-1-23.ec2.internal-application.var.log.containers.{pod}_payments_app-{CONTAINER_ID}.log"
    named = workload_of(group, stream, "us-east-1", "123456789012")
    assert (named.kind, named.name, named.detail) == ("eks-pod", "app", f"payments/{pod}")
    assert named.key == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/containerinsights/prod/application"
        f":log-stream:payments/{owner}/app"
    )


def test_fluentd_stream_and_a_custom_group() -> None:
    stream = f"ledger-sync-5d9f7c8b6d-x7k2p_payments_ledger-sync_{CONTAINER_ID}"
    assert pod_from_log_stream("/aws/containerinsights/prod/application", stream) is not None
    assert pod_from_log_stream("/eks/prod/apps", stream) is None  # the cluster is not named...
    logged = pod_from_log_stream("/eks/prod/apps", stream, cluster="prod")  # ...unless given
    assert logged is not None and logged.pod == "ledger-sync-5d9f7c8b6d-x7k2p"


@pytest.mark.parametrize(
    "stream",
    [
        "orders-api/app/0a1b2c3d4e5f",  # an ECS awslogs stream
        f"ip-10-0-1-23.ec2.internal-application.var.log.containers.Bad_Pod_x-{CONTAINER_ID}.log",
        "ip-10-0-1-23.ec2.internal-host.var.log.messages",
        "",
    ],
)
def test_streams_that_name_no_pod(stream: str) -> None:
    assert pod_from_log_stream("/aws/containerinsights/prod/application", stream) is None


def test_fluent_bit_kubernetes_metadata_names_the_pod() -> None:
    record = {
        "log": "botocore.exceptions.ClientError: ... (InvalidClientTokenId)",
        "kubernetes": {
            "pod_name": "ledger-sync-5d9f7c8b6d-x7k2p",
            "namespace_name": "payments",
            "container_name": "ledger-sync",
            "host": "ip-10-0-1-23.ec2.internal",
        },
    }
    logged = pod_from_log_record(record, "/aws/containerinsights/prod/application")
    assert logged is not None and (logged.namespace, logged.pod) == (
        "payments",
        "ledger-sync-5d9f7c8b6d-x7k2p",
    )
    forged = {"kubernetes": {"pod_name": "a/../b", "namespace_name": "payments"}}
    assert pod_from_log_record(forged, "/aws/containerinsights/prod/application") is None


# --- permissions ----------------------------------------------------------------------------


def _actions(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    assert main(["permissions", *args]) == 0
    return {a for s in json.loads(capsys.readouterr().out)["Statement"] for a in s["Action"]}


def test_permissions_list_the_eks_actions(capsys: pytest.CaptureFixture[str]) -> None:
    eks_reads = {
        "eks:DescribeCluster",
        "eks:ListClusters",
        "eks:ListFargateProfiles",
        "eks:DescribeFargateProfile",
        "eks:ListPodIdentityAssociations",
        "eks:DescribePodIdentityAssociation",
    }
    assert eks_reads | {"eks:DescribeAccessEntry"} <= _actions(capsys)  # the CLI: diagnose, doctor
    assert eks_reads <= _actions(capsys, "--role", "triage")
    act = {a for a in _actions(capsys, "--role", "act") if a.startswith("eks:")}
    assert act == {"eks:DescribeCluster"}  # the restart itself is Kubernetes RBAC, not IAM


def test_rbac_in_the_docs_is_what_the_code_declares(capsys: pytest.CaptureFixture[str]) -> None:
    docs = (ROOT / "docs" / "eks.md").read_text()
    for role, group in (("triage", "credfix-triage"), ("act", "credfix-act")):
        assert main(["permissions", "--role", role, "--kubernetes"]) == 0
        manifest = capsys.readouterr().out
        assert f"kind: ClusterRole\nmetadata:\n  name: {group}" in manifest
        assert manifest in docs, f"docs/eks.md does not carry the {role} RBAC the code declares"
    assert "secrets" not in re.findall(r"resources: \[(.*)\]", docs)  # credfix never reads a Secret


def test_act_rbac_is_get_and_patch_of_the_restartable_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["permissions", "--role", "act", "--kubernetes", "--group", "restarters"]) == 0
    out = capsys.readouterr().out
    assert '  - apiGroups: ["apps"]\n    resources: ["daemonsets", "deployments", "statefulsets"]\n' in out
    assert '    verbs: ["get", "patch"]' in out
    assert "    kind: Group\n    name: restarters" in out
    assert "delete" not in out and "create" not in out


# --- cold start: nothing of it for other workloads ------------------------------------------------


@pytest.mark.parametrize("handler", ["triage", "act", "verify", "ingest"])
def test_handlers_do_not_import_the_kubernetes_client(handler: str) -> None:
    """A cold start imports no Kubernetes or EKS code: it is imported when an EKS workload is
    handled (measured cost: docs/eks.md)."""
    from bench.common import lambda_environ

    code = (
        "import sys\n"
        f"import credfix.handlers.{handler}\n"
        "print(sorted(m for m in sys.modules if m.startswith(('credfix.adapters.kubernetes', "
        "'credfix.adapters.readers.kubernetes', 'credfix.adapters.actions.kubernetes', "
        "'credfix.adapters.readers.eks', 'credfix.core.locate.eks', 'credfix.core.remediate.kubernetes'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=lambda_environ(handler), capture_output=True, text=True, check=True
    )
    # The planner's pure helper for pods is the only EKS module the act handler loads.
    expected = "['credfix.core.remediate.kubernetes']" if handler == "act" else "[]"
    assert out.stdout.strip() == expected, out.stderr[-2000:]


# --- the alert ----------------------------------------------------------------------------------


def test_the_alert_says_what_to_move_onto_a_role() -> None:
    from credfix.core.alerts.render import email_text, subject

    located = incident(pod(), "key-deactivated").model_copy(update={"status": "acted", "severity": "medium"})
    text = email_text(located, "diagnosed")
    flat = " ".join(text.split())
    assert (
        "Move deployment/payments/ledger-sync (cluster prod) off the static key it reads from Secret "
        "payments/ledger-aws: give its service account an IAM role with IRSA or EKS Pod Identity" in flat
    )
    assert "A restart alone reloads the same key." in flat
    assert "- eks-pod ledger-sync-5d9f7c8b6d-x7k2p of ledger-sync (high confidence)" in text
    assert "part of: deployment/payments/ledger-sync" in text
    assert subject(located).endswith(" ledger-sync")  # the deployment's name, as people know it


def test_a_key_in_the_pod_template_is_the_winning_provider() -> None:
    from credfix.core.alerts.guide import winning_provider

    literal = pod(credentials=[ConfiguredCredential(kind="static-key", ref="AKIA…VV7A", access_key_id=KEY)])
    winner, pin = winning_provider(incident(literal, "wrong-credential-source"))
    assert winner.startswith(
        "AWS_ACCESS_KEY_ID written into the pod template of deployment/payments/ledger-sync"
    )
    assert "task definition" not in pin
