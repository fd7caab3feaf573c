"""EC2 reads for workload location: network interfaces by IP, Elastic IPs, NAT gateways,
instances and their instance-profile associations. Read-only; none of these EC2 Describe
APIs supports resource-level permissions, hence `on="*"`."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.readers.paging import capped, chunks
from credfix.models.compute import ElasticIp, Instance, NatGateway, NetworkInterface, VpcEndpoint
from credfix.models.paging import Page
from credfix.permissions import needs


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in raw or [] if "Key" in t}


def _eni(raw: dict[str, Any]) -> NetworkInterface:
    attachment = raw.get("Attachment") or {}
    ips = tuple(
        a["PrivateIpAddress"] for a in raw.get("PrivateIpAddresses") or [] if a.get("PrivateIpAddress")
    )
    return NetworkInterface(
        id=raw["NetworkInterfaceId"],
        interface_type=raw.get("InterfaceType") or "interface",
        description=raw.get("Description") or "",
        vpc_id=raw.get("VpcId"),
        subnet_id=raw.get("SubnetId"),
        owner_id=raw.get("OwnerId"),
        instance_id=attachment.get("InstanceId") or None,
        private_ips=ips or ((raw["PrivateIpAddress"],) if raw.get("PrivateIpAddress") else ()),
        public_ip=(raw.get("Association") or {}).get("PublicIp"),
        group_ids=tuple(g["GroupId"] for g in raw.get("Groups") or [] if g.get("GroupId")),
        requester_managed=bool(raw.get("RequesterManaged")),
        tags=_tags(raw.get("TagSet")),
    )


class Ec2:
    def __init__(self, client: Any) -> None:
        self._ec2 = client

    def _interfaces(self, **kwargs: Any) -> list[NetworkInterface]:
        resp = self._ec2.describe_network_interfaces(**kwargs)
        return [_eni(raw) for raw in resp.get("NetworkInterfaces", [])]

    @needs("triage", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("rotation", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("cli", "ec2:DescribeNetworkInterfaces", on="*")
    def interfaces_with_private_ip(self, ip: str, vpc_id: str | None = None) -> list[NetworkInterface]:
        """Interfaces holding `ip` as a primary or secondary private IPv4 address (EKS pod IPs
        are secondary), in `vpc_id` only when given (private ranges repeat across VPCs)."""
        filters = [{"Name": "addresses.private-ip-address", "Values": [ip]}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        return self._interfaces(Filters=filters)

    @needs("triage", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("rotation", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("cli", "ec2:DescribeNetworkInterfaces", on="*")
    def interfaces_with_ipv6(self, ip: str) -> list[NetworkInterface]:
        return self._interfaces(Filters=[{"Name": "ipv6-addresses.ipv6-address", "Values": [ip]}])

    @needs("triage", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("rotation", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("cli", "ec2:DescribeNetworkInterfaces", on="*")
    def interfaces_with_public_ip(self, ip: str) -> list[NetworkInterface]:
        """Auto-assigned public IPs and Elastic IPs alike (the `association.public-ip` filter)."""
        return self._interfaces(Filters=[{"Name": "association.public-ip", "Values": [ip]}])

    @needs("triage", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("rotation", "ec2:DescribeNetworkInterfaces", on="*")
    @needs("cli", "ec2:DescribeNetworkInterfaces", on="*")
    def interfaces(self, ids: list[str]) -> list[NetworkInterface]:
        return self._interfaces(NetworkInterfaceIds=ids) if ids else []

    @needs("triage", "ec2:DescribeAddresses", on="*")
    @needs("rotation", "ec2:DescribeAddresses", on="*")
    @needs("cli", "ec2:DescribeAddresses", on="*")
    def elastic_ip(self, public_ip: str) -> ElasticIp | None:
        resp = self._ec2.describe_addresses(Filters=[{"Name": "public-ip", "Values": [public_ip]}])
        for raw in resp.get("Addresses", []):
            return ElasticIp(
                public_ip=raw["PublicIp"],
                network_interface_id=raw.get("NetworkInterfaceId") or None,
                instance_id=raw.get("InstanceId") or None,
                private_ip=raw.get("PrivateIpAddress") or None,
            )
        return None

    @needs("triage", "ec2:DescribeVpcEndpoints", on="*")
    @needs("rotation", "ec2:DescribeVpcEndpoints", on="*")
    @needs("cli", "ec2:DescribeVpcEndpoints", on="*")
    def vpc_endpoint(self, endpoint_id: str) -> VpcEndpoint | None:
        """The account's VPC endpoint with this ID, or None when the account has none by that ID
        (EC2 answers InvalidVpcEndpointId.NotFound, or malformed for an ID of the wrong shape)."""
        try:
            resp = self._ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        except ClientError as exc:
            if (
                exc.response.get("Error", {})
                .get("Code", "")
                .startswith(("InvalidVpcEndpointId.", "InvalidVpcEndpointId"))
            ):
                return None
            raise
        for raw in resp.get("VpcEndpoints", []):
            return VpcEndpoint(
                id=raw["VpcEndpointId"],
                vpc_id=raw.get("VpcId"),
                owner_id=raw.get("OwnerId"),
                service_name=raw.get("ServiceName", ""),
                state=raw.get("State"),
            )
        return None

    @needs("triage", "ec2:DescribeNatGateways", on="*")
    @needs("rotation", "ec2:DescribeNatGateways", on="*")
    @needs("cli", "ec2:DescribeNatGateways", on="*")
    def nat_gateways_in_subnet(self, subnet_id: str) -> list[NatGateway]:
        resp = self._ec2.describe_nat_gateways(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])
        return [
            NatGateway(
                id=raw["NatGatewayId"],
                vpc_id=raw.get("VpcId"),
                subnet_id=raw.get("SubnetId"),
                network_interface_ids=tuple(
                    a["NetworkInterfaceId"]
                    for a in raw.get("NatGatewayAddresses") or []
                    if a.get("NetworkInterfaceId")
                ),
                public_ips=tuple(
                    a["PublicIp"] for a in raw.get("NatGatewayAddresses") or [] if a.get("PublicIp")
                ),
            )
            for raw in resp.get("NatGateways", [])
        ]

    @needs("triage", "ec2:DescribeSubnets", on="*")
    @needs("cli", "ec2:DescribeSubnets", on="*")
    def vpc_of_subnets(self, subnet_ids: list[str]) -> dict[str, str]:
        if not subnet_ids:
            return {}
        resp = self._ec2.describe_subnets(SubnetIds=sorted(set(subnet_ids)))
        return {raw["SubnetId"]: raw["VpcId"] for raw in resp.get("Subnets", []) if raw.get("VpcId")}

    @needs("triage", "ec2:DescribeInstances", on="*")
    @needs("rotation", "ec2:DescribeInstances", on="*")
    @needs("cli", "ec2:DescribeInstances", on="*")
    def instances(self, ids: list[str]) -> list[Instance]:
        found: list[Instance] = []
        for chunk in chunks(sorted(set(ids)), 100):
            for reservation in self._ec2.describe_instances(InstanceIds=chunk).get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    found.append(
                        Instance(
                            id=raw["InstanceId"],
                            owner_id=reservation.get("OwnerId"),
                            state=(raw.get("State") or {}).get("Name"),
                            launch_time=raw.get("LaunchTime"),
                            vpc_id=raw.get("VpcId"),
                            subnet_id=raw.get("SubnetId"),
                            instance_profile_arn=(raw.get("IamInstanceProfile") or {}).get("Arn"),
                            tags=_tags(raw.get("Tags")),
                        )
                    )
        return found

    @needs("triage", "ec2:DescribeIamInstanceProfileAssociations", on="*")
    @needs("cli", "ec2:DescribeIamInstanceProfileAssociations", on="*")
    def instances_with_profiles(self, profile_arns: set[str], *, limit: int) -> Page[str]:
        """IDs of instances currently associated with any of `profile_arns` (scans at most
        `limit` associations; the listing has no filter by profile)."""
        pages = self._ec2.get_paginator("describe_iam_instance_profile_associations").paginate(
            Filters=[{"Name": "state", "Values": ["associated"]}]
        )
        scanned = capped(pages, "IamInstanceProfileAssociations", limit)
        ids = [
            a["InstanceId"]
            for a in scanned.items
            if (a.get("IamInstanceProfile") or {}).get("Arn") in profile_arns and a.get("InstanceId")
        ]
        return Page(ids, scanned.truncated)
