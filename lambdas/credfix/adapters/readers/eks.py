"""EKS reads (boto3): a cluster's API endpoint and CA, its Fargate profiles, Pod Identity
associations, and (for `credfix doctor`) the access entries of credfix's roles."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.readers.paging import capped
from credfix.models.kubernetes import EksCluster, FargateProfile, PodIdentityAssociation
from credfix.models.paging import Page
from credfix.permissions import needs


def _cluster(raw: dict[str, Any], region: str | None) -> EksCluster:
    vpc = raw.get("resourcesVpcConfig") or {}
    return EksCluster(
        name=raw["name"],
        arn=raw.get("arn") or "",
        endpoint=raw.get("endpoint") or None,
        ca_data=(raw.get("certificateAuthority") or {}).get("data") or None,
        status=raw.get("status"),
        vpc_id=vpc.get("vpcId") or None,
        region=region,
        public_access=vpc.get("endpointPublicAccess"),
    )


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


class Eks:
    def __init__(self, client: Any) -> None:
        self._eks = client

    @property
    def region(self) -> str | None:
        return str(self._eks.meta.region_name) if self._eks.meta.region_name else None

    @needs("triage", "eks:DescribeCluster", on="eks-clusters")
    @needs("act", "eks:DescribeCluster", on="eks-clusters")
    @needs("cli", "eks:DescribeCluster", on="eks-clusters")
    def cluster(self, name: str) -> EksCluster | None:
        """The cluster, or None when the account has none by that name here."""
        try:
            raw = self._eks.describe_cluster(name=name)["cluster"]
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return _cluster(raw, self.region)

    @needs("triage", "eks:ListClusters", on="*")
    @needs("cli", "eks:ListClusters", on="*")
    def cluster_names(self, *, limit: int) -> Page[str]:
        return capped(self._eks.get_paginator("list_clusters").paginate(), "clusters", limit)

    @needs("triage", "eks:ListFargateProfiles", on="eks-clusters")
    @needs("triage", "eks:DescribeFargateProfile", on="eks-fargate-profiles")
    @needs("cli", "eks:ListFargateProfiles", on="eks-clusters")
    @needs("cli", "eks:DescribeFargateProfile", on="eks-fargate-profiles")
    def fargate_profiles(self, cluster: str, *, limit: int) -> list[FargateProfile]:
        names = capped(
            self._eks.get_paginator("list_fargate_profiles").paginate(clusterName=cluster),
            "fargateProfileNames",
            limit,
        )
        profiles: list[FargateProfile] = []
        for name in names.items:
            raw = self._eks.describe_fargate_profile(clusterName=cluster, fargateProfileName=name)
            profile = raw.get("fargateProfile") or {}
            profiles.append(
                FargateProfile(
                    cluster=cluster,
                    name=name,
                    subnet_ids=tuple(profile.get("subnets") or ()),
                    namespaces=tuple(
                        s["namespace"] for s in profile.get("selectors") or [] if s.get("namespace")
                    ),
                )
            )
        return profiles

    @needs("triage", "eks:ListPodIdentityAssociations", on="eks-clusters")
    @needs("cli", "eks:ListPodIdentityAssociations", on="eks-clusters")
    def pod_identity_associations(
        self, cluster: str, *, limit: int, namespace: str | None = None, service_account: str | None = None
    ) -> Page[PodIdentityAssociation]:
        """The cluster's associations (the listing has no role ARN: see pod_identity_role)."""
        kwargs: dict[str, Any] = {"clusterName": cluster}
        if namespace:
            kwargs["namespace"] = namespace
        if service_account:
            kwargs["serviceAccount"] = service_account
        pages = self._eks.get_paginator("list_pod_identity_associations").paginate(**kwargs)
        listed = capped(pages, "associations", limit)
        return Page(
            [
                PodIdentityAssociation(
                    cluster=cluster,
                    namespace=raw.get("namespace") or "",
                    service_account=raw.get("serviceAccount") or "",
                    association_id=raw.get("associationId") or "",
                )
                for raw in listed.items
            ],
            listed.truncated,
        )

    @needs("triage", "eks:DescribePodIdentityAssociation", on="eks-pod-identity-associations")
    @needs("cli", "eks:DescribePodIdentityAssociation", on="eks-pod-identity-associations")
    def pod_identity_role(self, cluster: str, association_id: str) -> str | None:
        raw = self._eks.describe_pod_identity_association(clusterName=cluster, associationId=association_id)
        return (raw.get("association") or {}).get("roleArn") or None

    @needs("cli", "eks:DescribeAccessEntry", on="eks-access-entries")
    def access_entry_groups(self, cluster: str, principal_arn: str) -> list[str] | None:
        """The Kubernetes groups of the principal's access entry, or None when it has none."""
        try:
            raw = self._eks.describe_access_entry(clusterName=cluster, principalArn=principal_arn)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return list((raw.get("accessEntry") or {}).get("kubernetesGroups") or [])
