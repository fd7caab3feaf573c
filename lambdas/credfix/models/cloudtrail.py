"""A CloudTrail record of a failed AWS call, as EventBridge delivers it: one schema, and the
`Failure` (credfix.models.observation) each accepted record becomes.

Real records vary (see the samples in tests/events/): `accessKeyId` may be missing or
empty, `sourceIPAddress` may be IPv6, `AWS Internal` or a service name, `userAgent` is cut
at 1 KB, and new fields appear without notice. The schema, TypedDicts validated by
pydantic-core, accepts all of that and keeps only what credfix reads (by CloudTrail's own
field names); `classify` then decides, with a reason, whether a record is a credential
failure credfix should count.

Ingest validates a body's JSON text into the schema in one pass (about half the CPU of
building model instances); only a record that fails that pass (bad JSON, a wrong type, text
over 1 KB) takes the slow path through `json.loads`, which clips long text and words the
rejection. The CLI and the tests parse with the same schema (`parse_failure`). Neither
imports the Powertools parser package (about 40 ms of cold start for one base class).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Container
from datetime import UTC, datetime
from typing import Annotated, Any, NotRequired

from pydantic import (
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from credfix.keys import is_access_key_id
from credfix.models.observation import Failure

DETAIL_TYPE = "AWS API Call via CloudTrail"

# DESIGN.md §1: the errors AWS returns when it does not recognise the credential itself.
CREDENTIAL_ERRORS: tuple[str, ...] = (
    "InvalidClientTokenId",  # IAM, STS and the other query-protocol services
    "UnrecognizedClientException",  # JSON-protocol services
    "AuthFailure",  # EC2
    "Client.AuthFailure",  # EC2, as some SDKs report it
    "InvalidAccessKeyId",  # S3
    "SignatureDoesNotMatch",  # key ID known, secret wrong: a half-done rollout
    "InvalidSignatureException",  # the same, as JSON-protocol services (Lambda, DynamoDB, ...) say it
)
# Expired STS sessions: routine for SDKs that refresh on failure, so opt-in (config). Query
# services say ExpiredToken, JSON-protocol services (DynamoDB, Lambda, Kinesis) ExpiredTokenException.
TEMPORARY_CREDENTIAL_ERRORS: tuple[str, ...] = ("ExpiredToken", "ExpiredTokenException")

# CloudTrail Insights events (unusual call or error rates) look like records but describe no call.
INSIGHT_DETAIL_TYPE = "AWS Insight via CloudTrail"
INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"
INSIGHT_REASON = (
    "a CloudTrail Insights event (an unusual rate of calls or errors), not the record of a failed "
    "call: credfix counts failed calls"
)

# Codes whose errorMessage says whether the credential is the cause (docs/detection.md):
# EC2 answers AuthFailure for permissions too ("Not authorized for images: [ami-…]"), and a
# signature outside AWS's time window is clock skew, not a wrong secret.
AUTH_FAILURE_CODES = frozenset({"AuthFailure", "Client.AuthFailure"})
SIGNATURE_CODES = frozenset({"SignatureDoesNotMatch", "InvalidSignatureException"})
MESSAGE_DEPENDENT_CODES = AUTH_FAILURE_CODES | SIGNATURE_CODES
CREDENTIAL_AUTH_FAILURE = "not able to validate the provided access credentials"
CLOCK_SKEW = ("Signature expired:", "Signature not yet current:")
NOT_THE_CREDENTIAL = "errorMessage shows a non-credential cause: "
PERMISSION_AUTH_FAILURE = (
    NOT_THE_CREDENTIAL + "EC2 answered AuthFailure for a permission or resource, not for the credential (it "
    "says 'AWS was not able to validate the provided access credentials' when the credential is the cause)"
)
CLOCK_SKEW_REASON = (
    NOT_THE_CREDENTIAL + "the request was signed outside AWS's time window (clock skew), not with a wrong "
    "key or secret"
)

MAX_TEXT = 1024  # CloudTrail cuts userAgent at 1 KB; nothing longer is kept from any field

# Free text credfix keeps. Longer values are clipped, not rejected: the limit makes the
# one-pass parse fail over to the slow path, which clips them before validating (see _clip_raw).
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


# --- The schema: CloudTrail's field names, keys present only when the record has them.


class SessionIssuerFields(TypedDict):
    type: NotRequired[Text | None]
    arn: NotRequired[Text | None]
    accountId: NotRequired[Text | None]
    userName: NotRequired[Text | None]


class SessionContextFields(TypedDict):
    sessionIssuer: NotRequired[SessionIssuerFields | None]


class UserIdentityFields(TypedDict):
    type: NotRequired[Text | None]
    principalId: NotRequired[Text | None]
    arn: NotRequired[Text | None]
    accountId: NotRequired[Text | None]
    accessKeyId: NotRequired[str | None]
    userName: NotRequired[Text | None]
    sessionContext: NotRequired[SessionContextFields | None]


class DetailFields(TypedDict):
    eventVersion: NotRequired[str | None]
    userIdentity: NotRequired[UserIdentityFields]
    eventTime: datetime  # as sent: read it with as_utc()
    eventSource: Text
    eventName: Text
    awsRegion: Text
    sourceIPAddress: NotRequired[Text | None]
    userAgent: NotRequired[Text | None]
    errorCode: NotRequired[Text | None]
    errorMessage: NotRequired[Text | None]
    requestID: NotRequired[Text | None]
    eventID: NotRequired[Text | None]
    recipientAccountId: NotRequired[Text | None]
    vpcEndpointId: NotRequired[Text | None]


CloudTrailRecord = TypedDict(
    "CloudTrailRecord",
    {
        "version": str,
        "id": str,
        "source": str,
        "account": NotRequired[str | None],
        "time": datetime,
        "region": str,
        "resources": list[str],
        "detail-type": str,
        "detail": DetailFields,
        "replay-name": NotRequired[str | None],
    },
)

_records = TypeAdapter(CloudTrailRecord)
# The validator itself: TypeAdapter's wrappers cost several % on a storm.
validate_record_json = _records.validator.validate_json
_validate_record = _records.validator.validate_python


def as_utc(value: datetime) -> datetime:
    """CloudTrail times are UTC: a time without a zone is read as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


# The clipped fields of each object, by CloudTrail's names.
_ISSUER_TEXT = ("type", "arn", "accountId", "userName")
_IDENTITY_TEXT = ("type", "principalId", "arn", "accountId", "userName")
_DETAIL_TEXT = (
    "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode",
    "errorMessage", "requestID", "eventID", "recipientAccountId", "vpcEndpointId",
)  # fmt: skip


def _clipped(obj: Any, keys: tuple[str, ...]) -> Any:
    """A copy of `obj` with the long strings under `keys` cut to MAX_TEXT (obj is not changed)."""
    if not isinstance(obj, dict) or not any(
        isinstance(obj.get(k), str) and len(obj[k]) > MAX_TEXT for k in keys
    ):
        return obj
    return {k: v[:MAX_TEXT] if k in keys and isinstance(v, str) else v for k, v in obj.items()}


def _nested(obj: Any, key: str, fix: Any) -> Any:
    """`obj` with its child under `key` replaced by fix(child)."""
    if not isinstance(obj, dict) or key not in obj:
        return obj
    fixed = fix(obj[key])
    return obj if fixed is obj[key] else {**obj, key: fixed}


def _clip_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """Long free text is clipped, not rejected (CloudTrail itself cuts userAgent at 1 KB)."""

    def issuer(v: Any) -> Any:
        return _clipped(v, _ISSUER_TEXT)

    def context(v: Any) -> Any:
        return _nested(v, "sessionIssuer", issuer)

    def identity(v: Any) -> Any:
        return _nested(_clipped(v, _IDENTITY_TEXT), "sessionContext", context)

    def detail(v: Any) -> Any:
        return _nested(_clipped(v, _DETAIL_TEXT), "userIdentity", identity)

    return _nested(raw, "detail", detail)


def non_credential_cause(error_code: str | None, message: str | None) -> str | None:
    """Why an accepted code's errorMessage shows the credential is not the cause, or None (a
    missing message, or one that only repeats the code, tells nothing: the code stands)."""
    if not message or message == error_code or error_code not in MESSAGE_DEPENDENT_CODES:
        return None
    if error_code in AUTH_FAILURE_CODES:
        return None if CREDENTIAL_AUTH_FAILURE in message else PERMISSION_AUTH_FAILURE
    return CLOCK_SKEW_REASON if message.startswith(CLOCK_SKEW) else None


def is_insight(raw: Any) -> bool:
    """A CloudTrail Insights event, as EventBridge delivers it or as a trail's log file holds it."""
    if not isinstance(raw, dict):
        return False
    return raw.get("detail-type") == INSIGHT_DETAIL_TYPE or raw.get("eventType") == INSIGHT_EVENT_TYPE


def _not_cloudtrail(detail_type: Any, source: Any) -> str | None:
    if detail_type == INSIGHT_DETAIL_TYPE:
        return INSIGHT_REASON
    if detail_type != DETAIL_TYPE:
        return f"detail-type is not {DETAIL_TYPE!r}"
    # Only AWS can put `aws.*` sources on a bus; anything else is not a CloudTrail record.
    if not isinstance(source, str) or not source.startswith("aws."):
        return "source is not an aws.* service"
    return None


def _not_counted(
    error_code: str | None,
    access_key_id: str | None,
    accepted_errors: Container[str],
    error_message: str | None = None,
) -> str | None:
    if error_code not in accepted_errors:
        return f"errorCode {str(error_code)[:64]!r} is not a credential failure"
    cause = non_credential_cause(error_code, error_message)
    if cause:
        return cause
    if not access_key_id:
        return "no userIdentity.accessKeyId: the failing credential cannot be identified"
    if not is_access_key_id(access_key_id):
        return "userIdentity.accessKeyId does not have the shape of an access key ID"
    return None


def classify(record: CloudTrailRecord, accepted_errors: Container[str] = CREDENTIAL_ERRORS) -> str | None:
    """Why a validated record is not counted, or None when it is a credential failure to count."""
    reason = _not_cloudtrail(record["detail-type"], record["source"])
    if reason:
        return reason
    detail = record["detail"]
    identity = detail.get("userIdentity")
    return _not_counted(
        detail.get("errorCode"),
        identity.get("accessKeyId") if identity else None,
        accepted_errors,
        detail.get("errorMessage"),
    )


def _invalid(exc: ValidationError) -> Rejected:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return Rejected(f"invalid CloudTrail record: {where}: {first['msg']}")


def _checked_raw(raw: Any) -> dict[str, Any]:
    """What both parses check before validating: an object, from CloudTrail (clipped copy)."""
    if not isinstance(raw, dict):
        raise Rejected(f"not a JSON object ({type(raw).__name__})")
    if is_insight(raw):
        raise Rejected(INSIGHT_REASON)
    reason = _not_cloudtrail(raw.get("detail-type"), raw.get("source"))
    if reason:
        raise Rejected(reason)
    return _clip_raw(raw)


def read_record(raw: Any) -> CloudTrailRecord:
    """`raw` (json.loads of a body, or a record a file holds) validated into the schema, or
    `Rejected` with the reason: the slow path of a body the one-pass parse refused."""
    try:
        record: CloudTrailRecord = _validate_record(_checked_raw(raw))
    except ValidationError as exc:
        raise _invalid(exc) from None
    return record


def read_body(body: str) -> CloudTrailRecord:
    """An SQS body validated into a CloudTrailRecord (not yet classified), in one pass for a
    well-formed record; `Rejected` ("body is not JSON" for text that is not JSON) otherwise."""
    try:
        record: CloudTrailRecord = validate_record_json(body)
        return record
    except ValidationError:
        # Not JSON, not valid, or text to clip: the slow path clips and words the reason.
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):  # nesting deeper than the parser's stack is not JSON to us
            raise Rejected("body is not JSON") from None
        return read_record(raw)


def parse_body(body: str, *, accepted_errors: Container[str] = CREDENTIAL_ERRORS) -> CloudTrailRecord:
    """`parse_failure(json.loads(body))`'s verdict for an SQS body, as a CloudTrailRecord
    (eventTime as sent; `as_utc` reads it); raise `Rejected` with the same reason otherwise."""
    record = read_body(body)
    reason = classify(record, accepted_errors)
    if reason:
        raise Rejected(reason)
    return record


def session_issuer(identity: UserIdentityFields | None) -> str | None:
    """The role behind a session credential: `sessionContext.sessionIssuer.arn`, else the role
    named in an assumed-role ARN (arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION)."""
    if not identity:
        return None
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if context else None
    if issuer and issuer.get("arn"):
        return issuer["arn"]
    parts = (identity.get("arn") or "").split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return None


def to_failure(record: CloudTrailRecord, ref: str) -> Failure:
    """The Failure a classified record is (classify() has checked the key ID)."""
    detail = record["detail"]
    identity = detail.get("userIdentity")
    return Failure(
        (identity.get("accessKeyId") if identity else None) or "",
        detail.get("sourceIPAddress"),
        detail.get("userAgent"),
        detail.get("errorCode"),
        detail["awsRegion"],
        detail["eventSource"],
        detail.get("recipientAccountId") or record.get("account") or "unknown",
        session_issuer(identity),
        detail.get("vpcEndpointId"),
        "cloudtrail",
        None,
        as_utc(detail["eventTime"]),
        ref,
    )


def parse_failure(raw: Any, *, ref: str = "", accepted_errors: Container[str] = CREDENTIAL_ERRORS) -> Failure:
    """One EventBridge event (a parsed JSON object) as a Failure; `Rejected` with a one-line
    reason otherwise. `ref` defaults to the event's id."""
    record = read_record(raw)
    reason = classify(record, accepted_errors)
    if reason:
        raise Rejected(reason)
    return to_failure(record, ref or str(record.get("id", "")))
