"""The inputs `credfix diagnose` and `remediate` read (shared; not a verb): `--event` (files,
directories, globs, `-` for stdin; repeatable) and `--from s3://BUCKET/PREFIX` with
`--since`/`--until` (a trail's log files). Everything is streamed (core/logfiles.py), with
progress on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from credfix.cli.output import Progress, human_bytes

if TYPE_CHECKING:  # the base install has no pydantic: these load when a verb runs
    from credfix.adapters.aws import ClientFactory
    from credfix.config import Settings
    from credfix.core.logfiles import ReadStats
    from credfix.models.observation import KeyDelta

SHAPES = (
    "a CloudTrail record, an EventBridge event, a JSON list of either, a CloudTrail log file, or a "
    "CloudWatch Logs subscription payload (a workload's log lines, encoded as Lambda receives it or not)"
)
FILE_SUFFIXES = (".json", ".json.gz", ".gz")
DEFAULT_REPLAY = timedelta(hours=24)
_RELATIVE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadInput(Exception):
    """Input that cannot be read as asked: one line, exit code 2."""


def when(value: str) -> datetime:
    """`24h`, `30m`, `7d` (that long ago), or an ISO 8601 date or time (UTC unless it says)."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = relative.groups()
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a duration (24h, 7d, 30m) nor an ISO 8601 time (2026-11-03T11:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="PATH",
        help=f"{SHAPES}: a file (.json or .json.gz), a directory (its *.json and *.json.gz files, "
        "recursively), a glob ('logs/**/*.json.gz'), or '-' for stdin; repeatable",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="s3://BUCKET/PREFIX",
        help="replay a trail's log files from its bucket (the prefix the trail writes under, "
        "e.g. s3://trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/)",
    )
    parser.add_argument(
        "--since",
        type=when,
        metavar="TIME",
        help="only records from this time on: 24h, 7d, 2026-11-03, 2026-11-03T11:00Z "
        "(with --from the default is 24h)",
    )
    parser.add_argument(
        "--until", type=when, metavar="TIME", help="only records before this time (default: now)"
    )


def expand(patterns: list[str]) -> list[Path | str]:
    """Files to read, in order: each PATH as given, a directory's files sorted, a glob's
    matches sorted; '-' stays '-'. A PATH that names nothing is an error, not a silent skip."""
    found: list[Path | str] = []
    for pattern in patterns:
        if pattern == "-":
            found.append("-")
            continue
        path = Path(pattern)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(FILE_SUFFIXES))
            if not files:
                raise BadInput(f"{pattern}: the directory holds no *.json or *.json.gz file")
            found.extend(files)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(pattern):
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
            if not matches:
                raise BadInput(f"{pattern}: no file matches")
            found.extend(matches)
        else:
            raise BadInput(f"cannot read {pattern}: No such file or directory")
    return list(dict.fromkeys(found))


class _Counted:
    """A byte stream that counts what was read from it (progress over compressed files)."""

    def __init__(self, raw: IO[bytes], count: Callable[[int], None]) -> None:
        self._raw = raw
        self._count = count

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._count(len(data))
        return data


@dataclass
class Source:
    name: str
    size: int | None
    open: Callable[[], IO[bytes]]


def _local_sources(patterns: list[str]) -> list[Source]:
    sources = []
    for item in expand(patterns):
        if item == "-":
            sources.append(Source("stdin", None, lambda: sys.stdin.buffer))
            continue
        path = Path(item)

        def opener(p: Path = path) -> IO[bytes]:
            try:
                return p.open("rb")
            except OSError as exc:
                raise BadInput(f"cannot read {p}: {exc.strerror or exc}") from None

        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
        sources.append(Source(str(path), size, opener))
    return sources


def _s3_sources(url: str, since: datetime, until: datetime, client_for: ClientFactory) -> list[Source]:
    from credfix.adapters.readers.trail_logs import TrailLogs, parse_s3_url

    try:
        bucket, prefix = parse_s3_url(url)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    logs = TrailLogs(client_for("s3"), bucket)
    progress = Progress(f"listing {url}")
    files = []
    for log_file in logs.log_files(prefix, since, until):
        files.append(log_file)
        progress.update(f"{len(files):,} log file(s) in range")
    progress.done()
    return [
        Source(f"s3://{bucket}/{f.key}", f.size, lambda key=f.key: logs.open(key))  # type: ignore[misc]
        for f in files
    ]


def read_deltas(
    args: argparse.Namespace, client_for: ClientFactory, settings: Settings
) -> tuple[dict[str, KeyDelta], ReadStats]:
    """Every input's failures folded per key (or workload, for log lines; streamed), and what
    the reading saw."""
    from credfix.core.aggregate import RunningGroups
    from credfix.core.logfiles import (
        JsonItems,
        ReadStats,
        TimeRange,
        UnreadableInput,
        failures_in,
        text_stream,
    )
    from credfix.core.logs import LogLines, read_lines
    from credfix.models.cloudtrail import Rejected
    from credfix.models.logs import read_payload

    if not args.event and not args.source:
        raise BadInput("say what to read: --event FILE (repeatable) or --from s3://BUCKET/PREFIX")
    since, until = args.since, args.until
    if args.source and since is None:
        since = datetime.now(UTC) - DEFAULT_REPLAY
    if since and until and since >= until:
        raise BadInput("--since must be before --until")
    sources = _local_sources(args.event)
    if args.source:
        sources += _s3_sources(args.source, since, until or datetime.now(UTC), client_for)
    stats = ReadStats()
    groups = RunningGroups()
    total = sum(s.size or 0 for s in sources)
    read = [0]
    progress = Progress("reading")

    def count(n: int) -> None:
        read[0] += n

    def seen() -> None:
        progress.update(
            f"{stats.files}/{len(sources)} file(s), {human_bytes(read[0])} of {human_bytes(total)}, "
            f"{stats.records:,} record(s), {stats.failures:,} credential failure(s)"
        )

    window = TimeRange(since, until)
    region: list[str] = []  # a payload's lines are in the environment's region (it names none)

    def payload(raw: Any) -> None:
        if not region:
            region.append(str(client_for("sts").meta.region_name))
        lines = LogLines()
        try:
            read_lines(read_payload(raw), region[0], settings.accepted_errors, lines)
        except Rejected as why:
            stats.reject(why.reason)
            return
        kept = groups.add_groups(lines.groups, window)
        stats.log_lines += lines.lines
        stats.failures += kept
        if lines.counted > kept:
            stats.reject("eventTime outside the requested --since/--until range", lines.counted - kept)
        for reason, n in lines.ignored.items():
            stats.reject(reason, n)

    try:
        for source in sources:
            stats.files += 1
            raw = source.open()
            try:
                stream = text_stream(_Counted(raw, count), source.name)  # type: ignore[arg-type]
                items: Iterator[Any] = JsonItems(stream, source.name).items()
                for failure in failures_in(
                    items,
                    stats,
                    accepted_errors=settings.accepted_errors,
                    window=window,
                    seen=seen,
                    payloads=payload,
                ):
                    groups.add(failure)
            except UnreadableInput as exc:
                raise BadInput(str(exc)) from None
            finally:
                if raw is not sys.stdin.buffer:
                    raw.close()
    finally:
        progress.done()
    return groups.deltas(), stats
