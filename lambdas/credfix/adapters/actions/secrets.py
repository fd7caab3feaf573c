"""Secrets Manager calls of the act step: start the rotation a secret already has
configured (never configure one), and read what decides whether that is allowed."""

from __future__ import annotations

import uuid
from typing import Any

from credfix.models.secrets import SecretRotationInfo
from credfix.permissions import needs


class SecretsActions:
    def __init__(self, client: Any) -> None:
        self._sm = client

    @needs("act", "secretsmanager:DescribeSecret", on="watched-secrets")
    def describe(self, secret_id: str) -> SecretRotationInfo:
        """Metadata only: DescribeSecret never returns the secret's value."""
        resp = self._sm.describe_secret(SecretId=secret_id)
        stages = resp.get("VersionIdsToStages", {}).values()
        return SecretRotationInfo(
            arn=str(resp["ARN"]),
            rotation_enabled=bool(resp.get("RotationEnabled", False)),
            last_rotated=resp.get("LastRotatedDate"),
            # AWSPENDING on a version that is not AWSCURRENT: a rotation is still running.
            rotation_in_progress=any("AWSPENDING" in s and "AWSCURRENT" not in s for s in stages),
            tags={t["Key"]: t.get("Value", "") for t in resp.get("Tags", [])},
        )

    @needs("act", "secretsmanager:RotateSecret", on="watched-secrets")
    @needs("act", "lambda:InvokeFunction", on="secret-rotation-functions")  # RotateSecret requires it
    def rotate(self, secret_id: str, idempotency_key: str) -> str:
        """Start the secret's configured rotation once. The ClientRequestToken is derived from
        the incident and the secret, so a retried call cannot create a second version."""
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"credfix:{idempotency_key}"))
        resp = self._sm.rotate_secret(SecretId=secret_id, ClientRequestToken=token)
        return str(resp.get("VersionId", token))
