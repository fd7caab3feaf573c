"""Locator 1: the request's source IP -> the network interface holding it -> what owns that
interface (an ECS task, an EC2 instance, a Lambda function), or a NAT gateway, which only
narrows the search to its VPC.

IPs are looked up as they are *now*: an address can have been reused since the failures,
so a holder that started after the last failure is demoted. Requests through a VPC
endpoint carry the sender's private IP (looked up only when the endpoint is the account's,
and only in its VPC); requests through a NAT gateway carry the NAT's public IP; IPv6
addresses are globally unique and belong to the ENI itself. What each address attributes is
decided by credfix.core.attribution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.readers.ec2 import Ec2
from credfix.adapters.readers.paging import chunks
from credfix.core import attribution
from credfix.core.locate.arns import ec2_arn
from credfix.core.locate.compute import eks_cluster, function_workload, functions, instance_workload
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import report_static_credentials, task_definition, task_workload
from credfix.core.locate.merge import Candidates
from credfix.errortext import error_text
from credfix.models.compute import Instance, NetworkInterface, VpcEndpoint
from credfix.models.ecs import Task
from credfix.models.incident import Confidence, SourceAttribution, Workload
from credfix.timefmt import iso_z

EniKind = Literal["nat", "lambda", "ecs", "eks-branch", "instance", "unknown"]
_ECS_ATTACHMENT = re.compile(r"^arn:aws[\w-]*:ecs:[^:]+:\d{12}:attachment/")
_LAMBDA_DESCRIPTION = "AWS Lambda VPC ENI-"
_NAT_DESCRIPTION = re.compile(r"^Interface for NAT Gateway (nat-[0-9a-f]+)")
_UUID_TAIL = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def classify(eni: NetworkInterface) -> EniKind:
    """What an interface belongs to, from its type and the description AWS gives it."""
    if eni.interface_type == "nat_gateway" or _NAT_DESCRIPTION.match(eni.description):
        return "nat"
    if eni.interface_type == "lambda" or eni.description.startswith(_LAMBDA_DESCRIPTION):
        return "lambda"
    # awsvpc task ENIs (also on EC2 container instances, where they are attached to the host).
    if _ECS_ATTACHMENT.match(eni.description):
        return "ecs"
    # A pod's own interface with security groups for pods: not attached to the instance itself.
    if eni.interface_type == "branch" or eni.description.startswith("aws-k8s-branch-eni"):
        return "eks-branch"
    if eni.instance_id:
        return "instance"
    return "unknown"


def lambda_name_from_description(description: str) -> str | None:
    """`AWS Lambda VPC ENI-<function>-<uuid>` -> `<function>`."""
    if not description.startswith(_LAMBDA_DESCRIPTION):
        return None
    return _UUID_TAIL.sub("", description.removeprefix(_LAMBDA_DESCRIPTION)) or None


@dataclass
class IpResult:
    attribution: SourceAttribution
    workload_ids: list[str] = field(default_factory=list)  # direct hits (tasks, instances, functions)
    vpc_ids: list[str] = field(default_factory=list)  # NAT narrowing
    via: list[str] = field(default_factory=list)  # what holds the address, for the evidence

    @property
    def resolved(self) -> bool:
        return bool(self.workload_ids)


def _holder_confidence(
    started: datetime | None, last_seen: datetime, shared: bool
) -> tuple[Confidence, list[str]]:
    # CloudTrail's event times are whole seconds: a holder started within the second of the last
    # failure may have sent it (AWS reports start times to the millisecond).
    if started is not None and started.replace(microsecond=0) > last_seen:
        return "low", [
            f"started {iso_z(started)}, after the last failure at {iso_z(last_seen)}: "
            "the IP was probably reused"
        ]
    if shared:
        return "medium", ["several interfaces hold this IP (overlapping VPC ranges)"]
    return "high", []


def _find_task(ctx: LocateContext, region: str, eni_id: str) -> Task | None:
    """The running ECS task that owns the ENI. ECS has no lookup by ENI, so running tasks are
    listed cluster by cluster (capped) and described 100 at a time until the ENI turns up."""
    ecs = ctx.ecs(region)
    clusters = ctx.memo(
        ("ecs-clusters", region),
        lambda: ctx.attempt("ecs:ListClusters", lambda: ecs.cluster_arns(limit=ctx.scan_limit)),
    )
    if clusters is None:
        return None
    for cluster in ctx.capped(f"ecs:ListClusters in {region}", clusters):
        list_tasks = partial(ecs.running_task_arns, cluster, limit=ctx.scan_limit)
        listed = ctx.memo(
            ("ecs-running-tasks", region, cluster),
            partial(ctx.attempt, f"ecs:ListTasks {cluster}", list_tasks),
        )
        if listed is None:
            continue
        for chunk in chunks(ctx.capped(f"ecs:ListTasks {cluster}", listed), 100):
            describe = partial(ecs.tasks, cluster, chunk)
            tasks = ctx.memo(
                ("ecs-tasks", region, cluster, tuple(chunk)),
                partial(ctx.attempt, f"ecs:DescribeTasks {cluster}", describe),
            )
            for task in tasks or []:
                if eni_id in task.network_interface_ids:
                    return task
    return None


def _ecs_task(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    incident_key: str,
    last_seen: datetime,
    shared: bool,
) -> str | None:
    task = _find_task(ctx, region, eni.id)
    if task is None:
        return None
    definition = task_definition(ctx, region, task.task_definition_arn)
    if definition is not None:
        report_static_credentials(ctx, definition, incident_key)
    confidence, notes = _holder_confidence(task.started_at, last_seen, shared)
    # An unknown start time is not evidence of anything, so it is not listed as evidence.
    evidence = [f"source IP {ip} is held by {eni.id}, the network interface of this task", *notes]
    workload = found.add(
        task_workload(task, definition, region, incident_key, confidence=confidence, evidence=evidence)
    )
    if eni.vpc_id:
        ctx.vpc_of[workload.id] = eni.vpc_id
    return workload.id


def _described_instance(ctx: LocateContext, region: str, instance_id: str) -> Instance | None:
    instances = ctx.memo(
        ("instance", region, instance_id),
        lambda: ctx.attempt(
            f"ec2:DescribeInstances {instance_id}", lambda: ctx.ec2(region).instances([instance_id])
        ),
    )
    return instances[0] if instances else None


def _instance(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    last_seen: datetime,
    shared: bool,
    incident_key: str,
) -> list[str]:
    """The instance holding the address; on an EKS node, the pods holding it (credfix.core.
    locate.eks, imported only then)."""
    assert eni.instance_id
    instance = _described_instance(ctx, region, eni.instance_id)
    if instance is None:
        return []
    confidence, notes = _holder_confidence(instance.launch_time, last_seen, shared)
    evidence = [f"source IP {ip} is held by {eni.id}, attached to instance {instance.id}", *notes]
    workload = instance_workload(ctx, instance, region, confidence=confidence, evidence=evidence)
    cluster = eks_cluster(instance.tags) or eks_cluster(eni.tags)
    if cluster:
        from credfix.core.locate import eks

        return eks.on_node(
            ctx,
            found,
            region,
            eni,
            ip,
            workload,
            cluster_name=cluster,
            last_seen=last_seen,
            incident_key=incident_key,
        )
    return [found.add(workload).id]


def _eks_branch(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    last_seen: datetime,
    incident_key: str,
) -> list[str]:
    from credfix.core.locate import eks

    def make_node(instance_id: str) -> Workload | None:
        instance = _described_instance(ctx, region, instance_id)
        if instance is None:
            return None
        line = f"node of the trunk interface that branch interface {eni.id} (source IP {ip}) hangs off"
        return instance_workload(ctx, instance, region, confidence="medium", evidence=[line])

    return eks.on_branch(
        ctx, found, region, eni, ip, last_seen=last_seen, incident_key=incident_key, make_node=make_node
    )


def _eks_fargate(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    last_seen: datetime,
    incident_key: str,
) -> list[str]:
    """An interface no instance holds and no ECS task owns: an EKS Fargate pod's, if a Fargate
    profile launches pods into its subnet (asked only when the account has EKS clusters in the
    interface's VPC)."""
    if eni.instance_id or eni.interface_type not in ("interface", ""):
        return []
    from credfix.core.locate import eks

    return eks.on_fargate(ctx, found, region, eni, ip, last_seen=last_seen, incident_key=incident_key)


def _lambda(ctx: LocateContext, found: Candidates, region: str, eni: NetworkInterface, ip: str) -> list[str]:
    """Lambda's (Hyperplane) ENIs are shared by every function with the same subnet and
    security groups; the description names only the function that caused its creation."""
    named = lambda_name_from_description(eni.description)
    sharing = [
        fn
        for fn in functions(ctx, region)
        if eni.subnet_id in fn.subnet_ids and fn.security_group_ids == frozenset(eni.group_ids)
    ]
    base = f"source IP {ip} is held by {eni.id}, a Lambda VPC interface for subnet {eni.subnet_id}"
    ids: list[str] = []
    for fn in sharing:
        evidence = [base]
        if fn.name == named:
            evidence.append("the interface's description names this function")
        if len(sharing) > 1:
            evidence.append(f"{len(sharing)} functions share this subnet and security-group combination")
        confidence: Confidence = "high" if len(sharing) == 1 else "medium"
        workload = found.add(function_workload(fn, region, confidence=confidence, evidence=evidence))
        if eni.vpc_id:
            ctx.vpc_of[workload.id] = eni.vpc_id
        ids.append(workload.id)
    if not sharing:
        ctx.note(
            f"source IP {ip}",
            f"{eni.id} is a Lambda interface ({named or 'unnamed'}) but no function with its "
            "subnet and security groups was found",
        )
    return ids


def _nat(
    ctx: LocateContext, found: Candidates, region: str, eni: NetworkInterface, ip: str, nat_id: str | None
) -> str | None:
    if not eni.vpc_id:
        return None
    nat = nat_id or "a NAT gateway"
    ctx.note(
        f"source IP {ip}",
        f"is the public IP of {nat} in {eni.vpc_id}: the sender is a workload in that VPC's private "
        "subnets, not the NAT gateway",
    )
    found.add(
        Workload(
            type="vpc",
            id=ec2_arn(region, eni.owner_id, "vpc", eni.vpc_id),
            confidence="low",
            evidence=[
                f"source IP {ip} is the public IP of {nat} in this VPC (narrows the search; not a workload)"
            ],
            region=region,
            account=eni.owner_id,
        )
    )
    return eni.vpc_id


def _interfaces(ctx: LocateContext, ec2: Ec2, ip: str, region: str) -> list[NetworkInterface]:
    """Interfaces holding a public IPv4 or an IPv6 address (looked up once per address)."""
    return ctx.memo(("public-address", region, ip), lambda: _look_up_public(ctx, ec2, ip, region))


def _look_up_public(ctx: LocateContext, ec2: Ec2, ip: str, region: str) -> list[NetworkInterface]:
    check = f"ec2:DescribeNetworkInterfaces {ip} in {region}"
    if attribution.address_kind(ip) == "ipv6":
        return ctx.attempt(check, lambda: ec2.interfaces_with_ipv6(ip)) or []
    # Elastic IPs first (NAT gateways, static egress): one cheap, well-supported lookup.
    eip = ctx.attempt(f"ec2:DescribeAddresses {ip} in {region}", lambda: ec2.elastic_ip(ip))
    if eip is not None and eip.network_interface_id:
        eni_id = eip.network_interface_id
        return ctx.attempt(check, lambda: ec2.interfaces([eni_id])) or []
    return ctx.attempt(check, lambda: ec2.interfaces_with_public_ip(ip)) or []


def _nat_of(ctx: LocateContext, ec2: Ec2, region: str, eni: NetworkInterface) -> str | None:
    """The NAT gateway owning an interface AWS did not label (one lookup in its subnet)."""
    if not eni.subnet_id:
        return None
    subnet = eni.subnet_id
    nats = ctx.memo(
        ("nat-gateways", region, subnet),
        lambda: ctx.attempt(
            f"ec2:DescribeNatGateways {subnet} in {region}", lambda: ec2.nat_gateways_in_subnet(subnet)
        ),
    )
    for nat in nats or []:
        if eni.id in nat.network_interface_ids:
            return nat.id
    return None


def _holders(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    enis: list[NetworkInterface],
    ip: str,
    result: IpResult,
    *,
    public: bool,
    incident_key: str,
    last_seen: datetime,
) -> None:
    """What owns each interface holding the address: workloads (direct hits) or a NAT gateway."""
    ec2 = ctx.ec2(region)
    shared = len(enis) > 1
    for eni in enis:
        kind = classify(eni)
        nat_id = None
        if kind == "nat":
            match = _NAT_DESCRIPTION.match(eni.description)
            nat_id = match.group(1) if match else None
        elif kind == "unknown" and public:
            nat_id = _nat_of(ctx, ec2, region, eni)
            kind = "nat" if nat_id else kind
        if kind == "nat":
            vpc = _nat(ctx, found, region, eni, ip, nat_id)
            result.vpc_ids.extend([vpc] if vpc else [])
            result.via.append(f"NAT gateway {nat_id or eni.id}")
        elif kind == "lambda":
            result.workload_ids.extend(_lambda(ctx, found, region, eni, ip))
        elif kind == "instance":
            result.workload_ids.extend(
                _instance(ctx, found, region, eni, ip, last_seen, shared, incident_key)
            )
        elif kind == "eks-branch":
            result.workload_ids.extend(_eks_branch(ctx, found, region, eni, ip, last_seen, incident_key))
        else:  # ECS task ENIs, and interfaces AWS did not label (the ECS search is capped)
            hit = _ecs_task(ctx, found, region, eni, ip, incident_key, last_seen, shared)
            fargate = not hit and kind == "unknown"
            pods = _eks_fargate(ctx, found, region, eni, ip, last_seen, incident_key) if fargate else []
            if hit:
                result.workload_ids.append(hit)
            elif pods:
                result.workload_ids.extend(pods)
            elif kind == "unknown":
                ctx.note(
                    f"source IP {ip}",
                    f"held by {eni.id} ({eni.interface_type}, {eni.description or 'no description'}) in "
                    f"{eni.vpc_id}, which credfix cannot map to a workload",
                )
        if kind != "nat":
            result.via.append(f"interface {eni.id}")


_NOT_THE_ACCOUNTS = "not found"  # the account has no endpoint by that ID in the region


def _endpoint(ctx: LocateContext, region: str, endpoint_id: str) -> VpcEndpoint | str | None:
    """The account's endpoint, _NOT_THE_ACCOUNTS, or None when the lookup failed (permission,
    throttling: not attributed, and not remembered across incidents)."""

    def look() -> VpcEndpoint | str | None:
        try:
            return ctx.ec2(region).vpc_endpoint(endpoint_id) or _NOT_THE_ACCOUNTS
        except (ClientError, BotoCoreError) as exc:
            check = f"ec2:DescribeVpcEndpoints {endpoint_id} in {region}"
            ctx.note(check, f"failed: {error_text(exc)}")
            return None

    return ctx.memo(("vpc-endpoint", region, endpoint_id), look)


def _through_endpoint(
    ctx: LocateContext,
    found: Candidates,
    ip: str,
    endpoint_id: str,
    regions: list[str],
    *,
    account: str | None,
    incident_key: str,
    last_seen: datetime,
) -> IpResult:
    """A private address counts only through a VPC endpoint of the account, and then only the
    interfaces in that endpoint's VPC can hold it."""
    unchecked: list[str] = []
    for region in regions:
        endpoint = _endpoint(ctx, region, endpoint_id)
        if endpoint is None:
            unchecked.append(region)
            continue
        if isinstance(endpoint, VpcEndpoint) and (account is None or endpoint.owner_id in (None, account)):
            break
    else:
        if unchecked:
            why = (
                f"{ip} came through {endpoint_id}, which could not be checked in {', '.join(unchecked)} "
                "(ec2:DescribeVpcEndpoints failed): not attributed until it can be"
            )
            return IpResult(attribution.none(ip, endpoint_id, why))
        return IpResult(attribution.foreign_endpoint(ip, endpoint_id, account or "(unknown)", regions))
    vpc = endpoint.vpc_id
    owner = endpoint.owner_id or account
    check = f"ec2:DescribeNetworkInterfaces {ip} in {vpc}"
    enis = (
        ctx.memo(
            ("private-address", region, ip, vpc),
            lambda: ctx.attempt(check, lambda: ctx.ec2(region).interfaces_with_private_ip(ip, vpc)),
        )
        or []
    )
    result = IpResult(attribution.none(ip, endpoint_id, ""))
    _holders(
        ctx, found, region, enis, ip, result, public=False, incident_key=incident_key, last_seen=last_seen
    )
    via = f"{ip} came through {endpoint_id}, a VPC endpoint of account {owner} in {vpc}"
    if result.workload_ids:
        result.attribution = SourceAttribution(
            ip=ip,
            vpc_endpoint_id=endpoint_id,
            scope="workload",
            account=owner,
            region=region,
            vpc_id=vpc,
            holders=list(dict.fromkeys(result.workload_ids)),
            why=f"{via}, and is held by {', '.join(dict.fromkeys(result.workload_ids))}",
        )
    else:
        result.attribution = SourceAttribution(
            ip=ip,
            vpc_endpoint_id=endpoint_id,
            scope="vpc",
            account=owner,
            region=region,
            vpc_id=vpc,
            why=f"{via}; no interface in {vpc} holds it now: attributed to the VPC only",
        )
    return result


def _public(
    ctx: LocateContext,
    found: Candidates,
    ip: str,
    regions: list[str],
    *,
    account: str | None,
    incident_key: str,
    last_seen: datetime,
) -> IpResult:
    """A public IPv4 or an IPv6 address of the account attributes the failures to its VPC only
    (a NAT gateway, a proxy or an instance may stand for anything behind it)."""
    result = IpResult(attribution.not_ours(ip, account or "(unknown)", regions))
    for region in regions:
        enis = _interfaces(ctx, ctx.ec2(region), ip, region)
        own = [e for e in enis if account is None or e.owner_id in (None, account)]
        if not own:
            continue
        _holders(
            ctx, found, region, own, ip, result, public=True, incident_key=incident_key, last_seen=last_seen
        )
        if result.attribution.scope == "none" and own[0].vpc_id:
            vpc = own[0].vpc_id
            holder = result.via[0] if result.via else f"interface {own[0].id}"
            result.attribution = SourceAttribution(
                ip=ip,
                scope="vpc",
                account=own[0].owner_id or account,
                region=region,
                vpc_id=vpc,
                why=f"{ip} is a public address of account {own[0].owner_id or account} ({holder} in {vpc}): "
                "the failing requests come from that VPC",
            )
    return result


def attributable(
    ctx: LocateContext, ip: str | None, vpc_endpoint_id: str | None, regions: list[str], account: str | None
) -> bool:
    """Whether the address can attribute anything (the account's endpoint, or an address of the
    account), from the same lookups locate_by_ip makes first (shared through ctx.memo): the
    cheap question triage asks before deciding which lane an incident takes."""
    kind = attribution.address_kind(ip)
    if ip is None or kind == "not-ip" or (kind == "private" and not vpc_endpoint_id):
        return False
    for region in regions:
        if kind == "private":
            endpoint = _endpoint(ctx, region, vpc_endpoint_id or "")
            if isinstance(endpoint, VpcEndpoint) and (
                account is None or endpoint.owner_id in (None, account)
            ):
                return True
        elif any(
            account is None or e.owner_id in (None, account)
            for e in _interfaces(ctx, ctx.ec2(region), ip, region)
        ):
            return True
    return False


def locate_by_ip(
    ctx: LocateContext,
    found: Candidates,
    ip: str | None,
    regions: list[str],
    *,
    vpc_endpoint_id: str | None = None,
    account: str | None,
    incident_key: str,
    last_seen: datetime,
) -> IpResult:
    """Candidates holding the source address, and what the address attributes (the rule:
    credfix.core.attribution)."""
    kind = attribution.address_kind(ip)
    if kind == "not-ip" or ip is None:
        return IpResult(attribution.not_an_address(ip))
    if kind == "private":
        if not vpc_endpoint_id:
            return IpResult(attribution.without_endpoint(ip))
        return _through_endpoint(
            ctx,
            found,
            ip,
            vpc_endpoint_id,
            regions,
            account=account,
            incident_key=incident_key,
            last_seen=last_seen,
        )
    return _public(ctx, found, ip, regions, account=account, incident_key=incident_key, last_seen=last_seen)
