"""A CloudTrail record of a failed AWS call, as EventBridge delivers it.

Real records vary (see the samples in tests/events/): `accessKeyId` may be missing or
empty, `sourceIPAddress` may be IPv6, `AWS Internal` or a service name, `userAgent` is cut
at 1 KB, and new fields appear without notice. The models accept all of that and keep
only what credfix reads; `parse_event`/`parse_body` then decide, with a reason, whether a
record is a credential failure credfix should count.

Cost matters here: ingest parses every record of a storm. `parse_body` validates the JSON
text in one pass (pydantic-core parses it in Rust and skips the fields credfix does not
read); only a record that fails that pass (bad JSON, a wrong type, text over 1 KB) takes the
slower path through `json.loads` and `parse_event`, which clips long text and words the
rejection. Both paths give the same result for the same record. The models do not import
the Powertools parser package (about 40 ms of cold start for one base class).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

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

# Free text credfix keeps. Longer values are clipped, not rejected: the limit makes the
# one-pass parse fail over to `parse_event`, which clips them before validating (see _clip_raw).
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class _Lenient(BaseModel):
    """Unknown fields are ignored (AWS adds them)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SessionIssuer(_Lenient):
    type: Text | None = None
    arn: Text | None = None
    account_id: Text | None = Field(None, alias="accountId")
    user_name: Text | None = Field(None, alias="userName")


class SessionContext(_Lenient):
    session_issuer: SessionIssuer | None = Field(None, alias="sessionIssuer")


class UserIdentity(_Lenient):
    type: Text | None = None
    principal_id: Text | None = Field(None, alias="principalId")
    arn: Text | None = None
    account_id: Text | None = Field(None, alias="accountId")
    # Not clipped: anything longer than a key ID is rejected for its shape.
    access_key_id: str | None = Field(None, alias="accessKeyId")
    user_name: Text | None = Field(None, alias="userName")
    session_context: SessionContext | None = Field(None, alias="sessionContext")


class CloudTrailDetail(_Lenient):
    event_version: str | None = Field(None, alias="eventVersion")
    user_identity: UserIdentity = Field(default_factory=UserIdentity, alias="userIdentity")
    event_time: datetime = Field(alias="eventTime")
    event_source: Text = Field(alias="eventSource")
    event_name: Text = Field(alias="eventName")
    aws_region: Text = Field(alias="awsRegion")
    source_ip_address: Text | None = Field(None, alias="sourceIPAddress")
    user_agent: Text | None = Field(None, alias="userAgent")
    error_code: Text | None = Field(None, alias="errorCode")
    error_message: Text | None = Field(None, alias="errorMessage")
    request_id: Text | None = Field(None, alias="requestID")
    event_id: Text | None = Field(None, alias="eventID")
    recipient_account_id: Text | None = Field(None, alias="recipientAccountId")
    vpc_endpoint_id: Text | None = Field(None, alias="vpcEndpointId")

    @field_validator("event_time", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """CloudTrail times are UTC; a time without a zone (hand-made or replayed records) is
        read as UTC, so that all times of a batch stay comparable."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class CloudTrailEvent(BaseModel):
    """The EventBridge event wrapping one CloudTrail record (the fields of Powertools'
    EventBridgeModel, validated the same way, without importing its parser package)."""

    model_config = ConfigDict(extra="ignore")

    version: str
    id: str
    source: str
    # Always present from AWS; moto's EventBridge leaves it out. detail.recipientAccountId says the same.
    account: str | None = None
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: CloudTrailDetail
    replay_name: str | None = Field(None, alias="replay-name")


_validate_json = CloudTrailEvent.__pydantic_validator__.validate_json


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


# The clipped fields of each model, by alias and by field name (the models populate by either).
_ISSUER_TEXT = ("type", "arn", "accountId", "account_id", "userName", "user_name")
_IDENTITY_TEXT = (
    "type",
    "principalId",
    "principal_id",
    "arn",
    "accountId",
    "account_id",
    "userName",
    "user_name",
)
_DETAIL_TEXT = (
    "eventSource", "event_source", "eventName", "event_name", "awsRegion", "aws_region",
    "sourceIPAddress", "source_ip_address", "userAgent", "user_agent", "errorCode", "error_code",
    "errorMessage", "error_message", "requestID", "request_id", "eventID", "event_id",
    "recipientAccountId", "recipient_account_id", "vpcEndpointId", "vpc_endpoint_id",
)  # fmt: skip


def _clipped(obj: Any, keys: tuple[str, ...]) -> Any:
    """A copy of `obj` with the long strings under `keys` cut to MAX_TEXT (obj is not changed)."""
    if not isinstance(obj, dict) or not any(
        isinstance(obj.get(k), str) and len(obj[k]) > MAX_TEXT for k in keys
    ):
        return obj
    return {k: v[:MAX_TEXT] if k in keys and isinstance(v, str) else v for k, v in obj.items()}


def _nested(obj: Any, key: str, alias: str, fix: Any) -> Any:
    """`obj` with its child under `alias` (or the field name `key`) replaced by fix(child)."""
    if not isinstance(obj, dict):
        return obj
    changes = {k: fixed for k in (alias, key) if k in obj and (fixed := fix(obj[k])) is not obj[k]}
    return {**obj, **changes} if changes else obj


def _clip_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """Long free text is clipped, not rejected (CloudTrail itself cuts userAgent at 1 KB)."""

    def issuer(v: Any) -> Any:
        return _clipped(v, _ISSUER_TEXT)

    def context(v: Any) -> Any:
        return _nested(v, "session_issuer", "sessionIssuer", issuer)

    def identity(v: Any) -> Any:
        return _nested(_clipped(v, _IDENTITY_TEXT), "session_context", "sessionContext", context)

    def detail(v: Any) -> Any:
        return _nested(_clipped(v, _DETAIL_TEXT), "user_identity", "userIdentity", identity)

    return {**raw, "detail": detail(raw["detail"])} if "detail" in raw else raw


def _checked(event: CloudTrailEvent, accepted_errors: tuple[str, ...]) -> CloudTrailEvent:
    detail = event.detail
    if detail.error_code not in accepted_errors:
        raise Rejected(f"errorCode {str(detail.error_code)[:64]!r} is not a credential failure")
    key = detail.user_identity.access_key_id
    if not key:
        raise Rejected("no userIdentity.accessKeyId: the failing credential cannot be identified")
    if not is_access_key_id(key):
        raise Rejected("userIdentity.accessKeyId does not have the shape of an access key ID")
    return event


def _not_cloudtrail(detail_type: Any, source: Any) -> str | None:
    if detail_type != DETAIL_TYPE:
        return f"detail-type is not {DETAIL_TYPE!r}"
    # Only AWS can put `aws.*` sources on a bus; anything else is not a CloudTrail record.
    if not isinstance(source, str) or not source.startswith("aws."):
        return "source is not an aws.* service"
    return None


def parse_event(raw: Any, *, accepted_errors: tuple[str, ...] = CREDENTIAL_ERRORS) -> CloudTrailEvent:
    """Validate one EventBridge event; raise `Rejected` with a one-line reason otherwise."""
    if not isinstance(raw, dict):
        raise Rejected(f"not a JSON object ({type(raw).__name__})")
    reason = _not_cloudtrail(raw.get("detail-type"), raw.get("source"))
    if reason:
        raise Rejected(reason)
    try:
        event = CloudTrailEvent.model_validate(_clip_raw(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Rejected(f"invalid CloudTrail record: {where}: {first['msg']}") from None
    return _checked(event, accepted_errors)


def parse_body(body: str, *, accepted_errors: tuple[str, ...] = CREDENTIAL_ERRORS) -> CloudTrailEvent:
    """`parse_event(json.loads(body))`, in one pass for a well-formed record; raise `Rejected`
    ("body is not JSON" for text that is not JSON) otherwise."""
    try:
        # The model's own validator: model_validate_json's wrapper costs ~10 % on a storm.
        event: CloudTrailEvent = _validate_json(body)
    except ValidationError:
        # Not JSON, not valid, or text to clip: the slow path clips and words the reason.
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):  # nesting deeper than the parser's stack is not JSON to us
            raise Rejected("body is not JSON") from None
        return parse_event(raw, accepted_errors=accepted_errors)
    reason = _not_cloudtrail(event.detail_type, event.source)
    if reason:
        raise Rejected(reason)
    return _checked(event, accepted_errors)
