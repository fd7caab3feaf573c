"""Clients for the `credfix` CLI, from the standard AWS environment: profile, region,
`AWS_ENDPOINT_URL`, and the retry settings `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` (the
Lambdas' factory in adapters/aws.py pins its retries; an operator at a terminal may not
want five attempts against an endpoint that is down)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from credfix.adapters.aws import ClientFactory

TIMEOUTS = Config(connect_timeout=3, read_timeout=10, tcp_keepalive=True)


def environment_clients() -> ClientFactory:
    """A client factory over one session (raises botocore's ProfileNotFound for a bad profile)."""
    session = boto3.session.Session()

    @cache
    def client_for(service: str, region: str | None = None) -> Any:
        return session.client(service, region_name=region, config=TIMEOUTS)

    return client_for
