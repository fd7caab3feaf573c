"""A CloudTrail record of a failed AWS call, as EventBridge delivers it.

Real records vary (see the samples in tests/events/): `accessKeyId` may be missing or
empty, `sourceIPAddress` may be IPv6, `AWS Internal` or a service name, `userAgent` is cut
at 1 KB, and new fields appear without notice. The models accept all of that and keep
only what credfix reads; `classify()` then decides, with a reason, whether a record is a
credential failure credfix should count.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from credfix.keys import is_access_key_id

DETAIL_TYPE = "AWS API Call via CloudTrail"

# DESIGN.md §1: the errors AWS returns when it does not recognise the credential itself.
CREDENTIAL_ERRORS: tuple[str, ...] = (
    "InvalidClientTokenId",  # IAM, STS and the other query-protocol services
    "UnrecognizedClientException",  # JSON-protocol services
    "AuthFailure",  # EC2
    "Client.AuthFailure",  # EC2, as some SDKs report it
    "InvalidAccessKeyId",  # S3
    "SignatureDoesNotMatch",  # key ID known, secret wrong: a half-done rollout
)
# Expired STS sessions: routine for SDKs that refresh on failure, so opt-in (config).
TEMPORARY_CREDENTIAL_ERRORS: tuple[str, ...] = ("ExpiredToken",)

MAX_TEXT = 1024  # CloudTrail cuts userAgent at 1 KB; nothing longer is kept from any field


def _clip(value: Any) -> Any:
    return value[:MAX_TEXT] if isinstance(value, str) else value


class _Lenient(BaseModel):
    """Unknown fields are ignored (AWS adds them); long strings are clipped, not rejected."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SessionIssuer(_Lenient):
    type: str | None = None
    arn: str | None = None
    account_id: str | None = Field(None, alias="accountId")
    user_name: str | None = Field(None, alias="userName")

    _clip = field_validator("*", mode="before")(lambda v: _clip(v))


class SessionContext(_Lenient):
    session_issuer: SessionIssuer | None = Field(None, alias="sessionIssuer")


class UserIdentity(_Lenient):
    type: str | None = None
    principal_id: str | None = Field(None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(None, alias="accountId")
    access_key_id: str | None = Field(None, alias="accessKeyId")
    user_name: str | None = Field(None, alias="userName")
    session_context: SessionContext | None = Field(None, alias="sessionContext")

    _clip = field_validator("type", "principal_id", "arn", "account_id", "user_name", mode="before")(
        lambda v: _clip(v)
    )


class CloudTrailDetail(_Lenient):
    event_version: str | None = Field(None, alias="eventVersion")
    user_identity: UserIdentity = Field(default_factory=UserIdentity, alias="userIdentity")
    event_time: datetime = Field(alias="eventTime")
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    aws_region: str = Field(alias="awsRegion")
    source_ip_address: str | None = Field(None, alias="sourceIPAddress")
    user_agent: str | None = Field(None, alias="userAgent")
    error_code: str | None = Field(None, alias="errorCode")
    error_message: str | None = Field(None, alias="errorMessage")
    request_id: str | None = Field(None, alias="requestID")
    event_id: str | None = Field(None, alias="eventID")
    recipient_account_id: str | None = Field(None, alias="recipientAccountId")
    vpc_endpoint_id: str | None = Field(None, alias="vpcEndpointId")

    _clip = field_validator(
        "event_source",
        "event_name",
        "aws_region",
        "source_ip_address",
        "user_agent",
        "error_code",
        "error_message",
        "request_id",
        "event_id",
        "recipient_account_id",
        "vpc_endpoint_id",
        mode="before",
    )(lambda v: _clip(v))

    @field_validator("event_time", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """CloudTrail times are UTC; a time without a zone (hand-made or replayed records) is
        read as UTC, so that all times of a batch stay comparable."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class CloudTrailEvent(EventBridgeModel):
    """The EventBridge event wrapping one CloudTrail record."""

    # Always present from AWS; moto's EventBridge leaves it out. detail.recipientAccountId says the same.
    account: str | None = None  # type: ignore[assignment]
    detail: CloudTrailDetail


class Rejected(Exception):
    """A record credfix will never count: the reason goes with it to the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def source_ip_kind(value: str | None) -> str:
    """`ipv4`, `ipv6`, or what else CloudTrail puts there (`AWS Internal`, `ec2.amazonaws.com`)."""
    if not value:
        return "missing"
    try:
        return f"ipv{ipaddress.ip_address(value).version}"
    except ValueError:
        return "aws-service" if value.endswith(".amazonaws.com") or value == "AWS Internal" else "other"


def parse_event(raw: Any, *, accepted_errors: tuple[str, ...] = CREDENTIAL_ERRORS) -> CloudTrailEvent:
    """Validate one EventBridge event; raise `Rejected` with a one-line reason otherwise."""
    if not isinstance(raw, dict):
        raise Rejected(f"not a JSON object ({type(raw).__name__})")
    if raw.get("detail-type") != DETAIL_TYPE:
        raise Rejected(f"detail-type is not {DETAIL_TYPE!r}")
    source = raw.get("source")
    # Only AWS can put `aws.*` sources on a bus; anything else is not a CloudTrail record.
    if not isinstance(source, str) or not source.startswith("aws."):
        raise Rejected("source is not an aws.* service")
    try:
        event = CloudTrailEvent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Rejected(f"invalid CloudTrail record: {where}: {first['msg']}") from None
    detail = event.detail
    if detail.error_code not in accepted_errors:
        raise Rejected(f"errorCode {str(detail.error_code)[:64]!r} is not a credential failure")
    key = detail.user_identity.access_key_id
    if not key:
        raise Rejected("no userIdentity.accessKeyId: the failing credential cannot be identified")
    if not is_access_key_id(key):
        raise Rejected("userIdentity.accessKeyId does not have the shape of an access key ID")
    return event
