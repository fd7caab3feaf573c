"""Record failures that can be logged: Powertools' batch processor logs every exception a
record handler raises (its text at DEBUG, with the traceback when a logger is given). AWS
error messages can echo request values, so a failing record's exception is replaced by one
whose text went through the redactor (credfix.errortext), without the original chained on."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from credfix.errortext import error_text

P = ParamSpec("P")
R = TypeVar("R")


class RecordFailed(Exception):
    """A record could not be processed (it goes back to SQS); the text is redacted."""


def redacted_failures(handler: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(handler)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:
            raise RecordFailed(error_text(exc)) from None

    return wrapped
