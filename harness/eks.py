"""A local EKS cluster for the tests and the demo: the cluster in moto (EKS, its VPC, node
instances and their interfaces) and its Kubernetes API in harness/kube.py, wired as EKS wires
them: DescribeCluster returns the local API's endpoint and CA, the API accepts EKS tokens
signed by the test's credentials, the access entry maps them to credfix's groups, and RBAC is
the ClusterRoles docs/eks.md gives (built from the code's `@needs_rbac` declarations).

Pods are seeded the way the controllers would have made them: Deployment -> ReplicaSet
(NAME-HASH) -> Pods (NAME-HASH-xxxxx) with controller ownerReferences and uids; each pod's IP
is a real address of an interface in moto (a secondary address of its node's interface, a
branch interface's, or a Fargate interface's).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.account import Network, clients
from harness.kube import FakeCluster, Identity, Rule, rbac_rules
from harness.moto import ACCOUNT, REGION, LocalAws

TRIAGE_GROUP = "credfix-triage"
ACT_GROUP = "credfix-act"
EKS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster"


def ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def env_literal(key_id: str) -> list[dict[str, Any]]:
    return [
        {"name": "AWS_ACCESS_KEY_ID", "value": key_id},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "never-read-by-credfix"},
    ]


def env_from_secret(secret: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "AWS_ACCESS_KEY_ID",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "AWS_ACCESS_KEY_ID"}},
        },
        {
            "name": "AWS_SECRET_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "AWS_SECRET_ACCESS_KEY"}},
        },
    ]


def irsa_env(role_arn: str) -> list[dict[str, Any]]:
    """What the EKS pod identity webhook injects for IRSA."""
    return [
        {"name": "AWS_ROLE_ARN", "value": role_arn},
        {
            "name": "AWS_WEB_IDENTITY_TOKEN_FILE",
            "value": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        },
    ]


def pod_identity_env() -> list[dict[str, Any]]:
    """What the EKS Pod Identity webhook injects."""
    return [
        {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"},
        {
            "name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "value": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
        },
    ]


@dataclass
class Node:
    instance_id: str
    eni_id: str
    ip: str


@dataclass
class LocalEks:
    aws: LocalAws
    net: Network
    name: str
    arn: str
    kube: FakeCluster
    _ips: int = 10
    nodes: list[Node] = field(default_factory=list)

    # -- AWS side --------------------------------------------------------------------------

    def node(self, *, self_managed: bool = False) -> Node:
        """A node instance, tagged as EKS tags its nodes: `eks:cluster-name` for managed node
        groups, `kubernetes.io/cluster/NAME` for self-managed ones."""
        tag = (
            {"Key": f"kubernetes.io/cluster/{self.name}", "Value": "owned"}
            if self_managed
            else {"Key": "eks:cluster-name", "Value": self.name}
        )
        tags = [tag]
        run = clients("ec2").run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="m5.large",
            SubnetId=self.net.subnet,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        instance = run["Instances"][0]
        node = Node(
            instance["InstanceId"],
            instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
            instance["PrivateIpAddress"],
        )
        self.nodes.append(node)
        return node

    def secondary_ip(self, node: Node) -> str:
        """A pod IP as the VPC CNI gives it: a secondary private address of the node's interface."""
        ec2 = clients("ec2")
        before = self._addresses(node.eni_id)
        ec2.assign_private_ip_addresses(NetworkInterfaceId=node.eni_id, SecondaryPrivateIpAddressCount=1)
        (added,) = self._addresses(node.eni_id) - before
        return added

    def _addresses(self, eni_id: str) -> set[str]:
        raw = clients("ec2").describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
        return {a["PrivateIpAddress"] for a in raw.get("PrivateIpAddresses") or []}

    def branch_ip(self, node: Node) -> tuple[str, str]:
        """A pod with security groups for pods: a branch interface of the node's trunk, as the
        VPC resource controller creates it (type branch, its description and tags)."""
        eni = clients("ec2").create_network_interface(
            SubnetId=self.net.subnet,
            Groups=[self.net.security_group],
            Description="aws-k8s-branch-eni",
            InterfaceType="branch",
            TagSpecifications=[
                {
                    "ResourceType": "network-interface",
                    "Tags": [
                        {"Key": "vpcresources.k8s.aws/vlan-id", "Value": "1"},
                        {"Key": "vpcresources.k8s.aws/trunk-eni-id", "Value": node.eni_id},
                        {"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"},
                        {"Key": f"kubernetes.io/cluster/{self.name}", "Value": "owned"},
                    ],
                }
            ],
        )["NetworkInterface"]
        return eni["NetworkInterfaceId"], eni["PrivateIpAddress"]

    def fargate_ip(self, namespace: str) -> str:
        """An EKS Fargate pod: a Fargate profile for the namespace in the private subnet, and the
        pod's own interface there (no instance in the account holds it)."""
        eks = clients("eks")
        profile = f"fp-{namespace}"
        existing = eks.list_fargate_profiles(clusterName=self.name)["fargateProfileNames"]
        if profile not in existing:
            eks.create_fargate_profile(
                fargateProfileName=profile,
                clusterName=self.name,
                podExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/fargate-pods",
                subnets=[self.net.subnet],
                selectors=[{"namespace": namespace}],
            )
        eni = clients("ec2").create_network_interface(
            SubnetId=self.net.subnet, Groups=[self.net.security_group], Description=""
        )["NetworkInterface"]
        return str(eni["PrivateIpAddress"])

    def pod_identity(self, namespace: str, service_account: str, role_arn: str) -> None:
        clients("eks").create_pod_identity_association(
            clusterName=self.name, namespace=namespace, serviceAccount=service_account, roleArn=role_arn
        )

    # -- Kubernetes side -------------------------------------------------------------------

    def namespace(self, name: str, annotations: dict[str, str] | None = None) -> None:
        self.kube.put({"kind": "Namespace", "metadata": {"name": name, "annotations": annotations or {}}})

    def service_account(self, namespace: str, name: str, *, role_arn: str | None = None) -> None:
        if self.kube.get("Namespace", namespace, None) is None:
            self.namespace(namespace)
        annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn else {}
        self.kube.put(
            {
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            }
        )

    def external_secret(
        self, namespace: str, name: str, *, target: str, remote_key: str, refreshed_at: datetime
    ) -> None:
        self.kube.put(
            {
                "kind": "ExternalSecret",
                "apiVersion": "external-secrets.io/v1",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"},
                    "target": {"name": target, "creationPolicy": "Owner"},
                    "data": [
                        {
                            "secretKey": "AWS_ACCESS_KEY_ID",
                            "remoteRef": {"key": remote_key, "property": "AccessKeyId"},
                        },
                        {
                            "secretKey": "AWS_SECRET_ACCESS_KEY",
                            "remoteRef": {"key": remote_key, "property": "SecretAccessKey"},
                        },
                    ],
                },
                "status": {
                    "refreshTime": ts(refreshed_at),
                    "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}],
                },
            }
        )

    def deployment(
        self,
        namespace: str,
        name: str,
        *,
        ips: list[str],
        env: list[dict[str, Any]] | None = None,
        env_from_secret: str | None = None,
        service_account: str = "default",
        started_at: datetime | None = None,
        annotations: dict[str, str] | None = None,
        kind: str = "Deployment",
        host_network: bool = False,
        node: Node | None = None,
    ) -> list[str]:
        """A Deployment (or StatefulSet, DaemonSet) and its running pods, one per IP, as the
        controllers would have made them (in `namespace`, created if missing, as it must exist).
        Returns the pod names."""
        if self.kube.get("Namespace", namespace, None) is None:
            self.namespace(namespace)
        started = started_at or datetime.now(UTC) - timedelta(days=2)
        container: dict[str, Any] = {"name": name, "image": f"registry.example/{name}:1", "env": env or []}
        if env_from_secret:
            container["envFrom"] = [{"secretRef": {"name": env_from_secret}}]
        template = {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "serviceAccountName": service_account,
                "containers": [container],
                "hostNetwork": host_network,
            },
        }
        group = "batch/v1" if kind == "Job" else "apps/v1"
        top = self.kube.put(
            {
                "kind": kind,
                "apiVersion": group,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": annotations or {},
                    "creationTimestamp": ts(started - timedelta(minutes=5)),
                },
                "spec": {
                    "replicas": len(ips),
                    "selector": {"matchLabels": {"app": name}},
                    "template": template,
                },
            }
        )
        owner = {
            "apiVersion": group,
            "kind": kind,
            "name": name,
            "uid": top["metadata"]["uid"],
            "controller": True,
        }
        pod_hash = uuid.uuid4().hex[:10]
        labels = {"app": name}
        if kind == "Deployment":
            replica_set = self.kube.put(
                {
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{name}-{pod_hash}",
                        "namespace": namespace,
                        "labels": {**labels, "pod-template-hash": pod_hash},
                        "ownerReferences": [owner],
                    },
                    "spec": {"replicas": len(ips), "template": template},
                }
            )
            owner = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replica_set["metadata"]["name"],
                "uid": replica_set["metadata"]["uid"],
                "controller": True,
            }
            labels = {**labels, "pod-template-hash": pod_hash}
        names = []
        for ip in ips:
            pod_name = f"{owner['name']}-{uuid.uuid4().hex[:5]}"
            spec = json.loads(json.dumps(template["spec"]))
            if node is not None:
                spec["nodeName"] = f"ip-{node.ip.replace('.', '-')}.ec2.internal"
            self.kube.put(
                {
                    "kind": "Pod",
                    "metadata": {
                        "name": pod_name,
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [owner],
                        "creationTimestamp": ts(started),
                    },
                    "spec": spec,
                    "status": {
                        "phase": "Running",
                        "podIP": ip,
                        "podIPs": [{"ip": ip}],
                        "startTime": ts(started),
                    },
                }
            )
            names.append(pod_name)
        return names

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        """The seeded pods of a namespace (to change one the way a test needs, then `kube.put`)."""
        return [
            o for o in (self.kube.get("Pod", n, namespace) for n in self.kube.names("Pod", namespace)) if o
        ]

    def stop(self) -> None:
        self.kube.stop()


def local_eks(
    aws: LocalAws,
    net: Network,
    name: str = "prod",
    *,
    credentials: tuple[str, str] = ("testing", "testing"),
    rules: list[Rule] | None = None,
    with_access_entry: bool = True,
) -> LocalEks:
    """A cluster in moto (in `net`'s VPC) whose API is a running harness.kube.FakeCluster.
    `credentials`: the access key and secret credfix signs with (the test's or the demo's);
    the access entry maps them to credfix's triage and act groups, whose RBAC is the
    documented one unless `rules` replaces it."""
    eks = clients("eks")
    cluster = eks.create_cluster(
        name=name, roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": [net.subnet, net.public_subnet]}
    )["cluster"]
    access_key, secret = credentials
    entries = {access_key: Identity("credfix", (TRIAGE_GROUP, ACT_GROUP))} if with_access_entry else {}
    kube = FakeCluster(
        name,
        secrets={access_key: secret},
        access_entries=entries,
        rules=rules
        if rules is not None
        else [*rbac_rules("triage", TRIAGE_GROUP), *rbac_rules("act", ACT_GROUP)],
        sts_endpoint=aws.url,
    )
    endpoint = kube.start()
    assert kube.cert is not None
    point_cluster_at(aws, name, endpoint, kube.cert.ca_data)
    return LocalEks(aws, net, name, str(cluster["arn"]), kube)


def point_cluster_at(aws: LocalAws, name: str, endpoint: str, ca_data: str) -> None:
    """Make moto's DescribeCluster answer with this endpoint and CA (the harness-only route)."""
    body = json.dumps(
        {"account": ACCOUNT, "region": REGION, "name": name, "endpoint": endpoint, "ca_data": ca_data}
    )
    request = urllib.request.Request(
        f"{aws.url}/credfix-harness/eks-cluster",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
