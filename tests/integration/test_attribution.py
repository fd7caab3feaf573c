"""What each source address attributes, on the local AWS (credfix.core.attribution): only an
address of the account, or a private address through the account's own VPC endpoint, does;
everything an outsider can send attributes nothing and costs no lookup of the account's
workloads by that address."""

from __future__ import annotations

import boto3
import pytest

from credfix.config import Settings
from credfix.core.locate import LocateResult, locate_workloads
from harness import account as build
from harness.account import FARGATE_UA, SECRET_ARN
from harness.moto import ACCOUNT, LocalAws
from harness.records import SOMEONE_ELSES_ENDPOINT

pytestmark = pytest.mark.integration
SETTINGS = Settings()


def locate(
    *sources: tuple[str | None, str | None, str | None], log: build.CallLog | None = None
) -> LocateResult:
    return locate_workloads(
        build.incident(*sources),
        (log or build.CallLog()).factory,
        SETTINGS,
        secret_arns=[SECRET_ARN],
        rotated_at=None,
        account=ACCOUNT,
    )


def test_a_private_address_through_the_accounts_endpoint_attributes_its_holder(aws_env: LocalAws) -> None:
    net = build.network()
    [task] = build.ecs_service(net, "prod", "api", build.task_definition("api"))
    endpoint = build.sts_endpoint(net)

    result = locate((build.private_ip_of(task), FARGATE_UA, endpoint))

    [a] = result.attribution
    assert (a.scope, a.vpc_endpoint_id, a.vpc_id, a.account) == ("workload", endpoint, net.vpc, ACCOUNT)
    assert a.holders == [task["taskArn"]]
    assert f"a VPC endpoint of account {ACCOUNT} in {net.vpc}" in a.why


def test_someone_elses_endpoint_attributes_nothing_and_names_no_holder(aws_env: LocalAws) -> None:
    """The third outsider case: the private IP of an unrelated task of the account, sent through
    an endpoint that is not the account's. Only the endpoint is looked up."""
    net = build.network()
    [task] = build.ecs_service(net, "prod", "billing", build.task_definition("billing"))
    build.sts_endpoint(net)
    log = build.CallLog()

    result = locate((build.private_ip_of(task), FARGATE_UA, SOMEONE_ELSES_ENDPOINT), log=log)

    [a] = result.attribution
    assert a.scope == "none" and a.holders == []
    assert f"{SOMEONE_ELSES_ENDPOINT}, which is not a VPC endpoint of account {ACCOUNT}" in a.why
    assert all(w.id != task["taskArn"] for w in result.workloads)
    assert "ec2:DescribeNetworkInterfaces" not in log.calls[:2]  # the holder is never looked up
    assert log.calls[0] == "ec2:DescribeVpcEndpoints"


def test_a_private_address_without_an_endpoint_attributes_nothing(aws_env: LocalAws) -> None:
    net = build.network()
    [task] = build.ecs_service(net, "prod", "api", build.task_definition("api"))
    log = build.CallLog()

    result = locate((build.private_ip_of(task), FARGATE_UA, None), log=log)

    [a] = result.attribution
    assert a.scope == "none"
    assert "recorded without a VPC endpoint" in a.why
    assert not any(c.startswith("ec2:") for c in log.calls[:1])
    assert all(w.id != task["taskArn"] for w in result.workloads)


def test_an_outsiders_public_address_attributes_nothing(aws_env: LocalAws) -> None:
    """The local AWS answers the association.public-ip filter like AWS (no interface), not
    with the 500 moto gives: the outsider's address is looked up and found to be no one's."""
    net = build.network()
    eni = boto3.client("ec2").create_network_interface(SubnetId=net.subnet)["NetworkInterface"]
    build.nat_gateway(net)
    log = build.CallLog()

    result = locate(("203.0.113.50", FARGATE_UA, None), log=log)

    [a] = result.attribution
    assert a.scope == "none"
    assert f"203.0.113.50 is not an address of account {ACCOUNT}" in a.why
    assert log.calls[:2] == ["ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"]
    assert not any("failed" in f.found for f in result.findings), result.findings
    assert eni["NetworkInterfaceId"] not in str(result.workloads)


def test_a_nat_gateways_public_address_attributes_its_vpc_only(aws_env: LocalAws) -> None:
    net = build.network()
    nat_id, public_ip = build.nat_gateway(net)

    result = locate((public_ip, FARGATE_UA, None))

    [a] = result.attribution
    assert (a.scope, a.vpc_id, a.holders) == ("vpc", net.vpc, [])
    assert nat_id in a.why


def test_an_interfaces_elastic_ip_attributes_its_vpc(aws_env: LocalAws) -> None:
    net = build.network()
    ec2 = boto3.client("ec2")
    eni = ec2.create_network_interface(SubnetId=net.subnet)["NetworkInterface"]
    eip = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni["NetworkInterfaceId"])

    result = locate((eip["PublicIp"], FARGATE_UA, None))

    [a] = result.attribution
    assert (a.scope, a.vpc_id) == ("vpc", net.vpc)


def test_an_interfaces_ipv6_address_attributes_its_vpc(aws_env: LocalAws) -> None:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    ipv6_cidr = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    block = ipv6_cidr["Ipv6CidrBlock"].replace("/56", "/64")
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.2.1.0/24", Ipv6CidrBlock=block)["Subnet"]
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Ipv6AddressCount=1)["NetworkInterface"]
    address = eni["Ipv6Addresses"][0]["Ipv6Address"]

    result = locate((address, FARGATE_UA, None))

    [a] = result.attribution
    assert (a.scope, a.vpc_id) == ("vpc", vpc["VpcId"])
    outsider = locate(("2001:db8::dead:beef", FARGATE_UA, None))
    assert outsider.attribution[0].scope == "none"


def test_the_accounts_endpoint_with_no_holder_left_attributes_the_vpc(aws_env: LocalAws) -> None:
    net = build.network()
    endpoint = build.sts_endpoint(net)

    result = locate(("10.0.1.77", FARGATE_UA, endpoint))

    [a] = result.attribution
    assert (a.scope, a.vpc_id) == ("vpc", net.vpc)
    assert "no interface in" in a.why


def test_secondary_private_addresses_are_found_like_aws_finds_them(aws_env: LocalAws) -> None:
    """EKS pod IPs are secondary addresses of the node's interface; AWS's filter matches them
    (moto matched the primary only: harness/moto_server.py answers like AWS)."""
    net = build.network()
    ec2 = boto3.client("ec2")
    eni = ec2.create_network_interface(SubnetId=net.subnet, SecondaryPrivateIpAddressCount=2)[
        "NetworkInterface"
    ]
    secondary = [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"] if not a["Primary"]]
    assert len(secondary) == 2
    found = ec2.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [secondary[1]]}]
    )["NetworkInterfaces"]
    assert [f["NetworkInterfaceId"] for f in found] == [eni["NetworkInterfaceId"]]


def test_an_auto_assigned_public_address_is_found_by_the_association_filter(aws_env: LocalAws) -> None:
    """No Elastic IP record: DescribeAddresses finds nothing, and the association.public-ip
    filter (which moto answered with a 500) finds the instance's interface, as AWS does."""
    net = build.network()
    ec2 = boto3.client("ec2")
    ec2.modify_subnet_attribute(SubnetId=net.public_subnet, MapPublicIpOnLaunch={"Value": True})
    [instance] = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=net.public_subnet
    )["Instances"]
    public_ip = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][
        0
    ]["PublicIpAddress"]
    log = build.CallLog()

    result = locate((public_ip, FARGATE_UA, None), log=log)

    [a] = result.attribution
    assert (a.scope, a.vpc_id) == ("vpc", net.vpc)
    assert log.calls[:2] == ["ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"]
    assert any(instance["InstanceId"] in w.id for w in result.workloads)
