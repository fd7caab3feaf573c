"""The key a workload signs with, from its configured credentials alone (for incidents its own
log lines open without a usable key ID): a static key in its configuration wins over any role;
else a watched secret it reads, at the version that was current when it started, or, its
start time unknown, the version before a current one whose key is Active."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from credfix.keys import is_access_key_id, redact
from credfix.models.iam import KeyFacts
from credfix.models.incident import Evidence, Workload
from credfix.models.secrets import SecretsScan, SecretVersion, WatchedSecret
from credfix.timefmt import iso_z

CONFIGURED_KEY = "key from the workload's configuration"


@dataclass(frozen=True)
class DerivedKey:
    access_key_id: str
    workload_id: str
    how: str  # one sentence of evidence


Describe = Callable[[str], KeyFacts | None]


def _active(describe: Describe, key: str) -> bool:
    facts = describe(key)
    return facts is not None and facts.status == "Active"


def loaded_version(
    secret: WatchedSecret, started_at: datetime | None, describe: Describe
) -> tuple[SecretVersion, str] | None:
    """The version of a watched secret a workload loaded when it started, and why that one."""
    versions = [v for v in secret.versions if v.is_current or "AWSPENDING" not in v.stages]
    if started_at is not None:
        held = [v for v in versions if v.created_at is not None and v.created_at <= started_at]
        if held:
            version = held[-1]
            return version, (
                f"it started {iso_z(started_at)}; secret {secret.name}'s version then current was "
                f"{version.version_id[:8]} ({'/'.join(version.stages) or 'no label now'})"
            )
    current = secret.current
    if current is None:
        return None
    if current.key_ids and all(_active(describe, k) for k in current.key_ids):
        older = [v for v in versions if v is not current and v.order() <= current.order()]
        if older:
            version = older[-1]
            keys = ", ".join(redact(k) for k in current.key_ids)
            return version, (
                f"its start time is unknown; secret {secret.name}'s AWSCURRENT holds the Active key {keys}, "
                f"so a consumer that fails loaded an older version: {version.version_id[:8]} "
                f"({'/'.join(version.stages) or 'no label now'})"
            )
    return current, f"secret {secret.name}'s AWSCURRENT (version {current.version_id[:8]}) is what it loads"


def derive_keys(
    workloads: Sequence[Workload], scan: SecretsScan, describe: Describe
) -> tuple[list[DerivedKey], list[Evidence]]:
    """The keys the workloads' configured credentials make them sign with, best first."""
    derived: list[DerivedKey] = []
    notes: list[Evidence] = []
    for w in workloads:
        for cred in w.credentials:
            if cred.kind == "static-key" and cred.access_key_id and is_access_key_id(cred.access_key_id):
                derived.append(
                    DerivedKey(
                        cred.access_key_id,
                        w.id,
                        f"{w.type} {w.id} is configured with access key {redact(cred.access_key_id)} "
                        "(a static key wins over its role in every SDK's credential chain)",
                    )
                )
        for cred in w.credentials:
            if cred.kind != "secret":
                continue
            secret = scan.by_ref(cred.ref)
            if secret is None:
                notes.append(
                    Evidence(
                        check=f"secret {cred.ref}",
                        found="read by the workload but not watched by credfix: which key it holds is "
                        "unknown (tag it credfix:watch=true)",
                    )
                )
                continue
            loaded = loaded_version(secret, w.started_at, describe)
            if loaded is None:
                continue
            version, why = loaded
            for key in version.key_ids:
                derived.append(DerivedKey(key, w.id, f"{w.type} {w.id} reads secret {secret.name}: {why}, "
                                          f"holding {redact(key)}"))  # fmt: skip
    unique = list({d.access_key_id: d for d in reversed(derived)}.values())[::-1]
    return unique, notes


def matches_masked(key: str, masked: str) -> bool:
    """`AKIA…WXYZ` (credfix.models.logs) against a whole key ID: first and last four."""
    head, _, tail = masked.partition("…")
    return bool(tail) and key.startswith(head) and key.endswith(tail)
