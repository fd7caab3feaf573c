"""What every verb prints, and how (shared by the verbs; not a verb itself: it has no
`register`).

One rule for all verbs: text for people when stdout is a terminal, the verb's JSON document
(`credfix.report/v1`, `credfix.preflight/v1`, …) when it is not (a pipe, a file, a CI log
parser), and `--format text|json` to choose. Progress goes to stderr, and only when stderr
is a terminal, so that a pipe or a log never gets carriage returns.

Stdlib only: `credfix --help` and `credfix preflight` run on the base install (boto3 only).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

Format = Literal["text", "json"]
FORMATS: tuple[Format, ...] = ("text", "json")

# Characters that must not reach a terminal raw, even inside a JSON string: controls (C0 are
# escaped by json already; C1 such as NEL are not), bidi and zero-width formatting, line and
# paragraph separators, and lone surrogates (which cannot even be encoded as UTF-8).
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def add_format_argument(parser: argparse.ArgumentParser, *, json_flag: bool = False) -> None:
    """`--format text|json` (default: text on a terminal, json otherwise). `json_flag` keeps an
    older `--json` as a hidden synonym of `--format json`."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text for people, json for programs (default: text when stdout is a terminal, else json)",
    )
    if json_flag:
        parser.add_argument(
            "--json", dest="format", action="store_const", const="json", help=argparse.SUPPRESS
        )


def chosen_format(args: argparse.Namespace, stream: TextIO | None = None) -> Format:
    chosen: Format | None = getattr(args, "format", None)
    if chosen:
        return chosen
    return "text" if is_terminal(stream or sys.stdout) else "json"


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or a replacement without isatty
        return False


def _escape_unsafe(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ord(ch) > 0x7E and unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def json_text(document: Any) -> str:
    """Indented JSON with readable non-ASCII text (`…`, not `\\u2026`), but every character
    that could rewrite a terminal line escaped, so JSON viewed on a terminal is safe too."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return text if text.isascii() else _escape_unsafe(text)


def print_json(document: Any, stream: TextIO | None = None) -> None:
    print(json_text(document), file=stream or sys.stdout)


def emit(args: argparse.Namespace, document: Any, text: str) -> None:
    """Print `text` or the JSON `document`, as the verb's format says."""
    if chosen_format(args) == "json":
        print_json(document)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def fail(verb: str, code: int, reason: str) -> int:
    """One line on stderr, no traceback; returns the exit code."""
    print(f"credfix {verb}: {reason}", file=sys.stderr)
    return code


def one_line(value: object) -> str:
    """A table cell: controls, bidi and line separators become spaces (values in the table
    may have come from events; the core's `sanitise` has already bounded the long ones)."""
    return "".join(" " if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in str(value))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table (columns padded; the last column is not)."""
    if not rows:
        return ""
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(widths[i]) if i < len(row) - 1 else str(c) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


class Progress:
    """A one-line progress report on stderr, rewritten in place; silent unless stderr is a
    terminal. Updates are throttled (a redraw every 0.2 s at most), so it costs nothing in a
    loop over records."""

    def __init__(self, label: str, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self.enabled = is_terminal(self._stream) if enabled is None else enabled
        self._label = label
        self._start = time.monotonic()
        self._last = 0.0
        self._width = 0

    def update(self, detail: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        line = f"{self._label}: {detail} ({now - self._start:.0f}s)"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()

    def done(self) -> None:
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


@contextmanager
def ticking(label: str, stream: TextIO | None = None, *, enabled: bool | None = None) -> Iterator[Progress]:
    """For a step whose length nobody can tell (a CDK synth, a deploy): the elapsed time,
    redrawn every second by a background thread, until the step ends."""
    progress = Progress(label, stream, enabled=enabled)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            progress.update("working", force=True)

    thread = threading.Thread(target=tick, daemon=True) if progress.enabled else None
    if thread:
        thread.start()
    try:
        yield progress
    finally:
        stop.set()
        if thread:
            thread.join()
        progress.done()


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
