"""The credential-source audit: which provider the SDK picks, and which others would compete.

Precedence is botocore's own: the chain is `session.get_component("credential_provider")
.providers` in order and the winner is `session.get_credentials().method`, so the answer
is the one the workload's SDK (Python; the other SDKs follow the same documented order)
gives, not a reimplementation. Alongside the winner every *present* source is reported
(environment keys, AWS_PROFILE, shared files, web identity, container endpoint, instance
metadata) with the key ID it yields where that can be read without a network call.
Secret keys and session tokens are never kept: only key IDs, ARNs, paths and names.
"""

from __future__ import annotations

import json
import os
import shlex
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import botocore.credentials
import botocore.session
import botocore.utils
from botocore import configloader
from botocore.exceptions import BotoCoreError, ConfigNotFound, ProfileNotFound

from credfix.arns import account_of
from credfix.errortext import redact_message
from credfix.keys import decode_account, is_access_key_id

SourceKind = Literal["static", "role", "federated", "process", "legacy"]
AccountBasis = Literal["key-id-decoding", "role-arn", "sso_account_id", "aws_account_id"]

# botocore METHOD -> what kind of credential it hands out (for the mixed-auth-modes check).
KIND_OF_METHOD: dict[str, SourceKind] = {
    "env": "static",
    "shared-credentials-file": "static",
    "config-file": "static",
    "assume-role": "role",
    "assume-role-with-web-identity": "role",
    "container-role": "role",
    "iam-role": "role",
    "sso": "federated",
    "login": "federated",
    "custom-process": "process",
    "ec2-credentials-file": "legacy",
    "boto-config": "legacy",
}
# Role sources a platform injects into the runtime (IRSA, ECS task role, instance profile): the
# "intended runtime role" a static key or a profile can shadow.
RUNTIME_ROLE_METHODS = ("assume-role-with-web-identity", "container-role", "iam-role")
# Providers whose load() only reads the environment or local files (safe in --offline). The
# others call the network or run a program when loaded, so offline they are judged by presence.
_OFFLINE_LOADABLE = {
    "env",
    "assume-role-with-web-identity",  # returns deferred credentials; STS is called later
    "sso",  # likewise deferred
    "shared-credentials-file",
    "config-file",
    "ec2-credentials-file",
    "boto-config",
}
PROFILE_METHODS = ("assume-role", "sso", "shared-credentials-file", "login", "custom-process", "config-file")
_CONTAINER_PROBE_TIMEOUT = 1.0
_MAX_IMDS_TIMEOUT = 1.0


def provider_methods() -> list[str]:
    """Every credential provider botocore knows, by METHOD (the values `--expect-source` takes).

    Read from botocore's provider classes, so a provider added by a botocore upgrade is
    accepted without a change here."""
    found: set[str] = set()
    pending: list[type] = [botocore.credentials.CredentialProvider]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        method = getattr(cls, "METHOD", None)
        if isinstance(method, str):
            found.add(method)
    return sorted(found)


@dataclass
class Source:
    """One credential source that is present in this runtime."""

    method: str  # botocore provider METHOD
    canonical_name: str | None
    position: int | None  # index in botocore's chain (lower wins); None if not in the chain
    origin: str  # where it comes from: env var names, a file path, a URI
    kind: SourceKind
    won: bool = False
    key_id: str | None = None  # full key ID (not a secret); renderers redact it
    account: str | None = None  # account readable without a network call, if any
    account_basis: AccountBasis | None = None
    role_arn: str | None = None
    details: dict[str, str | bool | None] = field(default_factory=dict)
    contacted: str | None = None  # the local endpoint called to read it, if one was called
    note: str | None = None

    def set_key(self, key_id: str | None) -> None:
        self.key_id = key_id
        if key_id and self.account_basis in (None, "key-id-decoding"):
            decoded = decode_account(key_id).account_id
            if decoded:
                self.account, self.account_basis = decoded, "key-id-decoding"

    def set_role(self, role_arn: str | None) -> None:
        self.role_arn = role_arn
        account = _account_of_arn(role_arn)
        if account and self.account is None:
            self.account, self.account_basis = account, "role-arn"


@dataclass
class ChainFailure:
    """The SDK's own credential resolution raised: the workload would fail the same way."""

    provider: str | None  # METHOD of the provider that raised, when known
    error: str  # exception class name
    message: str


@dataclass
class ChainAudit:
    chain: list[str]  # botocore's provider order for this session
    profile: str
    profile_from: str | None  # AWS_DEFAULT_PROFILE / AWS_PROFILE, or None for "default"
    profile_vars: dict[str, str]  # both profile variables as set (they can disagree)
    region: str | None
    config_file: str
    credentials_file: str
    offline: bool
    winner: str | None = None  # METHOD of the provider that produced credentials
    winner_note: str | None = None
    failure: ChainFailure | None = None
    sources: list[Source] = field(default_factory=list)
    credentials: Any = None  # botocore Credentials (kept in memory for the STS call only)

    def source(self, method: str) -> Source | None:
        return next((s for s in self.sources if s.method == method), None)

    @property
    def winning_source(self) -> Source | None:
        return self.source(self.winner) if self.winner else None


def new_session(imds_timeout: float = _MAX_IMDS_TIMEOUT) -> Any:
    """A botocore session exactly as the SDK builds one from this environment, except that the
    instance-metadata probe is capped at `imds_timeout` seconds and one attempt, so that a
    health check never hangs off EC2 (the SDK default is 1 s, 1 attempt)."""
    session = botocore.session.Session()
    configured = float(_config_variable(session, "metadata_service_timeout") or 1)
    session.set_config_variable("metadata_service_timeout", min(configured, imds_timeout))
    session.set_config_variable("metadata_service_num_attempts", 1)
    return session


def _config_variable(session: Any, name: str) -> Any:
    """A config value; None when the selected profile does not exist (botocore raises
    ProfileNotFound for every profile-scoped lookup then: the audit reports it once)."""
    try:
        return session.get_config_variable(name)
    except ProfileNotFound:
        return None


def audit_chain(session: Any, *, offline: bool, environ: Mapping[str, str] | None = None) -> ChainAudit:
    """Resolve credentials through botocore's chain and list every competing source.

    Online, the winner comes from `session.get_credentials()` (which may call the container
    endpoint or instance metadata, as the SDK would); offline, the chain is walked in the same
    order but providers that need the network or run a program are judged by presence only.
    """
    env = os.environ if environ is None else environ
    try:
        providers = list(session.get_component("credential_provider").providers)
        missing_profile = None
    except ProfileNotFound as exc:  # the SDK cannot even build its chain: every call fails
        providers, missing_profile = [], exc
    chain = [str(p.METHOD) for p in providers]
    profile_vars = {k: env[k] for k in ("AWS_DEFAULT_PROFILE", "AWS_PROFILE") if env.get(k)}
    profile_from = next(iter(profile_vars), None)  # botocore reads AWS_DEFAULT_PROFILE first
    audit = ChainAudit(
        chain=chain,
        profile=str(session.get_config_variable("profile") or "default"),
        profile_from=profile_from,
        profile_vars=profile_vars,
        # botocore reads AWS_DEFAULT_REGION/the profile; the other SDKs (and Lambda, ECS) set AWS_REGION.
        region=_config_variable(session, "region") or env.get("AWS_REGION") or None,
        config_file=os.path.expanduser(str(session.get_config_variable("config_file"))),
        credentials_file=os.path.expanduser(str(session.get_config_variable("credentials_file"))),
        offline=offline,
    )
    audit.sources = _present_sources(audit, session, providers, env)
    if missing_profile is not None:
        audit.failure = _failure_from(missing_profile, audit)
    elif offline:
        _resolve_offline(audit, providers, env)
    else:
        _resolve_online(audit, session)
    if audit.winner is not None and audit.source(audit.winner) is None:
        provider = next(p for p in providers if audit.winner == p.METHOD)
        audit.sources.append(
            Source(
                audit.winner,
                provider.CANONICAL_NAME,
                chain.index(audit.winner),
                "",
                KIND_OF_METHOD.get(audit.winner, "legacy"),
            )
        )
        audit.sources.sort(key=lambda s: (s.position is None, s.position or 0))
    for source in audit.sources:
        source.won = source.method == audit.winner
    winner = audit.winning_source
    # Only credentials that are already loaded: reading deferred ones (assume-role, web identity,
    # SSO) would call STS now; their key ID is filled in after the STS call instead.
    loaded = not isinstance(audit.credentials, botocore.credentials.DeferredRefreshableCredentials)
    if winner is not None and audit.credentials is not None and loaded and winner.key_id is None:
        winner.set_key(audit.credentials.access_key)
        account = getattr(audit.credentials, "account_id", None)
        if account and winner.account is None:
            winner.account, winner.account_basis = str(account), "aws_account_id"
    return audit


def _resolve_online(audit: ChainAudit, session: Any) -> None:
    try:
        credentials = session.get_credentials()
    except (BotoCoreError, ValueError, OSError) as exc:  # the SDK would raise the same at startup
        audit.failure = _failure_from(exc, audit)
        return
    if credentials is None:
        return
    audit.credentials = credentials
    audit.winner = str(credentials.method)


def _resolve_offline(audit: ChainAudit, providers: list[Any], env: Mapping[str, str]) -> None:
    present = {s.method for s in audit.sources}
    for provider in providers:
        method = str(provider.METHOD)
        if method in _OFFLINE_LOADABLE:
            try:
                credentials = provider.load()
            except (BotoCoreError, ValueError, OSError) as exc:
                audit.failure = _failure_from(exc, audit, method)
                return
            if credentials is not None:
                audit.winner, audit.credentials = method, credentials
                return
        elif method == "iam-role":
            if _imds_disabled(env):
                continue
            audit.winner = method
            audit.winner_note = "not probed (--offline): the SDK would try instance metadata next"
            return
        elif method in present:
            audit.winner = method
            audit.winner_note = "not contacted (--offline): configured, so the SDK would use it"
            return


def _failure_from(exc: Exception, audit: ChainAudit, method: str | None = None) -> ChainFailure:
    kwargs = getattr(exc, "kwargs", {}) or {}
    provider = method or kwargs.get("provider")
    if provider is None and isinstance(exc, ProfileNotFound):
        provider = "shared-credentials-file"
    if provider is None:
        # botocore does not say which provider raised: the first present source in chain order
        # is the one it was loading.
        provider = next((s.method for s in audit.sources), None)
    message = redact_message(exc)
    if isinstance(exc, ProfileNotFound):
        set_by = audit.profile_from or "the default profile"
        message = f"{message} (profile {audit.profile!r} named by {set_by})"
    return ChainFailure(provider, type(exc).__name__, message[:300])


def _present_sources(
    audit: ChainAudit, session: Any, providers: list[Any], env: Mapping[str, str]
) -> list[Source]:
    def position(method: str) -> int | None:
        return audit.chain.index(method) if method in audit.chain else None

    def canonical(method: str) -> str | None:
        return next((p.CANONICAL_NAME for p in providers if method == p.METHOD), None)

    def new(method: str, origin: str) -> Source:
        return Source(method, canonical(method), position(method), origin, KIND_OF_METHOD[method])

    sources: list[Source] = []
    profile = _profile_config(session, audit.profile)

    env_vars = [
        v
        for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
        if env.get(v)
    ]
    if env_vars:
        source = new("env", ", ".join(env_vars))
        source.set_key(env.get("AWS_ACCESS_KEY_ID"))
        source.details["session_token"] = bool(env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN"))
        if env.get("AWS_ACCOUNT_ID") and source.account is None:
            source.account, source.account_basis = env["AWS_ACCOUNT_ID"], "aws_account_id"
        sources.append(source)

    if "role_arn" in profile and "web_identity_token_file" not in profile:
        source = new("assume-role", f"profile {audit.profile} ({audit.config_file})")
        source.set_role(profile["role_arn"])
        for name in ("source_profile", "credential_source", "role_session_name", "mfa_serial"):
            if name in profile:
                source.details[name] = str(profile[name])
        sources.append(source)

    web_identity = _web_identity(env, profile)
    if web_identity is not None:
        token_file, role_arn, origin = web_identity
        source = new("assume-role-with-web-identity", origin)
        source.set_role(role_arn)
        source.details["token_file"] = token_file
        source.details["token_file_readable"] = os.access(token_file, os.R_OK)
        sources.append(source)

    if any(k in profile for k in ("sso_account_id", "sso_role_name", "sso_session")):
        source = new("sso", f"profile {audit.profile} ({audit.config_file})")
        for name in ("sso_session", "sso_start_url", "sso_role_name", "sso_account_id"):
            if name in profile:
                source.details[name] = str(profile[name])
        if str(profile.get("sso_account_id", "")).isdigit():
            source.account, source.account_basis = str(profile["sso_account_id"]), "sso_account_id"
        sources.append(source)

    static_files = (
        ("shared-credentials-file", audit.credentials_file, _credentials_file_profile),
        ("config-file", audit.config_file, _config_file_profile),
    )
    for method, path, read in static_files:
        section = read(path, audit.profile)
        if section and section.get("aws_access_key_id"):
            source = new(method, f"profile {audit.profile} ({path})")
            source.set_key(str(section["aws_access_key_id"]))
            source.details["session_token"] = bool(
                section.get("aws_session_token") or section.get("aws_security_token")
            )
            if section.get("aws_account_id") and source.account is None:
                source.account, source.account_basis = str(section["aws_account_id"]), "aws_account_id"
            sources.append(source)

    if "login_session" in profile:
        sources.append(new("login", f"profile {audit.profile} ({audit.config_file})"))

    if "credential_process" in profile:
        source = new("custom-process", f"profile {audit.profile} ({audit.config_file})")
        # Only the program's name: its arguments may carry tokens.
        argv = shlex.split(str(profile["credential_process"]))
        source.details["program"] = Path(argv[0]).name if argv else ""
        sources.append(source)

    container_uri = _container_uri(env)
    if container_uri is not None:
        source = new("container-role", container_uri)
        source.details["authorization"] = next(
            (
                v
                for v in ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
                if env.get(v)
            ),
            None,
        )
        if audit.offline:
            source.note = "endpoint not contacted (--offline)"
        else:
            _read_container_endpoint(source, container_uri, env)
        sources.append(source)

    if _imds_disabled(env):
        pass  # AWS_EC2_METADATA_DISABLED=true: the SDK skips it, so does the audit
    elif not audit.offline:
        imds = _probe_instance_metadata(providers)
        if imds is not None:
            imds.position = position("iam-role")
            sources.append(imds)
    return sources


def _profile_config(session: Any, profile: str) -> dict[str, Any]:
    """The merged profile (config file + credentials file), as botocore's providers read it."""
    try:
        profiles = session.full_config.get("profiles", {})
    except (BotoCoreError, OSError):
        return {}
    return dict(profiles.get(profile, {}))


def _credentials_file_profile(path: str, profile: str) -> dict[str, Any]:
    try:
        return dict(configloader.raw_config_parse(path).get(profile, {}))
    except (ConfigNotFound, BotoCoreError, OSError):
        return {}


def _config_file_profile(path: str, profile: str) -> dict[str, Any]:
    try:
        return dict(configloader.load_config(path).get("profiles", {}).get(profile, {}))
    except (ConfigNotFound, BotoCoreError, OSError):
        return {}


def _web_identity(env: Mapping[str, str], profile: Mapping[str, Any]) -> tuple[str, str | None, str] | None:
    """(token file, role ARN, origin); environment first, then the profile (botocore's order)."""
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        role = env.get("AWS_ROLE_ARN") or profile.get("role_arn")
        return env["AWS_WEB_IDENTITY_TOKEN_FILE"], role, "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN"
    if profile.get("web_identity_token_file"):
        role = env.get("AWS_ROLE_ARN") or profile.get("role_arn")
        return str(profile["web_identity_token_file"]), role, "profile web_identity_token_file"
    return None


def _container_uri(env: Mapping[str, str]) -> str | None:
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return f"http://{botocore.utils.ContainerMetadataFetcher.IP_ADDRESS}{relative}"
    return env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or None


def _read_container_endpoint(source: Source, uri: str, env: Mapping[str, str]) -> None:
    """Ask the container credentials endpoint which key and role it serves. It is local to the
    task (169.254.170.2, EKS Pod Identity's 169.254.170.23, or loopback), so this is the one
    network call the audit makes besides instance metadata; the report says it was made."""
    host = urlparse(uri).hostname or ""
    if not _allowed_container_host(uri, host):
        source.note = f"host {host!r} is not one the SDK accepts (loopback, 169.254.170.2/.23, or https)"
        return
    headers = {"Accept": "application/json"}
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    try:
        token = (
            Path(token_file).read_text().strip()
            if token_file
            else env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        )
    except OSError as exc:
        source.note = f"authorization token file unreadable: {exc.strerror}"
        return
    if token:
        headers["Authorization"] = token
    source.contacted = "local container endpoint"
    request = urllib.request.Request(uri, headers=headers)  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=_CONTAINER_PROBE_TIMEOUT) as response:  # noqa: S310
            body = json.loads(response.read())  # holds the secret: only the fields below are kept
    except (OSError, ValueError) as exc:
        source.note = f"endpoint did not answer with credentials: {type(exc).__name__}"
        return
    if not isinstance(body, dict):
        source.note = "endpoint answered with something other than a credentials object"
        return
    key_id = body.get("AccessKeyId")
    source.set_key(key_id if isinstance(key_id, str) and is_access_key_id(key_id) else None)
    if isinstance(body.get("RoleArn"), str):
        source.set_role(body["RoleArn"])
    if isinstance(body.get("AccountId"), str) and source.account_basis != "role-arn":
        source.account, source.account_basis = body["AccountId"], "aws_account_id"
    if isinstance(body.get("Expiration"), str):
        source.details["expiration"] = body["Expiration"]


def _allowed_container_host(uri: str, host: str) -> bool:
    """botocore's own rule (ContainerMetadataFetcher): https anywhere, http only to loopback
    or the ECS/EKS link-local hosts."""
    if urlparse(uri).scheme == "https":
        return True
    try:
        if ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    return host in botocore.utils.ContainerMetadataFetcher._ALLOWED_HOSTS


def _imds_disabled(env: Mapping[str, str]) -> bool:
    return env.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true"


def _probe_instance_metadata(providers: list[Any]) -> Source | None:
    """Ask botocore's own instance-metadata provider (timeout capped by new_session) whether an
    instance role is reachable. Reported only if it answers."""
    provider = next((p for p in providers if p.METHOD == "iam-role"), None)
    if provider is None:
        return None
    try:
        credentials = provider.load()
    except (BotoCoreError, OSError, ValueError):
        return None
    if credentials is None:
        return None
    source = Source(
        "iam-role",
        provider.CANONICAL_NAME,
        None,
        "instance metadata (169.254.169.254 or AWS_EC2_METADATA_SERVICE_ENDPOINT)",
        "role",
    )
    source.set_key(credentials.access_key)
    source.contacted = "instance metadata service"
    return source


def _account_of_arn(arn: str | None) -> str | None:
    account = account_of(arn or "")
    return account if account and account.isdigit() else None
