"""Capped pagination for account-wide scans: stop fetching pages once `limit` items are in
hand, and say whether anything was left unread (the caller reports a hit cap)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from credfix.models.paging import Page

T = TypeVar("T")


def capped(pages: Iterable[dict[str, Any]], key: str, limit: int) -> Page[Any]:
    """Items under `key` across `pages` (a lazy boto3 paginator), at most `limit` of them."""
    items: list[Any] = []
    for page in pages:
        for item in page.get(key) or []:
            if len(items) >= limit:
                return Page(items, truncated=True)
            items.append(item)
    return Page(items, truncated=False)


def chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
