"""sts:GetCallerIdentity with the credentials the chain resolved: who AWS says we are.

GetCallerIdentity needs no IAM permission (it cannot be denied by a policy), so it proves
exactly one thing: whether AWS recognises the credential, and as whom. The client honours
the standard environment (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS, region, STS regional
endpoints); timeouts are short and retries few, because a gate should answer in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from credfix.errortext import redact_message
from credfix.keys import partition_of_arn
from credfix.permissions import needs

Stage = Literal["credentials", "sts"]


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str
    user_id: str
    partition: str | None


@dataclass(frozen=True)
class StsFailure:
    """Why no identity came back. `stage` says whether fetching the credentials themselves
    failed (e.g. AssumeRoleWithWebIdentity refused the token) or the GetCallerIdentity call."""

    stage: Stage
    code: str  # AWS error code, or the botocore exception name for transport failures
    message: str
    operation: str | None  # the AWS operation that failed
    unreachable: bool  # transport failure: nothing was verified either way


@dataclass(frozen=True)
class StsOutcome:
    key_id: str | None  # the key ID the request was signed with (known once credentials loaded)
    endpoint: str | None
    identity: CallerIdentity | None = None
    failure: StsFailure | None = None


def client_config(timeout: float) -> Config:
    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": 2},
    )


@needs("cli", "sts:GetCallerIdentity", on="*")
def get_caller_identity(session: Any, credentials: Any, *, region: str | None, timeout: float) -> StsOutcome:
    """Load the credentials (deferred ones call STS/SSO now) and ask STS who they belong to.
    `session` must be the botocore session whose chain produced `credentials`."""
    try:
        key_id = str(credentials.get_frozen_credentials().access_key)
    except ClientError as exc:
        return StsOutcome(None, None, failure=_client_failure("credentials", exc))
    except (BotoCoreError, OSError, ValueError) as exc:
        return StsOutcome(None, None, failure=_transport_failure("credentials", exc))
    client = session.create_client("sts", region_name=region, config=client_config(timeout))
    endpoint = str(client.meta.endpoint_url)
    try:
        answer = client.get_caller_identity()
    except ClientError as exc:
        return StsOutcome(key_id, endpoint, failure=_client_failure("sts", exc))
    except (BotoCoreError, OSError, ValueError) as exc:
        return StsOutcome(key_id, endpoint, failure=_transport_failure("sts", exc))
    arn = str(answer["Arn"])
    identity = CallerIdentity(str(answer["Account"]), arn, str(answer["UserId"]), partition_of_arn(arn))
    return StsOutcome(key_id, endpoint, identity=identity)


def _client_failure(stage: Stage, exc: ClientError) -> StsFailure:
    error = exc.response.get("Error", {})
    return StsFailure(
        stage,
        str(error.get("Code") or "Unknown"),
        redact_message(error.get("Message") or ""),
        exc.operation_name,
        unreachable=False,
    )


def _transport_failure(stage: Stage, exc: Exception) -> StsFailure:
    unreachable = isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError)
    return StsFailure(stage, type(exc).__name__, redact_message(exc), None, unreachable=unreachable)
