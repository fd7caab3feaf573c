"""The EKS bearer token, built with botocore as `aws eks get-token` builds it, checked the way
aws-iam-authenticator checks it (harness.kube.verify_eks_token recomputes the signature with
the known secret instead of calling STS). Presigning is local: no network call is made."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from credfix.adapters.kubernetes import TokenSource, eks_token
from harness.kube import TokenError, verify_eks_token

ACCESS_KEY, SECRET = "AKIAY34FZKBOEXAMPLE1", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def sts(region: str = "eu-west-1", token: str | None = None) -> object:
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name=region,
    ).client("sts", region_name=region)


def decode(token: str) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_format_is_the_standard_eks_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    token = eks_token(sts(), "prod")
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token and "+" not in token and "/" not in token  # base64url without padding
    assert len(token) < 4096
    url = urlsplit(decode(token))
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["Action"] == "GetCallerIdentity" and query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"  # the cluster name is signed...
    assert "x-k8s-aws-id" not in query  # ...but not sent: EKS adds its own name when it replays the URL
    assert (
        query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
        and "/eu-west-1/sts/aws4_request" in (query["X-Amz-Credential"])
    )
    assert verify_eks_token(token, "prod", {ACCESS_KEY: SECRET}) == ACCESS_KEY


def test_a_token_is_for_one_cluster_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    token = eks_token(sts(), "prod")
    with pytest.raises(TokenError, match="SignatureDoesNotMatch"):
        verify_eks_token(token, "staging", {ACCESS_KEY: SECRET})
    with pytest.raises(TokenError, match="SignatureDoesNotMatch"):
        verify_eks_token(token, "prod", {ACCESS_KEY: "another-secret"})


def test_session_credentials_carry_their_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Lambda signs with its role's session: X-Amz-Security-Token is part of the URL."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    token = eks_token(sts(token="FwoGZXIvYXdzEXAMPLESESSION"), "prod")
    query = parse_qs(urlsplit(decode(token)).query)
    assert query["X-Amz-Security-Token"] == ["FwoGZXIvYXdzEXAMPLESESSION"]
    assert verify_eks_token(token, "prod", {ACCESS_KEY: SECRET}) == ACCESS_KEY


def test_a_url_presigned_without_the_cluster_header_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    url = sts().generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")  # type: ignore[attr-defined]
    token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    with pytest.raises(TokenError, match="did not sign the x-k8s-aws-id header"):
        verify_eks_token(token, "prod", {ACCESS_KEY: SECRET})


def test_tokens_expire_after_fifteen_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    token = eks_token(sts(), "prod")
    later = datetime.now(UTC) + timedelta(minutes=16)
    with pytest.raises(TokenError, match="expired"):
        verify_eks_token(token, "prod", {ACCESS_KEY: SECRET}, now=later)


def test_the_token_source_reuses_one_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    source = TokenSource(sts(), "prod")
    assert source() == source()
