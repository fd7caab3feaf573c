"""A workload's own log lines as a signal: the CloudWatch Logs subscription payload (what the
account's subscription filter policy delivers), the lines credfix recognises as a credential
failure printed by an AWS SDK or the AWS CLI, and the workload a log group and stream name.

Every SDK prints the error AWS answered, in its own shape (docs/detection.md lists them):
botocore and the AWS CLI `An error occurred (Code) when calling the Op operation: Message`,
the Go SDK v2 `operation error Svc: Op, … api error Code: Message`, the JavaScript SDK v3
`Code: Message` above its stack, the Java SDK v2 only the message with `(Service: Svc, Status
Code: N, Request ID: …)`, and debug output the raw XML or JSON body. A line is recognised
only in one of those shapes (a code named in passing is not a failure), and only for the
codes CloudTrail's rule counts; the messages that show another cause (EC2's AuthFailure for a
permission, clock skew) are refused as they are for CloudTrail records.

Most error lines carry no key ID. A full one appears only where an SDK prints it: the SigV4
`Credential=AKIA…/date/region/service/aws4_request` of a debug log, S3's
`<AWSAccessKeyId>` element, the JavaScript SDK's `AWSAccessKeyId: '…'` property. A masked
one (`AKIA…WXYZ`, `ASIA************3DGO`) is kept as a hint, never as a key.

Pure functions and types: the intake (credfix.core.logs) turns recognised lines into
`Failure`s, and `credfix diagnose` reads the same payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from credfix.keys import partition_of_region, workload_subject
from credfix.models.cloudtrail import Rejected, non_credential_cause
from credfix.models.pod_logs import pod_from_log_stream

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"
CONTROL_REASON = "CONTROL_MESSAGE: CloudWatch Logs checking that the destination is reachable, no log lines"
MAX_DECODED_BYTES = 16 * 1024 * 1024  # a payload is at most 1 MB compressed; no gzip bomb gets past this
# Long events (a multi-line traceback in one event): the SDK's line is at the top (the Lambda
# runtime's `[ERROR] ClientError: …`) or at the bottom (Python's last traceback line).
HEAD, TAIL = 12_288, 4_096


class LogEventFields(TypedDict):
    id: str
    timestamp: int  # milliseconds since the epoch
    message: str


class LogsPayload(TypedDict):
    messageType: str
    owner: str
    logGroup: str
    logStream: str
    logEvents: list[LogEventFields]


_payload = TypeAdapter(LogsPayload)
_validate_json = _payload.validator.validate_json
_validate_python = _payload.validator.validate_python


def _invalid(exc: ValidationError) -> Rejected:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return Rejected(f"invalid CloudWatch Logs payload: {where}: {first['msg']}")


def decode_awslogs(data: Any) -> bytes:
    """`awslogs.data` as Lambda receives it: base64 of gzip of the JSON payload."""
    if not isinstance(data, str):
        raise Rejected("awslogs.data is not text")
    try:
        packed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("awslogs.data is not base64") from None
    inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # gzip framing
    try:
        text = inflate.decompress(packed, MAX_DECODED_BYTES)
    except zlib.error:
        raise Rejected("awslogs.data is not gzip-compressed") from None
    if inflate.unconsumed_tail:
        raise Rejected(f"awslogs.data decompresses to more than {MAX_DECODED_BYTES} bytes")
    return text


def read_payload(raw: Any) -> LogsPayload:
    """A payload in either shape (`{"awslogs": {"data": …}}` as Lambda receives it, or the
    decoded object), validated; `Rejected` with the reason otherwise."""
    try:
        if isinstance(raw, dict) and "awslogs" in raw:
            awslogs = raw["awslogs"]
            data = awslogs.get("data") if isinstance(awslogs, dict) else None
            payload: LogsPayload = _validate_json(decode_awslogs(data))
        else:
            if not isinstance(raw, dict):
                raise Rejected(f"not a JSON object ({type(raw).__name__})")
            payload = _validate_python(raw)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if payload["messageType"] == CONTROL_MESSAGE:
        raise Rejected(CONTROL_REASON)
    if payload["messageType"] != DATA_MESSAGE:
        raise Rejected(f"messageType {payload['messageType'][:40]!r} is not {DATA_MESSAGE}")
    return payload


def is_payload(raw: Any) -> bool:
    """Whether a JSON document is a subscription payload (either shape), for `credfix diagnose`."""
    return isinstance(raw, dict) and ("awslogs" in raw or ("messageType" in raw and "logEvents" in raw))


# --- Recognising a line ------------------------------------------------------------------

_CODES = (
    "ExpiredTokenException|InvalidSignatureException|InvalidClientTokenId|UnrecognizedClientException"
    "|Client\\.AuthFailure|AuthFailure|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken"
)
# AWS's own wording of each credential failure (the Java SDK v2 prints only this).
TOKEN_INVALID = "The security token included in the request is invalid"  # noqa: S105 (AWS's wording)
TOKEN_EXPIRED = "The security token included in the request is expired"  # noqa: S105
S3_TOKEN_EXPIRED = "The provided token has expired"  # noqa: S105
AUTH_FAILURE = "AWS was not able to validate the provided access credentials"
KEY_ID_UNKNOWN = "The AWS Access Key Id you provided does not exist in our records"
SIGNATURE = "The request signature we calculated does not match the signature you provided"
AWS_MESSAGES = (TOKEN_INVALID, TOKEN_EXPIRED, S3_TOKEN_EXPIRED, AUTH_FAILURE, KEY_ID_UNKNOWN, SIGNATURE)
_MESSAGES = "|".join(re.escape(m) for m in AWS_MESSAGES)

# One regular expression per shape, each tried only where its literal anchor occurs (str.find
# is a C scan; an alternation of all shapes tried at every position of a long line was 3 x
# slower on a flood: docs/performance.md).
_BOTO = re.compile(  # botocore and the AWS CLI (old CLIs: "A client error (Code) occurred when calling …")
    rf"(?:An error occurred|A client error) \((?P<code>{_CODES})\)(?: occurred)? when calling the "
    rf"(?P<op>\w{{1,100}}) operation[^:\n]{{0,60}}: (?P<msg>[^\n]{{0,600}})"
)
_GO = re.compile(rf"api error (?P<code>{_CODES}): (?P<msg>[^\n]{{0,600}})")  # smithy-go
_JAVA = re.compile(  # Java SDK v2 (no code: the message and its service) and v1 ("; Error Code: Code;")
    rf"(?P<msg>(?P<known>{_MESSAGES})[^(\n]{{0,40}}) \(Service: (?P<svc>[^,;)\n]{{1,60}})[,;] Status Code: "
    rf"\d{{3}}[,;] (?:Error Code: (?P<code>{_CODES})[,;] )?Request ID"
)
_CODE_MESSAGE = re.compile(  # JavaScript SDK v3 (and v2, Go v1, most wrappers): "Code: Message"
    rf"\b(?P<code>{_CODES}): (?P<msg>(?:{_MESSAGES})[^\n]{{0,600}})"
)
_BODY = re.compile(  # raw bodies in debug output: XML, JSON, botocore's response dict
    rf"<Code>(?P<x>{_CODES})</Code>"
    rf"|\"__type\":\s?\"(?:[\w.]{{1,80}}#)?(?P<j>{_CODES})\""
    rf"|'Code': u?'(?P<p>{_CODES})'"
)
_BODY_MESSAGE = re.compile(
    r"<Message>(?P<x>[^<\n]{0,600})</Message>"
    r"|\"message\":\s?\"(?P<j>[^\"\n]{0,600})\""
    r"|'Message': u?'(?P<p>[^'\n]{0,600})'"
)
_SERVICE = re.compile(r"operation error (?P<svc>[A-Za-z0-9 ]{1,60}): ")
# Where an SDK prints a whole key ID: SigV4 credential scopes, S3's error body, JS SDK v3 errors.
_KEY_ID = re.compile(
    r"Credential=(?P<a>(?:AKIA|ASIA)[A-Z0-9]{16})(?:/|%2F)"
    r"|<AWSAccessKeyId>(?P<b>(?:AKIA|ASIA)[A-Z0-9]{16})</AWSAccessKeyId>"
    r"|AWSAccessKeyId['\"]?:\s?['\"](?P<c>(?:AKIA|ASIA)[A-Z0-9]{16})['\"]"
)
# A key ID someone masked (the Terraform provider's 4+12+4, an ellipsis, stars or Xs).
_MASKED_KEY = re.compile(
    r"\b(?P<head>AKIA|ASIA)(?:[A-Z0-9]{0,4})(?:…|\.{3}|\*{3,16}|X{3,16})(?P<tail>[A-Z0-9]{4})\b"
)

# Java SDK v2 service names of JSON-protocol services: they say UnrecognizedClientException,
# InvalidSignatureException and ExpiredTokenException where query and REST services say
# InvalidClientTokenId, SignatureDoesNotMatch and ExpiredToken.
JSON_SERVICES = frozenset(
    {
        "DynamoDb", "Lambda", "Kinesis", "Firehose", "Ecr", "Ecs", "CloudWatchLogs", "SecretsManager",
        "Ssm", "Kms", "Sfn", "CodeBuild", "CostExplorer", "Glue", "Athena", "EventBridge", "Ecr Public",
        "CognitoIdentityProvider", "ApplicationAutoScaling", "DirectoryService", "Organizations",
    }
)  # fmt: skip
_BY_MESSAGE: dict[str, tuple[str, str]] = {  # message -> (code for query/REST, code for JSON services)
    TOKEN_INVALID: ("InvalidClientTokenId", "UnrecognizedClientException"),
    TOKEN_EXPIRED: ("ExpiredToken", "ExpiredTokenException"),
    S3_TOKEN_EXPIRED: ("ExpiredToken", "ExpiredToken"),
    AUTH_FAILURE: ("AuthFailure", "AuthFailure"),
    KEY_ID_UNKNOWN: ("InvalidAccessKeyId", "InvalidAccessKeyId"),
    SIGNATURE: ("SignatureDoesNotMatch", "InvalidSignatureException"),
}
NO_SHAPE = "no AWS SDK or CLI error in the line (a credential error code or message mentioned in passing)"
NOT_AWS_WORDING = "the message is not AWS's wording: an S3-compatible store (MinIO, R2, Ceph…) answered"


class LineMatch(NamedTuple):
    error_code: str
    message: str
    service: str | None  # as the SDK names it (STS, Sts, DynamoDb), when the line names one
    access_key_id: str | None  # a whole key ID the line prints
    masked_key: str | None  # `AKIA…WXYZ`: a masked key ID the line prints (a hint, not a key)


def _code_of(known: str, service: str | None) -> str:
    """The code a Java SDK v2 line leaves out, from AWS's message and the service's protocol."""
    query, json_protocol = _BY_MESSAGE[known]
    return json_protocol if service in JSON_SERVICES else query


def _clip(message: str) -> str:
    return message if len(message) <= HEAD + TAIL else message[:HEAD] + "\n" + message[-TAIL:]


def _find(text: str) -> tuple[str, str, str | None] | None:
    """(code, message, service) of the first SDK shape the line holds, found by its anchor and
    matched there (never a scan of the whole line by a regular expression)."""
    for anchor, back in (("error occurred (", 3), ("client error (", 2)):
        at = text.find(anchor)
        if at >= back:
            found = _BOTO.match(text, at - back)
            if found:
                return found.group("code"), found.group("msg"), None
    at = text.find("api error ")
    if at >= 0:
        found = _GO.match(text, at)
        if found:
            op = text.rfind("operation error ", 0, at)
            named = _SERVICE.match(text, op) if op >= 0 else None
            return found.group("code"), found.group("msg"), named.group("svc") if named else None
    at = text.find("(Service: ")
    if at >= 0:
        found = _JAVA.search(text, max(0, at - 200))
        if found:
            service = found.group("svc").strip()
            return found.group("code") or _code_of(found.group("known"), service), found.group("msg"), service
    for anchor in (": The ", ": AWS was not able"):
        at = text.find(anchor)
        if at >= 0:
            found = _CODE_MESSAGE.search(text, max(0, at - 40))
            if found:
                return found.group("code"), found.group("msg"), None
    if "<Code>" in text or "__type" in text or "'Code'" in text:
        found = _BODY.search(text)
        if found:
            body = _BODY_MESSAGE.search(text)
            said = next((m for m in body.groups() if m), "") if body else ""
            return found.group("x") or found.group("j") or found.group("p"), said, None
    return None


def recognise(message: str) -> LineMatch | str:
    """The credential failure a log line shows, or why it shows none (one short reason)."""
    text = _clip(message)
    shown = _find(text)
    if shown is None:
        return NO_SHAPE
    code, said, service = shown
    said = said.strip()
    cause = non_credential_cause(code, said)
    if cause:
        return cause
    if (
        code in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
        and said
        and not (
            said.startswith(("The AWS Access Key Id", SIGNATURE, "{")) or "signature we calculated" in said
        )
    ):
        return NOT_AWS_WORDING
    key_id = masked = None
    if "AKIA" in text or "ASIA" in text:
        whole = _KEY_ID.search(text)
        if whole:
            key_id = whole.group("a") or whole.group("b") or whole.group("c")
        else:
            hidden = _MASKED_KEY.search(text)
            masked = f"{hidden.group('head')}…{hidden.group('tail')}" if hidden else None
    return LineMatch(code, said[:300], service, key_id, masked)


# The account policy's filter pattern: any of these phrases (quoted: matched as exact text), so
# that CloudWatch Logs sends only candidate lines; `recognise` then decides each line.
FILTER_TERMS = (
    "InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "InvalidSignatureException",
    "security token included in the request is invalid",
    "not able to validate the provided access credentials",
    "Access Key Id you provided does not exist", "signature we calculated does not match",
)  # fmt: skip
EXPIRED_FILTER_TERMS = (
    "ExpiredToken", "security token included in the request is expired", "provided token has expired"
)  # fmt: skip


def filter_pattern(include_expired_token: bool) -> str:
    """`?"term" ?"term" …`: a line containing any of the terms (CloudWatch Logs' OR of terms)."""
    terms = FILTER_TERMS + (EXPIRED_FILTER_TERMS if include_expired_token else ())
    return " ".join(f'?"{term}"' for term in terms)


POLICY_NAME = "credfix-runtime-log-signal"  # the account policy the stacks deploy


@dataclass(frozen=True)
class SubscriptionPolicy:
    """An account-level subscription filter policy, as `credfix doctor` reads it."""

    name: str
    destination: str
    filter_pattern: str
    selection_criteria: str


def event_source_of(service: str | None) -> str:
    """The service a line names, as CloudTrail names it (best effort), or "unknown"."""
    if not service:
        return "unknown"
    return f"{service.replace(' ', '').lower()}.amazonaws.com"


# --- From a log group and stream to the workload -----------------------------------------

WorkloadKind = Literal[
    "lambda-function", "codebuild-project", "ecs-task", "eks-pod", "ec2-instance", "log-group"
]
_LAMBDA_GROUP = re.compile(r"^/aws/lambda/(?P<name>[A-Za-z0-9_-]{1,140})$")
_CODEBUILD_GROUP = re.compile(r"^/aws/codebuild/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{1,254})$")
# awslogs: "prefix/container/task-id"; task IDs are 32 hex digits (older ones UUIDs).
_ECS_STREAM = re.compile(
    r"^(?P<prefix>.{1,512})/(?P<container>[^/]{1,255})/"
    r"(?P<task>[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
# The CloudWatch agent's default stream name is the instance ID ({instance_id}).
_INSTANCE_STREAM = re.compile(r"(?:^|/)(?P<id>i-[0-9a-f]{8}(?:[0-9a-f]{9})?)(?:$|/)")


@dataclass(frozen=True)
class LogWorkload:
    """The workload a log group and stream name, without asking AWS.

    `key` is what its incident is keyed by when its lines show no key ID: the most specific
    name that stays the same across restarts, so that a restarted workload's failures land in
    the same incident (and verification sees them). A Lambda function's and a CodeBuild
    project's ARN; an EC2 instance's ARN; for ECS, whose stream names the task but neither its
    cluster nor its service, the container's log configuration (group and `prefix/container`,
    shared by every task of the service): `arn:…:logs:…:log-group:G:log-stream:prefix/container/*`;
    for an EKS pod of a Container Insights group, its namespace, owner name and container:
    `arn:…:logs:…:log-group:G:log-stream:NAMESPACE/OWNER/CONTAINER`; for any other group, the
    group's ARN.
    """

    kind: WorkloadKind
    key: str
    name: str  # function, project, container or instance, or the group
    detail: str | None = None  # the ECS task ID, the CodeBuild build ID, the pod

    @property
    def subject(self) -> str:
        return workload_subject(self.key)


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition_of_region(region)}:{service}:{region}:{account}:{resource}"


def log_group_arn(group: str, region: str, account: str) -> str:
    return _arn("logs", region, account, f"log-group:{group}")


def workload_of(group: str, stream: str, region: str, account: str) -> LogWorkload:
    named = _LAMBDA_GROUP.match(group)
    if named:
        name = named.group("name")
        return LogWorkload("lambda-function", _arn("lambda", region, account, f"function:{name}"), name)
    named = _CODEBUILD_GROUP.match(group)
    if named:
        name = named.group("name")
        build = f"{name}:{stream}" if stream else None
        project = _arn("codebuild", region, account, f"project/{name}")
        return LogWorkload("codebuild-project", project, name, build)
    pod = pod_from_log_stream(group, stream)
    if pod:
        owner = f"{pod.namespace}/{pod.workload_name}/{pod.container}"
        key = f"{log_group_arn(group, region, account)}:log-stream:{owner}"
        return LogWorkload("eks-pod", key, pod.container, f"{pod.namespace}/{pod.pod}")
    task = _ECS_STREAM.match(stream)
    if task:
        shared = f"{task.group('prefix')}/{task.group('container')}/*"
        key = f"{log_group_arn(group, region, account)}:log-stream:{shared}"
        return LogWorkload("ecs-task", key, task.group("container"), task.group("task"))
    instance = _INSTANCE_STREAM.search(stream)
    if instance:
        instance_id = instance.group("id")
        arn = _arn("ec2", region, account, f"instance/{instance_id}")
        return LogWorkload("ec2-instance", arn, instance_id)
    return LogWorkload("log-group", log_group_arn(group, region, account), group)


def log_source(group: str, stream: str) -> str:
    """How an incident's source names the lines' origin: `GROUP:STREAM` (neither a log group
    nor a stream name may hold a colon)."""
    return f"{group}:{stream}"


def split_log_source(log: str) -> tuple[str, str]:
    group, _, stream = log.partition(":")
    return group, stream
