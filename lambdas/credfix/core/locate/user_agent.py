"""What a CloudTrail `userAgent` says about the sender: the execution environment the SDK
reports (`exec-env/AWS_ECS_FARGATE`, `AWS_Lambda_python3.12`, `CloudShell`, …) and the SDK
or tool with its version. It narrows and ranks candidates; it is never proof on its own
(any process can set `AWS_EXECUTION_ENV`, and user agents are clipped by CloudTrail)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from credfix.models.incident import WorkloadType

Platform = Literal[
    "ecs-fargate",
    "ecs-ec2",
    "ecs-external",
    "lambda",
    "cloudshell",
    "codebuild",
    "github-actions",
    "aws-internal",
]

# Product tokens, most specific first (the JS v3 SDK also sends `aws-sdk-js`, boto3 sends Botocore).
_SDKS: tuple[tuple[str, str], ...] = (
    ("aws-cli", "aws-cli"),
    ("Boto3", "boto3"),
    ("Botocore", "botocore"),
    ("aws-sdk-java", "aws-sdk-java"),
    ("aws-sdk-go-v2", "aws-sdk-go-v2"),
    ("aws-sdk-go", "aws-sdk-go"),
    ("aws-sdk-js", "aws-sdk-js"),
    ("aws-sdk-nodejs", "aws-sdk-js"),
    ("aws-sdk-dotnet-coreclr", "aws-sdk-dotnet"),
    ("aws-sdk-dotnet-core", "aws-sdk-dotnet"),
    ("aws-sdk-dotnet-45", "aws-sdk-dotnet"),
    ("aws-sdk-php", "aws-sdk-php"),
    ("aws-sdk-ruby3", "aws-sdk-ruby"),
    ("aws-sdk-ruby2", "aws-sdk-ruby"),
    ("aws-sdk-rust", "aws-sdk-rust"),
    ("aws-sdk-cpp", "aws-sdk-cpp"),
    ("aws-sdk-kotlin", "aws-sdk-kotlin"),
    ("aws-sdk-swift", "aws-sdk-swift"),
    ("aws-powershell", "aws-powershell"),
    ("AWSPowerShell", "aws-powershell"),
)
_PRODUCT = re.compile(r"(?:^|\s)([A-Za-z][\w.\-]*)/(\d[\w.\-+]*)")
_EXEC_ENV = re.compile(r"(?:^|\s)exec-env/([^\s]+)")
_TERRAFORM = re.compile(r"(?:^|\s)Terraform/(\d[\w.\-]*)")
# aws-actions/configure-aws-credentials signs its STS calls with this user agent.
_GITHUB_ACTIONS = "configure-aws-credentials-for-github-actions"
_INTERNAL = {"AWS Internal", "console.amazonaws.com", "signin.amazonaws.com"}


@dataclass(frozen=True)
class UserAgent:
    raw: str
    exec_env: str | None = None  # as sent, e.g. "AWS_Lambda_python3.12"
    platform: Platform | None = None
    sdk: str | None = None  # normalised family, e.g. "boto3", "aws-sdk-java"
    sdk_version: str | None = None
    tool: str | None = None  # e.g. "terraform/1.7.5" when an SDK is driven by a known tool
    lambda_runtime: str | None = None  # "python3.12" from AWS_Lambda_python3.12

    @property
    def workload_types(self) -> frozenset[WorkloadType]:
        """Workload types this execution environment is consistent with (empty = no opinion)."""
        return _TYPES_OF_PLATFORM.get(self.platform, frozenset()) if self.platform else frozenset()

    @property
    def sdk_label(self) -> str | None:
        if not self.sdk:
            return None
        return f"{self.sdk}/{self.sdk_version}" if self.sdk_version else self.sdk

    def describe(self) -> str:
        parts = [f"exec-env/{self.exec_env}" if self.exec_env else "no exec-env"]
        if self.sdk_label:
            parts.append(self.sdk_label)
        if self.tool:
            parts.append(self.tool)
        return ", ".join(parts)


_TYPES_OF_PLATFORM: dict[str, frozenset[WorkloadType]] = {
    "ecs-fargate": frozenset({"ecs-task", "ecs-service"}),
    # ECS on EC2: awsvpc tasks have their own ENI; bridge/host tasks send from the instance's IP.
    "ecs-ec2": frozenset({"ecs-task", "ecs-service", "ec2-instance"}),
    "ecs-external": frozenset({"ecs-task", "ecs-service"}),
    "lambda": frozenset({"lambda-function"}),
    "codebuild": frozenset({"codebuild-project"}),
    "github-actions": frozenset({"ec2-instance", "codebuild-project"}),  # self-hosted runners
}


def _platform(exec_env: str) -> tuple[Platform | None, str | None]:
    if exec_env == "AWS_ECS_FARGATE":
        return "ecs-fargate", None
    if exec_env == "AWS_ECS_EC2":
        return "ecs-ec2", None
    if exec_env == "AWS_ECS_EXTERNAL":
        return "ecs-external", None
    if exec_env.startswith("AWS_Lambda_"):
        return "lambda", exec_env.removeprefix("AWS_Lambda_") or None
    if exec_env == "CloudShell":
        return "cloudshell", None
    if exec_env.startswith("AWS_CodeBuild"):
        return "codebuild", None
    return None, None


def parse_user_agent(raw: str | None) -> UserAgent | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text in _INTERNAL or text.endswith(".amazonaws.com"):
        return UserAgent(raw=text, platform="aws-internal")
    exec_env: str | None = None
    if match := _EXEC_ENV.search(text):
        exec_env = match.group(1)
    platform, runtime = _platform(exec_env) if exec_env else (None, None)
    if platform is None and _GITHUB_ACTIONS in text:
        platform = "github-actions"
    products = {name: version for name, version in _PRODUCT.findall(text)}
    sdk = sdk_version = None
    for token, family in _SDKS:
        if token in products:
            sdk, sdk_version = family, products[token]
            break
    tool = None
    if match := _TERRAFORM.search(text):
        tool = f"terraform/{match.group(1)}"
    return UserAgent(
        raw=text,
        exec_env=exec_env,
        platform=platform,
        sdk=sdk,
        sdk_version=sdk_version,
        tool=tool,
        lambda_runtime=runtime,
    )
