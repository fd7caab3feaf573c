"""Watched secrets, reduced to what triage may know about them: per version, its staging
labels, creation date and the access key IDs it holds. Secret values never leave
`key_ids_in_secret`: it returns key IDs (not secrets) and nothing else of the value."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from credfix.keys import find_key_ids, is_access_key_id

# Field names as the AWS CLI/SDKs, CloudFormation outputs and Secrets Manager's own rotation
# templates write them, compared without case and underscores.
KEY_FIELD_NAMES = ("AccessKeyId", "aws_access_key_id", "AWS_ACCESS_KEY_ID", "accessKeyId")
_NORMALISED_FIELDS = {name.replace("_", "").lower() for name in KEY_FIELD_NAMES}
_MAX_DEPTH = 3  # {"credentials": {"AccessKeyId": ...}} and similar nesting
_STAGE_RANK = {"AWSPREVIOUS": 1, "AWSCURRENT": 2, "AWSPENDING": 3}  # order among equal timestamps


def _fields(doc: Any, depth: int = 0) -> list[str]:
    found: list[str] = []
    if depth > _MAX_DEPTH:
        return found
    if isinstance(doc, dict):
        for name, value in doc.items():
            if isinstance(value, str) and name.replace("_", "").lower() in _NORMALISED_FIELDS:
                if is_access_key_id(value.strip()):
                    found.append(value.strip())
            elif isinstance(value, dict | list):
                found.extend(_fields(value, depth + 1))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_fields(item, depth + 1))
    return found


def key_ids_in_secret(value: str) -> tuple[str, ...]:
    """Access key IDs in a secret value: named JSON fields first, else any key-ID-shaped text
    (an `.env` or credentials file stored as plain text)."""
    try:
        doc = json.loads(value)
    except ValueError:  # the exception would carry the document: drop it here
        doc = None
    found = _fields(doc) or find_key_ids(value)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class SecretVersion:
    version_id: str
    stages: tuple[str, ...]
    created_at: datetime | None
    key_ids: tuple[str, ...]

    @property
    def is_current(self) -> bool:
        return "AWSCURRENT" in self.stages

    def order(self) -> tuple[float, int]:
        created = self.created_at.timestamp() if self.created_at else float("-inf")
        return (created, max((_STAGE_RANK.get(s, 0) for s in self.stages), default=0))


@dataclass(frozen=True)
class WatchedSecret:
    arn: str
    name: str
    versions: tuple[SecretVersion, ...] = ()  # oldest first
    error: str | None = None  # why (some) versions could not be read

    @property
    def current(self) -> SecretVersion | None:
        return next((v for v in self.versions if v.is_current), None)


@dataclass(frozen=True)
class SecretHit:
    """A watched secret that held the failing key."""

    arn: str
    name: str
    version_id: str
    stages: tuple[str, ...]
    created_at: datetime | None
    in_current: bool
    rotated_out_at: datetime | None  # creation of the version that followed it (AWSCURRENT moved)
    current_version_id: str | None
    current_key_ids: tuple[str, ...]


@dataclass(frozen=True)
class SecretsScan:
    secrets: tuple[WatchedSecret, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def arns(self) -> set[str]:
        return {s.arn for s in self.secrets}

    def by_ref(self, ref: str) -> WatchedSecret | None:
        """A secret by ARN, name, or ARN without the random suffix (as ECS valueFrom may name it)."""
        for s in self.secrets:
            if ref in (s.arn, s.name) or s.arn.startswith(ref + "-") or ref.startswith(s.arn):
                return s
        return None

    def hits(self, access_key_id: str) -> list[SecretHit]:
        found: list[SecretHit] = []
        for secret in self.secrets:
            holding = [i for i, v in enumerate(secret.versions) if access_key_id in v.key_ids]
            if not holding:
                continue
            last = holding[-1]
            version = secret.versions[last]
            later = [v for v in secret.versions[last + 1 :] if "AWSPENDING" not in v.stages]
            current = secret.current
            found.append(
                SecretHit(
                    arn=secret.arn,
                    name=secret.name,
                    version_id=version.version_id,
                    stages=version.stages,
                    created_at=version.created_at,
                    in_current=version.is_current,
                    rotated_out_at=None if version.is_current or not later else later[0].created_at,
                    current_version_id=current.version_id if current else None,
                    current_key_ids=current.key_ids if current else (),
                )
            )
        return found


def ordered(versions: list[SecretVersion]) -> tuple[SecretVersion, ...]:
    return tuple(sorted(versions, key=SecretVersion.order))


@dataclass(frozen=True)
class SecretRef:
    arn: str
    name: str


@dataclass(frozen=True)
class SecretRotationInfo:
    arn: str
    rotation_enabled: bool
    last_rotated: datetime | None
    rotation_in_progress: bool
    tags: dict[str, str]
