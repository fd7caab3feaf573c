"""The verdict: the field guide's decision shortcut as a table, read top to bottom beside
docs/verdicts. `decide()` is a pure function over facts already gathered, so every verdict
can be tested from constructed facts; DESIGN.md §2 is the contract it implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from credfix.core.triage.evidence import active_key, secret_evidence, when, workload_evidence
from credfix.core.triage.lifecycle import Lifecycle
from credfix.core.triage.ownership import Ownership
from credfix.keys import key_kind, redact
from credfix.models.iam import KeyFacts
from credfix.models.incident import (
    Evidence,
    KeyStatus,
    Severity,
    Verdict,
    Workload,
)
from credfix.models.secrets import SecretsScan

SEVERITY: dict[Verdict, Severity] = {
    "foreign-account": "high",  # a workload is pointed at the wrong account or partition
    "wrong-credential-source": "high",  # a restart does not fix it
    "stale-secret": "high",  # every consumer that restarts picks up the dead key
    "stale-consumer": "medium",  # a restart fixes it
    "signature-mismatch": "medium",
    "key-deactivated": "medium",
    "key-deleted": "medium",
    "unknown-key": "medium",
    "temporary-credentials": "low",  # a session problem; the SDK usually recovers by itself
    "rotation-drift": "low",  # nothing failed yet (credfix.core.rotation decides it, not decide())
}
# A key of the account failing only from outside: someone outside holds the key ID. The
# lifecycle verdicts and a mismatched signature on a known key are security signals then.
OUTSIDER_SECURITY_SIGNAL: frozenset[Verdict] = frozenset(
    {
        "stale-consumer",
        "stale-secret",
        "signature-mismatch",
        "key-deactivated",
        "key-deleted",
        "temporary-credentials",
        "wrong-credential-source",
    }
)
DECISIVE_CONFIDENCE = ("high", "medium")  # low-confidence candidates are listed, never decisive


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    severity: Severity
    key_status: KeyStatus
    owner_account: str | None
    evidence: list[Evidence]


def decide(
    *,
    access_key_id: str,
    error_codes: Sequence[str],
    ownership: Ownership,
    lifecycle: Lifecycle,
    secrets: SecretsScan,
    workloads: Sequence[Workload] = (),
    related_keys: Mapping[str, KeyFacts | None] | None = None,
    session_issuer: str | None = None,
    first_seen: datetime | None = None,
) -> Decision:
    """The verdict for one failing key from facts already gathered (no AWS calls).

    `related_keys` holds IAM's facts about other keys that matter (a watched secret's current
    key, a workload's configured static key): None means IAM has no record of that key; a key
    missing from the mapping was not looked up.
    """
    related = dict(related_keys or {})
    evidence: list[Evidence] = []

    def add(check: str, found: str) -> None:
        evidence.append(Evidence(check=check, found=found))

    key = redact(access_key_id)
    owner = ownership.owner_account

    # Ownership.
    if ownership.method == "sts":
        add("sts:GetAccessKeyInfo", f"the key belongs to account {owner}")
    elif ownership.sts_failure:
        fallback = f"account {owner}" if ownership.method == "offline-decoding" and owner else "no account"
        add(
            "sts:GetAccessKeyInfo",
            f"no answer ({ownership.sts_failure}); fell back to offline decoding of the key ID: "
            f"{fallback}{' (' + ownership.note + ')' if ownership.note else ''}",
        )
    elif ownership.method == "offline-decoding":
        add("offline decoding of the key ID", f"account {owner} ({ownership.note})")
    if ownership.method == "iam":
        add("iam:GetAccessKeyLastUsed", "IAM of this account knows the key: it is this account's")
    targets = ownership.target_accounts
    add("CloudTrail records", f"the failing calls were made to account(s) {', '.join(targets) or 'unknown'}")

    hits = secrets.hits(access_key_id)
    for error in secrets.errors:
        add("watched secrets", error)
    for secret in secrets.secrets:
        if secret.error:
            add(f"watched secret {secret.name}", f"could not be read completely: {secret.error}")

    def done(verdict: Verdict, key_status: KeyStatus) -> Decision:
        return Decision(verdict, SEVERITY[verdict], key_status, owner, evidence)

    # Foreign account or partition: this account's IAM cannot know the key.
    if owner and targets and owner not in targets:
        add("account check", f"{key} belongs to account {owner}, not to the account(s) it was used against")
        for hit in hits:
            add(f"watched secret {hit.name}", f"holds this foreign key in version {hit.version_id[:8]}")
        return done("foreign-account", "not-in-account")
    partitions = ownership.target_partitions
    if ownership.caller_partition and partitions and ownership.caller_partition not in partitions:
        add(
            "partition check",
            f"the calls were made in partition {', '.join(partitions)}; the key's account "
            f"answers in partition {ownership.caller_partition}: partition drift",
        )
        return done("foreign-account", "not-in-account")

    if key_kind(access_key_id) == "temporary":
        role = session_issuer or "not recorded in the CloudTrail record"
        add("key ID prefix", f"{key} is an STS session credential (ASIA…): a role session problem")
        add("userIdentity.sessionContext.sessionIssuer", f"role: {role}")
        workload_evidence(add, workloads, access_key_id, hits, secrets, related)
        return done("temporary-credentials", "temporary")

    facts = lifecycle.facts if lifecycle.state == "found" else None
    if lifecycle.state == "not-visible":
        add("IAM lifecycle", f"not looked up: {lifecycle.note}")
        return done("unknown-key", "unknown")

    # Lifecycle in this account.
    if facts:
        used = (
            f"last used {when(facts.last_used_at)} ({facts.last_used_service} in {facts.last_used_region})"
            if facts.last_used_at
            else "never used according to IAM"
        )
        add(
            "iam:GetAccessKeyLastUsed, iam:ListAccessKeys",
            f"{key} of user {facts.user_name} is {facts.status}; created {when(facts.created_at)}; {used}",
        )
    else:
        existed = [f"watched secret {h.name} held it (version {h.version_id[:8]})" for h in hits]
        if "SignatureDoesNotMatch" in error_codes:
            existed.append("AWS answered SignatureDoesNotMatch for it, so it knew the key ID then")
        if existed:
            add("iam:GetAccessKeyLastUsed", f"NoSuchEntity: {key} was deleted ({'; '.join(existed)})")
        elif owner:
            add(
                "iam:GetAccessKeyLastUsed",
                f"NoSuchEntity, and nothing shows {key} ever existed here: deleted before any watched "
                "secret or incident recorded it, or never issued",
            )
        else:
            add("iam:GetAccessKeyLastUsed", f"NoSuchEntity: this account has no record of {key}")
            add("ownership", "no owner can be established (no STS answer, old-format key ID, not in IAM)")
            workload_evidence(add, workloads, access_key_id, hits, secrets, related)
            return done("unknown-key", "unknown")

    key_status: KeyStatus = facts.status if facts else "deleted"
    secret_evidence(add, hits, related, first_seen)
    fits = workload_evidence(add, workloads, access_key_id, hits, secrets, related)
    explained = any(fit == "explains" for fit, w in fits if w.confidence in DECISIVE_CONFIDENCE)
    contradicted = any(fit == "contradicts" for fit, w in fits if w.confidence in DECISIVE_CONFIDENCE)
    wrong_source = contradicted and not explained

    if facts and facts.status == "Active":
        if "SignatureDoesNotMatch" in error_codes:
            add("errorCode", "SignatureDoesNotMatch with an Active key: key ID and secret are out of step")
            return done("signature-mismatch", key_status)
        if wrong_source:
            return done("wrong-credential-source", key_status)
        add(
            "errorCode",
            f"{', '.join(error_codes) or 'no error code'} for a key IAM shows Active: re-activated since, "
            "or the calls went to another endpoint; no explanation found",
        )
        return done("unknown-key", key_status)

    if wrong_source:
        return done("wrong-credential-source", key_status)
    if any(h.in_current for h in hits):
        return done("stale-secret", key_status)
    moved_on = [h for h in hits if any(active_key(related.get(k)) for k in h.current_key_ids)]
    if moved_on:
        return done("stale-consumer", key_status)
    if hits:  # the secret moved on, but to a key that does not work either
        return done("stale-secret", key_status)
    return done("key-deactivated" if facts else "key-deleted", key_status)
