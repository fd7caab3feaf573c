"""The rotation as Secrets Manager answers now: is the named secret a watched one, which
version is AWSCURRENT and which AWSPREVIOUS, the key IDs each holds, and when the current
one took the label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.arns import arn_parts, secret_arn
from credfix.models.rotation import Rotation
from credfix.models.secrets import SecretRef


@dataclass(frozen=True)
class NoRotation:
    """Nothing to watch: `outcome` names why, for metrics and exit codes."""

    outcome: str  # "unwatched" | "no-previous-version" | "no-key-change" | "unreadable"
    why: str


def _name_of(ref: str) -> str:
    """A name given as an ARN (…:secret:NAME-AbCdEf) loses nothing here: matching is by ARN."""
    parts = arn_parts(ref)
    return parts[5].removeprefix("secret:") if len(parts) == 6 else ref


def find_watched(watched: list[SecretRef], ref: str) -> SecretRef | None:
    """The watched secret `ref` names: its ARN (with or without the random suffix or a JSON-key
    tail), or its name."""
    ref = secret_arn(ref)
    for secret in watched:
        if ref in (secret.arn, secret.name) or secret.arn.startswith(ref + "-"):
            return secret
    return None


def read_rotation(secrets: WatchedSecrets, ref: str, region: str) -> Rotation | NoRotation:
    """Read the truth about the secret `ref` names (AWS calls through `secrets`)."""
    secret = find_watched(secrets.list(), ref)
    if secret is None:
        return NoRotation(
            "unwatched",
            f"{_name_of(ref)[:200]} is not a watched secret (tag credfix:watch=true or a watched name "
            "prefix)",
        )
    read = secrets.read(secret)
    current = read.current
    previous = next((v for v in read.versions if "AWSPREVIOUS" in v.stages), None)
    if current is None:
        return NoRotation(
            "unreadable", f"{secret.name}: no readable AWSCURRENT version ({read.error or 'none'})"
        )
    if previous is None:
        why = f"{secret.name} has no AWSPREVIOUS version: nothing was rotated out"
        return NoRotation("no-previous-version", why + (f" ({read.error})" if read.error else ""))
    if not previous.key_ids:
        return NoRotation("no-key-change", f"{secret.name}: its previous version holds no access key ID")
    old = tuple(k for k in previous.key_ids if k not in current.key_ids)
    if not old:
        return NoRotation(
            "no-key-change", f"{secret.name}: its previous and current versions hold the same key IDs"
        )
    created = current.created_at
    last_rotated = secrets.last_rotated(secret)
    basis = "the current version's creation date"
    became: datetime | None = created
    if last_rotated is not None and (created is None or last_rotated > created):
        # A rotation function creates the version first (AWSPENDING) and moves the label at its
        # last step: the later of the two readings is the nearer to the label move.
        became, basis = last_rotated, "the secret's LastRotatedDate (after the version's creation)"
    if became is None:
        return NoRotation("unreadable", f"{secret.name}: no date for the current version")
    return Rotation(
        secret_arn=secret.arn,
        secret_name=secret.name,
        region=region,
        current_version=current.version_id,
        previous_version=previous.version_id,
        current_keys=current.key_ids,
        old_keys=old,
        became_current=became,
        basis=basis,
    )
