"""EC2, Lambda and CodeBuild facts workload location reasons about: network interfaces,
Elastic IPs, NAT gateways, VPC endpoints, instances, functions, projects and builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class NetworkInterface:
    id: str
    interface_type: str
    description: str
    vpc_id: str | None
    subnet_id: str | None
    owner_id: str | None
    instance_id: str | None  # set when attached to an EC2 instance (incl. ECS container instances)
    private_ips: tuple[str, ...] = ()
    public_ip: str | None = None
    group_ids: tuple[str, ...] = ()
    requester_managed: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ElasticIp:
    public_ip: str
    network_interface_id: str | None
    instance_id: str | None
    private_ip: str | None


@dataclass(frozen=True)
class NatGateway:
    id: str
    vpc_id: str | None
    subnet_id: str | None
    network_interface_ids: tuple[str, ...]
    public_ips: tuple[str, ...]


@dataclass(frozen=True)
class VpcEndpoint:
    id: str
    vpc_id: str | None
    owner_id: str | None
    service_name: str
    state: str | None


@dataclass(frozen=True)
class Instance:
    id: str
    owner_id: str | None
    state: str | None
    launch_time: datetime | None
    vpc_id: str | None
    subnet_id: str | None
    instance_profile_arn: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Function:
    arn: str
    name: str
    role: str | None
    runtime: str | None
    vpc_id: str | None
    subnet_ids: frozenset[str]
    security_group_ids: frozenset[str]
    # (variable, key ID) for environment variables holding an access key ID (a key ID is not a
    # secret; no other value is kept). Lambda reserves AWS_ACCESS_KEY_ID itself, so such keys
    # sit under other names and the code passes them to its clients.
    static_keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CodeBuildProject:
    arn: str
    name: str
    service_role: str | None
    # (variable, key ID) of plaintext variables holding an access key ID; secret references
    # (SECRETS_MANAGER variables: the secret's ID, ARN or name, without JSON key or version).
    static_keys: tuple[tuple[str, str], ...] = ()
    secret_refs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CodeBuildBuild:
    id: str  # project:uuid
    arn: str
    project: str
    started_at: datetime | None
    status: str | None
