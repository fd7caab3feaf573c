"""boto3 clients, configured once: retries and timeouts chosen to fit inside a Lambda's
timeout (standard retry mode with backoff and jitter; bounded connect/read timeouts)."""

from __future__ import annotations

from collections.abc import Callable
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

# What the core takes instead of importing boto3: service name (and optional region) -> client.
ClientFactory = Callable[..., Any]


@cache
def client(service: str, region: str | None = None) -> Any:
    """One client per service and region per process (clients are thread-safe; sessions are not)."""
    return boto3.session.Session().client(service, region_name=region, config=RETRIES)
