"""Issue 20, the command line as people and programs meet it: text on a terminal and JSON in
a pipe, a closed pipe ending quietly, several inputs (files, directories, globs, the sample
events), a trail's bucket replayed by time range, and errors that say what they found.

The verbs run as a user runs them: `python -m credfix` in a child process (a real pseudo-
terminal or a real pipe for stdout), against the local AWS the standard environment names."""

from __future__ import annotations

import gzip
import json
import os
import pty
import select
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from credfix.cli import main
from harness.moto import ACCOUNT, LocalAws
from harness.records import cloudtrail_event

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parents[1] / "events"
KEY_A = "AKIAY34FZKBOKMUTVV7A"
KEY_B = "AKIAY34FZKBOKMUTVV7B"
CREDFIX = [sys.executable, "-m", "credfix"]


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run credfix with stdout on a pseudo-terminal; its output and exit code."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CREDFIX, *args], stdout=slave, stderr=subprocess.PIPE, env=os.environ.copy())
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("credfix did not finish on the terminal")
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
    return code, b"".join(chunks).decode().replace("\r\n", "\n")


def test_text_on_a_terminal_and_json_in_a_pipe(aws_env: LocalAws, tmp_path: Path) -> None:
    events = _write(tmp_path / "e.json", [cloudtrail_event(KEY_A) for _ in range(3)])

    code, text = on_a_terminal(["diagnose", "--event", str(events)])
    assert code == 0
    lines = text.splitlines()
    for label in ("Failing:", "Why:", "Workload:", "Action:", "Next:", "Guide:"):
        assert any(line.startswith(label) for line in lines), (label, text)
    assert "Failing:  3 calls to sts rejected (InvalidClientTokenId)" in text
    assert any(line.startswith("Key:      AKIA…VV7A, ") for line in lines)
    assert KEY_A not in text  # people get the redacted key
    assert "1 incident(s) from 3 credential failure(s)" in text

    piped = subprocess.run([*CREDFIX, "diagnose", "--event", str(events)], capture_output=True, check=False)
    assert piped.returncode == 0, piped.stderr
    report = json.loads(piped.stdout)
    assert report["schema"] == "credfix.report/v1"
    assert [i["access_key_id"] for i in report["incidents"]] == [KEY_A]
    assert report["read"] == {"files": 1, "records": 3, "log_lines": 0, "failures": 3}

    code, forced = on_a_terminal(["diagnose", "--event", str(events), "--format", "json"])
    assert code == 0 and json.loads(forced)["schema"] == "credfix.report/v1"
    assert "…" in forced or "\\u2026" not in forced  # readable JSON: no \u2026 escapes
    as_text = subprocess.run(
        [*CREDFIX, "diagnose", "--event", str(events), "--format", "text"], capture_output=True, check=False
    )
    assert as_text.stdout.decode().startswith("credfix: ")


def test_every_verb_takes_format(capsys: pytest.CaptureFixture[str]) -> None:
    from credfix.cli import _verbs, build_parser

    parser = build_parser()
    for verb in _verbs():
        sub = parser._subparsers._group_actions[0].choices[verb.replace("_", "-")]  # type: ignore[union-attr]
        options = {o for a in sub._actions for o in a.option_strings}
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for action in nested:  # verbs with sub-verbs (incidents list/show, breaker reset)
            for child in action.choices.values():
                assert "--format" in {o for a in child._actions for o in a.option_strings}, verb
        if not nested:
            assert "--format" in options, verb


def test_head_one_ends_quietly(aws_env: LocalAws, tmp_path: Path) -> None:
    events = _write(tmp_path / "e.json", [cloudtrail_event(KEY_A)])
    shell = f"set -o pipefail; {' '.join(CREDFIX)} diagnose --event {events} --format json | head -1"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, check=False)
    assert done.returncode == 0
    assert done.stdout.decode() == "{\n"
    assert done.stderr == b""


def test_a_reader_gone_before_the_report_is_written_is_not_an_error(
    aws_env: LocalAws, tmp_path: Path
) -> None:
    """Deterministic: the pipe's only reader closes before credfix writes anything."""
    events = _write(tmp_path / "e.json", [cloudtrail_event(KEY_A)])
    proc = subprocess.Popen(
        [*CREDFIX, "diagnose", "--event", str(events), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert code == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err


def _diagnose(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["diagnose", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else out, err


def test_several_events_a_directory_and_a_glob(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path / "a.json", [cloudtrail_event(KEY_A) for _ in range(2)])
    second = tmp_path / "b.json.gz"
    second.write_bytes(gzip.compress(json.dumps({"Records": [cloudtrail_event(KEY_B)["detail"]]}).encode()))
    code, report, err = _diagnose(capsys, "--event", str(first), "--event", str(second))
    assert code == 0, err
    counts = {i["access_key_id"]: i["event_count"] for i in report["incidents"]}
    assert counts == {KEY_A: 2, KEY_B: 1}  # both files, not only the last --event
    assert report["read"]["files"] == 2

    nested = tmp_path / "logs" / "2026" / "11"
    nested.mkdir(parents=True)
    _write(nested / "c.json", [cloudtrail_event(KEY_A)])
    (tmp_path / "logs" / "README.txt").write_text("not read: not a .json file")
    code, report, _ = _diagnose(capsys, "--event", str(tmp_path / "logs"), "--event", str(first))
    assert {i["access_key_id"]: i["event_count"] for i in report["incidents"]} == {KEY_A: 3}

    code, report, _ = _diagnose(capsys, "--event", str(tmp_path / "*.json*"))
    assert {i["access_key_id"]: i["event_count"] for i in report["incidents"]} == {KEY_A: 2, KEY_B: 1}


def test_stdin_is_read_with_a_dash(aws_env: LocalAws) -> None:
    record = json.dumps(cloudtrail_event(KEY_A)["detail"])
    done = subprocess.run(
        [*CREDFIX, "diagnose", "--event", "-"], input=record.encode(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [i["access_key_id"] for i in json.loads(done.stdout)["incidents"]] == [KEY_A]


def test_the_sample_events_are_directly_usable(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    expectations = tomllib.loads((SAMPLES / "expectations.toml").read_text())
    accepted = sorted(name for name, e in expectations.items() if e.get("accepted"))
    code, report, err = _diagnose(capsys, "--event", str(SAMPLES))
    assert code == 0, err
    assert report["read"]["files"] == len(expectations)
    assert report["read"]["failures"] == len(accepted)
    assert report["rejected"]["count"] == len(expectations) - len(accepted)
    for name in accepted:
        key = json.loads((SAMPLES / f"{name}.json").read_text())["detail"]["userIdentity"]["accessKeyId"]
        assert key in {i["access_key_id"] for i in report["incidents"]}, name

    code, report, _ = _diagnose(
        capsys, "--event", str(SAMPLES / "sts_get_caller_identity_invalid_token.json")
    )
    assert code == 0 and len(report["incidents"]) == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            {"note": "a sample", "expect": {}, "event": {}},
            "it is a JSON object with keys 'note', 'expect', 'event'",
        ),
        ([], None),  # an empty list is valid input: nothing to diagnose
        ('{"Records": [{"eventSource": "sts.amazonaws.com"}]} \n', None),  # counted as rejected
        ('[{"a": 1}, {"b": 2}', "is not JSON"),
        ('{"Records": [] } trailing', "extra data after the document"),
        ("", "is empty"),
    ],
)
def test_shapes_and_what_an_error_says(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, reason: str | None
) -> None:
    path = tmp_path / "in.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    code, out, err = _diagnose(capsys, "--event", str(path))
    if reason is None:
        assert code == 0, err
        assert out["incidents"] == []
    else:
        assert code == 2 and reason in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_inputs_are_errors_not_silence(
    aws_env: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagnose", "--event", str(tmp_path / "none-*.json")]) == 2
    assert "no file matches" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["diagnose", "--event", str(tmp_path / "empty")]) == 2
    assert "holds no *.json" in capsys.readouterr().err
    assert main(["diagnose"]) == 2
    assert "--event FILE" in capsys.readouterr().err
    assert main(["diagnose", "--from", "https://example.com/x"]) == 2
    assert "is not an s3://BUCKET/PREFIX URL" in capsys.readouterr().err
    assert main(["diagnose", "--event", "x", "--since", "yesterday-ish"]) == 2


# ------------------------------------------------------------------ a trail's bucket, replayed

TRAIL = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1"
DAY = datetime(2026, 11, 3, tzinfo=UTC)


def _log_file(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def _record(key: str, at: datetime) -> dict[str, Any]:
    record = cloudtrail_event(key)["detail"]
    record["eventTime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(record)


def _put(s3: Any, delivered: datetime, records: list[dict[str, Any]], unique: str) -> None:
    name = f"{ACCOUNT}_CloudTrail_us-east-1_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
    key = f"{TRAIL}/{delivered:%Y/%m/%d}/{name}"
    s3.put_object(Bucket="trail-bucket", Key=key, Body=_log_file(records))


def test_trail_bucket_replayed_by_time_range(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail-bucket")
    # The day before, the day itself (one file delivered just after midnight holding the day's
    # last records), and the day after.
    _put(
        s3,
        DAY - timedelta(hours=2),
        [_record(KEY_B, DAY - timedelta(hours=2, minutes=5))],
        "AAAAAAAAAAAAAAA1",
    )
    _put(
        s3,
        DAY + timedelta(hours=11, minutes=5),
        [_record(KEY_A, DAY + timedelta(hours=11))] * 3,
        "AAAAAAAAAAAAAAA2",
    )
    _put(
        s3,
        DAY + timedelta(days=1, minutes=4),
        [
            _record(KEY_A, DAY + timedelta(hours=23, minutes=59)),
            _record(KEY_B, DAY + timedelta(days=1, minutes=1)),
        ],
        "AAAAAAAAAAAAAAA3",
    )
    _put(s3, DAY + timedelta(days=2), [_record(KEY_B, DAY + timedelta(days=2))], "AAAAAAAAAAAAAAA4")
    # Never read: a digest file, and a month folder outside the range holding a broken file
    # (reading it would fail the run).
    s3.put_object(
        Bucket="trail-bucket",
        Key=f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/03/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20261103T110000Z.json.gz",
        Body=b"{}",
    )
    s3.put_object(
        Bucket="trail-bucket",
        Key=f"{TRAIL}/2026/10/01/{ACCOUNT}_CloudTrail_us-east-1_20261001T0000Z_BBBBBBBBBBBBBBB1.json.gz",
        Body=b"\x1f\x8b broken",
    )

    code, report, err = _diagnose(
        capsys, "--from", "s3://trail-bucket/", "--since", "2026-11-03", "--until", "2026-11-04T00:00Z"
    )
    assert code == 0, err
    counts = {i["access_key_id"]: i["event_count"] for i in report["incidents"]}
    assert counts == {KEY_A: 4}  # 3 at 11:00 and the 23:59 one delivered after midnight
    assert report["read"]["files"] == 2  # the day's file and the one delivered just after it
    assert report["rejected"]["reasons"] == {"eventTime outside the requested --since/--until range": 1}

    code, report, err = _diagnose(
        capsys,
        "--from",
        f"s3://trail-bucket/{TRAIL}/",
        "--since",
        "2026-11-02T21:00Z",
        "--until",
        "2026-11-03T12:00Z",
    )
    assert code == 0, err
    assert {i["access_key_id"]: i["event_count"] for i in report["incidents"]} == {KEY_A: 3, KEY_B: 1}


def test_unreadable_bucket_exits_1(aws_env: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--from", "s3://no-such-bucket/", "--since", "1h"]) == 1
    err = capsys.readouterr().err
    assert "cannot read s3://no-such-bucket/" in err and "NoSuchBucket" in err
