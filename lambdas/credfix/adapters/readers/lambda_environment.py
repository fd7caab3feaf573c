"""Lambda functions as the rotation watch needs them: when each one's configuration last
changed, and which of its environment variables name a given secret.

Environment values are read here, matched by the caller's predicate and dropped in the same
statement: only variable *names* leave this module (a value may itself be a secret)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.models.paging import Page
from credfix.models.rotation import FunctionState
from credfix.permissions import needs


def last_modified(value: Any) -> datetime | None:
    """Lambda's `LastModified` ("2024-01-31T12:00:00.000+0000"; other precisions accepted)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00
    head, dot, rest = text.partition(".")
    if dot:  # at most microseconds: Python reads no more digits than that
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class LambdaEnvironments:
    def __init__(self, client: Any) -> None:
        self._lambda = client

    @needs("rotation", "lambda:ListFunctions", on="*")
    @needs("cli", "lambda:ListFunctions", on="*")
    def functions(self, names_secret: Callable[[str], bool], *, limit: int) -> Page[FunctionState]:
        """Every function (up to `limit`), each with the variables whose value `names_secret`
        accepts."""
        listed = capped(self._lambda.get_paginator("list_functions").paginate(), "Functions", limit)
        found: list[FunctionState] = []
        for raw in listed.items:
            variables = ((raw.get("Environment") or {}).get("Variables")) or {}
            naming = tuple(
                sorted(
                    name
                    for name, value in variables.items()
                    if isinstance(value, str) and names_secret(value)
                )
            )
            found.append(
                FunctionState(
                    arn=str(raw["FunctionArn"]),
                    name=str(raw["FunctionName"]),
                    role=raw.get("Role"),
                    last_modified=last_modified(raw.get("LastModified")),
                    naming=naming,
                )
            )
        return Page(found, listed.truncated)
