"""`credfix diagnose` on one big CloudTrail log file: peak memory and time (issue 20).

    .venv/bin/python -m bench.logfile [--mb 200] [--gzip]

Writes a log file of about `--mb` megabytes shaped like a busy account's (mostly successful
calls, a few thousand credential failures of five keys from a handful of sources), then runs
`credfix diagnose --event FILE --format json` in a child process against a local AWS (moto
server) and reports the child's peak resident memory (ru_maxrss) and wall time. For
comparison it also measures the floor of the old way, `json.load` of the whole file.

Not part of `make bench` (its table is docs/performance.md): the figures go to
docs/operations.md by hand.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from harness.moto import local_aws
from harness.records import FARGATE_UA, cloudtrail_event

KEYS = [f"AKIAY34FZKBOKMUTVV{n:02d}" for n in range(5)]


def _record(rng: random.Random, failing: bool) -> dict[str, Any]:
    key = rng.choice(KEYS) if failing else "AKIAY34FZKBOKMUTVVOK"
    record = cloudtrail_event(
        key, source_ip=f"10.0.{rng.randrange(4)}.{rng.randrange(1, 9)}", user_agent=FARGATE_UA
    )["detail"]
    if not failing:  # a successful call: no errorCode, rejected by diagnose as not a failure
        record.pop("errorCode", None)
        record.pop("errorMessage", None)
    record["requestParameters"] = {"padding": "x" * rng.randrange(200, 1200)}
    return dict(record)


def write_log_file(out: IO[str], megabytes: int, seed: int = 20) -> int:
    """A `{"Records": [...]}` log file of about `megabytes` MB; returns the record count."""
    rng = random.Random(seed)  # test data, not crypto
    out.write('{"Records":[')
    written, count = 0, 0
    target = megabytes * 1024 * 1024
    while written < target:
        text = json.dumps(_record(rng, failing=rng.random() < 0.02), separators=(",", ":"))
        out.write(("," if count else "") + text)
        written += len(text) + 1
        count += 1
    out.write("]}")
    return count


_WRAPPER = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
    "sys.stderr.write(done.stderr.decode()[-2000:] if done.returncode else ''); "
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _child(args: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Exit code, wall seconds and the command's peak RSS in MB (measured by a wrapper process
    of its own, so that no other child's peak is counted)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], env=env, capture_output=True, check=True)
    elapsed = time.monotonic() - start
    code, peak_kb = (int(x) for x in done.stdout.split())
    sys.stderr.write(done.stderr.decode())
    return code, elapsed, peak_kb // 1024


def measure(megabytes: int, compressed: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("big.json.gz" if compressed else "big.json")
        opener = gzip.open if compressed else open
        with opener(path, "wt", encoding="utf-8") as out:  # type: ignore[operator]
            records = write_log_file(out, megabytes)
        size_mb = path.stat().st_size / 1024 / 1024
        with local_aws() as aws:
            env = {**os.environ, **aws.environ()}
            # The floor of reading it whole (what diagnose did before): json.load in a child.
            load = (
                f"import gzip,json; json.load({'gzip.open' if compressed else 'open'}({str(path)!r}, 'rt'))"
            )
            _, load_s, load_mb = _child([sys.executable, "-c", load], env)
            code, seconds, peak_mb = _child(
                [sys.executable, "-m", "credfix", "diagnose", "--event", str(path), "--format", "json"], env
            )
    return {
        "file_mb": round(size_mb, 1),
        "compressed": compressed,
        "records": records,
        "exit_code": code,
        "diagnose_seconds": round(seconds, 1),
        "diagnose_peak_rss_mb": peak_mb,
        "json_load_whole_file_seconds": round(load_s, 1),
        "json_load_whole_file_peak_rss_mb": load_mb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument(
        "--gzip", action="store_true", help="write the file gzip-compressed, as CloudTrail does"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.mb, args.gzip), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
