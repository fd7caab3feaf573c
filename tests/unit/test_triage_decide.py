"""decide(): every verdict of DESIGN.md §2 from constructed facts (no AWS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from credfix.core.triage import SEVERITY, Decision, Lifecycle, Ownership, decide
from credfix.models.iam import KeyFacts
from credfix.models.incident import ConfiguredCredential, Workload
from credfix.models.secrets import SecretsScan, SecretVersion, WatchedSecret, key_ids_in_secret, ordered

ACCOUNT = "111122223333"
OLD = "AKIAY34FZKBOKMUTVV7A"
NEW = "AKIAY34FZKBOKMUTVV7B"
OTHER = "AKIAY34FZKBOKMUTVV7C"
T0 = datetime(2026, 11, 3, 11, 2, tzinfo=UTC)  # rotation
FIRST_SEEN = T0 + timedelta(minutes=3)
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:deploy-bot/aws-AbCdEf"


def ours(**kw: object) -> Ownership:
    defaults: dict[str, object] = {
        "owner_account": ACCOUNT,
        "method": "sts",
        "target_accounts": (ACCOUNT,),
        "caller_account": ACCOUNT,
        "caller_partition": "aws",
    }
    return Ownership(**{**defaults, **kw})  # type: ignore[arg-type]


def facts(key: str, status: str, last_used: datetime | None = None) -> KeyFacts:
    return KeyFacts(key, "deploy-bot", status, T0 - timedelta(days=90), last_used, "sts", "us-east-1")  # type: ignore[arg-type]


def rotated_secret(current_key: str = NEW, name: str = "deploy-bot/aws") -> WatchedSecret:
    return WatchedSecret(
        SECRET_ARN,
        name,
        (
            SecretVersion("v1-old-version", ("AWSPREVIOUS",), T0 - timedelta(days=30), (OLD,)),
            SecretVersion("v2-new-version", ("AWSCURRENT",), T0, (current_key,)),
        ),
    )


def run(**kw: object) -> Decision:
    args: dict[str, object] = {
        "access_key_id": OLD,
        "error_codes": ["InvalidClientTokenId"],
        "ownership": ours(),
        "lifecycle": Lifecycle("found", facts(OLD, "Inactive")),
        "secrets": SecretsScan(),
        "first_seen": FIRST_SEEN,
    }
    args.update(kw)
    return decide(**args)  # type: ignore[arg-type]


def text(decision: Decision) -> str:
    return "\n".join(f"{e.check}: {e.found}" for e in decision.evidence)


def test_stale_consumer_rotated_secret_holds_a_newer_active_key() -> None:
    d = run(
        secrets=SecretsScan((rotated_secret(),)),
        related_keys={NEW: facts(NEW, "Active", last_used=FIRST_SEEN + timedelta(minutes=1))},
    )
    assert (d.verdict, d.severity, d.key_status, d.owner_account) == (
        "stale-consumer",
        "medium",
        "Inactive",
        ACCOUNT,
    )
    assert "held this key in version v1-old-v (AWSPREVIOUS), rotated out at 2026-11-03T11:02:00Z" in text(d)
    assert "AWSCURRENT holds AKIA…VV7B (Active)" in text(d)
    assert "last use of the expected key AKIA…VV7B" in text(d)  # the decision shortcut's clue


def test_stale_consumer_with_a_deleted_key_says_why_it_existed() -> None:
    d = run(
        lifecycle=Lifecycle("absent"),
        secrets=SecretsScan((rotated_secret(),)),
        related_keys={NEW: facts(NEW, "Active")},
    )
    assert (d.verdict, d.key_status) == ("stale-consumer", "deleted")
    assert "NoSuchEntity: AKIA…VV7A was deleted (watched secret deploy-bot/aws held it" in text(d)


def test_stale_secret_when_awscurrent_still_holds_the_dead_key() -> None:
    secret = WatchedSecret(SECRET_ARN, "deploy-bot/aws", (SecretVersion("v1", ("AWSCURRENT",), T0, (OLD,)),))
    d = run(secrets=SecretsScan((secret,)))
    assert (d.verdict, d.severity) == ("stale-secret", "high")
    assert "AWSCURRENT (version v1) still holds this key" in text(d)


def test_stale_secret_when_the_secret_moved_on_to_a_key_that_is_dead_too() -> None:
    d = run(secrets=SecretsScan((rotated_secret(),)), related_keys={NEW: None})
    assert d.verdict == "stale-secret"
    assert "AWSCURRENT holds AKIA…VV7B (not in IAM (deleted))" in text(d)


def test_signature_mismatch_needs_an_active_key() -> None:
    active = Lifecycle("found", facts(OLD, "Active"))
    d = run(lifecycle=active, error_codes=["SignatureDoesNotMatch"])
    assert (d.verdict, d.key_status, d.severity) == ("signature-mismatch", "Active", "medium")
    inactive = run(error_codes=["SignatureDoesNotMatch"])
    assert inactive.verdict == "key-deactivated"


def _workload(*creds: ConfiguredCredential, confidence: str = "high") -> Workload:
    return Workload(
        type="ecs-task",
        id="arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef",
        confidence=confidence,  # type: ignore[arg-type]
        credentials=list(creds),
    )


@pytest.mark.parametrize(
    ("credential", "related", "says"),
    [
        (
            ConfiguredCredential(kind="role", ref="arn:aws:iam::111122223333:role/app"),
            {},
            "configured with role arn:aws:iam::111122223333:role/app, not a long-term key",
        ),
        (
            ConfiguredCredential(kind="static-key", ref="AKIA…VV7C", access_key_id=OTHER),
            {OTHER: facts(OTHER, "Active", last_used=FIRST_SEEN)},
            "configured with a different, Active key AKIA…VV7C, last used 2026-11-03T11:05:00Z",
        ),
        (
            ConfiguredCredential(
                kind="secret", ref="arn:aws:secretsmanager:us-east-1:111122223333:secret:x-Q"
            ),
            {OTHER: facts(OTHER, "Active")},
            "which never held this key and holds the Active key AKIA…VV7C",
        ),
    ],
)
def test_wrong_credential_source_when_the_configured_credential_is_another(
    credential: ConfiguredCredential, related: dict[str, KeyFacts], says: str
) -> None:
    watched = WatchedSecret(
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:x-Q",
        "x",
        (SecretVersion("v9", ("AWSCURRENT",), T0, (OTHER,)),),
    )
    d = run(workloads=[_workload(credential)], related_keys=related, secrets=SecretsScan((watched,)))
    assert (d.verdict, d.severity) == ("wrong-credential-source", "high")
    assert says in text(d)
    assert "yet it signs with this key: another credential provider wins" in text(d)


def test_wrong_credential_source_beats_stale_secret_but_not_an_explaining_workload() -> None:
    role = ConfiguredCredential(kind="role", ref="arn:aws:iam::111122223333:role/app")
    via_secret = ConfiguredCredential(kind="secret", ref=SECRET_ARN)
    scan = SecretsScan((rotated_secret(),))
    related = {NEW: facts(NEW, "Active")}
    assert run(workloads=[_workload(role)], secrets=scan, related_keys=related).verdict == (
        "wrong-credential-source"
    )
    # Another located workload reads the secret that held the key: the stale mount explains it.
    explained = run(workloads=[_workload(role), _workload(via_secret)], secrets=scan, related_keys=related)
    assert explained.verdict == "stale-consumer"


def test_low_confidence_candidates_are_listed_but_never_decide() -> None:
    role = ConfiguredCredential(kind="role", ref="arn:aws:iam::111122223333:role/app")
    d = run(workloads=[_workload(role, confidence="low")])
    assert d.verdict == "key-deactivated"
    assert "low confidence" in text(d)


def test_foreign_account_wins_over_everything_else() -> None:
    d = run(
        ownership=ours(owner_account="210987654321"),
        lifecycle=Lifecycle("not-visible", note="the key belongs to account 210987654321"),
        secrets=SecretsScan((rotated_secret(),)),
    )
    assert (d.verdict, d.key_status, d.owner_account, d.severity) == (
        "foreign-account",
        "not-in-account",
        "210987654321",
        "high",
    )
    assert "belongs to account 210987654321, not to the account(s) it was used against" in text(d)
    assert "holds this foreign key" in text(d)


def test_partition_drift_is_a_foreign_account_verdict() -> None:
    d = run(ownership=ours(target_partitions=("aws-cn",), caller_partition="aws"))
    assert d.verdict == "foreign-account"
    assert "partition drift" in text(d)


def test_key_deactivated_and_key_deleted_without_a_secret_to_explain_them() -> None:
    assert run().verdict == "key-deactivated"
    deleted = run(lifecycle=Lifecycle("absent"))
    assert (deleted.verdict, deleted.key_status) == ("key-deleted", "deleted")
    assert "nothing shows AKIA…VV7A ever existed here" in text(deleted)


def test_signature_errors_in_the_history_prove_a_deleted_key_existed() -> None:
    d = run(lifecycle=Lifecycle("absent"), error_codes=["InvalidClientTokenId", "SignatureDoesNotMatch"])
    assert d.verdict == "key-deleted"
    assert "AWS answered SignatureDoesNotMatch for it, so it knew the key ID then" in text(d)


def test_temporary_credentials_name_the_session_issuer() -> None:
    role = "arn:aws:iam::111122223333:role/deploy"
    d = run(
        access_key_id="ASIAY34FZKBOKMUTVV7A",
        lifecycle=Lifecycle("temporary"),
        session_issuer=role,
    )
    assert (d.verdict, d.key_status, d.severity) == ("temporary-credentials", "temporary", "low")
    assert f"role: {role}" in text(d)
    unnamed = run(access_key_id="ASIAY34FZKBOKMUTVV7A", lifecycle=Lifecycle("temporary"))
    assert "not recorded in the CloudTrail record" in text(unnamed)


def test_unknown_key_when_no_owner_can_be_established() -> None:
    d = run(
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        ownership=ours(owner_account=None, method="none", sts_failure="unreachable: EndpointConnectionError"),
        lifecycle=Lifecycle("absent"),
    )
    assert (d.verdict, d.key_status, d.owner_account) == ("unknown-key", "unknown", None)
    assert "no answer (unreachable: EndpointConnectionError); fell back to offline decoding" in text(d)
    assert "no owner can be established" in text(d)


def test_offline_decoding_fallback_is_recorded_as_such() -> None:
    d = run(
        ownership=ours(method="offline-decoding", sts_failure="AccessDenied: not allowed", note="decoded"),
    )
    assert "no answer (AccessDenied: not allowed); fell back to offline decoding of the key ID: " in text(d)
    assert f"account {ACCOUNT} (decoded)" in text(d)


def test_active_key_rejected_as_unrecognised_is_not_explained_away() -> None:
    d = run(lifecycle=Lifecycle("found", facts(OLD, "Active")))
    assert d.verdict == "unknown-key"
    assert "for a key IAM shows Active" in text(d)


def test_every_verdict_has_a_severity() -> None:
    from typing import get_args

    from credfix.models.incident import Verdict

    assert set(SEVERITY) == set(get_args(Verdict))


# --- secrets: key IDs out of values, versions in order ------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"AccessKeyId": OLD, "SecretAccessKey": "s3cr3t/value+"}),
        json.dumps({"aws_access_key_id": OLD, "aws_secret_access_key": "s3cr3t/value+"}),
        json.dumps({"AWS_ACCESS_KEY_ID": OLD, "AWS_SECRET_ACCESS_KEY": "s3cr3t/value+"}),
        json.dumps({"accessKeyId": OLD, "secretAccessKey": "s3cr3t/value+"}),
        json.dumps({"credentials": {"AccessKeyId": OLD, "SecretAccessKey": "s3cr3t/value+"}}),
        f"[default]\naws_access_key_id = {OLD}\naws_secret_access_key = s3cr3t/value+\n",
    ],
)
def test_key_id_is_extracted_and_nothing_else(value: str) -> None:
    assert key_ids_in_secret(value) == (OLD,)


def test_json_fields_that_are_not_key_ids_are_ignored() -> None:
    assert key_ids_in_secret(json.dumps({"AccessKeyId": "not-a-key", "password": OLD.lower()})) == ()


def test_rotation_time_is_the_next_versions_creation_even_with_equal_timestamps() -> None:
    same = T0
    versions = ordered(
        [
            SecretVersion("cur", ("AWSCURRENT",), same, (NEW,)),
            SecretVersion("prev", ("AWSPREVIOUS",), same, (OLD,)),
            SecretVersion("older", (), same - timedelta(days=60), (OTHER,)),
        ]
    )
    assert [v.version_id for v in versions] == ["older", "prev", "cur"]
    hit = SecretsScan((WatchedSecret(SECRET_ARN, "s", versions),)).hits(OLD)[0]
    assert (hit.in_current, hit.rotated_out_at, hit.current_key_ids) == (False, same, (NEW,))
    assert SecretsScan((WatchedSecret(SECRET_ARN, "s", versions),)).hits(OTHER)[0].rotated_out_at == same
