"""One place that builds credfix's Lambdas the same way: the `lambdas/` asset, the
Powertools layer, an own role with only its declared permissions, a log group with
retention, active tracing."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from credfix.core.remediate.model import OPT_OUT_TAG, OPT_OUT_VALUE
from credfix.permissions import Role
from credfix.registry import policy_for
from infra.nag import acknowledge
from infra.policy import ANY, Scope, statements_for, wildcard_acknowledgements

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
POWERTOOLS_VERSION = "3.37.0"  # keep equal to requirements.txt
# Published by the Powertools team in every commercial region; resolved at deploy time, pinned.
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"


class CredfixFunctions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, layer_arn: str = "") -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.code = lambda_.Code.from_asset(
            str(LAMBDAS_DIR),
            exclude=["**/__pycache__", "**/*.pyc", "*.egg-info", "credfix/preflight/**", "credfix/cli/**"],
        )
        self.made: dict[str, lambda_.Function] = {}  # role -> function, in the order made
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            layer_arn or ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
        )

    def function(
        self,
        role_name: Role,
        *,
        scopes: dict[str, list[Scope]],
        environment: dict[str, str],
        timeout: Duration,
        memory_size: int,
        reserved_concurrency: int | None = None,
        extra_statements: list[iam.PolicyStatement] | None = None,
        exclude_kinds: frozenset[str] = frozenset(),
        fixed_role_name: str | None = None,
    ) -> lambda_.Function:
        scope = Construct(self, role_name.title())
        log_group = logs.LogGroup(
            scope, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"credfix {role_name}: only the calls its code declares",
            role_name=fixed_role_name,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:log-stream:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseCredfixKey",  # queues, topic and table are encrypted with credfix's own key
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.key.key_arn],
            )
        )
        kinds = set(policy_for(role_name)) - exclude_kinds
        for statement in statements_for(role_name, scopes, only=kinds):
            role.add_to_policy(statement)
        for statement in extra_statements or []:
            role.add_to_policy(statement)
        stack = Stack.of(self)
        log_group_id = stack.resolve(stack.get_logical_id(log_group.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            role,
            ("AwsSolutions-IAM5[Resource::*]", ANY[0].why),
            (
                f"AwsSolutions-IAM5[Resource::<{log_group_id}.Arn>:log-stream:*]",
                "Log streams are created by Lambda at run time with generated names; "
                "the wildcard is confined to this function's own log group.",
            ),
            *wildcard_acknowledgements(role_name, {k: v for k, v in scopes.items() if k in kinds}),
        )
        fn = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=self.code,
            handler=f"credfix.handlers.{role_name}.handler",
            layers=[self.powertools],
            role=role,
            log_group=log_group,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"credfix-{role_name}",
                "POWERTOOLS_METRICS_NAMESPACE": "credfix",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )
        # credfix's own functions opt out of remediation (and the act role is denied them by ARN).
        Tags.of(fn).add(OPT_OUT_TAG, OPT_OUT_VALUE)
        self.made[role_name] = fn
        return fn
