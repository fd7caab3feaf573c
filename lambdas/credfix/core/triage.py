"""Triage: the decision shortcut of the field guide, as code.

`triage()` gathers the facts read-only (who owns the key, what IAM says about it, which
watched secret held it, which workloads sign with it) and `decide()` turns them into a
verdict with its evidence. `decide()` is a pure function over plain inputs so that every
verdict can be tested from constructed facts; DESIGN.md §2 is the contract it implements.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.iam_keys import IamKeys
from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.adapters.readers.sts_ownership import StsOwnership
from credfix.config import Settings
from credfix.core import attribution as attribution_rule
from credfix.keys import decode_account, key_kind, partition_of_arn, partition_of_region, redact
from credfix.models.cloudtrail import CloudTrailEvent
from credfix.models.iam import CallerIdentity, KeyFacts
from credfix.models.incident import (
    Evidence,
    Incident,
    KeyStatus,
    Severity,
    Source,
    SourceAttribution,
    TimelineEntry,
    Verdict,
    Workload,
)
from credfix.models.observation import KeyDelta
from credfix.models.pipeline import HandOffState
from credfix.models.secrets import SecretHit, SecretsScan
from credfix.timefmt import iso_z

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
MAX_RELATED_KEYS = 10  # other keys looked up (secrets' current keys, configured static keys)


class TriageFailed(Exception):
    """An AWS failure that prevents a verdict (the message is retried; the CLI exits 1)."""


# ---------------------------------------------------------------------------------------------
# Facts


@dataclass(frozen=True)
class Ownership:
    owner_account: str | None
    method: Literal["sts", "offline-decoding", "iam", "none"]
    target_accounts: tuple[str, ...]  # accounts the failing calls were made to
    target_partitions: tuple[str, ...] = ("aws",)
    caller_account: str | None = None  # the account whose IAM and secrets credfix reads
    caller_partition: str | None = None
    sts_failure: str | None = None  # why GetAccessKeyInfo gave no answer
    note: str = ""


LifecycleState = Literal["found", "absent", "temporary", "not-visible"]


@dataclass(frozen=True)
class Lifecycle:
    state: LifecycleState
    facts: KeyFacts | None = None  # when found
    note: str = ""  # why not looked up


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    severity: Severity
    key_status: KeyStatus
    owner_account: str | None
    evidence: list[Evidence]


Fit = Literal["explains", "contradicts", "neutral"]
AddEvidence = Callable[[str, str], None]


# ---------------------------------------------------------------------------------------------
# The decision


def _when(ts: datetime | None) -> str:
    return iso_z(ts) if ts else "unknown time"


def _key_state(facts: KeyFacts | None, looked_up: bool) -> str:
    if not looked_up:
        return "not looked up"
    return facts.status if facts else "not in IAM (deleted)"


def credential_fit(
    workload: Workload,
    access_key_id: str,
    hits: Sequence[SecretHit],
    secrets: SecretsScan,
    related_keys: Mapping[str, KeyFacts | None],
) -> tuple[Fit, str]:
    """Does the workload's configuration explain that it signs with this key?"""
    temporary = key_kind(access_key_id) == "temporary"
    contradictions: list[str] = []
    for cred in workload.credentials:
        if cred.kind == "static-key":
            if cred.access_key_id == access_key_id:
                return "explains", "configured with this very key (a static key in its configuration)"
            other = related_keys.get(cred.access_key_id or "")
            if other is not None and other.status == "Active":
                used = f", last used {_when(other.last_used_at)}" if other.last_used_at else ""
                contradictions.append(
                    f"configured with a different, Active key {redact(cred.access_key_id)}{used}"
                )
        elif cred.kind == "secret":
            if any(cred.ref in (h.arn, h.name) or cred.ref.startswith(h.arn) for h in hits):
                return "explains", f"its secret {cred.ref} held this key"
            secret = secrets.by_ref(cred.ref)
            current = secret.current if secret else None
            active = [k for k in (current.key_ids if current else ()) if _active(related_keys.get(k))]
            if active:
                contradictions.append(
                    f"configured with secret {secret.name if secret else cred.ref}, which never held this "
                    f"key and holds the Active key {redact(active[0])}"
                )
        elif temporary:
            return "explains", f"configured with {cred.kind} {cred.ref}: session credentials are expected"
        else:
            contradictions.append(f"configured with {cred.kind} {cred.ref}, not a long-term key")
    if contradictions:
        return "contradicts", "; ".join(contradictions)
    return "neutral", "its configured credentials are unknown"


def _active(facts: KeyFacts | None) -> bool:
    return facts is not None and facts.status == "Active"


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
        _workload_evidence(add, workloads, access_key_id, hits, secrets, related)
        return done("temporary-credentials", "temporary")

    facts = lifecycle.facts if lifecycle.state == "found" else None
    if lifecycle.state == "not-visible":
        add("IAM lifecycle", f"not looked up: {lifecycle.note}")
        return done("unknown-key", "unknown")

    # Lifecycle in this account.
    if facts:
        used = (
            f"last used {_when(facts.last_used_at)} ({facts.last_used_service} in {facts.last_used_region})"
            if facts.last_used_at
            else "never used according to IAM"
        )
        add(
            "iam:GetAccessKeyLastUsed, iam:ListAccessKeys",
            f"{key} of user {facts.user_name} is {facts.status}; created {_when(facts.created_at)}; {used}",
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
            _workload_evidence(add, workloads, access_key_id, hits, secrets, related)
            return done("unknown-key", "unknown")

    key_status: KeyStatus = facts.status if facts else "deleted"
    _secret_evidence(add, hits, related, first_seen)
    fits = _workload_evidence(add, workloads, access_key_id, hits, secrets, related)
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
    moved_on = [h for h in hits if any(_active(related.get(k)) for k in h.current_key_ids)]
    if moved_on:
        return done("stale-consumer", key_status)
    if hits:  # the secret moved on, but to a key that does not work either
        return done("stale-secret", key_status)
    return done("key-deactivated" if facts else "key-deleted", key_status)


def _secret_evidence(
    add: AddEvidence,
    hits: Sequence[SecretHit],
    related: Mapping[str, KeyFacts | None],
    first_seen: datetime | None,
) -> None:
    for hit in hits:
        where = "/".join(hit.stages) or "no staging label (deprecated)"
        if hit.in_current:
            add(
                f"watched secret {hit.name}",
                f"AWSCURRENT (version {hit.version_id[:8]}) still holds this key",
            )
            continue
        current = ", ".join(
            f"{redact(k)} ({_key_state(related.get(k), k in related)})" for k in hit.current_key_ids
        )
        add(
            f"watched secret {hit.name}",
            f"held this key in version {hit.version_id[:8]} ({where}), rotated out at "
            f"{_when(hit.rotated_out_at)}; AWSCURRENT holds {current or 'no key ID'}",
        )
        for k in hit.current_key_ids:
            facts = related.get(k)
            if facts and facts.last_used_at and (first_seen is None or facts.last_used_at >= first_seen):
                add(
                    f"last use of the expected key {redact(k)}",
                    f"used {_when(facts.last_used_at)}, after the failures began: runtimes that reloaded "
                    "the secret work; the failing one still loads the old key from another source or cache",
                )


def _workload_evidence(
    add: AddEvidence,
    workloads: Sequence[Workload],
    access_key_id: str,
    hits: Sequence[SecretHit],
    secrets: SecretsScan,
    related: Mapping[str, KeyFacts | None],
) -> list[tuple[Fit, Workload]]:
    fits: list[tuple[Fit, Workload]] = []
    for w in workloads:
        fit, why = credential_fit(w, access_key_id, hits, secrets, related)
        fits.append((fit, w))
        if fit == "contradicts":
            why += ", yet it signs with this key: another credential provider wins (env var, profile, cache)"
        add(f"workload {w.id} ({w.type}, {w.confidence} confidence)", why)
    return fits


# ---------------------------------------------------------------------------------------------
# Gathering the facts


class Located(Protocol):
    """What triage needs from credfix.core.locate's LocateResult."""

    @property
    def workloads(self) -> list[Workload]: ...

    @property
    def findings(self) -> list[Evidence]: ...

    @property
    def attribution(self) -> list[SourceAttribution]: ...


class Locate(Protocol):
    def __call__(
        self,
        incident: Incident,
        client_for: ClientFactory,
        settings: Settings,
        *,
        secret_arns: list[str],
        rotated_at: datetime | None,
        session_issuer_arn: str | None = None,
        account: str | None = None,
    ) -> Located: ...


@dataclass
class _NothingLocated:
    workloads: list[Workload] = field(default_factory=list)
    findings: list[Evidence] = field(default_factory=list)
    attribution: list[SourceAttribution] = field(default_factory=list)


def default_locate(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    secret_arns: list[str],
    rotated_at: datetime | None,
    session_issuer_arn: str | None = None,
    account: str | None = None,
) -> Located:
    """credfix.core.locate, imported late: triage's own tests pass their own `locate`, and the
    locators' imports are paid only when a triage really runs."""
    locate_workloads = importlib.import_module("credfix.core.locate").locate_workloads
    result: Located = locate_workloads(
        incident,
        client_for,
        settings,
        secret_arns=secret_arns,
        rotated_at=rotated_at,
        session_issuer_arn=session_issuer_arn,
        account=account,
    )
    return result


@dataclass(frozen=True)
class TriageResult:
    incident: Incident  # status "triaged", with the verdict and its evidence
    decision: Decision
    secret_arns: list[str]
    rotated_at: datetime | None
    timeline: list[TimelineEntry] = field(default_factory=list)  # triage's own entries

    def stage(self) -> dict[str, Any]:
        """The `triage` attribute of the incident item (the storage contract of to_incident:
        Incident fields, with only triage's own timeline entries; to_incident merges them)."""
        doc = self.incident.document()
        names = (
            "key_status",
            "owner_account",
            "verdict",
            "severity",
            "evidence",
            "workloads",
            "attribution",
            "origin",
        )
        own = [entry.model_dump(mode="json") for entry in self.timeline]
        return {**{name: doc[name] for name in names}, "timeline": own}


def _only(accounts: Sequence[str]) -> str | None:
    return accounts[0] if len(accounts) == 1 else None


def establish_ownership(
    incident: Incident, sts: StsOwnership, caller_identity: CallerIdentity | None = None
) -> Ownership:
    """STS is authoritative; offline decoding of the key ID is the fallback, recorded as such.
    `caller_identity`: credfix's own account when already known (the Lambda's own ARN names it),
    which spares asking STS."""
    key = incident.access_key_id
    targets = tuple(sorted(a for a in incident.accounts if a.isdigit()))
    answer = sts.key_account(key)
    owner = answer.account_id
    method: Literal["sts", "offline-decoding", "none"] = "sts" if owner else "none"
    note = ""
    if owner is None:
        decoded = decode_account(key)
        owner, note = decoded.account_id, decoded.note
        method = "offline-decoding" if owner else "none"
    caller: CallerIdentity | None = None
    if not targets or owner is None or owner in targets:  # only then does credfix's own account matter
        who = caller_identity or sts.caller()
        caller = who if isinstance(who, CallerIdentity) else None
    return Ownership(
        owner_account=owner,
        method=method,
        target_accounts=targets or ((caller.account_id,) if caller else ()),
        target_partitions=tuple(sorted({partition_of_region(r) for r in incident.regions})) or ("aws",),
        caller_account=caller.account_id if caller else None,
        caller_partition=partition_of_arn(caller.arn) if caller else None,
        sts_failure=answer.failure,
        note=note,
    )


def _lifecycle(incident: Incident, ownership: Ownership, iam: IamKeys) -> Lifecycle:
    key, owner = incident.access_key_id, ownership.owner_account
    if key_kind(key) == "temporary":
        return Lifecycle("temporary", note="STS session credentials have no IAM lifecycle")
    if owner and ownership.target_accounts and owner not in ownership.target_accounts:
        return Lifecycle("not-visible", note=f"the key belongs to account {owner}")
    caller = ownership.caller_account
    if owner and caller and owner != caller:
        return Lifecycle(
            "not-visible",
            note=f"the key belongs to account {owner}; credfix reads IAM of account {caller}",
        )
    facts = iam.describe(key)
    return Lifecycle("found", facts) if facts else Lifecycle("absent")


def _scan_secrets(secrets: WatchedSecrets) -> SecretsScan:
    return SecretsScan(tuple(secrets.read(ref) for ref in secrets.list()))


def _shared_scan(
    account: str | None, first_seen: datetime, settings: Settings, scan: Callable[[], SecretsScan]
) -> SecretsScan:
    """The watched secrets' scan, shared across incidents like location's scans (same account,
    made after this incident's first failure, within the TTL: credfix.core.locate.context)."""
    if account is None:
        return scan()
    from credfix.core.locate.context import SHARED

    key = (account, ("secrets-scan", settings.watch_tag, settings.watch_prefixes, settings.scan_limit))
    hit = SHARED.get(key, first_seen.timestamp() + 1)  # event times are whole seconds
    if hit is not None:
        cached: SecretsScan = hit[0]
        return cached
    fresh = scan()
    if not fresh.errors and not any(s.error for s in fresh.secrets):  # a partial scan is not shared
        SHARED.put(key, fresh, [])
    return fresh


def triage(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    locate: Locate = default_locate,
    session_issuer: str | None = None,
    now: datetime | None = None,
    caller_identity: CallerIdentity | None = None,
) -> TriageResult:
    """Read-only: gathers the facts about the incident's key and decides the verdict.
    `caller_identity`: the account `client_for` reads, when known without asking STS.

    Raises TriageFailed when AWS fails in a way that prevents a verdict (IAM or Secrets
    Manager unreachable or refusing). STS failing is not such a case (offline decoding), nor
    is workload location failing (recorded as evidence).
    """
    now = now or datetime.now(UTC)
    key = incident.access_key_id
    temporary = key_kind(key) == "temporary"
    issuer = session_issuer or next(iter(incident.session_issuers), None)
    try:
        ownership = establish_ownership(incident, StsOwnership(client_for("sts")), caller_identity)
        iam = IamKeys(client_for("iam"))
        lifecycle = _lifecycle(incident, ownership, iam)
        if lifecycle.state == "found" and ownership.owner_account is None:
            # IAM of this account knows the key: that settles ownership when STS could not.
            only = ownership.target_accounts[0] if len(ownership.target_accounts) == 1 else None
            ownership = replace(ownership, owner_account=only, method="iam")
        scan = (
            SecretsScan()
            if temporary
            else _shared_scan(
                ownership.caller_account or _only(ownership.target_accounts),
                incident.first_seen,
                settings,
                lambda: _scan_secrets(
                    WatchedSecrets(
                        client_for("secretsmanager"),
                        watch_tag=settings.watch_tag,
                        prefixes=settings.watch_prefixes,
                        limit=settings.scan_limit,
                    )
                ),
            )
        )
        hits = scan.hits(key)
        readable = lifecycle.state in ("found", "absent")
        related: dict[str, KeyFacts | None] = {}

        def look_up(other: str | None) -> None:
            wanted = readable and other and other != key and other not in related
            if wanted and other and len(related) < MAX_RELATED_KEYS:
                related[other] = iam.describe(other)

        for hit in hits:
            for other in hit.current_key_ids:
                look_up(other)
    except (ClientError, BotoCoreError) as exc:
        raise TriageFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    rotated = [h.rotated_out_at for h in hits if h.rotated_out_at]
    rotated_at = max(rotated) if rotated else None
    secret_arns = sorted({h.arn for h in hits})
    located: Located
    try:
        located = locate(
            incident,
            client_for,
            settings,
            secret_arns=secret_arns,
            rotated_at=rotated_at,
            session_issuer_arn=issuer,
            account=ownership.caller_account or _only(ownership.target_accounts),
        )
    except Exception as exc:  # location is best effort: the key's lifecycle verdict still stands
        failed = f"failed: {type(exc).__name__}: {exc}"[:300]
        located = _NothingLocated(
            findings=[Evidence(check="workload location", found=failed)],
            attribution=[
                attribution_rule.none(
                    s.ip, s.vpc_endpoint_id, f"could not be checked: workload location {failed}"
                )
                for s in incident.sources
            ],
        )
    workloads = list(located.workloads)
    try:
        for w in workloads:
            for cred in w.credentials:
                look_up(cred.access_key_id)
            for cred in w.credentials:  # a configured secret's current key, if it is watched
                secret = scan.by_ref(cred.ref) if cred.kind == "secret" else None
                for other in secret.current.key_ids if secret and secret.current else ():
                    look_up(other)
    except (ClientError, BotoCoreError) as exc:
        raise TriageFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    decision = decide(
        access_key_id=key,
        error_codes=incident.error_codes,
        ownership=ownership,
        lifecycle=lifecycle,
        secrets=scan,
        workloads=workloads,
        related_keys=related,
        session_issuer=issuer,
        first_seen=incident.first_seen,
    )
    evidence = decision.evidence + [f for f in located.findings if f not in decision.evidence]
    attributed = list(located.attribution)
    origin = attribution_rule.origin(attributed)
    for a in attributed:
        evidence.append(
            Evidence(
                check=f"attribution of {attribution_rule.describe_source(a)}", found=f"{a.scope}: {a.why}"
            )
        )
    severity = decision.severity
    if origin == "outside" and decision.verdict in OUTSIDER_SECURITY_SIGNAL:
        severity = "high"
        evidence.append(
            Evidence(
                check="origin",
                found="every failing request came from outside the account: a security signal, not a "
                "rotation straggler",
            )
        )
    decision = replace(decision, severity=severity)
    own_timeline = _timeline(incident, lifecycle, hits, decision, now)
    triaged = incident.model_copy(
        update={
            "status": "triaged",
            "key_status": decision.key_status,
            "owner_account": decision.owner_account,
            "verdict": decision.verdict,
            "severity": decision.severity,
            "evidence": evidence,
            "workloads": workloads,
            "attribution": attributed,
            "origin": origin,
            "timeline": sorted([*incident.timeline, *own_timeline], key=lambda e: e.at),
        }
    )
    return TriageResult(triaged, decision, secret_arns, rotated_at, own_timeline)


def _timeline(
    incident: Incident, lifecycle: Lifecycle, hits: list[SecretHit], decision: Decision, now: datetime
) -> list[TimelineEntry]:
    key = redact(incident.access_key_id)
    entries: list[TimelineEntry] = []
    facts = lifecycle.facts
    if facts and facts.created_at:
        entries.append(TimelineEntry(at=facts.created_at, what=f"{key} created for user {facts.user_name}"))
    if facts and facts.last_used_at:
        entries.append(TimelineEntry(at=facts.last_used_at, what=f"IAM last recorded a use of {key}"))
    for hit in hits:
        if hit.rotated_out_at:
            entries.append(
                TimelineEntry(
                    at=hit.rotated_out_at, what=f"secret {hit.name} rotated: {key} no longer current"
                )
            )
    entries.append(TimelineEntry(at=incident.first_seen, what=f"first failure of {key}"))
    entries.append(TimelineEntry(at=now, what=f"triaged: {decision.verdict} (severity {decision.severity})"))
    return entries


# ---------------------------------------------------------------------------------------------
# Incidents built outside the table (the CLI)


def session_issuer_of(event: CloudTrailEvent) -> str | None:
    """The role behind a session credential: `sessionContext.sessionIssuer.arn`, else the role
    named in an assumed-role ARN (arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION)."""
    identity = event.detail.user_identity
    issuer = identity.session_context.session_issuer if identity.session_context else None
    if issuer and issuer.arn:
        return issuer.arn
    arn = identity.arn or ""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return None


def incident_from_delta(
    delta: KeyDelta, now: datetime, incident_id: str, session_issuers: Sequence[str] = ()
) -> Incident:
    """An incident as ingest would open it from these records (CLI: no table involved)."""
    assert delta.first_seen and delta.last_seen
    sources = sorted(
        (
            Source(
                ip=s.ip,
                user_agent=s.user_agent,
                vpc_endpoint_id=s.vpc_endpoint_id,
                count=s.count,
                last_seen=s.last_seen,
            )
            for s in delta.sources.values()
        ),
        key=lambda s: -s.count,
    )
    return Incident(
        incident_id=incident_id,
        access_key_id=delta.access_key_id,
        event_count=delta.count,
        first_seen=delta.first_seen,
        last_seen=delta.last_seen,
        opened_at=now,
        error_codes=sorted(delta.error_codes),
        regions=sorted(delta.regions),
        event_sources=sorted(delta.event_sources),
        accounts=sorted(delta.accounts),
        session_issuers=list(session_issuers),
        sources=sources,
        sources_dropped=delta.sources_dropped,
    )


# ---------------------------------------------------------------------------------------------
# One "incident-opened" message (the triage Lambda)


class IncidentReader(Protocol):
    def get(self, access_key_id: str) -> Incident | None: ...


class Deferrer(Protocol):
    def defer(self, access_key_id: str, incident_id: str) -> None: ...


class VerdictWriter(Protocol):
    def record(
        self,
        access_key_id: str,
        incident_id: str,
        *,
        verdict: str,
        severity: str,
        stage: dict[str, Any],
        now: datetime,
    ) -> HandOffState | None: ...

    def hand_off_state(self, access_key_id: str) -> HandOffState | None: ...

    def mark_act_queued(self, access_key_id: str, incident_id: str, now: datetime) -> None: ...

    def trust(self, attributed: Sequence[SourceAttribution], now: datetime) -> None: ...


class ActNotifier(Protocol):
    def incident_triaged(self, access_key_id: str, incident_id: str) -> None: ...


TakeOutcome = Literal["triaged", "deferred", "act-resent", "already-handed-off", "stale-message"]
Lane = Literal["priority", "bulk"]


class Attributable(Protocol):
    def __call__(
        self, incident: Incident, client_for: ClientFactory, settings: Settings, *, account: str | None
    ) -> bool: ...


def default_attributable(
    incident: Incident, client_for: ClientFactory, settings: Settings, *, account: str | None
) -> bool:
    """credfix.core.locate.any_attributable, imported late (as default_locate)."""
    check = importlib.import_module("credfix.core.locate").any_attributable
    return bool(check(incident, client_for, settings, account=account))


@dataclass(frozen=True)
class Taken:
    outcome: TakeOutcome
    verdict: Verdict | None = None


def take_opened_incident(
    access_key_id: str,
    incident_id: str,
    *,
    incidents: IncidentReader,
    writer: VerdictWriter,
    act: ActNotifier,
    client_for: ClientFactory,
    settings: Settings,
    locate: Locate = default_locate,
    now: datetime | None = None,
    route: Callable[[list[str]], ClientFactory] | None = None,
    home: CallerIdentity | None = None,
    lane: Lane = "priority",
    bulk: Deferrer | None = None,
    attributable: Attributable = default_attributable,
) -> Taken:
    """Triage an opened incident once and hand it to the act queue at least once.

    `route` (organisation mode) picks the clients of the incident's account. `home`: the
    account the home clients read (from the Lambda's own ARN); used when there is no `route`
    (with a route, the clients may be a member account's, and STS says which).

    Lanes: on the priority lane, an incident none of whose sources can be attributed to the
    account (a few address lookups, shared with what follows) goes to the `bulk` queue
    instead of being triaged here, so that the account's own failures never wait behind a
    storm of outsiders' key IDs; the bulk lane triages it in full. The addresses a triage
    attributes are remembered (`writer.trust`): ingest never caps new incidents from them.

    The verdict is written only while the item holds this incident, still open; the act
    message is sent after that write and then marked on the item. A crash between write and
    send leaves the item triaged but unmarked, so the redelivered message sends it then; a
    crash between send and mark sends it twice, which act tolerates (it moves the incident
    on with its own conditional write). A message for an incident that was re-opened since
    (new incident id) or is gone is dropped.
    """
    now = now or datetime.now(UTC)
    incident = incidents.get(access_key_id)
    if incident is None or incident.incident_id != incident_id:
        return Taken("stale-message")
    state: HandOffState | None = None
    if incident.status == "open":
        if route is not None:
            client_for = route(incident.accounts)
        known = home if route is None else None
        if lane == "priority" and bulk is not None:
            account = (
                incident.accounts[0] if len(incident.accounts) == 1 else (known.account_id if known else None)
            )
            if not attributable(incident, client_for, settings, account=account):
                bulk.defer(access_key_id, incident_id)
                return Taken("deferred")
        result = triage(incident, client_for, settings, locate=locate, now=now, caller_identity=known)
        writer.trust(result.incident.attribution, now)
        state = writer.record(
            access_key_id,
            incident_id,
            verdict=result.decision.verdict,
            severity=result.decision.severity,
            stage=result.stage(),
            now=now,
        )
        if state is None:
            act.incident_triaged(access_key_id, incident_id)
            writer.mark_act_queued(access_key_id, incident_id, now)
            return Taken("triaged", result.decision.verdict)
    state = state or writer.hand_off_state(access_key_id)
    if state is None or state.incident_id != incident_id:
        return Taken("stale-message")
    if state.status == "triaged" and state.act_queued_for != incident_id:
        act.incident_triaged(access_key_id, incident_id)
        writer.mark_act_queued(access_key_id, incident_id, now)
        return Taken("act-resent")
    return Taken("already-handed-off")
