"""IAM, read-only: who owns an access key, whether it is Active, when it was created and
last used. credfix never creates, changes or deletes keys."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from credfix.models.iam import KeyFacts
from credfix.permissions import needs


def _known(value: Any) -> str | None:
    """IAM answers "N/A" for a key that was never used."""
    return value if isinstance(value, str) and value and value != "N/A" else None


class IamKeys:
    def __init__(self, client: Any) -> None:
        self._iam = client
        self._keys_of: dict[str, list[dict[str, Any]]] = {}  # user -> key metadata, per instance

    def _user_keys(self, user: str) -> list[dict[str, Any]]:
        """ListAccessKeys once per user (the failing key and its successor usually share one)."""
        if user not in self._keys_of:
            self._keys_of[user] = [
                meta
                for page in self._iam.get_paginator("list_access_keys").paginate(UserName=user)
                for meta in page.get("AccessKeyMetadata", [])
            ]
        return self._keys_of[user]

    @needs("triage", "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", on="iam-users")
    @needs("rotation", "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", on="iam-users")
    @needs("cli", "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", on="iam-users")
    def describe(self, access_key_id: str) -> KeyFacts | None:
        """The key's facts, or None when IAM has no record of it (deleted, or never issued here).

        GetAccessKeyLastUsed is the only IAM call that finds a key's user from the key ID alone;
        ListAccessKeys of that user then gives status and creation date.
        """
        try:
            last = self._iam.get_access_key_last_used(AccessKeyId=access_key_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchEntity":
                return None
            raise
        user = str(last.get("UserName", ""))
        used = last.get("AccessKeyLastUsed", {})
        for meta in self._user_keys(user):
            if meta["AccessKeyId"] == access_key_id:
                return KeyFacts(
                    access_key_id=access_key_id,
                    user_name=user,
                    status="Active" if meta.get("Status") == "Active" else "Inactive",
                    created_at=meta.get("CreateDate"),
                    last_used_at=used.get("LastUsedDate"),
                    last_used_service=_known(used.get("ServiceName")),
                    last_used_region=_known(used.get("Region")),
                )
        return None  # deleted between the two calls
