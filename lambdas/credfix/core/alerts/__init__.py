"""Alerts people can act on: subject, plain-text e-mail and the SNS message (pure functions)."""

from credfix.core.alerts.message import MAX_PUBLISH_BYTES, attributes, sns_message
from credfix.core.alerts.render import KINDS, SECTIONS, Kind, action_status, email_text, subject
from credfix.core.alerts.sanitise import sanitise

__all__ = [
    "KINDS",
    "MAX_PUBLISH_BYTES",
    "SECTIONS",
    "Kind",
    "action_status",
    "attributes",
    "email_text",
    "sanitise",
    "sns_message",
    "subject",
]
