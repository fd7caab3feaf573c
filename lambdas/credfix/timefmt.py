"""The one timestamp format credfix stores and compares: UTC, whole seconds, `Z`
(`2026-11-03T11:05:00Z`). Strings in this format sort in time order, which the
DynamoDB conditions rely on (`closed_at <= :cutoff`, `last_action_at < :cutoff`)."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso_z(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(FORMAT)


def parse_iso_z(text: str) -> datetime:
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
