"""Stacks outside the home region and account.

- `ForwarderStack`: one per covered region of the home account (and always us-east-1, where
  IAM and STS failures are logged): the same rule and State as at home, forwarding to the
  home region's default bus.
- `MemberForwarderStack`: the same rule in a member account of an organisation, forwarding
  to the central bus (deploy with service-managed StackSets to every account and region).
- `MemberRolesStack`: the member account's two roles (deploy once per account, one region):
  a read role that only the central triage Lambda may assume, and an act role that only the
  central act Lambda may assume, each with exactly the permissions its code declares.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from credfix.permissions import Role
from credfix.registry import policy_for
from credfix.scopes import HOME_KINDS, relay_scopes
from infra.command_document import command_document
from infra.config import CredfixConfig
from infra.detection import credential_failure_rule
from infra.functions import CredfixFunctions
from infra.logs import account_policy, forward_relayed, intake_dead_letter_target
from infra.nag import acknowledge
from infra.policy import deny_statements, statements_for, wildcard_acknowledgements
from infra.rotation import rotation_rules
from infra.scopes import workload_scopes

# Resource kinds that exist only in the home account: never granted by a member role.
HOME_ONLY_KINDS = set(HOME_KINDS)

RELAY_MEMORY_MB = 128  # bench/run.py compares it with the relay's measured peak RSS


def home_role_name(role: Role, config: CredfixConfig) -> str:
    """Fixed names for the central Lambdas' roles in org mode, so member trust can name them."""
    return f"credfix-{role}-{config.home_region}"


class _Forwarder(Stack):
    def _forward(self, config: CredfixConfig, target_bus_arn: str, error_codes: tuple[str, ...]) -> None:
        failed = sqs.Queue(
            self,
            "ForwardFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            failed,
            ("AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the forwarding target."),
        )
        rule = credential_failure_rule(
            self,
            "CredentialFailures",
            error_codes=error_codes,
            description="credfix: forward CloudTrail credential failures to the home bus",
        )
        home_bus = events.EventBus.from_event_bus_arn(self, "HomeBus", target_bus_arn)
        rule.add_target(targets.EventBus(home_bus, dead_letter_queue=failed))
        if config.log_signal.enabled:
            self._relay(config, home_bus, failed)
        # The rotation watch's events, forwarded the same way (infra/rotation.py).
        for rotation_rule in rotation_rules(self, "RotationWatch"):
            rotation_rule.add_target(targets.EventBus(home_bus, dead_letter_queue=failed))
        if config.ssm_command:  # SSM documents are regional: act runs it in this region too
            command_document(self, config.ssm_command)

    def _relay(self, config: CredfixConfig, home_bus: events.IEventBus, failed: sqs.Queue) -> None:
        """Opt-in: this account and region's runtime-log lines, relayed home (infra/logs.py)."""
        functions = CredfixFunctions(self, "Functions", key=None, layer_arn=config.powertools_layer_arn)
        relay = functions.function(
            "relay",
            scopes=relay_scopes(),
            environment={"CREDFIX_INCLUDE_EXPIRED_TOKEN": str(config.include_expired_token).lower()},
            timeout=Duration.seconds(60),
            memory_size=RELAY_MEMORY_MB,
            reserved_concurrency=2,
        )
        intake_dead_letter_target(relay, failed)
        account_policy(
            self, "LogSignalPolicy", destination=relay, config=config, own_groups=functions.log_groups
        )
        forward_relayed(self, home_bus, failed)


class ForwarderStack(_Forwarder):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: CredfixConfig,
        error_codes: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        home_bus = f"arn:{Aws.PARTITION}:events:{config.home_region}:{Aws.ACCOUNT_ID}:event-bus/default"
        self._forward(config, home_bus, error_codes)


class MemberForwarderStack(_Forwarder):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: CredfixConfig,
        error_codes: tuple[str, ...],
        central_bus_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        central = (
            f"arn:{Aws.PARTITION}:events:{config.home_region}:{config.account}:event-bus/{central_bus_name}"
        )
        self._forward(config, central, error_codes)


class MemberRolesStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: CredfixConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        org = config.org
        scopes = {k: v for k, v in workload_scopes(config).items() if k not in HOME_ONLY_KINDS}
        member_roles: tuple[tuple[Role, str], ...] = (
            ("triage", org.member_read_role_name),
            ("act", org.member_act_role_name),
            ("rotation", org.member_rotation_role_name),
        )
        for role, name in member_roles:
            central = f"arn:{Aws.PARTITION}:iam::{config.account}:role/{home_role_name(role, config)}"
            member = iam.Role(
                self,
                f"{role.title()}Role",
                role_name=name,
                assumed_by=iam.ArnPrincipal(central).with_conditions(
                    {"StringEquals": {"aws:PrincipalOrgID": org.organization_id}}
                ),
                description=f"credfix {role}: assumed only by the central {role} Lambda",
                max_session_duration=Duration.hours(1),
            )
            kinds = {k for k in policy_for(role) if k not in HOME_ONLY_KINDS}
            statements = statements_for(role, {k: v for k, v in scopes.items() if k in kinds}, only=kinds)
            statements += deny_statements(role, [])  # no layer on any function (act)
            if not statements:
                continue  # no declared permission for this role in a workload account
            policy = iam.Policy(self, f"{role.title()}Policy", roles=[member], statements=statements)
            acknowledge(
                policy,
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "Describe/List APIs that support no resource-level permissions (declared with on='*').",
                ),
                *wildcard_acknowledgements(role, scopes),
            )
