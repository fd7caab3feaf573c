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
3. Lambda environment size. AWS refuses a function environment whose JSON (compact, as
   `{"NAME":"value",...}`) exceeds 4 KB with an InvalidParameterValueException that quotes
   the whole environment: "Lambda was unable to configure your environment variables because
   the environment variables you have provided exceeded the 4KB limit. String measured: {...}"
   (the message real SDK users report, e.g. with `{"PG_PASSWORD":"hunter2"}` in it; LocalStack
   answers the same). moto 5.2.5 accepts any size. `patch_moto()` adds the check to
   CreateFunction and UpdateFunctionConfiguration, so that credfix's handling of an error that
   echoes secret values is tested on the wire.
4. EventBridge's events as targets receive them. moto 5.2.5 leaves `account` out of the event
   it sends an SQS target; AWS sends every field of the event, `account` (the sender's) among
   them, which the runtime-log intake checks relayed lines against.
5. Signatures of bodiless REST requests. moto 5.2.5 checks a GET without a body (Lambda's
   ListFunctions, eks:DescribeCluster) against a payload hash of the parsed parameters instead
   of the empty body the client signed, and answers SignatureDoesNotMatch to a valid key once
   signature checking is on; AWS accepts it. The check is given the empty body the client signed.
6. CloudWatch Logs account policies. moto 5.2.5 has no PutAccountPolicy,
   DescribeAccountPolicies or DeleteAccountPolicy; `credfix doctor` reads them. The local AWS
   keeps them per account and region, one subscription filter policy per account and region
   as AWS allows (a second name is refused with LimitExceededException).
7. ECS tasks. moto's tasks carry no `createdAt` / `startedAt`, and a service's new deployment
   (`UpdateService` with `forceNewDeployment`) replaces none of its tasks. AWS reports both
   times, and the new deployment starts new tasks (`startedBy` = the deployment's ID) and
   stops the old ones; the local AWS now does both (at once: AWS drains the old tasks once the
   new ones are healthy, minutes later). `ListTasks` with `serviceName` returns only that
   service's tasks (moto ignores the filter and lists the whole cluster).
8. Secrets Manager version dates. moto stamps a new version `int(time.time())`, whole
   seconds; AWS's `CreatedDate` has milliseconds. What started before a rotation is decided
   by comparing these times, so the local AWS keeps the fraction.
9. CloudTrail `LookupEvents` (moto has none): answered from the records the local
   CloudTrail writes (harness/event_history.py).
10. Inactive keys. With signature checking on, moto accepts a request signed with an
   Inactive key; AWS rejects it (`InvalidClientTokenId`), which is the whole point of
   deactivating a rotated-out key.
11. EC2 `CreateNetworkInterface` drops `InterfaceType` (every interface is "interface"); AWS keeps
   it (`branch` for the VPC resource controller's pod interfaces, `trunk`, `efa`).
12. EKS. moto 5.2.5 answers DescribeCluster's `resourcesVpcConfig` as given (no `vpcId`, no
   endpoint access flags; AWS adds both), invents the cluster's API endpoint and CA (random
   text) and has no Pod Identity associations or access entries. `patch_eks()` adds the VPC,
   Create/List/DescribePodIdentityAssociation and Create/DescribeAccessEntry with AWS's shapes
   (the list has no roleArn, as in AWS), and a
   harness-only route, `POST /credfix-harness/eks-cluster`, that points a cluster's endpoint and
   CA at the local Kubernetes API (harness/kube.py): where AWS runs the API server, the harness
   runs its stand-in, and DescribeCluster then answers as EKS would for it.

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

from harness.event_history import EventHistory, with_event_history

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


LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of the compact JSON of the variables


def _check_lambda_environment(spec: dict[str, Any]) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    variables = (spec.get("Environment") or {}).get("Variables")
    if not variables:
        return
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode("utf-8")) > LAMBDA_ENVIRONMENT_LIMIT:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )


def _patch_lambda_environment_limit() -> None:
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend.create_function, "credfix_patched", False):
        return
    create, update = LambdaBackend.create_function, LambdaBackend.update_function_configuration

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        _check_lambda_environment(spec)
        return create(self, spec)

    def update_function_configuration(
        self: Any, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> Any:
        _check_lambda_environment(body)
        return update(self, function_name, qualifier, body)

    create_function.credfix_patched = True  # type: ignore[attr-defined]
    LambdaBackend.create_function = create_function  # type: ignore[method-assign]
    LambdaBackend.update_function_configuration = update_function_configuration  # type: ignore[method-assign]


def patch_moto() -> None:
    """Teach moto the AWS behaviours listed in the docstring (2: address filters, 3: the
    Lambda environment limit)."""
    _patch_lambda_environment_limit()
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


def patch_ecs_tasks() -> None:
    """Tasks with AWS's times, and a new deployment that replaces the service's tasks."""
    from moto.core.utils import utcnow
    from moto.ecs.models import EC2ContainerServiceBackend, Task

    if getattr(Task.__init__, "credfix_patched", False):
        return
    original_init = Task.__init__
    original_update = EC2ContainerServiceBackend.update_service
    original_list = EC2ContainerServiceBackend.list_tasks

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.created_at = self.started_at = utcnow()

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        cluster = str(service_properties.get("cluster", "default"))
        name = str(service_properties.get("service", "")).split("/")[-1]
        force = bool(service_properties.get("force_new_deployment"))
        service = original_update(self, service_properties)
        if not force or not service.deployments:
            return service
        deployment = service.deployments[0]["id"]
        group = f"service:{name}"
        running = [
            t
            for t in list(self.tasks.get(self._get_cluster(cluster).name, {}).values())
            # desiredStatus: moto moves a task's lastStatus on each time it is described
            if t.group == group and t.desired_status == "RUNNING"
        ]
        for old in running:
            self.run_task(
                cluster,
                service.task_definition,
                1,
                None,
                deployment,
                None,
                old.launch_type or None,
                networking_configuration=getattr(old, "network_configuration", None),
                group=group,
            )
            self.stop_task(cluster, old.task_arn, f"ECS deployment {deployment}: replaced by a new task")
        return service

    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = ("cluster_str", "container_instance", "family", "started_by", "service_name")
        service = dict(zip(names, args, strict=False)).get("service_name") or kwargs.get("service_name")
        tasks = original_list(self, *args, **kwargs)
        return [t for t in tasks if t.group == f"service:{service}"] if service else tasks

    init.credfix_patched = True  # type: ignore[attr-defined]
    Task.__init__ = init  # type: ignore[method-assign]
    EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.list_tasks = list_tasks  # type: ignore[method-assign]


def patch_secret_version_dates() -> None:
    """New secret versions keep the fraction of a second of their creation (see the docstring)."""
    import time

    from moto.secretsmanager.models import SecretsManagerBackend

    if getattr(SecretsManagerBackend._add_secret, "credfix_patched", False):
        return

    def precise(method: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            before = time.time()
            result = method(self, *args, **kwargs)
            seconds = {int(before), int(time.time())}
            for secret in list(self.secrets.values()):
                for version in getattr(secret, "versions", {}).values():
                    created = version.get("createdate")
                    if type(created) is int and created in seconds:
                        version["createdate"] = before
            return result

        wrapped.credfix_patched = True  # type: ignore[attr-defined]
        return wrapped

    for name in ("_add_secret", "rotate_secret"):
        setattr(SecretsManagerBackend, name, precise(getattr(SecretsManagerBackend, name)))


_ACCOUNT_POLICY_FIELDS = ("policyName", "policyDocument", "policyType", "scope", "selectionCriteria")


def patch_bodiless_signatures() -> None:
    """Patch 5: a request with no body is checked against the empty body its client signed."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request
    if getattr(original, "credfix_patched", False):
        return

    def create(self: Any) -> Any:
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            saved, self._data = self._data, b""
            try:
                return original(self)
            finally:
                self._data = saved
        return original(self)

    create.credfix_patched = True  # type: ignore[attr-defined]
    IAMRequestBase._create_aws_request = create  # type: ignore[method-assign]


def patch_events_account() -> None:
    """Patch 4: the event as AWS delivers it to a target, `account` included."""
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", '
        )


def patch_logs_account_policies() -> None:
    """Patch 6: CloudWatch Logs account policies, per account and region."""
    import json
    import time

    from moto.core.exceptions import JsonRESTError
    from moto.logs.responses import LogsResponse

    if hasattr(LogsResponse, "put_account_policy"):
        return

    def policies(self: Any) -> dict[tuple[str, str], dict[str, Any]]:
        backend = self.logs_backend
        if not hasattr(backend, "credfix_account_policies"):
            backend.credfix_account_policies = {}
        found: dict[tuple[str, str], dict[str, Any]] = backend.credfix_account_policies
        return found

    def put_account_policy(self: Any) -> str:
        policy = {name: self._get_param(name) for name in _ACCOUNT_POLICY_FIELDS if self._get_param(name)}
        kind, name = policy["policyType"], policy["policyName"]
        existing = [n for (t, n) in policies(self) if t == kind]
        if kind == "SUBSCRIPTION_FILTER_POLICY" and existing and name not in existing:
            raise JsonRESTError(
                "LimitExceededException", "Each account can have one account-level subscription filter policy"
            )
        policy.update(accountId=self.current_account, lastUpdatedTime=int(time.time() * 1000))
        policy.setdefault("scope", "ALL")
        policies(self)[(kind, name)] = policy
        return json.dumps({"accountPolicy": policy})

    def describe_account_policies(self: Any) -> str:
        kind, name = self._get_param("policyType"), self._get_param("policyName")
        found = [p for (t, n), p in policies(self).items() if t == kind and name in (None, n)]
        return json.dumps({"accountPolicies": found})

    def delete_account_policy(self: Any) -> str:
        key = (self._get_param("policyType"), self._get_param("policyName"))
        if policies(self).pop(key, None) is None:
            raise JsonRESTError("ResourceNotFoundException", "Policy not found")
        return ""

    LogsResponse.put_account_policy = put_account_policy  # type: ignore[attr-defined]
    LogsResponse.describe_account_policies = describe_account_policies  # type: ignore[attr-defined]
    LogsResponse.delete_account_policy = delete_account_policy  # type: ignore[attr-defined]


def patch_inactive_keys() -> None:
    """A request signed with an Inactive key is refused (see the docstring)."""
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey

    original = IAMUserAccessKey.__init__
    if getattr(original, "credfix_patched", False):
        return

    def init(self: Any, account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> None:
        original(self, account_id, partition, access_key_id, headers)
        for user in self.backend.list_users("/", None, None):
            for key in user.access_keys:
                if key.access_key_id == access_key_id and key.status != "Active":
                    raise CreateAccessKeyFailure(reason="InvalidId")

    init.credfix_patched = True  # type: ignore[attr-defined]
    IAMUserAccessKey.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    patch_moto()
    patch_events_account()
    patch_bodiless_signatures()
    patch_logs_account_policies()
    patch_ecs_tasks()
    patch_secret_version_dates()
    patch_inactive_keys()
    patch_eks()
    app = with_event_history(
        eks_endpoint_route(serialise_dynamodb(DomainDispatcherApplication(create_backend_app))),
        EventHistory(),
    )
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
