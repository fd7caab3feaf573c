"""The shared output helpers of the CLI (credfix/cli/output.py)."""

from __future__ import annotations

import io
import json
import time

from credfix.cli.output import Progress, json_text, table, ticking


def test_json_is_readable_but_escapes_what_could_rewrite_a_terminal() -> None:
    document = {"key": "AKIA…VV7A", "agent": "evil\u202egnp.exe\u2028line\x85nel", "bad": "\ud800"}
    text = json_text(document)
    assert "AKIA…VV7A" in text  # readable, not \u2026
    for raw in ("\u202e", "\u2028", "\x85", "\ud800"):
        assert raw not in text
    assert json.loads(text)["agent"] == document["agent"]  # the value itself is kept exactly
    text.encode("utf-8")  # printable on a UTF-8 terminal (no lone surrogate)


def test_table_cells_are_one_line() -> None:
    out = table([["a\nb", "c\u202ed"]], ["X", "Y"])
    assert out.count("\n") == 2 and "\u202e" not in out


def test_progress_is_silent_unless_the_stream_is_a_terminal() -> None:
    pipe = io.StringIO()
    progress = Progress("reading", pipe)
    progress.update("1 file", force=True)
    progress.done()
    assert pipe.getvalue() == ""


def test_progress_on_a_terminal_rewrites_one_line_and_clears_it() -> None:
    terminal = io.StringIO()
    progress = Progress("reading", terminal, enabled=True)
    progress.update("1 of 2 files", force=True)
    progress.update("2 of 2 files", force=True)
    progress.done()
    written = terminal.getvalue()
    assert written.count("\r") == 4 and "\n" not in written  # two redraws, then blank and back
    assert "reading: 2 of 2 files" in written and written.endswith("\r")


def test_ticking_shows_time_passing_during_a_silent_step() -> None:
    terminal = io.StringIO()
    with ticking("deploying", terminal, enabled=True):
        time.sleep(1.3)
    assert "deploying: working" in terminal.getvalue()
