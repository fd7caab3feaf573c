"""`make demo` is part of the test suite: it exits non-zero when any step's outcome is missing."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "InvalidClientTokenId" in result.stdout
    assert '"event_count": 3' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
