"""The runtime-log signal (opt-in, `log_signal.enabled`): in every covered account and region, an
account-level CloudWatch Logs subscription filter policy (`AWS::Logs::AccountPolicy`, type
SUBSCRIPTION_FILTER_POLICY) sends the log lines that look like credential failures to a
Lambda of that account and region (the only kind of same-account destination that needs no
role to pass):

- home region: the intake (`credfix.handlers.logs`), which counts them into incidents;
- other regions and member accounts: a relay (`credfix.handlers.relay`), which puts the lines
  it recognises on its default bus as `credfix.logs` events; the forwarding rule takes them to
  the home bus (or the organisation's central bus), whose rule queues them for the intake.

The policy's selection criteria exclude credfix's own log groups (its Lambdas log reasons that
quote error codes: no feedback loop) and the groups the operator lists. One account-level
subscription filter policy is allowed per account and region: `credfix doctor` reports one
that is not credfix's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from credfix.core.logs import RELAY_DETAIL_TYPE, RELAY_SOURCE
from credfix.models.logs import POLICY_NAME, filter_pattern
from infra.config import CredfixConfig
from infra.nag import acknowledge

MAX_SELECTION_BYTES = 25 * 1024  # CloudWatch Logs' limit on selectionCriteria


def relay_event_pattern() -> events.EventPattern:
    return events.EventPattern(source=[RELAY_SOURCE], detail_type=[RELAY_DETAIL_TYPE])


def selection_criteria(own_groups: Sequence[logs.ILogGroup], operator_groups: list[str]) -> str:
    """`LogGroupName NOT IN ["…", …]`: credfix's own log groups (names resolved at deploy time)
    and the operator's."""
    names = [group.log_group_name for group in own_groups] + list(operator_groups)
    if sum(len(n) + 4 for n in operator_groups) > MAX_SELECTION_BYTES // 2:
        raise ValueError(
            "log_signal.exclude_log_groups is too long for an account policy's selection criteria"
        )
    quoted = [Fn.join("", ['"', name, '"']) for name in names]
    return Fn.join("", ["LogGroupName NOT IN [", Fn.join(", ", quoted), "]"])


def account_policy(
    scope: Construct,
    construct_id: str,
    *,
    destination: lambda_.IFunction,
    config: CredfixConfig,
    own_groups: Sequence[logs.ILogGroup],
) -> logs.CfnAccountPolicy:
    """The policy, and CloudWatch Logs' permission to invoke its destination (this account's
    log groups only)."""
    destination.add_permission(
        f"{construct_id}Invoke",
        principal=iam.ServicePrincipal("logs.amazonaws.com"),
        action="lambda:InvokeFunction",
        source_account=Aws.ACCOUNT_ID,
        source_arn=f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*",
    )
    document = Fn.to_json_string(
        {
            "DestinationArn": destination.function_arn,
            "FilterPattern": filter_pattern(config.include_expired_token),
        }
    )
    policy = logs.CfnAccountPolicy(
        scope,
        construct_id,
        policy_name=POLICY_NAME,
        policy_type="SUBSCRIPTION_FILTER_POLICY",
        policy_document=document,
        scope="ALL",
        selection_criteria=selection_criteria(own_groups, config.log_signal.exclude_log_groups),
    )
    policy.node.add_dependency(destination)
    return policy


@dataclass
class HomeLogSignal:
    intake: lambda_.Function
    queue: sqs.Queue  # relayed payloads from other regions and member accounts
    dead_letter_queues: dict[str, sqs.Queue]


def relay_rule(scope: Construct, construct_id: str, bus: events.IEventBus | None = None) -> events.Rule:
    return events.Rule(
        scope,
        construct_id,
        description="credfix: runtime-log lines relayed from other regions and member accounts",
        event_bus=bus,
        event_pattern=relay_event_pattern(),
    )


def forward_relayed(scope: Construct, target_bus: events.IEventBus, dead_letter: sqs.IQueue) -> None:
    """A relay stack's rule: its `credfix.logs` events to the home (or central) bus."""
    relay_rule(scope, "RelayedLogLines").add_target(
        targets.EventBus(target_bus, dead_letter_queue=dead_letter)
    )


def intake_dead_letter_target(fn: lambda_.Function, queue: sqs.IQueue) -> None:
    """A direct delivery that fails three times (Lambda's asynchronous retries) lands here, with
    the error in the record (`requestContext`, `responsePayload`)."""
    fn.configure_async_invoke(
        on_failure=destinations.SqsDestination(queue), retry_attempts=2, max_event_age=Duration.hours(6)
    )
    if fn.role is not None:
        acknowledge(
            fn.role,
            *(
                (
                    f"AwsSolutions-IAM5[Action::{action}]",
                    "Granted by CDK to send failed deliveries to the dead-letter queue, which is encrypted "
                    "with credfix's own key; the grant names that key only.",
                )
                for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*")
            ),
        )
    if isinstance(queue, sqs.Queue):
        acknowledge(
            queue, ("AwsSolutions-SQS3", "This queue is itself the dead-letter target of failed deliveries.")
        )
