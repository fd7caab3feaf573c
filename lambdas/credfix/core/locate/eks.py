"""Locator 1 and 2 for EKS: from a failing address to the pod and its deployment, and what
the pod's configuration makes it sign with.

With the VPC CNI a pod's IP is a secondary private IP of its node's interface (or the primary
IP of a branch interface, with security groups for pods; an EKS Fargate pod has an interface
of its own). The chain: interface -> node instance -> cluster (the node's `eks:cluster-name` /
`kubernetes.io/cluster/NAME` tags, the interface's tags, or the Fargate profile that owns the
subnet) -> Kubernetes API `GET /api/v1/pods?fieldSelector=status.podIP=IP` -> owner ReplicaSet
-> Deployment (or StatefulSet, DaemonSet, Job). A pod becomes an `eks-pod` workload (id
NAMESPACE/POD, parent KIND/NAMESPACE/NAME, cluster ARN); when the API does not answer, the
node stays an `eks-node` workload and the evidence says why.

Behind a NAT gateway the address names only the VPC: then the pods of the VPC's clusters are
read by configuration (static keys in their spec or from a Secret, Secrets synced from a
watched secret) and named, as the ECS configuration scan does.

Imported only when an interface belongs to an EKS cluster or a NAT incident needs the scan;
the Kubernetes client is imported here, not at module load of the locators.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credfix.arns import account_of
from credfix.core.locate.arns import ec2_arn, references_secret
from credfix.core.locate.compute import eks_cluster as cluster_from_tags
from credfix.core.locate.context import LocateContext
from credfix.core.locate.merge import Candidates
from credfix.keys import redact
from credfix.models.compute import NetworkInterface
from credfix.models.incident import Confidence, ConfiguredCredential, Workload
from credfix.models.kubernetes import ROLE_SOURCES, CredentialSource, EksCluster, ExternalSecret, Pod
from credfix.timefmt import iso_z

if TYPE_CHECKING:
    from credfix.adapters.readers.kubernetes import KubeReader

TRUNK_TAG = "vpcresources.k8s.aws/trunk-eni-id"
FINISHED = ("Succeeded", "Failed")  # a finished pod's IP is free for reuse
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def names_secret(remote_key: str, secret_arn: str) -> bool:
    """Whether an ExternalSecret's remoteRef.key (a secret's name or ARN) names `secret_arn`."""
    if references_secret(remote_key, secret_arn):
        return True
    name = secret_arn.split(":secret:", 1)[1] if ":secret:" in secret_arn else ""
    return bool(name) and remote_key in (name, _SECRET_SUFFIX.sub("", name))


# -- the cluster's API ---------------------------------------------------------------------------


@dataclass
class ClusterAccess:
    name: str
    cluster: EksCluster | None = None
    reader: KubeReader | None = None
    why: str = ""  # when there is no reader: why the API cannot be asked
    last_error: str = ""  # what the API last refused


def cluster_access(ctx: LocateContext, region: str, name: str) -> ClusterAccess:
    """DescribeCluster (endpoint and CA), then a client signing as this run's identity. Kept
    for this invocation only (the "client" key: a connection and a token, not a fact)."""

    def connect() -> ClusterAccess:
        from credfix.adapters.kubernetes import KubeError, connect
        from credfix.adapters.readers.eks import Eks
        from credfix.adapters.readers.kubernetes import KubeReader

        cluster = _describe(ctx, Eks(ctx.client("eks", region)), region, name)
        if cluster is None:
            return ClusterAccess(name, why=f"cluster {name} could not be described in {region}")
        try:
            api = connect(cluster, ctx.client("sts", region))
        except KubeError as exc:
            return ClusterAccess(name, cluster, why=exc.short)
        return ClusterAccess(name, cluster, KubeReader(api))

    return ctx.memo(("client", "eks-api", region, name), connect)


def ask(ctx: LocateContext, access: ClusterAccess, what: str, call: Any) -> Any:
    """One Kubernetes API call; a refusal (401, 403, 404) or an unreachable API becomes a
    finding, and the caller carries on with what it has."""
    from credfix.adapters.kubernetes import KubeError

    try:
        return call()
    except KubeError as exc:
        ctx.note(f"Kubernetes API of {access.name}: {what}", f"failed: {exc.short}")
        access.last_error = exc.short
        if exc.code in (0, 401):  # nothing more will get through: stop asking this cluster
            access.reader = None
            access.why = exc.short
        return None


# -- the cluster survey: how its workloads sign -----------------------------------------------


@dataclass
class WorkloadAuth:
    """How one controller's pods sign (from its running pods in the survey)."""

    key: tuple[str, str, str]  # (kind, namespace, name)
    pods: list[Pod] = field(default_factory=list)
    static: bool = False
    role: bool = False

    @property
    def label(self) -> str:
        return f"{self.key[0]}/{self.key[1]}/{self.key[2]}"


@dataclass
class Survey:
    workloads: dict[tuple[str, str, str], WorkloadAuth] = field(default_factory=dict)
    irsa: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, account) -> role ARN
    pod_identity: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, account) -> id
    complete: bool = True

    def role_based(self, exclude: tuple[str, str, str] | None = None, namespace: str | None = None) -> int:
        """Deployments whose pods sign with a role (IRSA or Pod Identity) and no static key."""
        return sum(
            1
            for w in self.workloads.values()
            if w.key[0] == "deployment"
            and w.role
            and not w.static
            and w.key != exclude
            and (namespace is None or w.key[1] == namespace)
        )


def workload_key(pod: Pod) -> tuple[str, str, str]:
    guess = pod.controller_guess()
    return (guess[0], pod.namespace, guess[1]) if guess else ("pod", pod.namespace, pod.name)


def survey(ctx: LocateContext, access: ClusterAccess, region: str) -> Survey:
    """The cluster's running pods, service accounts and Pod Identity associations (each capped
    by the scan limit): one list call each, shared by the incidents of this account."""
    from credfix.adapters.readers.eks import Eks

    def scan() -> Survey | None:
        reader = access.reader
        if reader is None:
            return None
        result = Survey()
        pods = ask(ctx, access, "list pods", lambda: reader.pods(limit=ctx.scan_limit))
        accounts = ask(
            ctx, access, "list serviceaccounts", lambda: reader.service_accounts(limit=ctx.scan_limit)
        )
        eks = Eks(ctx.client("eks", region))
        associations = ctx.attempt(
            f"eks:ListPodIdentityAssociations {access.name}",
            lambda: eks.pod_identity_associations(access.name, limit=ctx.scan_limit),
        )
        if pods is None or accounts is None:
            return None
        for sa in accounts.items:
            if sa.role_arn:
                result.irsa[(sa.namespace, sa.name)] = sa.role_arn
        for association in associations.items if associations else []:
            result.pod_identity[(association.namespace, association.service_account)] = (
                association.association_id
            )
        for pod in pods.items:
            auth = result.workloads.setdefault(workload_key(pod), WorkloadAuth(workload_key(pod)))
            auth.pods.append(pod)
            sources = {c.kind for c in pod.credentials}
            account = (pod.namespace, pod.service_account)
            auth.static |= any(c.static and c.kind != "envfrom-secret" for c in pod.credentials)
            auth.role |= (
                bool(sources & ROLE_SOURCES) or account in result.irsa or account in result.pod_identity
            )
        result.complete = not (
            pods.truncated or accounts.truncated or (associations and associations.truncated)
        )
        if not result.complete:
            ctx.note(
                f"EKS cluster {access.name}",
                f"survey stopped at the scan cap of {ctx.scan_limit}: counts of workloads are lower bounds",
            )
        return result

    found: Survey | None = ctx.memo(("eks-survey", region, access.name), scan)
    return found or Survey(complete=False)


# -- one pod -> a workload --------------------------------------------------------------------


def _controller(ctx: LocateContext, access: ClusterAccess, namespace: str, kind: str, name: str) -> Any:
    reader = access.reader
    if reader is None:
        return None
    return ctx.memo(
        ("eks-controller", access.name, namespace, kind, name),
        lambda: ask(
            ctx, access, f"get {kind} {namespace}/{name}", lambda: reader.controller(kind, namespace, name)
        ),
    )


def _parent(ctx: LocateContext, access: ClusterAccess, pod: Pod) -> tuple[str | None, list[str]]:
    """The pod's top controller as KIND/NAMESPACE/NAME, read from the API through the
    controller ownerReferences (uids checked, as the garbage collector does)."""
    owner = pod.controller()
    if owner is None:
        return None, ["no controller owns this pod (a bare pod): nothing would recreate it"]
    chain: list[str] = []
    kind, name, uid = owner.kind, owner.name, owner.uid
    for _ in range(3):  # Pod -> ReplicaSet -> Deployment; Pod -> Job -> CronJob
        controller = _controller(ctx, access, pod.namespace, kind, name)
        if controller is None or (uid and controller.uid and controller.uid != uid):
            break
        chain.append(controller.ref)
        up = next((o for o in controller.owners if o.controller), None)
        if up is None or kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob"):
            return controller.ref, [f"owned by {' <- '.join(reversed(chain))}"]
        kind, name, uid = up.kind, up.name, up.uid
    guess = pod.controller_guess()
    if guess:
        ref = f"{guess[0]}/{pod.namespace}/{guess[1]}"
        return ref, [f"owned by {ref} (inferred from its owner's name: the API did not show the owner chain)"]
    return None, [f"its owner {owner.kind} {owner.name} could not be read"]


def _service_account_roles(
    ctx: LocateContext, access: ClusterAccess, region: str, pod: Pod, facts: Survey
) -> list[ConfiguredCredential]:
    from credfix.adapters.readers.eks import Eks

    creds: list[ConfiguredCredential] = []
    account = (pod.namespace, pod.service_account)
    if account in facts.irsa:
        creds.append(ConfiguredCredential(kind="role", ref=facts.irsa[account]))
    association = facts.pod_identity.get(account)
    if association:
        eks = Eks(ctx.client("eks", region))
        role = ctx.memo(
            ("eks-pod-identity-role", region, access.name, association),
            lambda: ctx.attempt(
                f"eks:DescribePodIdentityAssociation {association}",
                lambda: eks.pod_identity_role(access.name, association),
            ),
        )
        creds.append(
            ConfiguredCredential(kind="role", ref=role or f"EKS Pod Identity association {association}")
        )
    return creds


@dataclass
class SyncedSecret:
    external_secret: ExternalSecret
    watched_arn: str


def _synced_from_watched(
    ctx: LocateContext, access: ClusterAccess, namespace: str, secret: str
) -> SyncedSecret | None:
    """The ExternalSecret that writes Kubernetes Secret `secret` from a watched Secrets
    Manager secret that held the failing key (none unless the key was in a watched secret)."""
    if not ctx.secret_arns or access.reader is None:
        return None
    reader = access.reader
    listed = ctx.memo(
        ("eks-external-secrets", access.name, namespace),
        lambda: ask(
            ctx, access, f"list externalsecrets in {namespace}", lambda: reader.external_secrets(namespace)
        ),
    )
    for es in listed or []:
        if es.target_secret != secret:
            continue
        for arn in ctx.secret_arns:
            if any(names_secret(key, arn) for key in es.remote_keys):
                return SyncedSecret(es, arn)
    return None


@dataclass
class PodCredentials:
    credentials: list[ConfiguredCredential]
    evidence: list[str]
    demote_to: Confidence | None = None  # a restart would not help yet: never acted on


def _unique(creds: list[ConfiguredCredential]) -> list[ConfiguredCredential]:
    return [c for i, c in enumerate(creds) if c not in creds[:i]]


def _where(source: CredentialSource) -> str:
    if source.kind == "env-literal":
        key = redact(source.access_key_id)
        return f"container {source.container} sets AWS_ACCESS_KEY_ID={key} in the pod spec"
    if source.kind == "env-secret":
        return (
            f"container {source.container} reads AWS_ACCESS_KEY_ID from Secret {source.secret} "
            f"(key {source.secret_key})"
        )
    if source.kind == "envfrom-secret":
        return (
            f"container {source.container} loads every key of Secret {source.secret} as environment (envFrom)"
        )
    if source.detail.startswith("/"):
        secret = f" from Secret {source.secret}" if source.secret else ""
        return f"container {source.container} mounts a credentials file at {source.detail}{secret}"
    return f"container {source.container} sets {source.detail}"


def pod_credentials(
    ctx: LocateContext, access: ClusterAccess, region: str, pod: Pod, parent: str | None, incident_key: str
) -> PodCredentials:
    """What the pod is configured to sign with, in the SDK chain's order (environment first),
    and how the rest of its namespace and cluster sign (the field guide's third story)."""
    facts = survey(ctx, access, region)
    creds: list[ConfiguredCredential] = []
    lines: list[str] = []
    demote: Confidence | None = None
    static = [c for c in pod.credentials if c.static]
    for source in static:
        lines.append(_where(source))
        if source.kind == "env-literal" and source.access_key_id:
            creds.append(
                ConfiguredCredential(
                    kind="static-key", ref=redact(source.access_key_id), access_key_id=source.access_key_id
                )
            )
            if source.access_key_id == incident_key:
                lines.append("that is the failing key, written into the workload's manifest")
            continue
        synced = _synced_from_watched(ctx, access, pod.namespace, source.secret) if source.secret else None
        if synced is None:
            ref = f"Secret {pod.namespace}/{source.secret}" if source.secret else f"file {source.detail}"
            creds.append(ConfiguredCredential(kind="static-key", ref=ref))
            continue
        es = synced.external_secret
        started = pod.started_at or pod.created_at
        synced_at, rotated = es.refreshed_at, ctx.rotated_at
        lines.append(
            f"Secret {source.secret} is written by ExternalSecret {es.namespace}/{es.name} from watched "
            f"secret {synced.watched_arn} (last refresh {iso_z(synced_at) if synced_at else 'unknown'})"
        )
        creds.append(ConfiguredCredential(kind="secret", ref=synced.watched_arn))
        if rotated is not None and (synced_at is None or synced_at < rotated):
            demote = "low"
            lines.append(
                f"the ExternalSecret has not refreshed since the rotation at {iso_z(rotated)}: the "
                "Kubernetes Secret still holds the old key and a restart would reload it; force a sync first "
                "(annotate the ExternalSecret force-sync=$(date +%s)), then restart"
            )
        elif started is not None and synced_at is not None and started < synced_at:
            lines.append(
                f"the pod started at {iso_z(started)}, before the Secret was synced at {iso_z(synced_at)}: "
                "it still holds the key it read at start-up; a rollout restart loads the synced one"
            )
    roles = _service_account_roles(ctx, access, region, pod, facts)
    role_sources = [c for c in pod.credentials if c.kind in ROLE_SOURCES]
    for source in role_sources:
        if source.kind == "irsa" and source.role_arn:
            roles.append(ConfiguredCredential(kind="role", ref=source.role_arn))
    roles = _unique(roles)
    if roles:
        lines.append(
            f"service account {pod.namespace}/{pod.service_account} gives it role(s) "
            + ", ".join(r.ref for r in roles)
            + (": the static key in its environment wins over them" if static else "")
        )
    creds.extend(roles)
    unfed = [
        c
        for c in static
        if c.kind != "env-literal"
        and not (c.secret and _synced_from_watched(ctx, access, pod.namespace, c.secret))
    ]
    if static and parent:
        kind, _, rest = parent.partition("/")
        namespace, _, name = rest.partition("/")
        key = (kind, namespace, name)
        others = facts.role_based(exclude=key)
        in_namespace = facts.role_based(exclude=key, namespace=pod.namespace)
        where = ", ".join(f"Secret {c.secret}" for c in unfed if c.secret) or (
            "the pod spec" if any(c.kind == "env-literal" for c in static) else "a credentials file"
        )
        more = "" if facts.complete else " or more"
        if not facts.workloads:  # empty only when the survey itself failed: no count then
            rest = f"(the rest of cluster {access.name} could not be surveyed: see the findings)"
        elif others or not facts.complete:
            rest = (
                f"while {others}{more} other deployments use IRSA/Pod Identity (cluster {access.name}; "
                f"{in_namespace} of them in namespace {pod.namespace})"
            )
        else:
            rest = f"(no other deployment of cluster {access.name} uses IRSA/Pod Identity yet)"
        finding = (
            f"static credentials in {parent} ({where}) {rest}: move it to a role; a restart would reload the "
            "same key"
        )
        if unfed or any(c.kind == "env-literal" for c in static):
            ctx.note(f"EKS workload {parent}", finding)
            lines.append(finding)
    return PodCredentials(_unique(creds), lines, demote)


def pod_workload(
    ctx: LocateContext,
    access: ClusterAccess,
    region: str,
    pod: Pod,
    *,
    confidence: Confidence,
    evidence: list[str],
    incident_key: str,
    vpc_id: str | None,
) -> Workload:
    assert access.cluster is not None
    parent, parent_lines = _parent(ctx, access, pod)
    creds = pod_credentials(ctx, access, region, pod, parent, incident_key)
    workload = Workload(
        type="eks-pod",
        id=pod.ref,
        confidence=creds.demote_to or confidence,
        evidence=[*evidence, f"pod {pod.ref} in EKS cluster {access.name}", *parent_lines, *creds.evidence],
        region=region,
        account=account_of(access.cluster.arn),
        parent=parent,
        cluster=access.cluster.arn,
        vpc_id=vpc_id or access.cluster.vpc_id,
        started_at=pod.started_at or pod.created_at,
        credentials=creds.credentials,
    )
    if workload.vpc_id:
        ctx.vpc_of[workload.id] = workload.vpc_id
    return workload


def _pod_confidence(pod: Pod, last_seen: datetime, shared: bool) -> tuple[Confidence, list[str]]:
    created = pod.created_at
    if created is not None and created > last_seen:
        return "low", [
            f"created {iso_z(created)}, after the last failure at {iso_z(last_seen)}: "
            "the IP was probably reused"
        ]
    if shared:
        return "medium", [
            "several pods hold this IP (host network): any of them, or the node itself, "
            "may have sent the requests"
        ]
    return "high", []


# -- entry points from the IP locator ---------------------------------------------------------


def locate_pods(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    *,
    cluster_name: str,
    ip: str,
    via: str,
    vpc_id: str | None,
    last_seen: datetime,
    incident_key: str,
) -> tuple[list[str], str]:
    """The pods of `cluster_name` holding `ip` as workloads; ([], why) when there are none."""
    access = cluster_access(ctx, region, cluster_name)
    reader = access.reader
    if reader is None:
        return [], f"the Kubernetes API of {cluster_name} did not answer: {access.why}"
    pods = ctx.memo(
        ("eks-pods-by-ip", access.name, ip),
        lambda: ask(ctx, access, f"list pods with status.podIP={ip}", lambda: reader.pods_by_ip(ip)),
    )
    if pods is None:
        return [], f"the Kubernetes API of {cluster_name} did not answer: {access.last_error}"
    live = [p for p in pods if p.phase not in FINISHED and p.deleted_at is None]
    if not live:
        finished = f" ({len(pods)} finished pod(s) held it before)" if pods else ""
        return [], (
            f"the Kubernetes API of {cluster_name} lists no running pod with IP {ip}{finished}: "
            "the pod is gone, or the node itself sent the requests"
        )
    ids: list[str] = []
    for pod in live:
        confidence, notes = _pod_confidence(pod, last_seen, len(live) > 1)
        workload = pod_workload(
            ctx,
            access,
            region,
            pod,
            confidence=confidence,
            evidence=[f"source IP {ip} is {via}", *notes],
            incident_key=incident_key,
            vpc_id=vpc_id,
        )
        ids.append(found.add(workload).id)
    return ids, ""


def on_node(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    node: Workload,
    *,
    cluster_name: str,
    last_seen: datetime,
    incident_key: str,
) -> list[str]:
    """An address on an EKS node's interface: its pods, or the node with the reason."""
    secondary = "the primary address" if eni.private_ips[:1] == (ip,) else "a secondary address"
    via = f"{secondary} of {eni.id} on node {node.id.rsplit('/', 1)[-1]} of EKS cluster {cluster_name}"
    ids, why = locate_pods(
        ctx,
        found,
        region,
        cluster_name=cluster_name,
        ip=ip,
        via=via,
        vpc_id=eni.vpc_id,
        last_seen=last_seen,
        incident_key=incident_key,
    )
    if ids:
        return ids
    return [_node(ctx, found, node, cluster_name, region, why)]


def _node(ctx: LocateContext, found: Candidates, node: Workload, cluster: str, region: str, why: str) -> str:
    """The node itself as the holder (`eks-node`), with the cluster's ARN and the reason. Its
    instance profile is left out: it is the node's, and says nothing of what the unknown pod
    on it is configured with (it would read as "another provider wins")."""
    access = cluster_access(ctx, region, cluster)
    arn = access.cluster.arn if access.cluster else cluster
    evidence = [*node.evidence, f"not located to a pod: {why}"]
    ctx.note(f"EKS node {node.id}", f"not located to a pod: {why}")
    update = {"type": "eks-node", "cluster": arn, "evidence": evidence, "credentials": []}
    return found.add(node.model_copy(update=update)).id


def on_branch(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    *,
    last_seen: datetime,
    incident_key: str,
    make_node: Callable[[str], Workload | None],
) -> list[str]:
    """A branch interface (security groups for pods): one pod's own interface, hanging off its
    node's trunk interface (tag vpcresources.k8s.aws/trunk-eni-id). `make_node(instance_id)`
    builds the node's workload, for when no pod answers."""
    trunk = eni.tags.get(TRUNK_TAG)
    instance = None
    if trunk:
        trunks = ctx.memo(
            ("interface", region, trunk),
            lambda: ctx.attempt(
                f"ec2:DescribeNetworkInterfaces {trunk}", lambda: ctx.ec2(region).interfaces([trunk])
            ),
        )
        instance = next((t.instance_id for t in trunks or [] if t.instance_id), None)
    node = make_node(instance) if instance else None
    cluster = cluster_from_tags(eni.tags) or (node.cluster if node else None)
    if cluster is None:
        ctx.note(f"source IP {ip}", f"{eni.id} is a branch interface of no known EKS cluster")
        return [found.add(node).id] if node else []
    via = f"the address of {eni.id}, a branch interface (security groups for pods) of EKS cluster {cluster}"
    if trunk and instance:
        via += f", on trunk {trunk} of node {instance}"
    ids, why = locate_pods(
        ctx,
        found,
        region,
        cluster_name=cluster,
        ip=ip,
        via=via,
        vpc_id=eni.vpc_id,
        last_seen=last_seen,
        incident_key=incident_key,
    )
    if ids:
        return ids
    if node is not None:
        return [_node(ctx, found, node, cluster, region, why)]
    ctx.note(
        f"source IP {ip}", f"branch interface {eni.id} of EKS cluster {cluster}: not located to a pod: {why}"
    )
    return []


def _fargate_clusters(ctx: LocateContext, region: str, eni: NetworkInterface) -> list[str]:
    """Clusters whose Fargate profiles launch pods into the interface's subnet (in its VPC)."""
    tagged = cluster_from_tags(eni.tags)
    if tagged:
        return [tagged]
    if not eni.subnet_id or not eni.vpc_id:
        return []
    from credfix.adapters.readers.eks import Eks

    eks = Eks(ctx.client("eks", region))
    matching: list[str] = []
    for name in clusters_in_vpcs(ctx, region, {eni.vpc_id}):
        if any(eni.subnet_id in p.subnet_ids for p in _fargate_profiles(ctx, eks, region, name)):
            matching.append(name)
    return matching


def _fargate_profiles(ctx: LocateContext, eks: Any, region: str, name: str) -> list[Any]:
    return (
        ctx.memo(
            ("eks-fargate-profiles", region, name),
            lambda: ctx.attempt(
                f"eks:ListFargateProfiles {name}", lambda: eks.fargate_profiles(name, limit=ctx.scan_limit)
            ),
        )
        or []
    )


def on_fargate(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    *,
    last_seen: datetime,
    incident_key: str,
) -> list[str]:
    """An interface no instance holds, in a subnet of a Fargate profile: an EKS Fargate pod's."""
    ids: list[str] = []
    for cluster in _fargate_clusters(ctx, region, eni):
        via = (
            f"the address of {eni.id}, an EKS Fargate pod's interface in a subnet of a Fargate "
            f"profile of {cluster}"
        )
        hits, why = locate_pods(
            ctx,
            found,
            region,
            cluster_name=cluster,
            ip=ip,
            via=via,
            vpc_id=eni.vpc_id,
            last_seen=last_seen,
            incident_key=incident_key,
        )
        if hits:
            ids.extend(hits)
            continue
        access = cluster_access(ctx, region, cluster)
        arn = access.cluster.arn if access.cluster else cluster
        node = Workload(
            type="eks-node",
            id=ec2_arn(region, eni.owner_id, "network-interface", eni.id),
            confidence="medium",
            evidence=[f"source IP {ip} is {via}", f"not located to a pod: {why}"],
            region=region,
            account=eni.owner_id,
            cluster=arn,
            vpc_id=eni.vpc_id,
        )
        ctx.note(f"EKS Fargate interface {eni.id}", f"not located to a pod: {why}")
        ids.append(found.add(node).id)
    return ids


# -- by configuration, behind a NAT gateway ----------------------------------------------------


def clusters_in_vpcs(ctx: LocateContext, region: str, vpc_ids: set[str]) -> list[str]:
    from credfix.adapters.readers.eks import Eks

    eks = Eks(ctx.client("eks", region))
    names = ctx.memo(
        ("eks-clusters", region),
        lambda: ctx.attempt(f"eks:ListClusters in {region}", lambda: eks.cluster_names(limit=ctx.scan_limit)),
    )
    if names is None:
        return []
    inside: list[str] = []
    for name in ctx.capped(f"eks:ListClusters in {region}", names):
        cluster = _describe(ctx, eks, region, name)
        if cluster is not None and cluster.vpc_id in vpc_ids:
            inside.append(name)
    return inside


def _describe(ctx: LocateContext, eks: Any, region: str, name: str) -> EksCluster | None:
    check = f"eks:DescribeCluster {name} in {region}"
    found: EksCluster | None = ctx.memo(
        ("eks-cluster", region, name), lambda: ctx.attempt(check, lambda: eks.cluster(name))
    )
    return found


def locate_by_configuration(
    ctx: LocateContext, found: Candidates, region: str, vpc_ids: set[str], *, incident_key: str
) -> None:
    """The workloads of the VPCs' clusters whose pods sign with static keys (the failing key in
    their spec: high; read from a Secret synced from a watched secret that held the key:
    medium; from another Secret: medium when it is the only such workload of those clusters,
    else low), one pod per controller."""
    candidates: list[tuple[ClusterAccess, WorkloadAuth]] = []
    for name in clusters_in_vpcs(ctx, region, vpc_ids):
        access = cluster_access(ctx, region, name)
        if access.reader is None:
            ctx.note(f"EKS cluster {name}", f"its workloads could not be read: {access.why}")
            continue
        for auth in survey(ctx, access, region).workloads.values():
            if any(c.static for p in auth.pods for c in p.credentials):
                candidates.append((access, auth))
    only_one = len(candidates) == 1
    for access, auth in candidates:
        pod = min(auth.pods, key=lambda p: p.started_at or p.created_at or FAR_FUTURE)
        literal = any(c.access_key_id == incident_key for c in pod.credentials)
        consumer = any(
            c.secret and _synced_from_watched(ctx, access, pod.namespace, c.secret) for c in pod.credentials
        )
        confidence: Confidence = "high" if literal else ("medium" if consumer or only_one else "low")
        workload = pod_workload(
            ctx,
            access,
            region,
            pod,
            confidence=confidence,
            evidence=[
                f"found by configuration in EKS cluster {access.name} (the requests came through a NAT "
                f"gateway of its VPC); {len(auth.pods)} running pod(s) of {auth.label}",
                *(
                    ["the only workload of the VPC's clusters that signs with a static key"]
                    if only_one
                    else []
                ),
            ],
            incident_key=incident_key,
            vpc_id=access.cluster.vpc_id if access.cluster else None,
        )
        found.add(workload)
