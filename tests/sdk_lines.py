# ruff: noqa: E501  (verbatim quotes keep their own line breaks)
"""Real log lines that AWS SDKs and the AWS CLI print when AWS rejects a credential, copied
exactly from the public reports cited next to each (request IDs as the reporters pasted them).
Shared by the unit tests of line recognition and the integration tests on the local AWS.

Each entry: (id, where it comes from, the line, the error code credfix must read from it).
"""

from __future__ import annotations

from typing import NamedTuple


class SdkLine(NamedTuple):
    sdk: str
    source: str
    line: str
    code: str


SDK_LINES: tuple[SdkLine, ...] = (
    SdkLine(
        "boto3",
        "https://github.com/Redislabs-Solution-Architects/ecstats2/issues/35",
        "botocore.exceptions.ClientError: An error occurred (InvalidClientTokenId) when calling the "
        "DescribeSnapshots operation: The security token included in the request is invalid.",
        "InvalidClientTokenId",
    ),
    SdkLine(
        "boto3-lambda-runtime",
        "https://github.com/mozilla/guardduty-multi-account-manager/issues/42 (the AWS Lambda Python "
        "runtime's uncaught-exception event: message, ': ClientError', then the traceback)",
        "An error occurred (UnrecognizedClientException) when calling the PutRule operation: The security token "
        "included in the request is invalid: ClientError\n"
        "Traceback (most recent call last):\n"
        '  File "/var/task/lambda_functions/plumbing.py", line 185, in handle\n'
        "    setup_guardduty_plumbing(region_session)",
        "UnrecognizedClientException",
    ),
    SdkLine(
        "boto3-dynamodb",
        "https://github.com/boto/boto3/issues/482",
        "botocore.exceptions.ClientError: An error occurred (InvalidSignatureException) when calling the Query "
        "operation: The request signature we calculated does not match the signature you provided. Check your "
        "AWS Secret Access Key and signing method. Consult the service documentation for details.",
        "InvalidSignatureException",
    ),
    SdkLine(
        "aws-cli-v2",
        "https://github.com/aws/aws-cli/issues/9682 (AWS CLI v2, 2025-09-03; its bundled botocore, then the "
        "CLI's own stderr line)",
        "botocore.exceptions.ClientError: An error occurred (SignatureDoesNotMatch) when calling the GetObject "
        "operation: The request signature we calculated does not match the signature you provided. Check your "
        "key and signing method.\n\n"
        "An error occurred (SignatureDoesNotMatch) when calling the GetObject operation: The request signature "
        "we calculated does not match the signature you provided. Check your key and signing method.",
        "SignatureDoesNotMatch",
    ),
    SdkLine(
        "aws-cli-ecr",
        "https://github.com/kciter/aws-ecr-action/issues/15 (the CLI's stderr in a CI job's log)",
        "== START LOGIN\n\nAn error occurred (UnrecognizedClientException) when calling the "
        "GetAuthorizationToken operation: The security token included in the request is invalid.",
        "UnrecognizedClientException",
    ),
    SdkLine(
        "java-sdk-v2",
        "https://github.com/apache/hadoop/pull/6544 (SDK 2.23.x: the message and its service, no error code)",
        "Caused by: software.amazon.awssdk.services.sts.model.StsException: The security token included in the "
        "request is invalid. (Service: Sts, Status Code: 403, Request ID: c82c4c33-c87b-42b9-bae3-8543269e54dd)\n"
        "\tat software.amazon.awssdk.core.internal.http.CombinedResponseHandler.handleErrorResponse"
        "(CombinedResponseHandler.java:125)",
        "InvalidClientTokenId",
    ),
    SdkLine(
        "java-sdk-v2-s3",
        "https://github.com/airbytehq/airbyte/issues/72866 (2026-02-05, with the SDK attempt count)",
        "software.amazon.awssdk.services.s3.model.S3Exception: The AWS Access Key Id you provided does not exist "
        "in our records. (Service: S3, Status Code: 403, Request ID: XANXAN9DTWEP60F4, Extended Request ID: "
        "a1h3qEnrb6eSsYIHX92nhLDtFLmp4t5I2qrV52ltEeiA+oCa8EX4CWXRIZTJnWIJ8sOBPynAEPIZjhg/ASb/mEBNv7+OUbIiv13byCvaXmo=)"
        " (SDK Attempt Count: 1)",
        "InvalidAccessKeyId",
    ),
    SdkLine(
        "go-sdk-v2",
        "https://github.com/cloudquery/cq-provider-aws/pull/3",
        "2021/02/17 20:46:25 operation error SNS: ListTopics, https response error StatusCode: 403, RequestID: "
        "6b444bac-b775-553a-8ed5-120b3a958f7e, api error InvalidClientTokenId: The security token included in "
        "the request is invalid.",
        "InvalidClientTokenId",
    ),
    SdkLine(
        "go-sdk-v2-s3",
        "https://github.com/aws/aws-sdk-go-v2/issues/1123",
        "operation error S3: PutObject, https response error StatusCode: 403, RequestID: AA252C23DD535602, "
        "HostID: F10qicJpphSDmy1gzgx3m1guvyHLhjYEof0wq8j3kL1rpRqa8ee9Ksl0zkOlbIvl8P2cxbumF2Q=, api error "
        "SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        "SignatureDoesNotMatch",
    ),
    SdkLine(
        "js-sdk-v3",
        "https://github.com/aws/aws-sdk-js-v3/issues/5399 (an uncaught error in Node; no trailing period)",
        "InvalidClientTokenId: The security token included in the request is invalid\n"
        "    at throwDefaultError (/Users/me/code/cli/node_modules/@smithy/smithy-client/dist-cjs/"
        "default-error-handler.js:8:22)\n"
        "    at /Users/me/code/cli/node_modules/@smithy/smithy-client/dist-cjs/default-error-handler.js:18:39",
        "InvalidClientTokenId",
    ),
    SdkLine(
        "js-sdk-v3-bedrock",
        "https://github.com/Arize-ai/openinference/issues/2358 (@aws-sdk/client-bedrock-runtime 3.916.0)",
        "    UnrecognizedClientException: The security token included in the request is invalid.\n\n"
        "      at throwDefaultError (../../node_modules/.pnpm/@smithy+smithy-client@4.9.1/node_modules/@smithy/"
        "smithy-client/dist-cjs/index.js:288:22)",
        "UnrecognizedClientException",
    ),
)

# Lines that name a credential error code but show another cause: refused, with the reason.
NOT_THE_CREDENTIAL: tuple[SdkLine, ...] = (
    SdkLine(
        "ec2-permission",
        "index hits 27254627649 and 48198212400 (notes that paste the AWS CLI's answer to "
        "`aws ec2 create-instance-export-task`)",
        "An error occurred (AuthFailure) when calling the CreateInstanceExportTask operation: "
        "vm-import-export@amazon.com must have WRITE and READ_ACL permission on the S3 bucket.",
        "errorMessage shows a non-credential cause: EC2 answered AuthFailure for a permission",
    ),
    SdkLine(
        "clock-skew",
        "https://github.com/aws/aws-cli/issues/6676",
        "An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation: Signature "
        "expired: 20220127T001427Z is now earlier than 20220127T014428Z (20220127T015928Z - 15 min.)",
        "signed outside AWS's time window",
    ),
    SdkLine(
        "s3-compatible-store",
        "https://github.com/zombiezen/nixcached/issues/20 (a non-AWS S3 endpoint, Go SDK v2)",
        'read s3://my-bucket cache info: blob (key "nix-cache-info") (code=Unknown): operation error S3: '
        "GetObject, https response error StatusCode: 403, RequestID: , HostID: , api error "
        "SignatureDoesNotMatch: Access denied.",
        "not AWS's wording",
    ),
)

# A debug log's S3 error body prints the whole key ID (https://github.com/aws/aws-cli/issues/4356:
# botocore's response-body line; the reporter's key is replaced by the test's own key, KEY_HERE).
S3_BODY_WITH_KEY = (
    'b\'<?xml version="1.0" encoding="UTF-8"?>\\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request '
    "signature we calculated does not match the signature you provided. Check your key and signing "
    "method.</Message><AWSAccessKeyId>KEY_HERE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\\n20190814T102134Z"
    "\\n20190814/ap-northeast-2/s3/aws4_request\\n"
)
# The Terraform AWS provider (aws-sdk-go-base) masks key IDs 4+12+4 in its log fields
# (https://github.com/hashicorp/terraform-provider-aws/pull/33936 shows `ASIA************3DGO`). The error
# line is https://github.com/hashicorp/terraform-provider-aws/issues/28443's, verbatim; the masked field
# after it is constructed in that shape (a long-term key ending WXYZ).
MASKED_KEY_LINE = (
    "│ Error: configuring Terraform AWS Provider: error validating provider credentials: error calling "
    "sts:GetCallerIdentity: operation error STS: GetCallerIdentity, https response error StatusCode: 403, "
    "RequestID: b16fc6b2-becc-46e0-8c3b-37b58e5f4202, api error InvalidClientTokenId: The security token "
    "included in the request is invalid. access_key=AKIA************WXYZ"
)
