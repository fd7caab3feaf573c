"""Publishing alerts to the SNS alerts topic.

The topic is KMS-encrypted, so a publisher needs kms:GenerateDataKey and kms:Decrypt on
the topic's key as well as sns:Publish (declared here so the stack grants both).
"""

from __future__ import annotations

from typing import Any

from credfix.core.alerts import sns_message
from credfix.core.alerts.storm import storm_message
from credfix.core.storm import StormSummary
from credfix.models.incident import Incident
from credfix.permissions import needs

_KMS = ("kms:GenerateDataKey", "kms:Decrypt")


class SnsAlerter:
    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        if not topic_arn.startswith("arn:"):
            raise ValueError(f"alerts topic must be an SNS topic ARN, got {topic_arn!r}")
        self._sns = sns_client
        self._topic_arn = topic_arn

    def _publish(self, incident: Incident, kind: str) -> str:
        resp = self._sns.publish(TopicArn=self._topic_arn, **sns_message(incident, kind))
        return str(resp["MessageId"])

    @needs("act", "sns:Publish", on="alerts-topic")
    @needs("act", *_KMS, on="alerts-topic-key")
    @needs("cli", "sns:Publish", on="alerts-topic")
    @needs("cli", *_KMS, on="alerts-topic-key")
    def incident_diagnosed(self, incident: Incident) -> str:
        return self._publish(incident, "diagnosed")

    @needs("act", "sns:Publish", on="alerts-topic")
    @needs("act", *_KMS, on="alerts-topic-key")
    @needs("cli", "sns:Publish", on="alerts-topic")
    @needs("cli", *_KMS, on="alerts-topic-key")
    def incident_remediated(self, incident: Incident) -> str:
        return self._publish(incident, "remediated")

    @needs("verify", "sns:Publish", on="alerts-topic")
    @needs("verify", *_KMS, on="alerts-topic-key")
    def incident_resolved(self, incident: Incident) -> str:
        return self._publish(incident, "resolved")

    @needs("verify", "sns:Publish", on="alerts-topic")
    @needs("verify", *_KMS, on="alerts-topic-key")
    def incident_escalated(self, incident: Incident) -> str:
        return self._publish(incident, "escalated")

    @needs("verify", "sns:Publish", on="alerts-topic")
    @needs("verify", *_KMS, on="alerts-topic-key")
    def storm(self, summary: StormSummary) -> str:
        resp = self._sns.publish(TopicArn=self._topic_arn, **storm_message(summary))
        return str(resp["MessageId"])
