"""STS, read-only: which account an access key belongs to (GetAccessKeyInfo, the
authoritative answer) and which account credfix itself runs in (GetCallerIdentity)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.errortext import error_text
from credfix.models.iam import CallerIdentity, StsAnswer
from credfix.permissions import needs


def _failure(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return error_text(exc)
    return f"unreachable: {error_text(exc)}"


class StsOwnership:
    def __init__(self, client: Any) -> None:
        self._sts = client

    @needs("triage", "sts:GetAccessKeyInfo", on="*")
    @needs("cli", "sts:GetAccessKeyInfo", on="*")
    def key_account(self, access_key_id: str) -> StsAnswer:
        """Denied (SCP, policy) or unreachable (no STS endpoint from a private subnet) is not
        an error here: it is recorded, and ownership falls back to offline decoding."""
        try:
            resp = self._sts.get_access_key_info(AccessKeyId=access_key_id)
        except (ClientError, BotoCoreError) as exc:
            return StsAnswer(None, _failure(exc))
        return StsAnswer(str(resp["Account"]))

    # GetCallerIdentity needs no IAM permission (it cannot be denied); declared for completeness.
    @needs("triage", "sts:GetCallerIdentity", on="*")
    @needs("cli", "sts:GetCallerIdentity", on="*")
    def caller(self) -> CallerIdentity | StsAnswer:
        """credfix's own account: the account whose IAM and secrets it reads."""
        try:
            resp = self._sts.get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            return StsAnswer(None, _failure(exc))
        return CallerIdentity(str(resp["Account"]), str(resp["Arn"]))
