"""The evidence rooms of a verdict: what the watched secrets say about the key, and whether
each located workload's configured credentials explain that it signs with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.config import Settings
from credfix.keys import key_kind, redact
from credfix.models.iam import KeyFacts
from credfix.models.incident import (
    Workload,
)
from credfix.models.secrets import SecretHit, SecretsScan
from credfix.timefmt import iso_z

Fit = Literal["explains", "contradicts", "neutral"]
AddEvidence = Callable[[str, str], None]


def when(ts: datetime | None) -> str:
    return iso_z(ts) if ts else "unknown time"


def key_state(facts: KeyFacts | None, looked_up: bool) -> str:
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
    unread: list[str] = []  # static keys whose ID credfix does not read (a Kubernetes Secret's)
    for cred in workload.credentials:
        if cred.kind == "static-key" and cred.access_key_id is None:
            unread.append(cred.ref)
        elif cred.kind == "static-key":
            if cred.access_key_id == access_key_id:
                return "explains", "configured with this very key (a static key in its configuration)"
            other = related_keys.get(cred.access_key_id or "")
            if other is not None and other.status == "Active":
                used = f", last used {when(other.last_used_at)}" if other.last_used_at else ""
                contradictions.append(
                    f"configured with a different, Active key {redact(cred.access_key_id)}{used}"
                )
        elif cred.kind == "secret":
            if any(cred.ref in (h.arn, h.name) or cred.ref.startswith(h.arn) for h in hits):
                return "explains", f"its secret {cred.ref} held this key"
            secret = secrets.by_ref(cred.ref)
            current = secret.current if secret else None
            active = [k for k in (current.key_ids if current else ()) if active_key(related_keys.get(k))]
            if active:
                contradictions.append(
                    f"configured with secret {secret.name if secret else cred.ref}, which never held this "
                    f"key and holds the Active key {redact(active[0])}"
                )
        elif temporary:
            return "explains", f"configured with {cred.kind} {cred.ref}: session credentials are expected"
        else:
            contradictions.append(f"configured with {cred.kind} {cred.ref}, not a long-term key")
    if unread and not temporary:
        # An environment key wins over any role in every SDK's chain: a role configured beside
        # it contradicts nothing, and this key may well be the failing one.
        return "neutral", (
            f"configured with a static key from {', '.join(unread)} (its key ID is not read), which wins "
            "over any role it also has"
        )
    if contradictions:
        return "contradicts", "; ".join(contradictions)
    return "neutral", "its configured credentials are unknown"


def active_key(facts: KeyFacts | None) -> bool:
    return facts is not None and facts.status == "Active"


def secret_evidence(
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
            f"{redact(k)} ({key_state(related.get(k), k in related)})" for k in hit.current_key_ids
        )
        add(
            f"watched secret {hit.name}",
            f"held this key in version {hit.version_id[:8]} ({where}), rotated out at "
            f"{when(hit.rotated_out_at)}; AWSCURRENT holds {current or 'no key ID'}",
        )
        for k in hit.current_key_ids:
            facts = related.get(k)
            if facts and facts.last_used_at and (first_seen is None or facts.last_used_at >= first_seen):
                add(
                    f"last use of the expected key {redact(k)}",
                    f"used {when(facts.last_used_at)}, after the failures began: runtimes that reloaded "
                    "the secret work; the failing one still loads the old key from another source or cache",
                )


def workload_evidence(
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


def scan_secrets(secrets: WatchedSecrets) -> SecretsScan:
    return SecretsScan(tuple(secrets.read(ref) for ref in secrets.list()))


def shared_scan(
    account: str | None, first_seen: datetime, settings: Settings, scan: Callable[[], SecretsScan]
) -> SecretsScan:
    """The watched secrets' scan, shared across incidents like location's scans (same account,
    made after this incident's first failure, within the TTL: credfix.core.locate.context)."""
    if account is None:
        return scan()
    from credfix.core.locate.context import SHARED

    key = (
        account,
        ("secrets-scan", settings.watch_tag, settings.untagged_watch_prefixes, settings.scan_limit),
    )
    hit = SHARED.get(key, first_seen.timestamp() + 1)  # event times are whole seconds
    if hit is not None:
        cached: SecretsScan = hit[0]
        return cached
    fresh = scan()
    if not fresh.errors and not any(s.error for s in fresh.secrets):  # a partial scan is not shared
        SHARED.put(key, fresh, [])
    return fresh
