"""A small local CloudTrail: watches the real requests a boto3 client sends to the local
AWS and, for each one the local AWS rejects for its credentials, writes the record
CloudTrail would deliver to EventBridge.

moto has no CloudTrail event history, so this stands in for it. It reads what was really
sent (the access key ID from the SigV4 Authorization header, the User-Agent header with
its `exec-env/…`) and what really came back (the error code); only the source IP is
supplied, because every local request comes from 127.0.0.1.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS
from harness.moto import ACCOUNT

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_SOURCES = {"sts": "sts.amazonaws.com", "iam": "iam.amazonaws.com", "s3": "s3.amazonaws.com"}


@dataclass
class LocalCloudTrail:
    source_ip: str
    account: str = ACCOUNT
    records: list[dict[str, Any]] = field(default_factory=list)
    _last_request: dict[str, str] = field(default_factory=dict)

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
                },
            }
        )

    @staticmethod
    def _region_of(authorization: str) -> str | None:
        # Credential=AKIA.../20261128/us-east-1/sts/aws4_request
        parts = authorization.split("Credential=", 1)[-1].split("/")
        return parts[2] if len(parts) > 3 else None
