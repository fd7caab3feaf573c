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
    out = result.stdout
    assert "InvalidClientTokenId" in out
    assert "verdict: stale-consumer" in out and "verdict: wrong-credential-source" in out
    assert "verdict: rotation-drift" in out and "ecs-force-new-deployment → executed" in out
    assert "SAFE to deactivate" in out and "failed calls so far: 0" in out  # before anything failed
    assert "ec2-recycle-instance → executed" in out  # the undeclared straggler, caught reactively
    assert "verification: verified" in out and "RESOLVED stale-consumer" in out
    # Story 3: located through the cluster's API to the deployment, not restarted, told what to move.
    assert "located: eks-pod payments/ledger-sync-" in out and "of deployment/payments/ledger-sync" in out
    assert "eks-rollout-restart → skipped" in out
    assert "next: Move deployment/payments/ledger-sync (cluster prod) off the static key" in out
    assert "Demo finished" in out
    assert "Traceback" not in out + result.stderr
    assert '"_aws"' not in out  # no metric or log spam without --verbose
