"""Access key IDs: shape checks, redaction, and the account encoded in new-format IDs.

Pure functions, no AWS calls: used by ingest (validation), triage (offline ownership
fallback), preflight and every log line (redaction).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

# Real access key IDs are 20 characters; IAM's API allows 16-128 of [A-Z0-9].
_KEY_ID = re.compile(r"^(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,124}$")
_KEY_ID_IN_TEXT = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_KEY_ID_SHAPE = re.compile(r"^(?:AKIA|ASIA)[A-Z0-9]{16}$")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

KeyKind = Literal["long-term", "temporary"]


def is_access_key_id(value: str) -> bool:
    return bool(_KEY_ID.match(value))


def has_key_id_shape(value: str) -> bool:
    """Exactly an access key ID as AWS issues them (AKIA/ASIA and 16 more): the only values
    credfix keeps from places that may hold anything (a task definition's AWS_ACCESS_KEY_ID
    where someone pasted the secret key instead)."""
    return bool(_KEY_ID_SHAPE.match(value))


def key_kind(access_key_id: str) -> KeyKind:
    """AKIA (and the rare ABIA/ACCA) are long-term keys; ASIA are STS session credentials."""
    return "temporary" if access_key_id.startswith("ASIA") else "long-term"


def redact(access_key_id: str | None) -> str:
    """`AKIA…WXYZ`: enough to match a key against a console listing, not enough to use it."""
    if not access_key_id:
        return "(none)"
    if len(access_key_id) < 9:
        return "…"
    return f"{access_key_id[:4]}…{access_key_id[-4:]}"


def find_key_ids(text: str) -> list[str]:
    """Key IDs that appear in free text (a secret stored as plain text, a log line)."""
    return _KEY_ID_IN_TEXT.findall(text)


@dataclass(frozen=True)
class DecodedAccount:
    account_id: str | None
    method: Literal["offline-decoding"] = "offline-decoding"
    note: str = ""


def decode_account(access_key_id: str) -> DecodedAccount:
    """The AWS account encoded in a new-format access key ID, without any network call.

    Published layout: base32-decode the ID after its 4-letter prefix; the first 6 bytes
    hold the account ID in bits 7-46. IDs whose 5th character is A-P (the flag bit clear)
    are the old format and carry no account.
    """
    if not is_access_key_id(access_key_id) or len(access_key_id) != 20:
        return DecodedAccount(None, note="not a 20-character access key ID")
    body = access_key_id[4:]
    if any(ch not in _BASE32 for ch in body):
        return DecodedAccount(None, note="old-format key ID (not base32): carries no account")
    if _BASE32.index(body[0]) < 16:
        return DecodedAccount(None, note="old-format key ID (5th character A-P): carries no account")
    raw = base64.b32decode(body[:16])  # 16 base32 chars -> 10 bytes
    account = (int.from_bytes(raw[:6], "big") & 0x7FFFFFFFFF80) >> 7
    return DecodedAccount(f"{account:012d}", note="decoded from the key ID's published bit layout")


Partition = Literal[
    "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"
]


def partition_of_region(region: str) -> Partition:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("eu-isoe-"):
        return "aws-iso-e"
    if region.startswith("us-isof-"):
        return "aws-iso-f"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


def partition_of_arn(arn: str) -> str | None:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) >= 2 and parts[0] == "arn" else None
