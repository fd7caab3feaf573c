"""The alerts credfix sends, rendered here and handed to a publisher (the SNS topic in AWS,
credfix.adapters.messaging.sns): one method per kind of alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credfix.core.alerts.message import sns_message
from credfix.core.alerts.storm import storm_message
from credfix.models.incident import Incident
from credfix.models.storm import StormSummary

Publish = Callable[[dict[str, Any]], str]  # sns.publish's arguments but TopicArn -> message id


class TopicAlerter:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    def incident_diagnosed(self, incident: Incident) -> str:
        return self._publish(sns_message(incident, "diagnosed"))

    def incident_remediated(self, incident: Incident) -> str:
        return self._publish(sns_message(incident, "remediated"))

    def incident_resolved(self, incident: Incident) -> str:
        return self._publish(sns_message(incident, "resolved"))

    def incident_escalated(self, incident: Incident) -> str:
        return self._publish(sns_message(incident, "escalated"))

    def storm(self, summary: StormSummary) -> str:
        return self._publish(storm_message(summary))
