"""The alerts credfix sends, rendered here and handed to a publisher (the SNS topic in AWS,
credfix.adapters.messaging.sns): one method per kind of alert.

With a chat publisher (the opt-in chat topic), each alert also goes out as an Amazon Q
Developer custom notification (core/alerts/chat.py). The alerts topic is the record: a chat
publish that fails is reported to `on_chat_error` and does not fail the step (a retry would
send the e-mail alert again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credfix.adapters.messaging.sns import SnsTopic
from credfix.config import DEFAULT_DOCS_BASE_URL, Settings
from credfix.core.alerts.chat import chat_notification, chat_request, storm_notification
from credfix.core.alerts.message import sns_message
from credfix.core.alerts.storm import storm_message
from credfix.models.incident import Incident
from credfix.models.storm import StormSummary

Publish = Callable[[dict[str, Any]], str]  # sns.publish's arguments but TopicArn -> message id


class TopicAlerter:
    def __init__(
        self,
        publish: Publish,
        *,
        chat: Publish | None = None,
        docs_base_url: str = DEFAULT_DOCS_BASE_URL,
        on_chat_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._publish = publish
        self._chat = chat
        self._docs = docs_base_url
        self._on_chat_error = on_chat_error

    def _to_chat(self, notification: Callable[[], dict[str, Any]]) -> None:
        if self._chat is None:
            return
        try:
            self._chat(chat_request(notification()))
        except Exception as exc:  # any publish failure: reported, not raised
            if self._on_chat_error is not None:
                self._on_chat_error(exc)

    def _incident(self, incident: Incident, kind: str) -> str:
        message_id = self._publish(sns_message(incident, kind, self._docs))
        self._to_chat(lambda: chat_notification(incident, kind, self._docs))
        return message_id

    def incident_diagnosed(self, incident: Incident) -> str:
        return self._incident(incident, "diagnosed")

    def incident_remediated(self, incident: Incident) -> str:
        return self._incident(incident, "remediated")

    def incident_resolved(self, incident: Incident) -> str:
        return self._incident(incident, "resolved")

    def incident_escalated(self, incident: Incident) -> str:
        return self._incident(incident, "escalated")

    def storm(self, summary: StormSummary) -> str:
        message_id = self._publish(storm_message(summary))
        self._to_chat(lambda: storm_notification(summary))
        return message_id


def topic_alerter(
    settings: Settings, sns_client: Any, on_chat_error: Callable[[Exception], None] | None = None
) -> TopicAlerter:
    """The Lambdas' alerter: the alerts topic, the chat topic when one is deployed, and the
    docs base URL the alerts link to."""
    chat = SnsTopic(sns_client, settings.chat_topic_arn).publish if settings.chat_topic_arn else None
    return TopicAlerter(
        SnsTopic(sns_client, settings.topic_arn).publish,
        chat=chat,
        docs_base_url=settings.docs_base_url,
        on_chat_error=on_chat_error,
    )
