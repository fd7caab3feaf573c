"""boto3 clients, configured once: retries and timeouts chosen to fit inside a Lambda's
timeout (standard retry mode with backoff and jitter; bounded connect/read timeouts)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from credfix.permissions import declare

# Worst case for one call: 4 attempts x (2 s connect + 5 s read) + standard-mode backoff
# (jittered, capped at 20 s per wait) = about 28 s, so two fully failing calls fit in
# ingest's 60 s timeout and four in the steps' 120 s (tests/reliability checks this).
RETRIES = Config(
    retries={"mode": "standard", "total_max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


class _NoBodiesInDebugLogs(logging.Filter):
    """botocore logs every request's parameters and every response body at DEBUG: a secret's
    value (GetSecretValue), a function's environment (Get/UpdateFunctionConfiguration), an
    error message that echoes them. Those records keep their first words, not the body, so
    turning on debug logging cannot put a secret value in the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        text = str(record.msg)
        if text.startswith("Making request for"):
            operation = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "Making request for %s (parameters not logged)", (operation,)
        elif text.startswith("Response body"):
            record.msg, record.args = "Response body not logged (it may hold secret values)", ()
        return True


_BODY_FILTER = _NoBodiesInDebugLogs()


def keep_bodies_out_of_debug_logs() -> None:
    """Install the filter on the two botocore loggers that print bodies (idempotent)."""
    for name in ("botocore.endpoint", "botocore.parsers"):
        logger = logging.getLogger(name)
        if _BODY_FILTER not in logger.filters:
            logger.addFilter(_BODY_FILTER)


keep_bodies_out_of_debug_logs()

# What the core takes instead of importing boto3: service name (and optional region) -> client.
ClientFactory = Callable[..., Any]


_session_lock = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    # One session per process: each new session re-reads botocore's endpoint and partition
    # data, which measured as most of the act Lambda's cold start (bench/, docs/performance.md).
    return boto3.session.Session()


# For a hot path whose requests are built by credfix's own code (ingest's DynamoDB writes):
# botocore's client-side parameter validation was about 18 % of each UpdateItem's CPU on a
# storm, and the service validates every request anyway (ValidationException).
UNVALIDATED = RETRIES.merge(Config(parameter_validation=False))


@cache
def client(service: str, region: str | None = None, *, validate_params: bool = True) -> Any:
    """One client per service and region per process. Clients are thread-safe; creating them
    from one session is not, hence the lock."""
    with _session_lock:
        return _session().client(
            service, region_name=region, config=RETRIES if validate_params else UNVALIDATED
        )


def hook_new_clients(event_name: str, handler: Callable[..., Any]) -> None:
    """Register a botocore event hook that every client made from now on carries (a client
    copies its session's hooks when it is created): how the benchmarks count AWS calls."""
    _session().events.register(event_name, handler)


def reset_clients() -> None:
    """Forget the session and clients (tests and the demo change the environment they read)."""
    client.cache_clear()
    _session.cache_clear()


class MemberAccounts:
    """Organisation mode: clients for a member account, through its credfix member role.

    Credentials are cached per account until shortly before they expire (botocore's
    RefreshableCredentials does the refresh)."""

    def __init__(
        self, role_name: str, *, sts_client: Any | None = None, session_name: str = "credfix"
    ) -> None:
        self._role_name = role_name
        self._sts = sts_client
        self._session_name = session_name
        self._sessions: dict[str, boto3.session.Session] = {}

    def _partition(self) -> str:
        sts = self._sts or client("sts")
        return str(sts.meta.partition)

    def factory(self, account: str) -> ClientFactory:
        session = self._sessions.get(account)
        if session is None:
            session = self._sessions[account] = self._assume(account)

        @cache
        def client_for(service: str, region: str | None = None) -> Any:
            return session.client(service, region_name=region, config=RETRIES)

        return client_for

    def _assume(self, account: str) -> boto3.session.Session:
        from botocore.credentials import DeferredRefreshableCredentials, create_assume_role_refresher
        from botocore.session import get_session

        role_arn = f"arn:{self._partition()}:iam::{account}:role/{self._role_name}"
        refresher = create_assume_role_refresher(
            self._sts or client("sts"), {"RoleArn": role_arn, "RoleSessionName": self._session_name}
        )
        core = get_session()
        core._credentials = DeferredRefreshableCredentials(refresh_using=refresher, method="assume-role")
        return boto3.session.Session(botocore_session=core)


class AccountRouter:
    """Organisation mode: the clients for the account an incident happened in.

    A key's failures are recorded in the account the calls were made to (the incident's
    recipient account); when that is a member account, triage and act work there through
    the member role. Without a role name (single-account deployments) every incident is
    handled with the home clients."""

    def __init__(self, home: ClientFactory, role_name: str, members: MemberAccounts | None = None) -> None:
        self._home = home
        self._role_name = role_name
        self._members = members or (MemberAccounts(role_name, sts_client=home("sts")) if role_name else None)
        self._own: str | None = None

    def own_account(self) -> str:
        if self._own is None:
            self._own = str(self._home("sts").get_caller_identity()["Account"])
        return self._own

    def for_accounts(self, accounts: list[str]) -> ClientFactory:
        if self._members is None or not accounts or accounts[0] == self.own_account():
            return self._home
        return self._members.factory(accounts[0])


# The calls MemberAccounts makes, declared for the roles that use it in organisation mode.
declare("triage", "sts:AssumeRole", on="member-roles")
declare("act", "sts:AssumeRole", on="member-roles")
declare("rotation", "sts:AssumeRole", on="member-roles")
