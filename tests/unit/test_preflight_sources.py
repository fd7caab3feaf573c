"""`credfix preflight` without the local AWS: real environment permutations (a temporary HOME
with config/credentials files, env vars, web identity and container variables) resolved by
botocore's own chain, `--offline` so nothing leaves the process, plus the pure verdict and
exit-code rules."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from credfix.cli import main
from credfix.preflight.checks import (
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNVERIFIED,
    Expectations,
    Finding,
    exit_code_for,
    explain_rejection,
)
from credfix.preflight.sources import ChainAudit, Source, provider_methods

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"  # must never appear in any output
TOKEN = "FwoGZXIvYXdzEXAMPLETOKENVALUE"


def key_for(account: int, prefix: str = "AKIA") -> str:
    """A key ID with the published layout (flag bit 47, account in bits 7-46)."""
    raw = ((1 << 47) | (account << 7) | 0x2A).to_bytes(6, "big") + b"\x9a\xbc\xde\xf0"
    return prefix + base64.b32encode(raw).decode()


HOME_KEY = key_for(123456789012)
DEPLOY_KEY = key_for(111122223333)
SANDBOX_KEY = key_for(999988887777)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean runtime: no AWS_* variables, an empty HOME, instance metadata disabled."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return home


def write_credentials(home: Path, profiles: dict[str, str]) -> Path:
    path = home / ".aws" / "credentials"
    path.write_text(
        "".join(
            f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = {SECRET}\n"
            for name, key in profiles.items()
        )
    )
    return path


def write_config(home: Path, text: str) -> Path:
    path = home / ".aws" / "config"
    path.write_text(text)
    return path


def preflight(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["preflight", "--json", *args])
    out = capsys.readouterr().out
    assert SECRET not in out and TOKEN not in out
    return code, json.loads(out)


def text_preflight(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["preflight", "--format", "text", *args])
    out = capsys.readouterr().out
    assert SECRET not in out and TOKEN not in out
    return code, out


def codes(report: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in report["findings"]}


def source(report: dict[str, Any], method: str) -> dict[str, Any]:
    return next(s for s in report["sources"] if s["method"] == method)


def test_credentials_file_under_home_wins_and_its_key_is_redacted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"default": HOME_KEY})  # found through HOME (~/.aws/credentials)
    code, report = preflight(capsys, "--offline", "--expect-source", "shared-credentials-file")
    assert code == EXIT_OK
    assert report["schema"] == "credfix.preflight/v1"
    assert report["winner"] == "shared-credentials-file"
    winning = source(report, "shared-credentials-file")
    assert winning["won"] and winning["key_id"] == f"AKIA…{HOME_KEY[-4:]}"
    assert winning["account"] == "123456789012" and winning["account_basis"] == "key-id-decoding"
    assert HOME_KEY not in json.dumps(report)  # only the redacted form is printed
    assert report["chain"].index("env") < report["chain"].index("shared-credentials-file")


def test_env_keys_win_over_the_profile_file_as_the_sdk_orders_them(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = write_credentials(home, {"default": HOME_KEY})
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEPLOY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    code, report = preflight(capsys, "--offline", "--expect-source", "shared-credentials-file")
    assert code == EXIT_MISMATCH
    assert report["winner"] == "env"
    assert [s["method"] for s in report["sources"]] == ["env", "shared-credentials-file"]
    mismatch = next(f for f in report["findings"] if f["code"] == "source-mismatch")
    assert "env comes first" in mismatch["message"]
    assert "mixed-auth-modes" not in codes(report)  # two static sources are not mixed modes


def test_profile_with_role_arn_is_assume_role_and_its_account_is_checked_offline(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"base": HOME_KEY})
    config = write_config(
        home, "[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = base\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "deploy")
    code, report = preflight(capsys, "--offline", "--expect-account", "111122223333")
    assert code == EXIT_OK
    assert report["profile"] == {
        "name": "deploy",
        "set_by": "AWS_PROFILE",
        "variables": {"AWS_PROFILE": "deploy"},
    }
    role = source(report, "assume-role")
    assert role["won"] and role["role_arn"] == "arn:aws:iam::111122223333:role/deploy"
    assert role["details"]["source_profile"] == "base"
    assert "not contacted (--offline)" in report["winner_note"]

    code, report = preflight(capsys, "--offline", "--expect-account", "222233334444")
    assert code == EXIT_MISMATCH
    finding = next(f for f in report["findings"] if f["code"] == "key-account-mismatch")
    assert finding["severity"] == "error" and finding["verdict"] == "foreign-account"


def test_aws_default_profile_beats_aws_profile_and_the_disagreement_is_flagged(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"prod": DEPLOY_KEY, "sandbox": SANDBOX_KEY})
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "sandbox")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    code, report = preflight(capsys, "--offline")
    assert code == EXIT_OK  # a warning only
    assert report["profile"]["name"] == "sandbox" and report["profile"]["set_by"] == "AWS_DEFAULT_PROFILE"
    assert source(report, "shared-credentials-file")["key_id"] == f"AKIA…{SANDBOX_KEY[-4:]}"
    assert codes(report)["profile-variables-disagree"] == "warning"


def test_a_profile_that_does_not_exist_fails_the_chain(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"default": HOME_KEY})
    monkeypatch.setenv("AWS_PROFILE", "sandbox")
    for offline in (["--offline"], []):  # online too: the SDK fails before any network call
        code, report = preflight(capsys, *offline)
        assert code == EXIT_REJECTED
        assert report["chain_failure"]["error"] == "ProfileNotFound"
        assert "AWS_PROFILE" in report["chain_failure"]["message"]
        assert codes(report)["credential-source-failed"] == "error"


def test_static_env_keys_next_to_web_identity_are_mixed_auth_modes(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.not-a-real.jwt")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/app")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SANDBOX_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    code, report = preflight(capsys, "--offline")
    assert code == EXIT_OK
    assert report["winner"] == "env"
    web = source(report, "assume-role-with-web-identity")
    assert web["role_arn"] == "arn:aws:iam::111122223333:role/app" and web["details"]["token_file_readable"]
    assert codes(report)["mixed-auth-modes"] == "warning"

    code, text = text_preflight(capsys, "--offline", "--strict")
    assert code == EXIT_MISMATCH  # --strict turns the warning into a failure
    assert "WARN  mixed-auth-modes" in text and "env wins" in text


def test_web_identity_from_env_beats_aws_profile_so_no_profile_override_is_claimed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"dev": SANDBOX_KEY})
    token = tmp_path / "token"
    token.write_text("jwt")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/app")
    code, report = preflight(capsys, "--offline", "--expect-source", "assume-role-with-web-identity")
    # botocore tries web identity (from env) before the profile's static keys
    assert code == EXIT_OK
    assert report["winner"] == "assume-role-with-web-identity"
    assert "profile-overrides-role" not in codes(report)
    assert codes(report)["mixed-auth-modes"] == "warning"  # the profile's keys are still present


def test_aws_profile_overrides_the_container_role(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"sandbox": SANDBOX_KEY})
    monkeypatch.setenv("AWS_PROFILE", "sandbox")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    code, report = preflight(capsys, "--offline", "--expect-source", "container-role")
    assert code == EXIT_MISMATCH
    assert report["winner"] == "shared-credentials-file"
    container = source(report, "container-role")
    assert container["origin"] == "http://169.254.170.2/v2/credentials/abc"
    assert container["contacted"] is None and "not contacted" in container["note"]
    found = codes(report)
    assert found["profile-overrides-role"] == "warning" and found["source-mismatch"] == "error"
    override = next(f for f in report["findings"] if f["code"] == "profile-overrides-role")
    assert "AWS_PROFILE=sandbox" in override["message"]


def test_offline_account_mismatch_needs_no_network(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SANDBOX_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    code, report = preflight(capsys, "--offline", "--expect-account", "111122223333")
    assert code == EXIT_MISMATCH
    assert report["sts"] is None  # STS was not called
    finding = next(f for f in report["findings"] if f["code"] == "key-account-mismatch")
    assert "999988887777" in finding["message"] and finding["source"] == "env"


def test_a_region_in_another_partition_is_a_mismatch(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"default": HOME_KEY})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    code, report = preflight(capsys, "--offline", "--expect-partition", "aws")
    assert code == EXIT_MISMATCH
    assert report["region_partition"] == "aws-cn"
    assert codes(report)["partition-mismatch"] == "error"
    assert preflight(capsys, "--offline", "--expect-partition", "aws-cn")[0] == EXIT_OK


def test_partial_env_credentials_fail_the_chain_at_env(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEPLOY_KEY)  # no secret
    code, report = preflight(capsys, "--offline")
    assert code == EXIT_REJECTED
    assert report["chain_failure"]["provider"] == "env"
    assert report["chain_failure"]["error"] == "PartialCredentialsError"


def test_no_credentials_at_all_is_exit_4_and_instance_metadata_is_respected(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = preflight(capsys)  # online: the chain ends at (disabled) instance metadata
    assert code == EXIT_REJECTED
    assert codes(report) == {"no-credentials": "error"}
    assert report["sources"] == [] and report["sts"] is None

    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    code, report = preflight(capsys, "--offline")
    assert code == EXIT_OK  # offline cannot rule out an instance role: it says so
    assert report["winner"] == "iam-role" and "not probed" in report["winner_note"]


def test_credential_process_is_reported_by_program_name_only(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(home, "[default]\ncredential_process = /opt/bin/get-creds --token s3cr3t-arg\n")
    code, report = preflight(capsys, "--offline", "--expect-source", "custom-process")
    assert code == EXIT_OK
    process = source(report, "custom-process")
    assert process["won"] and process["details"] == {"program": "get-creds"}
    assert "s3cr3t-arg" not in json.dumps(report)


def test_a_session_token_next_to_a_long_term_key_is_flagged(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEPLOY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    code, report = preflight(capsys, "--offline")
    assert code == EXIT_OK
    assert codes(report)["session-token-mismatch"] == "warning"
    assert source(report, "env")["details"]["session_token"] is True


def test_container_uri_on_a_host_the_sdk_refuses_fails_without_a_network_call(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.9.8.7/creds")
    code, report = preflight(capsys)  # online: botocore validates the host before connecting
    assert code == EXIT_REJECTED
    assert "Unsupported host" in report["chain_failure"]["message"]
    container = source(report, "container-role")
    assert container["contacted"] is None and "not one the SDK accepts" in container["note"]


def test_human_output_is_one_line_per_finding(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_credentials(home, {"sandbox": SANDBOX_KEY})
    monkeypatch.setenv("AWS_PROFILE", "sandbox")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    code, text = text_preflight(capsys, "--offline", "--expect-account", "111122223333")
    lines = text.splitlines()
    assert lines[0] == "credfix preflight: MISMATCH (exit 3)" and code == EXIT_MISMATCH
    assert any(line.startswith("  winner    shared-credentials-file  AKIA…") for line in lines)
    assert any(line.startswith("  also      container-role") for line in lines)
    finding_lines = [line for line in lines if line.startswith(("  ERROR", "  WARN", "  INFO"))]
    assert {line.split()[1].split("[")[0].rstrip(":") for line in finding_lines} == {
        "key-account-mismatch",
        "profile-overrides-role",
        "mixed-auth-modes",
    }
    assert SANDBOX_KEY not in text


@pytest.mark.parametrize(
    "args",
    [
        ["--expect-account", "12345"],
        ["--expect-account", "123456789012", "abc"],
        ["--expect-source", "environment"],
        ["--expect-partition", "aws-mars"],
        ["--expect-arn", "user/deploy"],
        ["--timeout", "0"],
        ["--nonsense"],
    ],
)
def test_bad_arguments_exit_2(args: list[str], home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", *args]) == 2
    assert "error:" in capsys.readouterr().err


def test_help_lists_the_sources_botocore_knows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", "--help"]) == 0
    help_text = capsys.readouterr().out
    chain = [p.METHOD for p in botocore.session.Session().get_component("credential_provider").providers]
    assert set(chain) <= set(provider_methods())
    for method in ("env", "assume-role-with-web-identity", "container-role", "iam-role", "sso"):
        assert method in help_text


def _audit(winner: str, *others: str) -> ChainAudit:
    audit = ChainAudit([], "default", None, {}, "us-east-1", "", "", offline=False, winner=winner)
    audit.sources = [
        Source(m, None, i, "", "static", won=m == winner) for i, m in enumerate((winner, *others))
    ]
    return audit


@pytest.mark.parametrize(
    ("code", "key_id", "others", "accounts", "verdict", "also"),
    [
        ("SignatureDoesNotMatch", DEPLOY_KEY, (), (), "signature-mismatch", []),
        ("ExpiredToken", key_for(111122223333, "ASIA"), (), (), "temporary-credentials", []),
        ("InvalidClientTokenId", key_for(111122223333, "ASIA"), (), (), "temporary-credentials", []),
        ("InvalidClientTokenId", SANDBOX_KEY, ("container-role",), ("111122223333",), "foreign-account", []),
        (
            "InvalidClientTokenId",
            DEPLOY_KEY,
            ("container-role",),
            ("111122223333",),
            "wrong-credential-source",
            ["key-deleted", "key-deactivated"],
        ),
        ("UnrecognizedClientException", DEPLOY_KEY, (), (), "key-deleted", ["key-deactivated"]),
        ("InvalidClientTokenId", "testing", (), (), "unknown-key", []),
    ],
)
def test_rejections_get_the_design_verdicts(
    code: str, key_id: str, others: tuple[str, ...], accounts: tuple[str, ...], verdict: str, also: list[str]
) -> None:
    got, also_possible, why = explain_rejection(
        code, key_id, _audit("env", *others), Expectations(accounts=accounts)
    )
    assert (got, also_possible) == (verdict, also)
    assert why


def test_the_worse_exit_code_wins() -> None:
    def finding(exit_code: int, severity: str = "error") -> Finding:
        return Finding("x", severity, "m", exit_code)  # type: ignore[arg-type]

    assert exit_code_for([]) == EXIT_OK
    assert exit_code_for([finding(EXIT_UNVERIFIED), finding(EXIT_MISMATCH)]) == EXIT_MISMATCH
    assert (
        exit_code_for([finding(EXIT_MISMATCH), finding(EXIT_REJECTED), finding(EXIT_UNVERIFIED)])
        == EXIT_REJECTED
    )
    assert exit_code_for([finding(EXIT_OK, "warning")]) == EXIT_OK
    assert exit_code_for([finding(EXIT_OK, "warning")], strict=True) == EXIT_MISMATCH
