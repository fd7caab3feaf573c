"""boto3 clients, configured once: retries and timeouts chosen to fit inside a Lambda's
timeout (adaptive retry mode backs off under throttling instead of hammering)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
)


@cache
def client(service: str, region: str | None = None) -> Any:
    """One client per service and region per process (clients are thread-safe; sessions are not)."""
    return boto3.session.Session().client(service, region_name=region, config=RETRIES)
