import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credfix.keys import decode_account, find_key_ids, is_access_key_id, key_kind, partition_of_region, redact


@pytest.mark.parametrize(
    ("key_id", "account"),
    [
        # The published example (Aidan Steele, 2020; Tal Be'ery's bit-shift correction).
        ("ASIAY34FZKBOKMUTVV7A", "609629065308"),
    ],
)
def test_new_format_key_ids_decode_to_their_account(key_id: str, account: str) -> None:
    decoded = decode_account(key_id)
    assert decoded.account_id == account
    assert decoded.method == "offline-decoding"


def _key_for(account: int, prefix: str = "AKIA") -> str:
    """Build a key ID with the published layout: flag bit 47 set, account in bits 7-46."""
    raw = ((1 << 47) | (account << 7) | 0x55).to_bytes(6, "big") + b"\x12\x34\x56\x78"
    return prefix + base64.b32encode(raw).decode()


@given(st.integers(min_value=0, max_value=999_999_999_999))
def test_decoding_inverts_the_published_layout(account: int) -> None:
    assert decode_account(_key_for(account)).account_id == f"{account:012d}"
    assert decode_account(_key_for(account, "ASIA")).account_id == f"{account:012d}"


@pytest.mark.parametrize(
    "key_id",
    ["AKIAIOSFODNN7EXAMPLE", "AKIAJ2XTDAUEXAMPLE12", "AKIAPAAAAAAAAAAAAAAA"],
)
def test_old_format_key_ids_carry_no_account(key_id: str) -> None:
    decoded = decode_account(key_id)
    assert decoded.account_id is None
    assert "old-format" in decoded.note


def test_wrong_shape_is_not_decoded() -> None:
    assert decode_account("AKIA123").account_id is None
    assert decode_account("not a key at all!!!!").account_id is None


def test_shape_and_kind() -> None:
    assert is_access_key_id("AKIAIOSFODNN7EXAMPLE")
    assert is_access_key_id("ASIAY34FZKBOKMUTVV7A")
    assert not is_access_key_id("akiaiosfodnn7example")
    assert not is_access_key_id("AKIA IOSFODNN7EXAMPL")
    assert not is_access_key_id("")
    assert key_kind("ASIAY34FZKBOKMUTVV7A") == "temporary"
    assert key_kind("AKIAIOSFODNN7EXAMPLE") == "long-term"


def test_redaction_keeps_prefix_and_last_four_only() -> None:
    assert redact("AKIAIOSFODNN7EXAMPLE") == "AKIA…MPLE"
    assert redact(None) == "(none)"
    assert redact("AKIA") == "…"


def test_key_ids_found_in_text() -> None:
    text = "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nother=ASIAY34FZKBOKMUTVV7A x"
    assert find_key_ids(text) == ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("eu-west-3", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_partition_of_region(region: str, partition: str) -> None:
    assert partition_of_region(region) == partition
