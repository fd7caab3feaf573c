"""A small local CloudTrail: watches the real requests a boto3 client sends to the local
AWS and, for each one the local AWS rejects for its credentials, writes the record
CloudTrail would deliver to EventBridge.

moto has no CloudTrail event history, so this stands in for it. It reads what was really
sent (the access key ID from the SigV4 Authorization header, the User-Agent header with
its `exec-env/…`) and what really came back (the error code); only the source address is
supplied, because every local request comes from 127.0.0.1, and it is recorded as AWS
records it: a private address only together with the VPC endpoint the call went through
(`vpcEndpointId`, `vpcEndpointAccountId`), a public one (a NAT gateway's, an Elastic IP)
alone. A private address without an endpoint is refused: AWS never records one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credfix.core.attribution import address_kind
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS
from harness.moto import ACCOUNT
from harness.records import endpoint_fields

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_SOURCES = {"sts": "sts.amazonaws.com", "iam": "iam.amazonaws.com", "s3": "s3.amazonaws.com"}


@dataclass
class LocalCloudTrail:
    source_ip: str
    vpc_endpoint_id: str | None = None  # required for a private source address
    account: str = ACCOUNT
    endpoint_account: str | None = None  # the endpoint's owner (default: the account)
    records: list[dict[str, Any]] = field(default_factory=list)
    _last_request: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if address_kind(self.source_ip) == "private" and not self.vpc_endpoint_id:
            raise ValueError(
                f"{self.source_ip} is private: AWS records a private source address only for calls "
                "through a VPC endpoint (pass vpc_endpoint_id), or the NAT gateway's public address"
            )

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("after-call", self._after_call)
        return client

    def _before_send(self, request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        self._last_request = headers

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code not in CREDENTIAL_ERRORS + TEMPORARY_CREDENTIAL_ERRORS:
            return
        match = _CREDENTIAL.search(self._last_request.get("Authorization", ""))
        service = model.service_model
        endpoint = service.endpoint_prefix
        region = self._region_of(self._last_request.get("Authorization", "")) or "us-east-1"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.records.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "AWS API Call via CloudTrail",
                "source": f"aws.{endpoint}",
                "account": self.account,
                "time": now,
                "region": region,
                "resources": [],
                "detail": {
                    "eventVersion": "1.09",
                    "userIdentity": {
                        "type": "AWSAccount",
                        "principalId": "",
                        "accountId": self.account,
                        "accessKeyId": match.group(1) if match else "",
                    },
                    "eventTime": now,
                    "eventSource": _SOURCES.get(endpoint, f"{endpoint}.amazonaws.com"),
                    "eventName": model.name,
                    "awsRegion": region,
                    "sourceIPAddress": self.source_ip,
                    "userAgent": self._last_request.get("User-Agent", "")[:1024],
                    "errorCode": code,
                    "errorMessage": parsed.get("Error", {}).get("Message", ""),
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
                },
            }
        )

    @staticmethod
    def _region_of(authorization: str) -> str | None:
        # Credential=AKIA.../20261128/us-east-1/sts/aws4_request
        parts = authorization.split("Credential=", 1)[-1].split("/")
        return parts[2] if len(parts) > 3 else None
