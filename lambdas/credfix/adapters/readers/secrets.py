"""Secrets Manager, read-only: the watched secrets (tag `credfix:watch=true`, or a
configured name prefix) and the access key IDs each of their versions holds.

A value is read, reduced to key IDs by `key_ids_in_secret` and dropped in the same
statement: it is never logged (botocore's debug logging of bodies included), stored or returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from credfix.adapters.aws import keep_bodies_out_of_debug_logs
from credfix.errortext import error_text
from credfix.models.secrets import SecretRef, SecretVersion, WatchedSecret, key_ids_in_secret, ordered
from credfix.permissions import needs

keep_bodies_out_of_debug_logs()  # GetSecretValue answers hold the secret values

READ_VERSIONS = ("secretsmanager:ListSecretVersionIds", "secretsmanager:GetSecretValue")
MAX_VERSIONS = 20  # newest versions read per secret; older ones cannot explain a current failure


def _error(exc: ClientError) -> str:
    return error_text(exc)


def _created(version: dict[str, Any]) -> float:
    created = version.get("CreatedDate")
    return created.timestamp() if isinstance(created, datetime) else 0.0


class WatchedSecrets:
    def __init__(self, client: Any, *, watch_tag: str, prefixes: tuple[str, ...], limit: int) -> None:
        self._sm = client
        self._tag = watch_tag
        self._prefixes = prefixes
        self._limit = limit

    # ListSecrets supports no resource-level permission.
    @needs("triage", "secretsmanager:ListSecrets", on="*")
    @needs("rotation", "secretsmanager:ListSecrets", on="*")
    @needs("cli", "secretsmanager:ListSecrets", on="*")
    def list(self) -> list[SecretRef]:
        found: dict[str, SecretRef] = {}
        # tag-key and tag-value filters match independently: the exact pair is checked below.
        searches = [[{"Key": "tag-key", "Values": [self._tag]}, {"Key": "tag-value", "Values": ["true"]}]]
        searches += [[{"Key": "name", "Values": [prefix]}] for prefix in self._prefixes]
        for filters in searches:
            for page in self._sm.get_paginator("list_secrets").paginate(Filters=filters):
                for secret in page.get("SecretList", []):
                    by_prefix = any(secret["Name"].startswith(p) for p in self._prefixes)
                    tagged = any(
                        t.get("Key") == self._tag and t.get("Value") == "true" for t in secret.get("Tags", [])
                    )
                    if by_prefix or tagged:
                        found.setdefault(secret["ARN"], SecretRef(secret["ARN"], secret["Name"]))
                    if len(found) >= self._limit:
                        return list(found.values())
        return list(found.values())

    @needs("triage", *READ_VERSIONS, on="watched-secrets")
    @needs("rotation", *READ_VERSIONS, on="watched-secrets")
    @needs("cli", *READ_VERSIONS, on="watched-secrets")
    # Secrets encrypted with a customer-managed key: Secrets Manager decrypts on our behalf.
    @needs("triage", "kms:Decrypt", on="secrets-manager-keys")
    @needs("rotation", "kms:Decrypt", on="secrets-manager-keys")
    @needs("cli", "kms:Decrypt", on="secrets-manager-keys")
    def read(self, ref: SecretRef) -> WatchedSecret:
        """Versions (staging labels, creation date, key IDs held) of one watched secret.

        A version that cannot be read is reported on the result, not raised: one unreadable
        secret (a KMS key credfix may not use) must not hide what the others show.
        """
        try:
            listed: list[dict[str, Any]] = []
            token: dict[str, str] = {}
            while True:  # botocore has no paginator for this operation
                page = self._sm.list_secret_version_ids(SecretId=ref.arn, IncludeDeprecated=True, **token)
                listed.extend(page.get("Versions", []))
                if not page.get("NextToken"):
                    break
                token = {"NextToken": page["NextToken"]}
        except ClientError as exc:
            return WatchedSecret(ref.arn, ref.name, error=f"ListSecretVersionIds: {_error(exc)}")
        newest = sorted(listed, key=_created, reverse=True)[:MAX_VERSIONS]
        versions: list[SecretVersion] = []
        errors: list[str] = []
        for entry in newest:
            version_id = str(entry["VersionId"])
            try:
                got = self._sm.get_secret_value(SecretId=ref.arn, VersionId=version_id)
            except ClientError as exc:
                errors.append(f"GetSecretValue of version {version_id[:8]}: {_error(exc)}")
                continue
            text = got.get("SecretString")
            if text is None and got.get("SecretBinary") is not None:
                text = bytes(got["SecretBinary"]).decode("utf-8", errors="ignore")
            versions.append(
                SecretVersion(
                    version_id=version_id,
                    stages=tuple(got.get("VersionStages") or entry.get("VersionStages") or ()),
                    # GetSecretValue's date is the version's creation date; moto's
                    # ListSecretVersionIds answers "now" instead, so this one is preferred.
                    created_at=got.get("CreatedDate") or entry.get("CreatedDate"),
                    key_ids=key_ids_in_secret(text or ""),
                )
            )
        return WatchedSecret(ref.arn, ref.name, ordered(versions), "; ".join(errors) or None)

    @needs("rotation", "secretsmanager:DescribeSecret", on="watched-secrets")
    @needs("cli", "secretsmanager:DescribeSecret", on="watched-secrets")
    def last_rotated(self, ref: SecretRef) -> datetime | None:
        """When Secrets Manager last rotated the secret (DescribeSecret: metadata, never a value)."""
        when = self._sm.describe_secret(SecretId=ref.arn).get("LastRotatedDate")
        return when if isinstance(when, datetime) else None

    @needs("cli", "secretsmanager:DescribeSecret", on="watched-secrets")
    def exists(self, secret_id: str) -> bool | None:
        """Whether a secret by that name or ARN exists: None when this identity may not tell
        (credfix may describe watched secrets only)."""
        try:
            self._sm.describe_secret(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return False
            if code in ("AccessDeniedException", "AccessDenied"):
                return None
            raise
        return True
