"""A capped listing: its items and whether the scan stopped at the cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    truncated: bool = False  # more items existed beyond the cap
