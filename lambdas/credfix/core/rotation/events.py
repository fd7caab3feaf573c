"""The Secrets Manager events the rotation watch takes, checked, down to which secret changed.

Three kinds arrive (infra/rotation.py routes them; docs/rotation.md cites AWS for each):
- `Secret Label Updated`, published by Secrets Manager itself when a staging label moves
  (`detail.name`, `detail.labelUpdated`, `detail.versionId`; the ARN in `resources`);
- `AWS API Call via CloudTrail` for PutSecretValue, UpdateSecretVersionStage and
  RotateSecret: successful, authenticated calls, the secret in `responseElements.arn`
  (spelled `aRN` before February 2024) or `requestParameters.secretId`;
- `AWS Service Event via CloudTrail` for RotationSucceeded, the secret in
  `additionalEventData.SecretId` (or `serviceEventDetails.secretId`, as one sample has it).

Only AWS can put an `aws.*` source on a bus, so the `account` and the records are AWS's. The
checks: the source and `eventSource` are Secrets Manager's, the event is of one of those
kinds, the call succeeded, the caller's identity belongs to the event's account (a caller of
another account through a resource policy is refused), and a secret ARN, when given, is of
that account and region. What comes out is only which secret to look at: credfix then reads
the truth from Secrets Manager, and every target from the account's configuration.
"""

from __future__ import annotations

import re
from typing import Any

from credfix.arns import arn_parts
from credfix.models.rotation import RotationSignal

SOURCE = "aws.secretsmanager"
EVENT_SOURCE = "secretsmanager.amazonaws.com"
LABEL_UPDATED = "Secret Label Updated"
API_CALL = "AWS API Call via CloudTrail"
SERVICE_EVENT = "AWS Service Event via CloudTrail"
API_CALLS = ("PutSecretValue", "UpdateSecretVersionStage", "RotateSecret")
SERVICE_EVENTS = ("RotationSucceeded",)
CURRENT = "AWSCURRENT"
MAX_REF = 2048
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class Refused(Exception):
    """An event the watch does not take; the message is the reason (kept with it in the DLQ)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _checked_ref(ref: str | None, account: str, region: str) -> str:
    if ref is None:
        raise Refused("the event names no secret")
    ref = ref.strip()
    if len(ref) > MAX_REF:
        raise Refused("the secret reference is longer than any secret name or ARN")
    if ref.startswith("arn:"):
        parts = arn_parts(ref)
        if len(parts) != 6 or parts[2] != "secretsmanager" or not parts[5].startswith("secret:"):
            raise Refused("the secret reference is an ARN but not a secret's")
        if parts[4] != account:
            raise Refused(f"the event names a secret of account {parts[4]}, not of its own account {account}")
        if parts[3] != region:
            raise Refused(f"the event names a secret in {parts[3]}, not in its own region {region}")
    return ref


def _caller_is_the_accounts(detail: dict[str, Any], account: str) -> None:
    identity = _dict(detail.get("userIdentity"))
    caller = _text(identity.get("accountId"))
    if caller != account:
        raise Refused(f"the caller's identity belongs to account {caller or '(none)'}, not {account}")
    recipient = _text(detail.get("recipientAccountId"))
    if recipient is not None and recipient != account:
        raise Refused(f"the record was delivered to account {recipient}, not {account}")


def signal_of(event: Any) -> RotationSignal:
    """Which secret the event says changed, or Refused with the reason."""
    if not isinstance(event, dict):
        raise Refused("not an EventBridge event (a JSON object)")
    if event.get("source") != SOURCE:
        raise Refused(f"source {str(event.get('source'))[:64]!r} is not {SOURCE}")
    account, region = _text(event.get("account")), _text(event.get("region"))
    if account is None or not _ACCOUNT.match(account):
        raise Refused("the event has no 12-digit account")
    if region is None or not _REGION.match(region):
        raise Refused("the event has no region")
    kind = event.get("detail-type")
    detail = _dict(event.get("detail"))
    event_id = str(event.get("id") or "")[:128]

    if kind == LABEL_UPDATED:
        label = detail.get("labelUpdated")
        if label != CURRENT:
            raise Refused(f"label {str(label)[:64]!r} moved, not {CURRENT}: the active value did not change")
        resources = [r for r in event.get("resources") or [] if isinstance(r, str)]
        ref = next((r for r in resources if ":secretsmanager:" in r), None) or _text(detail.get("name"))
        return RotationSignal(
            account, region, _checked_ref(ref, account, region), f"{LABEL_UPDATED} ({CURRENT})", event_id
        )

    if kind not in (API_CALL, SERVICE_EVENT):
        raise Refused(f"detail-type {str(kind)[:64]!r} is not one the rotation watch takes")
    if detail.get("eventSource") != EVENT_SOURCE:
        raise Refused(f"eventSource {str(detail.get('eventSource'))[:64]!r} is not {EVENT_SOURCE}")
    name = detail.get("eventName")
    if detail.get("errorCode") is not None:
        raise Refused(f"{str(name)[:64]} failed ({str(detail.get('errorCode'))[:64]}): nothing changed")

    if kind == API_CALL:
        if name not in API_CALLS:
            raise Refused(f"eventName {str(name)[:64]!r} does not move a version")
        _caller_is_the_accounts(detail, account)
        response = _dict(detail.get("responseElements"))
        request = _dict(detail.get("requestParameters"))
        ref = (
            _text(response.get("arn"))
            or _text(response.get("aRN"))  # before February 2024
            or _text(response.get("ARN"))
            or _text(request.get("secretId"))
        )
        return RotationSignal(account, region, _checked_ref(ref, account, region), str(name), event_id)

    if name not in SERVICE_EVENTS:
        raise Refused(f"service event {str(name)[:64]!r} is not a finished rotation")
    identity = _dict(detail.get("userIdentity"))
    if identity.get("invokedBy") != EVENT_SOURCE:
        raise Refused("the service event was not invoked by Secrets Manager")
    if _text(identity.get("accountId")) not in (None, account):
        raise Refused(f"the service event belongs to account {identity.get('accountId')}, not {account}")
    recipient = _text(detail.get("recipientAccountId"))
    if recipient is not None and recipient != account:
        raise Refused(f"the record was delivered to account {recipient}, not {account}")
    ref = _text(_dict(detail.get("additionalEventData")).get("SecretId")) or _text(
        _dict(detail.get("serviceEventDetails")).get("secretId")
    )
    return RotationSignal(account, region, _checked_ref(ref, account, region), str(name), event_id)
