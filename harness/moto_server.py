"""moto server, with corrections for fidelity where moto answers differently from AWS.

1. DynamoDB writes are serialised. Real DynamoDB applies each conditional write to an item
   atomically; moto's threaded server checks the condition and writes in two steps without a
   lock, so two racing requests can both pass a condition only one of them should pass.
   credfix's dedup rests on that atomicity, so DynamoDB requests run behind a lock (other
   services stay concurrent).
2. EC2 `DescribeNetworkInterfaces` filters. moto 5.2.5 answers HTTP 500 for the
   `association.public-ip` and `ipv6-addresses.ipv6-address` filters as soon as one interface
   exists, and matches `addresses.private-ip-address` against the primary address only. AWS
   answers with the interfaces that hold the address as a public (Elastic or auto-assigned)
   IPv4 address, an IPv6 address, or any private IPv4 address, primary or secondary (an
   outsider's address: none). `patch_moto()` makes the local AWS answer like AWS, so that no
   test passes because of a 500.
3. EC2 `CreateNetworkInterface` drops `InterfaceType` (every interface is "interface"); AWS keeps
   it (`branch` for the VPC resource controller's pod interfaces, `trunk`, `efa`).
4. EKS. moto 5.2.5 answers DescribeCluster's `resourcesVpcConfig` as given (no `vpcId`, no
   endpoint access flags; AWS adds both), invents the cluster's API endpoint and CA (random
   text) and has no Pod Identity associations or access entries. `patch_eks()` adds the VPC,
   Create/List/DescribePodIdentityAssociation and Create/DescribeAccessEntry with AWS's shapes
   (the list has no roleArn, as in AWS), and a
   harness-only route, `POST /credfix-harness/eks-cluster`, that points a cluster's endpoint and
   CA at the local Kubernetes API (harness/kube.py): where AWS runs the API server, the harness
   runs its stand-in, and DescribeCluster then answers as EKS would for it.
5. Signature checking accepts an Inactive access key (moto looks the key up, not its status);
   AWS rejects it with `InvalidClientTokenId`, as it does a deleted one. And it recomputes the
   signature of a bodiless request (a REST GET such as eks:DescribeCluster) over the parsed
   parameters instead of the empty body, so every such call fails `SignatureDoesNotMatch`.
   `patch_moto()` makes an Inactive key fail and a correctly signed GET pass, as in AWS.

Run as `python -m harness.moto_server -p PORT`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialise_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def _all_private_ips(eni: Any) -> list[str]:
    addresses = [a.get("PrivateIpAddress") for a in eni.private_ip_addresses if isinstance(a, dict)]
    return [ip for ip in [eni.private_ip_address, *addresses] if ip]


def patch_moto() -> None:
    """Teach moto's network interfaces the address filters AWS supports (see the docstring)."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    original = NetworkInterface.get_filter_value
    if getattr(original, "credfix_patched", False):
        return

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "association.public-ip":
            return self.public_ip
        if filter_name == "ipv6-addresses.ipv6-address":
            return list(self.ipv6_addresses)
        if filter_name in ("addresses.private-ip-address", "private-ip-address"):
            return _all_private_ips(self)
        return original(self, filter_name, method_name)

    get_filter_value.credfix_patched = True  # type: ignore[attr-defined]
    NetworkInterface.get_filter_value = get_filter_value  # type: ignore[method-assign]

    from moto.iam import access_control

    original_key = access_control.IAMUserAccessKey.__init__

    def active_keys_only(
        self: Any, account_id: str, partition: str, access_key_id: str, headers: Any
    ) -> None:
        original_key(self, account_id, partition, access_key_id, headers)
        user = self.backend.get_user(self._owner_user_name)
        if any(k.access_key_id == access_key_id and k.status != "Active" for k in user.access_keys):
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")

    access_control.IAMUserAccessKey.__init__ = active_keys_only  # type: ignore[method-assign]

    original_request = access_control.IAMRequestBase._create_aws_request

    def signed_body_only(self: Any) -> Any:
        if self._method in ("GET", "HEAD", "DELETE") and not self._body:
            self._data = b""  # what was signed: no body (the parameters are in the path)
        return original_request(self)

    access_control.IAMRequestBase._create_aws_request = signed_body_only  # type: ignore[method-assign]

    from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces

    create = ElasticNetworkInterfaces.create_network_interface

    def create_network_interface(self: Any) -> Any:
        result = create(self)
        interface_type = self._get_param("InterfaceType")
        if interface_type:
            result.result["NetworkInterface"].interface_type = interface_type  # type: ignore[index]
        return result

    ElasticNetworkInterfaces.create_network_interface = create_network_interface  # type: ignore[method-assign]


EKS_HARNESS_ROUTE = "/credfix-harness/eks-cluster"


def eks_endpoint_route(app: WsgiApp) -> WsgiApp:
    """`POST /credfix-harness/eks-cluster` {account, region, name, endpoint, ca_data}: the local
    Kubernetes API becomes the cluster's endpoint (moto cannot run one)."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != EKS_HARNESS_ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        from moto.eks.models import eks_backends

        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size) or b"{}")
        cluster = eks_backends[body["account"]][body["region"]].clusters[body["name"]]
        cluster.endpoint = body["endpoint"]
        cluster.certificate_authority = {"data": body["ca_data"]}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    return wrapped


def _cluster_of(response: Any, name: str) -> Any:
    from moto.eks.exceptions import ResourceNotFoundException

    cluster = response.eks_backend.clusters.get(name)
    if cluster is None:
        raise ResourceNotFoundException(
            clusterName=name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message=f"No cluster found for name: {name}.",
        )
    return cluster


def _not_found(cluster: str, message: str) -> Exception:
    from moto.eks.exceptions import ResourceNotFoundException

    return ResourceNotFoundException(
        clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=None, message=message
    )


def patch_eks() -> None:
    """Pod Identity associations and access entries for moto's EKS (see the module docstring)."""
    import datetime

    from moto.core.responses import ActionResult
    from moto.eks import urls
    from moto.eks.responses import EKSResponse

    if getattr(EKSResponse, "credfix_patched", False):
        return
    from moto.ec2.models import ec2_backends
    from moto.eks.models import EKSBackend

    create_cluster = EKSBackend.create_cluster

    def create_cluster_with_vpc(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = create_cluster(self, *args, **kwargs)
        config = cluster.resources_vpc_config = dict(cluster.resources_vpc_config or {})
        subnets = config.get("subnetIds") or []
        if subnets and "vpcId" not in config:
            ec2 = ec2_backends[self.account_id][self.region_name]
            config["vpcId"] = ec2.get_subnet(subnets[0]).vpc_id
        config.setdefault("endpointPublicAccess", True)
        config.setdefault("endpointPrivateAccess", False)
        return cluster

    EKSBackend.create_cluster = create_cluster_with_vpc  # type: ignore[method-assign]
    dispatch = urls.response.dispatch
    urls.url_paths.update(
        {
            "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$": dispatch,
            "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$": dispatch,
            "{0}/clusters/(?P<name>[^/]+)/access-entries$": dispatch,
            "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$": dispatch,
        }
    )

    def param(response: Any, *names: str) -> Any:
        for name in names:
            value = response._get_param(name)
            if value:
                return value
        return None

    def associations(cluster: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(cluster, "credfix_pod_identities"):
            cluster.credfix_pod_identities = {}
        return cluster.credfix_pod_identities

    def create_pod_identity_association(self: Any) -> Any:
        name = param(self, "clusterName", "name")
        cluster = _cluster_of(self, name)
        association_id = f"a-{uuid.uuid4().hex[:17]}"
        now = datetime.datetime.now(datetime.UTC)
        association = {
            "clusterName": name,
            "namespace": param(self, "namespace"),
            "serviceAccount": param(self, "serviceAccount"),
            "roleArn": param(self, "roleArn"),
            "associationArn": cluster.arn.replace(":cluster/", ":podidentityassociation/")
            + f"/{association_id}",
            "associationId": association_id,
            "tags": param(self, "tags") or {},
            "createdAt": now,
            "modifiedAt": now,
        }
        associations(cluster)[association_id] = association
        return ActionResult({"association": association})

    def list_pod_identity_associations(self: Any) -> Any:
        name = param(self, "clusterName", "name")
        namespace, account = param(self, "namespace"), param(self, "serviceAccount")
        summaries = [
            {
                k: a[k]
                for k in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")
            }
            for a in associations(_cluster_of(self, name)).values()
            if (not namespace or a["namespace"] == namespace)
            and (not account or a["serviceAccount"] == account)
        ]
        return ActionResult({"associations": summaries})

    def describe_pod_identity_association(self: Any) -> Any:
        name = param(self, "clusterName", "name")
        association_id = param(self, "associationId")
        association = associations(_cluster_of(self, name)).get(association_id)
        if association is None:
            raise _not_found(name, f"Association {association_id} not found")
        return ActionResult({"association": association})

    def entries(cluster: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(cluster, "credfix_access_entries"):
            cluster.credfix_access_entries = {}
        return cluster.credfix_access_entries

    def create_access_entry(self: Any) -> Any:
        name = param(self, "clusterName", "name")
        cluster = _cluster_of(self, name)
        principal = param(self, "principalArn")
        now = datetime.datetime.now(datetime.UTC)
        entry = {
            "clusterName": name,
            "principalArn": principal,
            "kubernetesGroups": param(self, "kubernetesGroups") or [],
            "accessEntryArn": cluster.arn.replace(":cluster/", ":access-entry/") + f"/{uuid.uuid4()}",
            "createdAt": now,
            "modifiedAt": now,
            "tags": param(self, "tags") or {},
            "username": param(self, "username") or principal,
            "type": param(self, "type") or "STANDARD",
        }
        entries(cluster)[principal] = entry
        return ActionResult({"accessEntry": entry})

    def describe_access_entry(self: Any) -> Any:
        name = param(self, "clusterName", "name")
        principal = unquote(param(self, "principalArn") or "")
        entry = entries(_cluster_of(self, name)).get(principal)
        if entry is None:
            raise _not_found(name, f"The specified principalArn could not be found: {principal}")
        return ActionResult({"accessEntry": entry})

    for fn in (
        create_pod_identity_association,
        list_pod_identity_associations,
        describe_pod_identity_association,
        create_access_entry,
        describe_access_entry,
    ):
        setattr(EKSResponse, fn.__name__, fn)
    EKSResponse.credfix_patched = True  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    patch_moto()
    patch_eks()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        eks_endpoint_route(serialise_dynamodb(app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
