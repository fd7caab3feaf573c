"""Start moto in server mode as its own process: the local AWS, reached over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class LocalAws:
    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Clear all state (moto's reset endpoint)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def check_signatures(self) -> None:
        """From now on moto verifies every request's signature and IAM permissions, as AWS
        does: a deleted or unknown key gets a real `InvalidClientTokenId`."""
        req = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=10).close()

    def environ(self) -> dict[str, str]:
        """The standard AWS environment that points boto3 at this local AWS."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_aws(*, check_signatures_after: int | None = None) -> Iterator[LocalAws]:
    """moto server on a free loopback port. With `check_signatures_after=N`, moto verifies
    request signatures after N calls, so unknown or deleted keys get a real
    `InvalidClientTokenId`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MOTO_PORT"] = str(port)
    if check_signatures_after is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(check_signatures_after)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    try:
        yield LocalAws(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
