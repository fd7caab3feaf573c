"""Kubernetes (EKS) facts workload location reasons about: the cluster as EKS describes it,
pods with what their spec makes them sign with, the controllers that own them, service
accounts, External Secrets, Pod Identity associations.

The adapters reduce the API's JSON to these: an environment value is kept only for
`AWS_ACCESS_KEY_ID` (a key ID is not a secret); for every other credential variable only its
name and where it comes from (a literal, a Secret's key) are kept. credfix never reads a
Kubernetes Secret's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# Where a pod's credentials come from, in the order every AWS SDK's default chain reads them:
# environment variables first (literal or from a Secret), then a credentials file or profile,
# then web identity (IRSA) and the container credentials endpoint (EKS Pod Identity).
CredentialSourceKind = Literal[
    "env-literal",  # AWS_ACCESS_KEY_ID written into the pod template itself
    "env-secret",  # env valueFrom.secretKeyRef
    "envfrom-secret",  # envFrom.secretRef (the Secret may hold AWS_ACCESS_KEY_ID)
    "credentials-file",  # a mounted credentials file, or AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE
    "irsa",  # AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, or the service account's role-arn annotation
    "pod-identity",  # AWS_CONTAINER_CREDENTIALS_FULL_URI, or a Pod Identity association
]
STATIC_SOURCES: frozenset[str] = frozenset(
    {"env-literal", "env-secret", "envfrom-secret", "credentials-file"}
)
ROLE_SOURCES: frozenset[str] = frozenset({"irsa", "pod-identity"})

# The controllers credfix follows from a pod (apps/v1 and batch/v1), lower-case as in parent ids.
ControllerKind = Literal["deployment", "statefulset", "daemonset", "job", "replicaset", "cronjob"]


@dataclass(frozen=True)
class EksCluster:
    name: str
    arn: str
    endpoint: str | None  # the API server's https URL (None while the cluster is being created)
    ca_data: str | None  # base64 PEM of the cluster CA (certificateAuthority.data)
    status: str | None
    vpc_id: str | None
    region: str | None
    public_access: bool | None = None  # resourcesVpcConfig.endpointPublicAccess


@dataclass(frozen=True)
class FargateProfile:
    cluster: str
    name: str
    subnet_ids: tuple[str, ...]
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class PodIdentityAssociation:
    cluster: str
    namespace: str
    service_account: str
    association_id: str
    role_arn: str | None = None  # only DescribePodIdentityAssociation returns it


@dataclass(frozen=True)
class OwnerRef:
    kind: str  # as the API spells it: ReplicaSet, Deployment, ...
    name: str
    uid: str | None
    controller: bool


@dataclass(frozen=True)
class CredentialSource:
    kind: CredentialSourceKind
    container: str
    detail: str  # the variable, mount path or annotation, for people
    secret: str | None = None  # the Kubernetes Secret's name (never its data)
    secret_key: str | None = None
    access_key_id: str | None = None  # only for a literal AWS_ACCESS_KEY_ID
    role_arn: str | None = None  # IRSA's AWS_ROLE_ARN, when the pod spec carries it

    @property
    def static(self) -> bool:
        return self.kind in STATIC_SOURCES


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str | None
    ip: str | None
    phase: str | None
    node_name: str | None
    service_account: str
    host_network: bool
    created_at: datetime | None
    started_at: datetime | None
    deleted_at: datetime | None
    owners: tuple[OwnerRef, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    credentials: tuple[CredentialSource, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def controller(self) -> OwnerRef | None:
        return next((o for o in self.owners if o.controller), None)

    def controller_guess(self) -> tuple[str, str] | None:
        """(kind, name) of the pod's top controller without asking the API: a ReplicaSet named
        DEPLOYMENT-HASH with the pod-template-hash label belongs to DEPLOYMENT (how the
        Deployment controller names them). Used to count workloads in a cluster survey only;
        the located pod's own chain is read from the API."""
        owner = self.controller()
        if owner is None:
            return None
        hash_ = self.labels.get("pod-template-hash")
        if owner.kind == "ReplicaSet" and hash_ and owner.name.endswith(f"-{hash_}"):
            return "deployment", owner.name.removesuffix(f"-{hash_}")
        return owner.kind.lower(), owner.name


@dataclass(frozen=True)
class Controller:
    kind: ControllerKind
    namespace: str
    name: str
    uid: str | None
    owners: tuple[OwnerRef, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    template_annotations: dict[str, str] = field(default_factory=dict)
    generation: int | None = None

    @property
    def ref(self) -> str:
        """The parent id credfix uses: KIND/NAMESPACE/NAME."""
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str
    role_arn: str | None  # the IRSA annotation eks.amazonaws.com/role-arn


@dataclass(frozen=True)
class ExternalSecret:
    """An External Secrets Operator ExternalSecret: which Kubernetes Secret it writes and which
    remote secrets it reads, and when it last synced (status.refreshTime)."""

    namespace: str
    name: str
    target_secret: str
    remote_keys: tuple[str, ...]  # spec.data[].remoteRef.key and spec.dataFrom[].extract.key
    refreshed_at: datetime | None
    ready: bool | None
    store: str = ""  # spec.secretStoreRef kind/name, for people


@dataclass(frozen=True)
class Namespace:
    name: str
    annotations: dict[str, str] = field(default_factory=dict)
