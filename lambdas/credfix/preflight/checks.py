"""Assertions and the field guide's failure modes, as findings with one exit-code rule.

Exit codes (documented in docs/preflight.md; the CLI returns them):
  0  every assertion holds (warnings alone do not fail, unless --strict)
  1  nothing could be verified: STS unreachable or timed out (no other failure found)
  2  bad arguments (argparse)
  3  identity mismatch: account, ARN, partition or credential source is not the expected one
     (includes the offline checks: a key ID that decodes to another account, a region in
     another partition), or a warning under --strict
  4  credentials rejected by AWS, unobtainable (the SDK's chain raised, the role could not be
     assumed) or absent: the workload could not sign a request at all
A worse code wins: 4 over 3 over 1, so a rejected key that also belongs to the wrong
account exits 4 (its verdict, e.g. foreign-account, says why).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from credfix.keys import decode_account, key_kind, partition_of_region, redact
from credfix.preflight.identity import CallerIdentity, StsFailure
from credfix.preflight.sources import PROFILE_METHODS, RUNTIME_ROLE_METHODS, ChainAudit, Source

if TYPE_CHECKING:  # the verdict vocabulary is the incident document's; pydantic is not needed at runtime
    from credfix.models.incident import Verdict

FindingSeverity = Literal["error", "warning", "info"]

EXIT_OK = 0
EXIT_UNVERIFIED = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_MISMATCH = 3
EXIT_REJECTED = 4

# Error codes that mean "AWS did not accept this credential" (DESIGN.md CREDENTIAL_ERRORS plus
# the temporary-credential variants), as opposed to throttling or a server error.
UNRECOGNISED_KEY_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AuthFailure",
        "Client.AuthFailure",
    }
)
SIGNATURE_CODES = frozenset({"SignatureDoesNotMatch", "IncompleteSignature"})
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
# What assuming a role (web identity, profile role, SSO) answers when the role side refuses.
ROLE_REFUSAL_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidIdentityToken",
        "IDPRejectedClaim",
        "IDPCommunicationError",
        "UnauthorizedException",
    }
)
REJECTION_CODES = UNRECOGNISED_KEY_CODES | SIGNATURE_CODES | EXPIRED_CODES


@dataclass(frozen=True)
class Expectations:
    accounts: tuple[str, ...] = ()
    arn_pattern: str | None = None  # fnmatch glob, case-sensitive; `*` also matches `/`
    partition: str | None = None
    source: str | None = None  # botocore provider METHOD


@dataclass
class Finding:
    code: str
    severity: FindingSeverity
    message: str  # one line; key IDs redacted
    exit_code: int = EXIT_OK  # what this finding alone would make the run exit with
    source: str | None = None  # METHOD of the credential source it is about
    verdict: Verdict | None = None
    also_possible: list[Verdict] = field(default_factory=list)


def chain_findings(audit: ChainAudit, expect: Expectations) -> list[Finding]:
    """Everything that can be said without a network call (beyond the local endpoints)."""
    findings: list[Finding] = []
    winner = audit.winning_source
    if audit.failure is not None:
        failure = audit.failure
        findings.append(
            Finding(
                "credential-source-failed",
                "error",
                f"the SDK's credential chain fails at {failure.provider or 'an unknown provider'}: "
                f"{failure.error}: {failure.message}",
                EXIT_REJECTED,
                source=failure.provider,
            )
        )
    elif audit.winner is None:
        findings.append(
            Finding(
                "no-credentials",
                "error",
                "no credential source in the chain yields credentials: every AWS call would fail",
                EXIT_REJECTED,
            )
        )

    findings += _profile_findings(audit)
    findings += _mixed_auth(audit)
    findings += _session_token_findings(audit)

    if expect.source and audit.winner and audit.winner != expect.source:
        findings.append(
            Finding(
                "source-mismatch",
                "error",
                f"credentials come from {audit.winner}, expected {expect.source}"
                + _shadowing_hint(audit, expect.source),
                EXIT_MISMATCH,
                source=audit.winner,
            )
        )
    if expect.accounts:
        for source in audit.sources:
            if source.account and source.account not in expect.accounts:
                findings.append(_offline_account_mismatch(source, expect))
    if expect.partition and audit.region:
        region_partition = partition_of_region(audit.region)
        if region_partition != expect.partition:
            findings.append(
                Finding(
                    "partition-mismatch",
                    "error",
                    f"region {audit.region} is in partition {region_partition}, expected {expect.partition}",
                    EXIT_MISMATCH,
                )
            )
    if winner is not None and audit.winner_note:
        findings.append(Finding("winner-not-verified", "info", f"{winner.method}: {audit.winner_note}"))
    return findings


def identity_findings(identity: CallerIdentity, expect: Expectations, audit: ChainAudit) -> list[Finding]:
    findings: list[Finding] = []
    if expect.accounts and identity.account not in expect.accounts:
        expected = ", ".join(expect.accounts)
        findings.append(
            Finding(
                "account-mismatch",
                "error",
                f"AWS says account {identity.account} ({identity.arn}), expected {expected}; "
                f"credentials came from {audit.winner}" + _competitors_hint(audit),
                EXIT_MISMATCH,
                source=audit.winner,
            )
        )
    if expect.arn_pattern and not fnmatch.fnmatchcase(identity.arn, expect.arn_pattern):
        hint = ""
        if (
            ":iam::" in expect.arn_pattern
            and ":role/" in expect.arn_pattern
            and ":assumed-role/" in identity.arn
        ):
            hint = " (a role session's ARN is arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION)"
        findings.append(
            Finding(
                "arn-mismatch",
                "error",
                f"caller ARN {identity.arn} does not match {expect.arn_pattern}{hint}",
                EXIT_MISMATCH,
                source=audit.winner,
            )
        )
    if expect.partition and identity.partition != expect.partition:
        findings.append(
            Finding(
                "partition-mismatch",
                "error",
                f"caller ARN is in partition {identity.partition}, expected {expect.partition}",
                EXIT_MISMATCH,
                source=audit.winner,
            )
        )
    return findings


def sts_failure_findings(
    failure: StsFailure, key_id: str | None, audit: ChainAudit, expect: Expectations
) -> list[Finding]:
    source = audit.winner
    if failure.unreachable:
        return [
            Finding(
                "sts-unreachable",
                "error",
                f"could not reach STS ({failure.code}); nothing verified online",
                EXIT_UNVERIFIED,
                source=source,
            )
        ]
    if failure.stage == "credentials":
        what = failure.operation or "loading the credentials"
        verdict: Verdict | None = "temporary-credentials" if failure.code in ROLE_REFUSAL_CODES else None
        return [
            Finding(
                "credentials-unobtainable",
                "error",
                f"{source} could not produce credentials: {what} failed with "
                f"{failure.code}: {failure.message}",
                EXIT_REJECTED,
                source=source,
                verdict=verdict,
            )
        ]
    if failure.code in REJECTION_CODES:
        verdict, also, why = explain_rejection(failure.code, key_id, audit, expect)
        return [
            Finding(
                "credentials-rejected",
                "error",
                f"{failure.code} for {redact(key_id)} from {source}: {why}",
                EXIT_REJECTED,
                source=source,
                verdict=verdict,
                also_possible=also,
            )
        ]
    return [
        Finding(
            "sts-error",
            "error",
            f"sts:GetCallerIdentity failed with {failure.code}: {failure.message}",
            EXIT_UNVERIFIED,
            source=source,
        )
    ]


def explain_rejection(
    code: str, key_id: str | None, audit: ChainAudit, expect: Expectations
) -> tuple[Verdict, list[Verdict], str]:
    """The DESIGN.md §2 verdict for a rejected credential, from what the runtime can see:
    (verdict, other verdicts it cannot rule out, one-line reason)."""
    others = [s.method for s in audit.sources if not s.won]
    if code in SIGNATURE_CODES:
        return (
            "signature-mismatch",
            [],
            "the key ID is known but the secret does not match it: key and secret out of step "
            "(a half-done rollout); refresh both together and restart",
        )
    if code in EXPIRED_CODES or (key_id and key_kind(key_id) == "temporary"):
        return (
            "temporary-credentials",
            [],
            "a role session's temporary credentials are expired or unknown: a role/session problem, "
            "not a key lifecycle one; restart or refresh the session",
        )
    decoded = decode_account(key_id).account_id if key_id else None
    if decoded and expect.accounts and decoded not in expect.accounts:
        return (
            "foreign-account",
            [],
            f"the key ID belongs to account {decoded} (decoded offline), not {', '.join(expect.accounts)}",
        )
    if others:
        return (
            "wrong-credential-source",
            ["key-deleted", "key-deactivated"],
            f"{audit.winner} wins while {', '.join(others)} is also configured: if that is the intended "
            f"source, remove the {audit.winner} credential; otherwise the key was deleted or deactivated",
        )
    if not key_id or not key_id.startswith(("AKIA", "ASIA")):
        return ("unknown-key", [], "not an AWS access key ID: no owner can be established")
    return (
        "key-deleted",
        ["key-deactivated"],
        "AWS does not recognise this key: deleted or deactivated (the owning account's "
        "iam:ListAccessKeys tells which); replace it where the source reads it, then restart",
    )


def exit_code_for(findings: list[Finding], *, strict: bool = False) -> int:
    codes = {f.exit_code for f in findings}
    if strict and any(f.severity == "warning" for f in findings):
        codes.add(EXIT_MISMATCH)
    for code in (EXIT_REJECTED, EXIT_MISMATCH, EXIT_UNVERIFIED):
        if code in codes:
            return code
    return EXIT_OK


def _offline_account_mismatch(source: Source, expect: Expectations) -> Finding:
    expected = ", ".join(expect.accounts)
    basis = {
        "key-id-decoding": f"key ID {redact(source.key_id)} decodes (offline) to",
        "role-arn": f"role {source.role_arn} is in",
        "sso_account_id": "sso_account_id is",
        "aws_account_id": "the source declares",
    }[source.account_basis or "aws_account_id"]
    if source.won:
        return Finding(
            "key-account-mismatch",
            "error",
            f"{source.method} (the winning source): {basis} account {source.account}, expected {expected}",
            EXIT_MISMATCH,
            source=source.method,
            verdict="foreign-account",
        )
    return Finding(
        "key-account-mismatch",
        "warning",
        f"{source.method} (configured, not used now): {basis} account {source.account}, expected {expected}",
        source=source.method,
    )


def _profile_findings(audit: ChainAudit) -> list[Finding]:
    findings: list[Finding] = []
    values = set(audit.profile_vars.values())
    if len(values) > 1:
        findings.append(
            Finding(
                "profile-variables-disagree",
                "warning",
                f"AWS_DEFAULT_PROFILE={audit.profile_vars['AWS_DEFAULT_PROFILE']} and "
                f"AWS_PROFILE={audit.profile_vars['AWS_PROFILE']}: botocore uses AWS_DEFAULT_PROFILE, "
                "the AWS CLI v2 and other SDKs use AWS_PROFILE",
            )
        )
    roles = [s.method for s in audit.sources if s.method in RUNTIME_ROLE_METHODS]
    if audit.profile_from and audit.winner in PROFILE_METHODS and roles:
        findings.append(
            Finding(
                "profile-overrides-role",
                "warning",
                f"{audit.profile_from}={audit.profile} makes {audit.winner} win over the runtime role "
                f"({', '.join(roles)}): unset it in this runtime",
                source=audit.winner,
            )
        )
    return findings


def _mixed_auth(audit: ChainAudit) -> list[Finding]:
    static = [s for s in audit.sources if s.kind == "static"]
    roles = [s for s in audit.sources if s.method in RUNTIME_ROLE_METHODS]
    if not static or not roles:
        return []
    winner = f"{audit.winner} wins" if audit.winner else "the chain fails"
    keys = ", ".join(f"{s.method} {redact(s.key_id)}" for s in static)
    return [
        Finding(
            "mixed-auth-modes",
            "warning",
            f"static keys ({keys}) alongside a role source ({', '.join(s.method for s in roles)}); "
            f"{winner}: remove the one that is not intended",
            source=static[0].method,
        )
    ]


def _session_token_findings(audit: ChainAudit) -> list[Finding]:
    findings: list[Finding] = []
    for source in audit.sources:
        if source.kind != "static" or not source.key_id:
            continue
        has_token = bool(source.details.get("session_token"))
        temporary = key_kind(source.key_id) == "temporary"
        if has_token and not temporary:
            message = f"{source.method}: long-term key {redact(source.key_id)} with a session token set"
        elif temporary and not has_token:
            message = f"{source.method}: temporary key {redact(source.key_id)} without its session token"
        else:
            continue
        findings.append(
            Finding(
                "session-token-mismatch",
                "warning",
                message + " (AWS rejects this pair with InvalidClientTokenId)",
                source=source.method,
            )
        )
    return findings


def _shadowing_hint(audit: ChainAudit, expected: str) -> str:
    present = audit.source(expected)
    if present is None:
        return f" ({expected} is not configured in this runtime)"
    return f" ({expected} is configured but {audit.winner} comes first in the SDK's chain)"


def _competitors_hint(audit: ChainAudit) -> str:
    others = [s.method for s in audit.sources if not s.won]
    return f" (also configured: {', '.join(others)})" if others else ""
