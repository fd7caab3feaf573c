"""Locator 1: the request's source IP -> the network interface holding it -> what owns that
interface (an ECS task, an EC2 instance, a Lambda function), or a NAT gateway, which only
narrows the search to its VPC.

IPs are looked up as they are *now*: an address can have been reused since the failures,
so a holder that started after the last failure is demoted. Requests through a VPC
endpoint carry the sender's private IP; requests through a NAT gateway carry the NAT's
public IP; IPv6 addresses are globally unique and belong to the ENI itself.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal

from credfix.adapters.ec2 import Ec2, NetworkInterface
from credfix.adapters.ecs import Task
from credfix.adapters.paging import chunks
from credfix.core.locate.arns import ec2_arn
from credfix.core.locate.compute import function_workload, functions, instance_workload
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import report_static_credentials, task_definition, task_workload
from credfix.core.locate.merge import Candidates
from credfix.models.incident import Confidence, Workload
from credfix.timefmt import iso_z

EniKind = Literal["nat", "lambda", "ecs", "instance", "unknown"]
_ECS_ATTACHMENT = re.compile(r"^arn:aws[\w-]*:ecs:[^:]+:\d{12}:attachment/")
_LAMBDA_DESCRIPTION = "AWS Lambda VPC ENI-"
_NAT_DESCRIPTION = re.compile(r"^Interface for NAT Gateway (nat-[0-9a-f]+)")
# Ranges a VPC's private addresses come from (RFC 1918 and the 100.64/10 secondary CIDRs);
# any other IPv4 source is looked up as a public address (Elastic IP or auto-assigned).
_VPC_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
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
    workload_ids: list[str] = field(default_factory=list)  # direct hits (tasks, instances, functions)
    vpc_ids: list[str] = field(default_factory=list)  # NAT narrowing

    @property
    def resolved(self) -> bool:
        return bool(self.workload_ids)


def _holder_confidence(
    started: datetime | None, last_seen: datetime, shared: bool
) -> tuple[Confidence, list[str]]:
    if started is not None and started > last_seen:
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
    evidence = [f"source IP {ip} is held by {eni.id}, the network interface of this task", *notes]
    if task.started_at is None:
        evidence.append("task start time unknown")
    workload = found.add(
        task_workload(task, definition, region, incident_key, confidence=confidence, evidence=evidence)
    )
    if eni.vpc_id:
        ctx.vpc_of[workload.id] = eni.vpc_id
    return workload.id


def _instance(
    ctx: LocateContext,
    found: Candidates,
    region: str,
    eni: NetworkInterface,
    ip: str,
    last_seen: datetime,
    shared: bool,
) -> str | None:
    assert eni.instance_id
    instances = ctx.attempt(
        f"ec2:DescribeInstances {eni.instance_id}", lambda: ctx.ec2(region).instances([eni.instance_id or ""])
    )
    if not instances:
        return None
    instance = instances[0]
    confidence, notes = _holder_confidence(instance.launch_time, last_seen, shared)
    evidence = [f"source IP {ip} is held by {eni.id}, attached to instance {instance.id}", *notes]
    return found.add(instance_workload(ctx, instance, region, confidence=confidence, evidence=evidence)).id


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


def _interfaces(ctx: LocateContext, ec2: Ec2, ip: str, region: str) -> tuple[list[NetworkInterface], bool]:
    """(interfaces holding the IP, whether the IP is public)."""
    address = ipaddress.ip_address(ip)
    check = f"ec2:DescribeNetworkInterfaces {ip} in {region}"
    if address.version == 6:
        return ctx.attempt(check, lambda: ec2.interfaces_with_ipv6(ip)) or [], False
    if any(address in network for network in _VPC_PRIVATE_RANGES):
        return ctx.attempt(check, lambda: ec2.interfaces_with_private_ip(ip)) or [], False
    # Elastic IPs first (NAT gateways, static egress): one cheap, well-supported lookup.
    eip = ctx.attempt(f"ec2:DescribeAddresses {ip} in {region}", lambda: ec2.elastic_ip(ip))
    if eip is not None and eip.network_interface_id:
        eni_id = eip.network_interface_id
        return ctx.attempt(check, lambda: ec2.interfaces([eni_id])) or [], True
    return ctx.attempt(check, lambda: ec2.interfaces_with_public_ip(ip)) or [], True


def _nat_of(ctx: LocateContext, ec2: Ec2, region: str, eni: NetworkInterface) -> str | None:
    """The NAT gateway owning an interface AWS did not label (one lookup in its subnet)."""
    if not eni.subnet_id:
        return None
    subnet = eni.subnet_id
    nats = ctx.attempt(
        f"ec2:DescribeNatGateways {subnet} in {region}", lambda: ec2.nat_gateways_in_subnet(subnet)
    )
    for nat in nats or []:
        if eni.id in nat.network_interface_ids:
            return nat.id
    return None


def locate_by_ip(
    ctx: LocateContext,
    found: Candidates,
    ip: str,
    regions: list[str],
    *,
    incident_key: str,
    last_seen: datetime,
) -> IpResult:
    result = IpResult()
    for region in regions:
        ec2 = ctx.ec2(region)
        enis, public = _interfaces(ctx, ec2, ip, region)
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
            elif kind == "lambda":
                result.workload_ids.extend(_lambda(ctx, found, region, eni, ip))
            elif kind == "instance":
                hit = _instance(ctx, found, region, eni, ip, last_seen, shared)
                result.workload_ids.extend([hit] if hit else [])
            else:  # ECS task ENIs, and interfaces AWS did not label (the ECS search is capped)
                hit = _ecs_task(ctx, found, region, eni, ip, incident_key, last_seen, shared)
                if hit:
                    result.workload_ids.append(hit)
                elif kind == "unknown":
                    ctx.note(
                        f"source IP {ip}",
                        f"held by {eni.id} ({eni.interface_type}, {eni.description or 'no description'}) in "
                        f"{eni.vpc_id}, which credfix cannot map to a workload",
                    )
    return result
