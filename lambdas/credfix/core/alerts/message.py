"""The SNS publish request: one message, a text per audience (MessageStructure=json).

E-mail subscribers get the readable alert, machine subscribers (SQS, HTTPS, Lambda,
email-json) the `credfix.alert/v1` document {"schema", "kind", "incident"} (the incident is
`credfix.incident/v1`), everything else the short "default" line. Message attributes carry
what filter policies select on (docs/deploy.md §5).
"""

from __future__ import annotations

import json
from typing import Any

from credfix.config import DEFAULT_DOCS_BASE_URL
from credfix.core.alerts.render import (
    action_status,
    alert_account,
    email_text,
    subject,
    workload_name,
)
from credfix.core.alerts.sanitise import sanitise
from credfix.keys import redact
from credfix.models.incident import Incident

ALERT_SCHEMA = "credfix.alert/v1"  # the machine message: {"schema", "kind", "incident" | "storm"}
MAX_PUBLISH_BYTES = 262_144  # message + subject + attributes of one Publish (256 KiB)
MACHINE_PROTOCOLS = ("email-json", "sqs", "https", "lambda")
# Progressively smaller caps for string fields and lists of the machine document, tried in
# order until the whole publish fits: the document is copied once per machine protocol.
_SHRINK_STEPS: tuple[tuple[int | None, int | None], ...] = (
    (None, None),
    (4096, 50),
    (1024, 20),
    (256, 10),
    (96, 5),
)


def _shrink(value: Any, string_cap: int, list_cap: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= string_cap else value[: string_cap - 1] + "…"
    if isinstance(value, list):
        return [_shrink(v, string_cap, list_cap) for v in value[:list_cap]]
    if isinstance(value, dict):
        return {k: _shrink(v, string_cap, list_cap) for k, v in value.items()}
    return value


def machine_payload(
    incident: Incident, kind: str, string_cap: int | None = None, list_cap: int | None = None
) -> str:
    document: dict[str, Any] = incident.document()
    payload: dict[str, Any] = {"schema": ALERT_SCHEMA, "kind": kind, "incident": document}
    if string_cap is not None and list_cap is not None:
        payload["incident"] = _shrink(document, string_cap, list_cap)
        payload["truncated"] = True  # the table item holds the whole document
    return json.dumps(payload, separators=(",", ":"))


def attributes(incident: Incident, kind: str) -> dict[str, dict[str, str]]:
    """String attributes for subscription filter policies (values are never empty)."""
    values = {
        "kind": kind,
        "verdict": incident.verdict or "undiagnosed",
        "severity": incident.severity or "unknown",
        "account": alert_account(incident),
        "action_status": action_status(incident),
    }
    return {name: {"DataType": "String", "StringValue": value or "unknown"} for name, value in values.items()}


def _size(request: dict[str, Any]) -> int:
    attrs = sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in request["MessageAttributes"].items()
    )
    return len(request["Message"].encode()) + len(request["Subject"].encode()) + attrs


def sns_message(incident: Incident, kind: str, docs_base_url: str = DEFAULT_DOCS_BASE_URL) -> dict[str, Any]:
    """Keyword arguments for `sns.publish` (all but TopicArn), within SNS's limits."""
    text = email_text(incident, kind, docs_base_url)  # also rejects an unknown kind
    line = subject(incident)
    default = sanitise(
        f"{line}. Incident {incident.incident_id}: {incident.event_count} failure(s) of "
        f"{redact(incident.access_key_id)}, workload {workload_name(incident)}, "
        f"action {action_status(incident)}.",
        400,
    )
    attrs = attributes(incident, kind)
    for string_cap, list_cap in _SHRINK_STEPS:
        machine = machine_payload(incident, kind, string_cap, list_cap)
        structured = {"default": default, "email": text, **{p: machine for p in MACHINE_PROTOCOLS}}
        request = {
            "Subject": line,
            "Message": json.dumps(structured),
            "MessageStructure": "json",
            "MessageAttributes": attrs,
        }
        if _size(request) <= MAX_PUBLISH_BYTES:
            return request
    raise ValueError(f"incident {incident.incident_id} does not fit in one SNS message even when shrunk")
