"""`credfix preflight` against the local AWS: real credential sources (env vars, a temporary
HOME with config/credentials files, a web identity token file, a container-credentials
endpoint served on loopback) resolved by botocore and proved with sts:GetCallerIdentity.

Rejected credentials need a local AWS that checks signatures; the shared session server must
not be switched to that mode (other tests share it), so this module starts its own.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from credfix.cli import main
from harness.moto import ACCOUNT, REGION, LocalAws, local_aws

pytestmark = pytest.mark.integration

ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def admin(aws: LocalAws, service: str, key: str = "testing", secret: str = "testing") -> Any:
    """A client for building account state; explicit credentials, independent of the env under test."""
    return boto3.client(
        service, endpoint_url=aws.url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret
    )


@dataclass
class ContainerEndpoint:
    """The ECS/EKS container credentials endpoint, served on loopback."""

    body: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    url: str = ""


@pytest.fixture
def container_endpoint() -> Iterator[ContainerEndpoint]:
    endpoint = ContainerEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.hits += 1
            payload = json.dumps(endpoint.body).encode()
            self.send_response(200 if self.path == "/creds" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/creds"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


def clean_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Path:
    """No AWS_* variables, a temporary HOME with explicit config/credentials paths, the local AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return home


@pytest.fixture
def runtime(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return clean_runtime(monkeypatch, tmp_path, aws_env.url)


def preflight(
    capsys: pytest.CaptureFixture[str], *args: str, secrets: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    code = main(["preflight", "--json", *args])
    out = capsys.readouterr().out
    for secret in secrets:
        assert secret not in out
    return code, json.loads(out)


def codes(report: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in report["findings"]}


def finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["code"] == code)


def source(report: dict[str, Any], method: str) -> dict[str, Any]:
    return next(s for s in report["sources"] if s["method"] == method)


def user_key(aws: LocalAws, user: str, *, policy: bool = False, iam: Any = None) -> dict[str, str]:
    iam = iam or admin(aws, "iam")
    iam.create_user(UserName=user)
    if policy:
        iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=ADMIN_POLICY)
    key: dict[str, str] = iam.create_access_key(UserName=user)["AccessKey"]
    return key


def role_session(aws: LocalAws, role: str) -> dict[str, str]:
    """Temporary credentials for a role, issued by the local STS (what ECS would serve)."""
    arn = admin(aws, "iam").create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    creds = admin(aws, "sts").assume_role(RoleArn=arn, RoleSessionName="task-1234")["Credentials"]
    return {
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "Token": creds["SessionToken"],
        "Expiration": creds["Expiration"].isoformat(),
        "RoleArn": arn,
    }


# --- the shared local AWS (no signature checks): identities and assertions -------------------


def test_env_key_of_the_expected_user_passes_every_assertion(
    aws_env: LocalAws, runtime: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = user_key(aws_env, "deploy-bot")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    expectations = [
        *("--expect-account", ACCOUNT),
        *("--expect-arn", f"arn:aws:iam::{ACCOUNT}:user/deploy-*"),
        *("--expect-partition", "aws"),
        *("--expect-source", "env"),
    ]
    code, report = preflight(capsys, *expectations, secrets=(key["SecretAccessKey"],))
    assert code == 0, report["findings"]
    assert report["status"] == "pass" and report["winner"] == "env"
    assert report["sts"]["identity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/deploy-bot"
    assert report["sts"]["endpoint"] == aws_env.url
    assert report["sts"]["key_id"] == f"{key['AccessKeyId'][:4]}…{key['AccessKeyId'][-4:]}"
    assert key["AccessKeyId"] not in json.dumps(report)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # moto issues new-format key IDs, so the offline decoding catches the account too
        (["--expect-account", "111122223333"], {"account-mismatch", "key-account-mismatch"}),
        (["--expect-arn", "arn:aws:iam::*:user/prod-*"], {"arn-mismatch"}),
        (["--expect-partition", "aws-us-gov"], {"partition-mismatch"}),
        (["--expect-source", "container-role"], {"source-mismatch"}),
    ],
)
def test_each_identity_mismatch_exits_3(
    aws_env: LocalAws,
    runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: set[str],
) -> None:
    key = user_key(aws_env, "deploy-bot")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    exit_code, report = preflight(capsys, *args)
    assert exit_code == 3
    assert codes(report) == dict.fromkeys(expected, "error")


def test_web_identity_token_file_assumes_the_role_through_sts(
    aws_env: LocalAws, runtime: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin(aws_env, "iam").create_role(RoleName="app-web", AssumeRolePolicyDocument=TRUST)
    token = runtime / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwIn0.c2ln")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/app-web")
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-7")
    code, report = preflight(
        capsys,
        *("--expect-source", "assume-role-with-web-identity"),
        *("--expect-arn", f"arn:aws:sts::{ACCOUNT}:assumed-role/app-web/*"),
    )
    assert code == 0, report["findings"]
    assert report["sts"]["identity"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app-web/pod-7"
    web = source(report, "assume-role-with-web-identity")
    assert web["won"] and web["key_id"].startswith("ASIA…")  # known only after STS issued it
    assert web["key_kind"] == "temporary"


def test_arn_pattern_written_as_the_role_arn_gets_a_hint(
    aws_env: LocalAws, runtime: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = runtime / "token"
    token.write_text("header.payload.signature")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/app-web")
    code, report = preflight(capsys, "--expect-arn", f"arn:aws:iam::{ACCOUNT}:role/app-web")
    assert code == 3
    assert "assumed-role/ROLE/SESSION" in finding(report, "arn-mismatch")["message"]


def test_container_endpoint_on_loopback_is_the_winning_source(
    aws_env: LocalAws,
    runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    container_endpoint: ContainerEndpoint,
) -> None:
    container_endpoint.body = role_session(aws_env, "task-role")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint.url)
    code, report = preflight(
        capsys,
        *("--expect-source", "container-role"),
        *("--expect-arn", f"arn:aws:sts::{ACCOUNT}:assumed-role/task-role/*"),
        *("--expect-account", ACCOUNT),
        secrets=(container_endpoint.body["SecretAccessKey"], container_endpoint.body["Token"]),
    )
    assert code == 0, report["findings"]
    container = source(report, "container-role")
    assert container["won"] and container["contacted"] == "local container endpoint"
    assert container["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/task-role"
    assert container["key_id"] == f"ASIA…{container_endpoint.body['AccessKeyId'][-4:]}"
    assert container_endpoint.hits == 2  # once by the SDK's chain, once by the audit (for RoleArn)


def test_static_env_keys_shadow_the_container_role(
    aws_env: LocalAws,
    runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    container_endpoint: ContainerEndpoint,
) -> None:
    """The field guide's "role-based auth rollout leaves one shard on static credentials"."""
    container_endpoint.body = role_session(aws_env, "task-role")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint.url)
    legacy = user_key(aws_env, "legacy-app")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", legacy["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", legacy["SecretAccessKey"])

    code, report = preflight(capsys)
    assert code == 0  # works today: only a warning
    assert report["winner"] == "env" and codes(report) == {"mixed-auth-modes": "warning"}
    assert source(report, "container-role")["key_id"].startswith("ASIA…")  # read from the endpoint

    code, report = preflight(capsys, "--expect-source", "container-role")
    assert code == 3
    assert "container-role is configured but env comes first" in finding(report, "source-mismatch")["message"]
    assert report["sts"]["identity"]["arn"].endswith(":user/legacy-app")
    assert preflight(capsys, "--strict")[0] == 3


def test_aws_profile_from_the_host_overrides_the_task_role(
    aws_env: LocalAws,
    runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    container_endpoint: ContainerEndpoint,
) -> None:
    """The field guide's "CI runner inherits AWS_PROFILE and signs with a sandbox profile"."""
    container_endpoint.body = role_session(aws_env, "deploy-role")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint.url)
    sandbox = user_key(aws_env, "sandbox-dev")
    (runtime / ".aws" / "credentials").write_text(
        f"[sandbox]\naws_access_key_id = {sandbox['AccessKeyId']}\n"
        f"aws_secret_access_key = {sandbox['SecretAccessKey']}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "sandbox")
    code, report = preflight(
        capsys,
        *("--expect-source", "container-role"),
        *("--expect-arn", f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-role/*"),
        secrets=(sandbox["SecretAccessKey"],),
    )
    assert code == 3
    assert report["winner"] == "shared-credentials-file"
    assert report["sts"]["identity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/sandbox-dev"
    found = codes(report)
    assert found["profile-overrides-role"] == "warning"
    assert found["source-mismatch"] == "error" and found["arn-mismatch"] == "error"

    monkeypatch.delenv("AWS_PROFILE")  # the fix: unset it, and the task role wins again
    code, report = preflight(capsys, "--expect-source", "container-role")
    assert code == 0, report["findings"]


def test_offline_account_mismatch_is_reported_even_though_sts_is_unreachable(
    aws_env: LocalAws, runtime: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAY34FZKBOKMUTVV7A")  # decodes to 609629065308
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    code, report = preflight(capsys, "--expect-account", ACCOUNT, "--timeout", "1")
    assert code == 3  # the offline mismatch is certain; STS being down does not hide it
    assert codes(report) == {"key-account-mismatch": "error", "sts-unreachable": "error"}
    assert "609629065308" in finding(report, "key-account-mismatch")["message"]

    code, report = preflight(capsys, "--timeout", "1")
    assert code == 1  # nothing wrong offline, nothing verified online


# --- a local AWS of our own that checks signatures: rejected credentials --------------------


@dataclass
class StrictAws:
    aws: LocalAws
    iam: Any  # signed with an admin key the strict server accepts


@pytest.fixture(scope="module")
def strict_aws() -> Iterator[StrictAws]:
    with local_aws() as server:
        boot = admin(server, "iam")
        root = user_key(server, "credfix-test-admin", policy=True, iam=boot)
        server.check_signatures()  # from now on unknown or deleted keys get InvalidClientTokenId
        yield StrictAws(server, admin(server, "iam", root["AccessKeyId"], root["SecretAccessKey"]))


@pytest.fixture
def strict_runtime(strict_aws: StrictAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return clean_runtime(monkeypatch, tmp_path, strict_aws.aws.url)


def strict_user_key(strict: StrictAws, user: str) -> dict[str, str]:
    return user_key(strict.aws, f"{user}-{os.urandom(3).hex()}", policy=True, iam=strict.iam)


def use_env_key(monkeypatch: pytest.MonkeyPatch, key: dict[str, str], secret: str | None = None) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret or key["SecretAccessKey"])


def test_a_live_key_passes_on_the_signature_checking_aws(
    strict_aws: StrictAws,
    strict_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_env_key(monkeypatch, strict_user_key(strict_aws, "deploy"))
    code, report = preflight(capsys, "--expect-account", ACCOUNT, "--expect-source", "env")
    assert code == 0, report["findings"]


def test_a_deleted_key_in_env_is_rejected_as_key_deleted(
    strict_aws: StrictAws,
    strict_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = strict_user_key(strict_aws, "deploy")
    strict_aws.iam.delete_access_key(UserName=key["UserName"], AccessKeyId=key["AccessKeyId"])
    use_env_key(monkeypatch, key)
    code, report = preflight(capsys, "--expect-account", ACCOUNT, secrets=(key["SecretAccessKey"],))
    assert code == 4
    assert report["sts"]["error"]["code"] == "InvalidClientTokenId"
    rejected = finding(report, "credentials-rejected")
    assert rejected["verdict"] == "key-deleted" and rejected["also_possible"] == ["key-deactivated"]
    assert rejected["source"] == "env" and "from env" in rejected["message"]


def test_a_deleted_profile_key_next_to_a_container_role_is_the_wrong_source(
    strict_aws: StrictAws,
    strict_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    container_endpoint: ContainerEndpoint,
) -> None:
    key = strict_user_key(strict_aws, "sandbox")
    strict_aws.iam.delete_access_key(UserName=key["UserName"], AccessKeyId=key["AccessKeyId"])
    (strict_runtime / ".aws" / "credentials").write_text(
        f"[sandbox]\naws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "sandbox")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint.url)
    container_endpoint.body = {
        "AccessKeyId": "ASIAY34FZKBOKMUTVV7A",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/task",
    }
    code, report = preflight(capsys)
    assert code == 4
    rejected = finding(report, "credentials-rejected")
    assert rejected["verdict"] == "wrong-credential-source"
    assert rejected["source"] == "shared-credentials-file"
    assert "container-role is also configured" in rejected["message"]
    assert codes(report)["profile-overrides-role"] == "warning"


def test_a_wrong_secret_is_a_signature_mismatch(
    strict_aws: StrictAws,
    strict_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = strict_user_key(strict_aws, "deploy")
    use_env_key(monkeypatch, key, secret="the-previous-secret-of-a-half-done-rollout")
    code, report = preflight(capsys)
    assert code == 4
    assert report["sts"]["error"]["code"] == "SignatureDoesNotMatch"
    assert finding(report, "credentials-rejected")["verdict"] == "signature-mismatch"


def test_unknown_session_credentials_from_the_container_are_temporary_credentials(
    strict_aws: StrictAws,
    strict_runtime: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    container_endpoint: ContainerEndpoint,
) -> None:
    container_endpoint.body = {
        "AccessKeyId": "ASIAY34FZKBOKMUTVV7A",
        "SecretAccessKey": "stale-session-secret",
        "Token": "stale-session-token",
        "Expiration": "2099-01-01T00:00:00Z",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/task",
    }
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint.url)
    code, report = preflight(capsys, secrets=("stale-session-secret", "stale-session-token"))
    assert code == 4
    rejected = finding(report, "credentials-rejected")
    assert rejected["verdict"] == "temporary-credentials" and rejected["source"] == "container-role"
