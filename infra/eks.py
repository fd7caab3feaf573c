"""EKS: the access entries that let the triage and act roles into the clusters named in
context (`eks={"clusters": [...]}`), each mapped to a Kubernetes group (the IAM scopes of the
EKS calls are in credfix.scopes). What those groups may do is plain RBAC, applied by the
cluster's owners from docs/eks.md (`credfix permissions --role triage --kubernetes` prints it):
triage reads pods, their owners, service accounts and ExternalSecrets; act gets and patches
Deployments, StatefulSets and DaemonSets, and reads namespaces (the opt-out annotation)."""

from __future__ import annotations

from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import EksAccess


class EksAccessEntries(Construct):
    """One `AWS::EKS::AccessEntry` per cluster and role (STANDARD, no access policy: the group's
    RBAC is the whole grant). Clusters are in the home region: access entries are regional."""

    def __init__(
        self, scope: Construct, construct_id: str, *, access: EksAccess, triage: iam.IRole, act: iam.IRole
    ) -> None:
        super().__init__(scope, construct_id)
        self.entries: list[eks.CfnAccessEntry] = []
        for n, cluster in enumerate(access.clusters):
            for label, role, group in (
                ("Triage", triage, access.triage_group),
                ("Act", act, access.act_group),
            ):
                self.entries.append(
                    eks.CfnAccessEntry(
                        self,
                        f"{label}{n}",
                        cluster_name=cluster,
                        principal_arn=role.role_arn,
                        kubernetes_groups=[group],
                        type="STANDARD",
                    )
                )
