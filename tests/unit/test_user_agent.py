"""User-agent parsing: exec-env platform and SDK from real-world CloudTrail userAgent strings."""

from __future__ import annotations

import pytest

from credfix.core.locate.user_agent import parse_user_agent

# (user agent as CloudTrail records it, platform, exec-env, sdk, sdk version, lambda runtime)
CASES = [
    (
        "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
        "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache "
        "cfg/retry-mode/legacy",
        "ecs-fargate",
        "AWS_ECS_FARGATE",
        "aws-sdk-java",
        "2.25.60",
        None,
    ),
    (
        "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.205-195.807.amzn2.x86_64 md/arch#x86_64 "
        "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
        "Botocore/1.34.34",
        "lambda",
        "AWS_Lambda_python3.12",
        "boto3",
        "1.34.34",
        "python3.12",
    ),
    (
        "Boto3/1.26.90 Python/3.9.16 Linux/4.14.255-301-238.520.amzn2.x86_64 exec-env/AWS_Lambda_python3.9 "
        "Botocore/1.29.90",
        "lambda",
        "AWS_Lambda_python3.9",
        "boto3",
        "1.26.90",
        "python3.9",
    ),
    (
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exec-env/CloudShell "
        "exe/x86_64.amzn.2023 "
        "prompt/off command/sts.get-caller-identity",
        "cloudshell",
        "CloudShell",
        "aws-cli",
        "2.15.30",
        None,
    ),
    (
        "aws-cli/2.17.5 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0-1008-aws md/arch#x86_64 lang/python#3.11.9 "
        "md/pyimpl#CPython exec-env/AWS_ECS_EC2 cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2",
        "ecs-ec2",
        "AWS_ECS_EC2",
        "aws-cli",
        "2.17.5",
        None,
    ),
    (
        "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6 "
        "exec-env/AWS_ECS_EXTERNAL",
        "ecs-external",
        "AWS_ECS_EXTERNAL",
        "aws-sdk-go-v2",
        "1.26.1",
        None,
    ),
    (
        "aws-sdk-go/1.44.327 (go1.20.7; linux; amd64) exec-env/AWS_Lambda_go1.x",
        "lambda",
        "AWS_Lambda_go1.x",
        "aws-sdk-go",
        "1.44.327",
        "go1.x",
    ),
    (
        "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.213-223.830.amzn2.x86_64 lang/js md/nodejs#20.12.0 "
        "api/s3#3.540.0 "
        "exec-env/AWS_Lambda_nodejs20.x",
        "lambda",
        "AWS_Lambda_nodejs20.x",
        "aws-sdk-js",
        "3.540.0",
        "nodejs20.x",
    ),
    (
        "aws-sdk-nodejs/2.1550.0 linux/v18.19.0 exec-env/AWS_Lambda_nodejs18.x promise",
        "lambda",
        "AWS_Lambda_nodejs18.x",
        "aws-sdk-js",
        "2.1550.0",
        "nodejs18.x",
    ),
    (
        "aws-sdk-dotnet-coreclr/3.7.300.1 aws-sdk-dotnet-core/3.7.300.1 .NET_Core/6.0.26 OS/Linux_5.10.205 "
        "ClientAsync exec-env/AWS_ECS_EC2",
        "ecs-ec2",
        "AWS_ECS_EC2",
        "aws-sdk-dotnet",
        "3.7.300.1",
        None,
    ),
    (
        "aws-sdk-java/1.12.470 Linux/4.14.336-257.562.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/11.0.19+7-LTS "
        "java/11.0.19 vendor/Amazon.com_Inc. cfg/retry-mode/standard",
        None,
        None,
        "aws-sdk-java",
        "1.12.470",
        None,
    ),
    (
        "aws-sdk-ruby3/3.191.3 ruby/3.2.2 x86_64-linux aws-sdk-s3/1.143.0",
        None,
        None,
        "aws-sdk-ruby",
        "3.191.3",
        None,
    ),
    (
        "aws-sdk-php/3.300.0 OS/Linux/5.15.0 lang/php/8.2.15 GuzzleHttp/7",
        None,
        None,
        "aws-sdk-php",
        "3.300.0",
        None,
    ),
    (
        "aws-sdk-rust/1.1.4 os/linux lang/rust/1.75.0",
        None,
        None,
        "aws-sdk-rust",
        "1.1.4",
        None,
    ),
    (
        "configure-aws-credentials-for-github-actions",
        "github-actions",
        None,
        None,
        None,
        None,
    ),
    ("AWS Internal", "aws-internal", None, None, None, None),
    ("console.amazonaws.com", "aws-internal", None, None, None, None),
    ("ec2.amazonaws.com", "aws-internal", None, None, None, None),
    # An unknown exec-env is kept as sent but claims no platform.
    (
        "Boto3/1.28.0 Python/3.11.4 Linux/6.2.0 exec-env/MyCustomEnv Botocore/1.31.0",
        None,
        "MyCustomEnv",
        "boto3",
        "1.28.0",
        None,
    ),
]


@pytest.mark.parametrize(("raw", "platform", "exec_env", "sdk", "version", "runtime"), CASES)
def test_parses_real_user_agents(
    raw: str,
    platform: str | None,
    exec_env: str | None,
    sdk: str | None,
    version: str | None,
    runtime: str | None,
) -> None:
    ua = parse_user_agent(raw)
    assert ua is not None
    assert (ua.platform, ua.exec_env, ua.sdk, ua.sdk_version, ua.lambda_runtime) == (
        platform,
        exec_env,
        sdk,
        version,
        runtime,
    )


def test_terraform_is_named_as_the_tool_driving_the_go_sdk() -> None:
    ua = parse_user_agent(
        "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 "
        "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux "
        "lang/go#1.22.1 "
        "md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5"
    )
    assert ua is not None
    assert (ua.sdk, ua.sdk_version, ua.tool, ua.platform) == (
        "aws-sdk-go-v2",
        "1.26.0",
        "terraform/1.7.5",
        None,
    )


def test_workload_types_follow_the_platform() -> None:
    fargate = parse_user_agent("aws-sdk-go-v2/1.26.1 exec-env/AWS_ECS_FARGATE")
    on_ec2 = parse_user_agent("aws-cli/2.17.5 exec-env/AWS_ECS_EC2")
    shell = parse_user_agent("aws-cli/2.15.30 exec-env/CloudShell")
    assert fargate is not None and on_ec2 is not None and shell is not None
    assert fargate.workload_types == {"ecs-task", "ecs-service"}
    assert "ec2-instance" in on_ec2.workload_types  # bridge/host tasks send from the host's IP
    assert shell.workload_types == frozenset()  # a person, not a workload


def test_a_repeated_clipped_user_agent_still_parses() -> None:
    one = (
        "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
        "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache "
        "cfg/retry-mode/legacy "
    )
    ua = parse_user_agent((one * 10)[:1000])
    assert ua is not None and (ua.platform, ua.sdk) == ("ecs-fargate", "aws-sdk-java")


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_user_agent_is_none(raw: str | None) -> None:
    assert parse_user_agent(raw) is None
