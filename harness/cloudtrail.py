"""A small local CloudTrail: watches the real requests a boto3 client sends to the local
AWS and writes, for each call, the record CloudTrail would write: for a call the local AWS
rejects for its credentials, the failure record CloudTrail delivers to EventBridge
(`records`); for a call that succeeds, the record of the successful call (`successes`).

moto has no CloudTrail event history, so this stands in for it. It reads what was really
sent (the access key ID from the SigV4 Authorization header, the User-Agent header with
its `exec-env/…`, the API parameters) and what really came back (the error code, or the
answer); only the source address is supplied, because every local request comes from
127.0.0.1, and it is recorded as AWS records it: a private address only together with the
VPC endpoint the call went through (`vpcEndpointId`, `vpcEndpointAccountId`), a public one
(a NAT gateway's, an Elastic IP) alone. A private address without an endpoint is refused:
AWS never records one.

Every record is also posted to the local AWS's event history, so that `LookupEvents` answers
with it from any process (harness/event_history.py), as CloudTrail's event history does.
Request parameters are kept only for Secrets Manager calls, and only the fields that name a
secret and its versions: like CloudTrail, never a secret value.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credfix.core.attribution import address_kind
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS
from harness.event_history import RECORDS_PATH
from harness.moto import ACCOUNT
from harness.records import endpoint_fields

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_SOURCES = {"sts": "sts.amazonaws.com", "iam": "iam.amazonaws.com", "s3": "s3.amazonaws.com"}
# What CloudTrail shows of a Secrets Manager request: the secret and versions, never the value.
_SECRET_REQUEST_FIELDS = {
    "SecretId": "secretId",
    "Name": "name",
    "VersionStage": "versionStage",
    "MoveToVersionId": "moveToVersionId",
    "RemoveFromVersionId": "removeFromVersionId",
    "ClientRequestToken": "clientRequestToken",
}


@dataclass
class LocalCloudTrail:
    source_ip: str
    vpc_endpoint_id: str | None = None  # required for a private source address
    account: str = ACCOUNT
    endpoint_account: str | None = None  # the endpoint's owner (default: the account)
    records: list[dict[str, Any]] = field(default_factory=list)  # rejected calls (EventBridge events)
    successes: list[dict[str, Any]] = field(default_factory=list)  # successful calls (EventBridge events)
    _last_request: dict[str, str] = field(default_factory=dict)
    _last_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if address_kind(self.source_ip) == "private" and not self.vpc_endpoint_id:
            raise ValueError(
                f"{self.source_ip} is private: AWS records a private source address only for calls "
                "through a VPC endpoint (pass vpc_endpoint_id), or the NAT gateway's public address"
            )

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._before_parameters)
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("after-call", self._after_call)
        return client

    def _before_parameters(self, params: dict[str, Any], **_: Any) -> None:
        self._last_params = dict(params)

    def _before_send(self, request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        self._last_request = headers

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code and code not in CREDENTIAL_ERRORS + TEMPORARY_CREDENTIAL_ERRORS:
            return  # other errors are not what credfix reads from the history
        endpoint = model.service_model.endpoint_prefix
        region = self._region_of(self._last_request.get("Authorization", "")) or "us-east-1"
        event = self._event(model, endpoint, region, parsed, code)
        (self.records if code else self.successes).append(event)
        self._post(http_response, region, event["detail"])

    def _event(
        self, model: Any, endpoint: str, region: str, parsed: dict[str, Any], code: str | None
    ) -> dict[str, Any]:
        match = _CREDENTIAL.search(self._last_request.get("Authorization", ""))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        identity: dict[str, Any] = {
            "type": "AWSAccount" if code else "IAMUser",
            "principalId": "",
            "accountId": self.account,
            "accessKeyId": match.group(1) if match else "",
        }
        detail: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": now,
            "eventSource": _SOURCES.get(endpoint, f"{endpoint}.amazonaws.com"),
            "eventName": model.name,
            "awsRegion": region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self._last_request.get("User-Agent", "")[:1024],
            "requestParameters": None,
            "responseElements": None,
            "requestID": parsed.get("ResponseMetadata", {}).get("RequestId", str(uuid.uuid4())),
            "eventID": str(uuid.uuid4()),
            "readOnly": model.name.startswith(("Get", "List", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
            **endpoint_fields(self.vpc_endpoint_id, self.endpoint_account or self.account),
        }
        if code:
            detail["errorCode"] = code
            detail["errorMessage"] = parsed.get("Error", {}).get("Message", "")
        elif endpoint == "secretsmanager":
            detail["requestParameters"] = {
                shown: self._last_params[name]
                for name, shown in _SECRET_REQUEST_FIELDS.items()
                if name in self._last_params
            } or None
            if parsed.get("ARN"):
                detail["responseElements"] = {"arn": parsed["ARN"], "versionId": parsed.get("VersionId")}
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "AWS API Call via CloudTrail",
            "source": f"aws.{endpoint}",
            "account": self.account,
            "time": now,
            "region": region,
            "resources": [],
            "detail": detail,
        }

    @staticmethod
    def _post(http_response: Any, region: str, record: dict[str, Any]) -> None:
        """Into the local AWS's event history (the server the watched client talks to)."""
        url = getattr(http_response, "url", "") or ""
        base = "/".join(url.split("/")[:3])
        if not base.startswith("http"):
            return
        body = json.dumps({"region": region, "records": [record]}).encode()
        request = urllib.request.Request(
            base + RECORDS_PATH, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()

    @staticmethod
    def _region_of(authorization: str) -> str | None:
        # Credential=AKIA.../20261128/us-east-1/sts/aws4_request
        parts = authorization.split("Credential=", 1)[-1].split("/")
        return parts[2] if len(parts) > 3 else None
