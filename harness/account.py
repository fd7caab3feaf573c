"""Account state for the tests and the demo, built with boto3 on the local AWS (moto server).

Each builder creates what AWS would have for one kind of workload; where moto does not
model something AWS does, the builder says so and creates the missing piece the way AWS
would (see `lambda_in_vpc`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from credfix.adapters.aws import RETRIES
from credfix.models.incident import Incident, Source, SourceAttribution, Workload
from harness.moto import ACCOUNT, REGION

KEY = "AKIAY34FZKBOKMUTVV7A"
OTHER_KEY = "AKIAY34FZKBOPQRSTUVW"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app/api-creds-AbCdEf"
FARGATE_UA = (
    "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
    "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy"
)
RUNNER_UA = (
    "aws-cli/2.17.5 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0-1008-aws md/arch#x86_64 lang/python#3.11.9"
)
LAMBDA_UA = (
    "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.205-195.807.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.34"
)


def clients(service: str, region: str | None = None) -> Any:
    return boto3.session.Session().client(service, region_name=region or REGION, config=RETRIES)


@dataclass
class CallLog:
    """Every AWS call the code under test makes, counted with botocore's before-call hook."""

    calls: list[str] = field(default_factory=list)

    def factory(self, service: str, region: str | None = None) -> Any:
        client = clients(service, region)
        client.meta.events.register("before-call", self._record)
        return client

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")


def incident(
    *sources: tuple[str | None, str | None] | tuple[str | None, str | None, str | None],
    key: str = KEY,
    last_seen: datetime | None = None,
) -> Incident:
    """An open incident failing from `sources`: (ip, user agent) or (ip, user agent, VPC endpoint)."""
    now = last_seen or datetime.now(UTC)
    return Incident(
        incident_id=f"inc-{uuid.uuid4().hex[:8]}",
        access_key_id=key,
        first_seen=now - timedelta(minutes=10),
        last_seen=now,
        opened_at=now - timedelta(minutes=9),
        regions=[REGION],
        accounts=[ACCOUNT],
        sources=[
            Source(ip=s[0], user_agent=s[1], vpc_endpoint_id=s[2] if len(s) > 2 else None, count=5)
            for s in sources
        ],
    )


OWN_ENDPOINT = "vpce-0a1b2c3d4e5f60718"  # stands for the account's own endpoint in hand-made incidents


def attributed(
    *workloads: Workload, ip: str = "10.0.1.25", endpoint: str = OWN_ENDPOINT, vpc: str | None = None
) -> list[SourceAttribution]:
    """What triage records when the failing address came through the account's own VPC endpoint
    and is held by `workloads` (for incidents built by hand to test what comes after triage)."""
    return [
        SourceAttribution(
            ip=ip,
            vpc_endpoint_id=endpoint,
            scope="workload",
            account=ACCOUNT,
            region=REGION,
            vpc_id=vpc,
            holders=[w.id for w in workloads],
            why=f"{ip} came through {endpoint}, a VPC endpoint of account {ACCOUNT}",
        )
    ]


@dataclass
class Network:
    vpc: str
    subnet: str
    public_subnet: str
    security_group: str


def network(cidr: str = "10.0.0.0/16") -> Network:
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    # moto gives awsvpc tasks an ENI only in a VPC with DNS hostnames.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    prefix = cidr.rsplit(".", 2)[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.1.0/24", AvailabilityZone=f"{REGION}a")
    public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.2.0/24", AvailabilityZone=f"{REGION}b")
    group = ec2.create_security_group(GroupName=f"app-{uuid.uuid4().hex[:6]}", Description="app", VpcId=vpc)
    return Network(vpc, subnet["Subnet"]["SubnetId"], public["Subnet"]["SubnetId"], group["GroupId"])


def task_definition(
    family: str,
    *,
    task_role: str | None = None,
    secret_value_from: str | None = None,
    static_key: str | None = None,
) -> str:
    container: dict[str, Any] = {
        "name": "app",
        "image": "public.ecr.aws/docker/library/busybox",
        "memory": 512,
    }
    if secret_value_from:
        container["secrets"] = [{"name": "AWS_CREDENTIALS", "valueFrom": secret_value_from}]
    if static_key:
        container["environment"] = [
            {"name": "AWS_ACCESS_KEY_ID", "value": static_key},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "not-a-real-secret-but-never-reported"},
        ]
    kwargs: dict[str, Any] = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [container],
    }
    if task_role:
        kwargs["taskRoleArn"] = task_role
    return str(clients("ecs").register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"])


def ecs_service(
    net: Network, cluster: str, service: str, definition: str, *, tasks: int = 1
) -> list[dict[str, Any]]:
    """A Fargate service and its running tasks. moto services start no tasks themselves, so
    the tasks are run with group="service:NAME", as the ECS scheduler labels them."""
    ecs = clients("ecs")
    ecs.create_cluster(clusterName=cluster)
    awsvpc = {"awsvpcConfiguration": {"subnets": [net.subnet], "securityGroups": [net.security_group]}}
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=definition,
        desiredCount=tasks,
        launchType="FARGATE",
        networkConfiguration=awsvpc,
    )
    started = ecs.run_task(
        cluster=cluster,
        taskDefinition=definition,
        launchType="FARGATE",
        group=f"service:{service}",
        count=tasks,
        networkConfiguration=awsvpc,
    )
    return list(started["tasks"])


def private_ip_of(task: dict[str, Any]) -> str:
    details = {d["name"]: d["value"] for a in task["attachments"] for d in a["details"]}
    return str(details["privateIPv4Address"])


def runner_group(net: Network, name: str, tags: dict[str, str]) -> dict[str, Any]:
    """A self-hosted CI runner fleet: an Auto Scaling group launching from a launch template."""
    ec2 = clients("ec2")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [net.security_group],
        },
    )
    clients("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=net.subnet,
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
    )
    reservations = ec2.describe_instances(
        Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": [name]}]
    )
    return dict(reservations["Reservations"][0]["Instances"][0])


def role(name: str) -> str:
    trust = '{"Version":"2012-10-17","Statement":[]}'
    return str(clients("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])


def lambda_in_vpc(
    net: Network,
    name: str,
    role_arn: str,
    *,
    create_eni: bool = True,
    environment: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """A function with VpcConfig, and (unless `create_eni=False`) its Hyperplane ENI.

    moto stores VpcConfig but creates no ENI (it does not run functions). AWS creates one
    requester-managed ENI per subnet and security-group combination, described
    "AWS Lambda VPC ENI-<function>-<uuid>"; this creates that ENI with the same subnet,
    security group and description. Returns (function ARN, the ENI's private IP)."""
    fn = clients("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},  # an empty zip: moto never runs it
        VpcConfig={"SubnetIds": [net.subnet], "SecurityGroupIds": [net.security_group]},
        **({"Environment": {"Variables": environment}} if environment else {}),
    )
    if not create_eni:
        return str(fn["FunctionArn"]), None
    eni = clients("ec2").create_network_interface(
        SubnetId=net.subnet,
        Groups=[net.security_group],
        Description=f"AWS Lambda VPC ENI-{name}-{uuid.uuid4()}",
    )["NetworkInterface"]
    return str(fn["FunctionArn"]), str(eni["PrivateIpAddress"])


def command_document(command: str) -> str:
    """credfix's SSM command document, as the stack creates it from `ssm_command`."""
    from credfix.core.remediate.model import SSM_DOCUMENT_NAME
    from infra.command_document import document_content

    clients("ssm").create_document(
        Name=SSM_DOCUMENT_NAME,
        Content=json.dumps(document_content(command)),
        DocumentType="Command",
        DocumentFormat="JSON",
        TargetType="/AWS::EC2::Instance",
    )
    return SSM_DOCUMENT_NAME


def sts_endpoint(net: Network) -> str:
    """The account's STS interface endpoint in the network's private subnet: calls through it
    reach AWS from their private address, which CloudTrail then records with the endpoint's ID."""
    endpoint = clients("ec2").create_vpc_endpoint(
        VpcId=net.vpc,
        ServiceName=f"com.amazonaws.{REGION}.sts",
        VpcEndpointType="Interface",
        SubnetIds=[net.subnet],
        SecurityGroupIds=[net.security_group],
        PrivateDnsEnabled=True,
    )
    return str(endpoint["VpcEndpoint"]["VpcEndpointId"])


def nat_gateway(net: Network) -> tuple[str, str]:
    """A NAT gateway with an Elastic IP in the public subnet: (NAT id, its public IP)."""
    ec2 = clients("ec2")
    eip = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=net.public_subnet, AllocationId=eip["AllocationId"])["NatGateway"]
    return str(nat["NatGatewayId"]), str(eip["PublicIp"])
