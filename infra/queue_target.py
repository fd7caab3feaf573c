"""An EventBridge rule target that delivers to an SQS queue, with a queue policy that admits
EventBridge only for this rule (aws:SourceArn), and the same for the target's dead-letter
queue.

CDK's own `targets.SqsQueue` drops the aws:SourceArn condition when the queue is encrypted with
a customer-managed key and adds an unconditioned key-policy grant to events.amazonaws.com
(a confused deputy on both). The key grant credfix needs is in the home stack, bound to the
queues by the SQS encryption context instead (see HomeStack._key_grants)."""

from __future__ import annotations

import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_events as events_refs


def _admit_rule(queue: sqs.IQueue, rule_arn: str, sid: str) -> None:
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
        )
    )


@jsii.implements(events.IRuleTarget)
class SourceBoundQueue:
    def __init__(self, queue: sqs.IQueue, *, dead_letter_queue: sqs.IQueue, retry_attempts: int) -> None:
        self.queue = queue
        self.dead_letter_queue = dead_letter_queue
        self.retry_attempts = retry_attempts

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        sid = "".join(ch for ch in rule.node.id if ch.isalnum())
        rule_arn = rule.rule_ref.rule_arn
        _admit_rule(self.queue, rule_arn, f"EventBridgeRule{sid}")
        _admit_rule(self.dead_letter_queue, rule_arn, f"EventBridgeRuleDeadLetters{sid}")
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(maximum_retry_attempts=self.retry_attempts),
        )
