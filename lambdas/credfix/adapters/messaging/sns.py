"""Publishing to the SNS alerts topic: the request is built by the core (credfix.core.alerts),
this sends it as it is.

The topic is KMS-encrypted, so a publisher needs kms:GenerateDataKey and kms:Decrypt on
the topic's key as well as sns:Publish (declared here so the stack grants both).
"""

from __future__ import annotations

from typing import Any

from credfix.permissions import needs

_KMS = ("kms:GenerateDataKey", "kms:Decrypt")


class SnsTopic:
    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        if not topic_arn.startswith("arn:"):
            raise ValueError(f"alerts topic must be an SNS topic ARN, got {topic_arn!r}")
        self._sns = sns_client
        self._topic_arn = topic_arn

    @needs("act", "sns:Publish", on="alerts-topic")
    @needs("act", *_KMS, on="alerts-topic-key")
    @needs("verify", "sns:Publish", on="alerts-topic")
    @needs("verify", *_KMS, on="alerts-topic-key")
    @needs("cli", "sns:Publish", on="alerts-topic")
    @needs("cli", *_KMS, on="alerts-topic-key")
    def publish(self, request: dict[str, Any]) -> str:
        """`request`: sns.publish's keyword arguments but TopicArn; returns the message id."""
        resp = self._sns.publish(TopicArn=self._topic_arn, **request)
        return str(resp["MessageId"])
