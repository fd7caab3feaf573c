"""Reading failure records from files, streamed: a CloudTrail log file (`{"Records": [...]}`,
gzip-compressed as CloudTrail delivers it, or not), a JSON list of records or EventBridge
events, or one of either; or CloudWatch Logs subscription payloads of a workload's log lines
(one, or a list), which the caller reads with core/logs.py. `credfix diagnose`, `remediate`
and their `--from s3://…` replay read through here.

A 200 MB log file is never held whole: the text is read in chunks and decoded one record at
a time (`json.JSONDecoder.raw_decode`), and what a record leaves behind is its Failure, which
the caller folds into per-signature totals (core/aggregate.py `RunningGroups`). Memory
follows the largest record and the number of distinct (key, source, call) signatures, not the
file's size (docs/operations.md has the measurement).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from credfix.models.cloudtrail import DETAIL_TYPE, Rejected, is_insight, parse_failure
from credfix.models.logs import is_payload
from credfix.models.observation import Failure

SHAPES = (
    "a CloudTrail record, an EventBridge event, a JSON list of either, a CloudTrail log file, or a "
    "CloudWatch Logs subscription payload"
)
CHUNK = 1 << 20  # characters read at a time
MAX_REASONS = 100  # distinct rejection reasons kept by name; the rest are counted together
_WHITESPACE = " \t\r\n"
_RECORDS_FIRST = re.compile(r'\{\s*"Records"\s*:')


class UnreadableInput(Exception):
    """The input cannot be read as any accepted shape: one line saying what was found."""


def _describe(value: Any) -> str:
    """What a JSON value is, for an error message (never its content: it may hold secrets)."""
    if isinstance(value, dict):
        keys = list(value)[:6]
        more = ", …" if len(value) > 6 else ""
        return "a JSON object with keys " + ", ".join(repr(k)[:40] for k in keys) + more if keys else "{}"
    if isinstance(value, list):
        return f"a JSON list of {len(value)} item(s)"
    return f"a JSON {type(value).__name__}"


class JsonItems:
    """The items of one JSON document, decoded one at a time from a text stream."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._name = name
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._consumed = 0  # characters before self._buf[0], for error positions

    def _fill(self, size: int = CHUNK) -> None:
        try:
            chunk = self._stream.read(size)
        except UnicodeDecodeError:
            raise UnreadableInput(f"{self._name} is not UTF-8 text") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            why = f"{self._name} looks gzip-compressed but is not valid gzip: {exc}"
            raise UnreadableInput(why) from None
        except EOFError:
            raise UnreadableInput(f"{self._name} is gzip-compressed but cut short") from None
        except OSError as exc:
            raise UnreadableInput(f"{self._name} cannot be read: {exc}") from None
        if not chunk:
            self._eof = True
            return
        self._consumed += self._pos
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0

    def _peek(self) -> str | None:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if self._eof:
                return None
            self._fill()

    def _value(self) -> Any:
        """Decode the value at the current position, reading more until it is complete. A
        value longer than a chunk reads twice as much each retry, so a huge one costs a few
        re-parses, not one per megabyte."""
        size = CHUNK
        self._peek()  # raw_decode takes no leading whitespace
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except RecursionError:
                raise UnreadableInput(f"{self._name}: JSON nested too deeply to be a record") from None
            except json.JSONDecodeError as exc:
                if self._eof:
                    at = self._consumed + exc.pos
                    raise UnreadableInput(f"{self._name} is not JSON: {exc.msg} at character {at}") from None
                self._fill(size)
                size *= 2
                continue
            # A number (or literal) cut at the end of the buffer decodes as a shorter one.
            if end >= len(self._buf) and not self._eof:
                self._fill(size)
                continue
            self._pos = end
            return value

    def _expect_end(self) -> None:
        if self._peek() is not None:
            raise UnreadableInput(
                f"{self._name} is not JSON: extra data after the document at character "
                f"{self._consumed + self._pos}"
            )

    def _array_items(self) -> Iterator[Any]:
        self._pos += 1  # '['
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            following = self._peek()
            if following == ",":
                self._pos += 1
                continue
            if following == "]":
                self._pos += 1
                return
            raise UnreadableInput(
                f"{self._name} is not JSON: expected ',' or ']' at character {self._consumed + self._pos}"
            )

    def _rest_of_object(self) -> None:
        """After the Records list: the log file's other members (none in practice), skipped."""
        while True:
            following = self._peek()
            if following == "}":
                self._pos += 1
                return
            if following != ",":
                raise UnreadableInput(f"{self._name} is not JSON: expected ',' or '}}' after \"Records\"")
            self._pos += 1
            self._peek()
            self._value()  # the key
            if self._peek() != ":":
                raise UnreadableInput(f"{self._name} is not JSON: expected ':' after a key")
            self._pos += 1
            self._peek()
            self._value()

    def _records_first(self) -> bool:
        """Whether the object at the current position starts with the "Records" member, as every
        CloudTrail log file does (decided on its first characters, without decoding it)."""
        while len(self._buf) - self._pos < 64 and not self._eof:
            self._fill()
        return bool(_RECORDS_FIRST.match(self._buf, self._pos))

    def items(self) -> Iterator[Any]:
        first = self._peek()
        if first is None:
            raise UnreadableInput(f"{self._name} is empty")
        if first == "[":
            yield from self._array_items()
            self._expect_end()
            return
        if first == "{" and self._records_first():
            self._pos = _RECORDS_FIRST.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._peek() != "[":
                raise UnreadableInput(f'{self._name}: "Records" is not a list: not a CloudTrail log file')
            yield from self._array_items()
            self._rest_of_object()
            self._expect_end()
            return
        document = self._value()
        self._expect_end()
        yield from document_items(document, self._name)


def document_items(document: Any, name: str) -> list[Any]:
    """The items of a document already decoded (one event or record, or a log file whose
    "Records" is not its first member)."""
    if isinstance(document, dict) and "Records" in document:
        if not isinstance(document["Records"], list):
            raise UnreadableInput(f'{name}: "Records" is not a list: not a CloudTrail log file')
        return list(document["Records"])
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and (
        "detail-type" in document or is_record(document) or is_payload(document) or is_insight(document)
    ):  # an Insights record is rejected as one, like any record that is not counted
        return [document]
    raise UnreadableInput(f"{name} is not {SHAPES}: it is {_describe(document)}")


class _Rejoined(io.RawIOBase):
    """A byte stream whose first bytes were already read (to look at them), served again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def text_stream(raw: IO[bytes], name: str) -> IO[str]:
    """UTF-8 text of a byte stream (a file, stdin, an S3 body), gunzipped on the fly when it
    starts with gzip's magic number."""
    try:
        head = raw.read(2)
    except OSError as exc:
        raise UnreadableInput(f"cannot read {name}: {exc}") from None
    source: IO[bytes] = io.BufferedReader(_Rejoined(head, raw), buffer_size=CHUNK)
    if head == b"\x1f\x8b":
        source = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]
    return io.TextIOWrapper(source, encoding="utf-8", errors="strict")


def is_record(obj: Any) -> bool:
    """A bare CloudTrail record (an Insights record is not one: parse_failure rejects it as such)."""
    return (
        isinstance(obj, dict)
        and "detail-type" not in obj
        and ("eventSource" in obj or "eventName" in obj)
        and not is_insight(obj)
    )


def wrap_record(record: dict[str, Any]) -> dict[str, Any]:
    """A bare CloudTrail record in the EventBridge shape the rule delivers it in."""
    source = record.get("eventSource")
    service = source.split(".")[0] if isinstance(source, str) and source else "cloudtrail"
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    return {
        "version": "0",
        "id": str(record.get("eventID") or uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": f"aws.{service}",
        "account": record.get("recipientAccountId") or identity.get("accountId") or "unknown",
        # A missing eventTime/awsRegion is reported against detail.*, where it belongs.
        "time": record.get("eventTime") or datetime.now(UTC).isoformat(),
        "region": record.get("awsRegion") or "unknown",
        "resources": [],
        "detail": record,
    }


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None = None
    until: datetime | None = None

    def holds(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


@dataclass
class ReadStats:
    """What the reading saw, for the report: files, records, and why records were not counted."""

    files: int = 0
    records: int = 0
    failures: int = 0
    log_lines: int = 0  # lines of the CloudWatch Logs payloads read (their failures are in `failures`)
    rejected: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, n: int = 1) -> None:
        if reason in self.rejected or len(self.rejected) < MAX_REASONS:
            self.rejected[reason] += n
        else:
            self.rejected["(further reasons, not listed)"] += n


def failures_in(
    items: Iterator[Any],
    stats: ReadStats,
    *,
    accepted_errors: tuple[str, ...],
    window: TimeRange = TimeRange(),  # frozen: one shared default is safe
    seen: Callable[[], None] | None = None,
    payloads: Callable[[Any], None] | None = None,
) -> Iterator[Failure]:
    """The credential failures among `items` (records or events); everything else is counted
    in `stats.rejected` with its reason. `seen` is called once per item (progress); a
    CloudWatch Logs payload goes to `payloads` (which counts its lines), if given."""
    for item in items:
        if payloads is not None and is_payload(item):
            payloads(item)
            if seen is not None:
                seen()
            continue
        stats.records += 1
        if seen is not None:
            seen()
        event = wrap_record(item) if is_record(item) else item
        try:
            failure = parse_failure(event, ref=str(stats.records), accepted_errors=accepted_errors)
        except Rejected as why:
            stats.reject(why.reason)
            continue
        if not window.holds(failure.event_time):
            stats.reject("eventTime outside the requested --since/--until range")
            continue
        stats.failures += 1
        yield failure
