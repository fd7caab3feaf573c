"""Realistic CloudTrail records of credential failures, as EventBridge delivers them.

Field shapes follow real records (see tests/events/*.json): `userIdentity` of type
`AWSAccount`/`IAMUser`/`Unknown`, user agents with `exec-env/…`, error messages as AWS
words them, and a private source address only with the VPC endpoint the call came through
(CloudTrail records a caller's private address only then; `vpcEndpointAccountId` since
eventVersion 1.09).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from credfix.core.attribution import address_kind
from harness.moto import ACCOUNT, REGION


def endpoint_fields(vpc_endpoint_id: str | None, endpoint_account: str) -> dict[str, str]:
    """The fields CloudTrail adds for a call made through a VPC endpoint."""
    if not vpc_endpoint_id:
        return {}
    return {"vpcEndpointId": vpc_endpoint_id, "vpcEndpointAccountId": endpoint_account}


ERROR_MESSAGES = {
    "InvalidClientTokenId": "The security token included in the request is invalid.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "AuthFailure": "AWS was not able to validate the provided access credentials",
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided.",
    "ExpiredToken": "The security token included in the request is expired",
}
SERVICE_OF_SOURCE = {
    "sts.amazonaws.com": ("aws.sts", "GetCallerIdentity"),
    "s3.amazonaws.com": ("aws.s3", "ListBuckets"),
    "dynamodb.amazonaws.com": ("aws.dynamodb", "DescribeTable"),
    "ec2.amazonaws.com": ("aws.ec2", "DescribeInstances"),
    "secretsmanager.amazonaws.com": ("aws.secretsmanager", "GetSecretValue"),
    "sqs.amazonaws.com": ("aws.sqs", "ReceiveMessage"),
}
FARGATE_UA = (
    "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
    "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy"
)
# An interface endpoint that is not the local account's: what a hand-made record with a
# private address carries unless a test names the account's own endpoint.
SOMEONE_ELSES_ENDPOINT = "vpce-0f00d00000000beef"
SOMEONE_ELSE = "444455556666"

RUNNER_UA = (
    "aws-cli/2.17.5 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0-1008-aws md/arch#x86_64 lang/python#3.11.9"
)


def cloudtrail_event(
    access_key_id: str,
    *,
    error_code: str = "InvalidClientTokenId",
    event_source: str = "sts.amazonaws.com",
    event_name: str | None = None,
    region: str = REGION,
    account: str = ACCOUNT,
    source_ip: str | None = "10.0.1.25",
    user_agent: str | None = FARGATE_UA,
    event_time: datetime | None = None,
    vpc_endpoint_id: str | None = None,
    endpoint_account: str | None = None,
    **detail_overrides: Any,
) -> dict[str, Any]:
    """One EventBridge event carrying one CloudTrail record of a rejected call. A private
    `source_ip` comes with `vpc_endpoint_id` (default: someone else's endpoint, which
    attributes nothing); `endpoint_account` defaults to the account for a given endpoint."""
    if address_kind(source_ip) == "private" and vpc_endpoint_id is None:
        vpc_endpoint_id, endpoint_account = SOMEONE_ELSES_ENDPOINT, endpoint_account or SOMEONE_ELSE
    source, default_name = SERVICE_OF_SOURCE.get(event_source, ("aws." + event_source.split(".")[0], "Call"))
    when = (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AWSAccount",
            "principalId": "",
            "accountId": account,
            "accessKeyId": access_key_id,
        },
        "eventTime": when,
        "eventSource": event_source,
        "eventName": event_name or default_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "errorCode": error_code,
        "errorMessage": ERROR_MESSAGES.get(error_code, error_code),
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        **endpoint_fields(vpc_endpoint_id, endpoint_account or account),
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{event_source.split('.')[0]}.{region}.amazonaws.com",
        },
    }
    detail.update(detail_overrides)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": account,
        "time": when,
        "region": region,
        "resources": [],
        "detail": detail,
    }


def secret_label_updated(
    secret_arn: str,
    name: str,
    version_id: str,
    *,
    label: str = "AWSCURRENT",
    account: str = ACCOUNT,
    region: str = REGION,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The event Secrets Manager itself publishes to the default bus when a staging label moves
    (its user guide, "Secret Label Updated event"): not a CloudTrail record, no caller identity."""
    when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Secret Label Updated",
        "source": "aws.secretsmanager",
        "account": account,
        "time": when,
        "region": region,
        "resources": [secret_arn],
        "detail": {"name": name, "labelUpdated": label, "versionId": version_id},
    }


def rotation_succeeded(
    secret_arn: str, *, account: str = ACCOUNT, region: str = REGION, at: datetime | None = None
) -> dict[str, Any]:
    """CloudTrail's `RotationSucceeded` service event as EventBridge delivers it (the shape of
    the AWS Database Blog's sample: the secret in additionalEventData.SecretId, no resources)."""
    when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.secretsmanager",
        "account": account,
        "time": when,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": account, "invokedBy": "secretsmanager.amazonaws.com"},
            "eventTime": when,
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "RotationSucceeded",
            "awsRegion": region,
            "sourceIPAddress": "secretsmanager.amazonaws.com",
            "userAgent": "secretsmanager.amazonaws.com",
            "requestParameters": None,
            "responseElements": None,
            "additionalEventData": {"SecretId": secret_arn},
            "requestID": f"Rotation-{secret_arn}-{uuid.uuid4()}",
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsServiceEvent",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        },
    }
