"""Deployment configuration: every setting comes from `cdk.json` context (or `-c key=value`),
validated here so that a mistake fails `cdk synth` with a clear message, not a deploy.

Context values given with `-c` arrive as strings: booleans and numbers are coerced by
Pydantic; lists accept JSON (`-c regions='["eu-west-1"]'`) or comma-separated text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from credfix.config import DEFAULT_RUNNER_TAGS

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
ACCOUNT = re.compile(r"^\d{12}$")


class ConfigError(ValueError):
    """A readable list of what is wrong with the context; raised at synth time."""


def _list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertSubscriptions(_Strict):
    emails: list[str] = Field(default_factory=list)
    https: list[str] = Field(default_factory=list)
    sqs: list[str] = Field(default_factory=list)

    @field_validator("emails", "https", "sqs", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EMAIL.match(v)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value

    @field_validator("https")
    @classmethod
    def _https(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v.startswith("https://") or " " in v]
        if bad:
            raise ValueError(f"HTTPS endpoints must start with https:// : {bad}")
        return value

    @field_validator("sqs")
    @classmethod
    def _sqs(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not SQS_ARN.match(v)]
        if bad:
            raise ValueError(f"not SQS queue ARNs: {bad}")
        return value


class Organization(_Strict):
    enabled: bool = False
    organization_id: str = ""  # o-xxxxxxxxxx: the central bus and member roles are restricted to it
    member_read_role_name: str = "credfix-member-read"
    member_act_role_name: str = "credfix-member-act"

    @model_validator(mode="after")
    def _org_id_when_enabled(self) -> Organization:
        if self.enabled and not ORG_ID.match(self.organization_id):
            raise ValueError("org.enabled needs org.organization_id like o-abcd123456")
        return self


EKS_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


class EksAccess(_Strict):
    """`eks={"clusters": ["prod"]}`: home-region clusters whose access entries the stack creates
    for the triage and act roles, mapped to these Kubernetes groups (RBAC: docs/eks.md)."""

    clusters: list[str] = Field(default_factory=list)
    triage_group: str = "credfix-triage"
    act_group: str = "credfix-act"

    @field_validator("clusters", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("clusters")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EKS_CLUSTER.match(v)]
        if bad:
            raise ValueError(f"not EKS cluster names (home-region clusters, by name): {bad}")
        return sorted(set(value))

    @field_validator("triage_group", "act_group")
    @classmethod
    def _group(cls, value: str) -> str:
        if not value or value.startswith("system:") or len(value) > 128:
            raise ValueError(f"{value!r}: a Kubernetes group name, not empty and not system:*")
        return value


class CredfixConfig(_Strict):
    home_region: str = "us-east-1"
    account: str | None = None  # the home account; optional unless org mode (members need it)
    regions: list[str] = Field(default_factory=list)  # regions to cover besides home (and us-east-1)
    mode: Literal["observe", "enforce"] = "observe"
    include_expired_token: bool = False
    alerts: AlertSubscriptions = Field(default_factory=AlertSubscriptions)
    watch_prefixes: list[str] = Field(default_factory=list)
    runner_tags: list[str] = Field(default_factory=lambda: list(DEFAULT_RUNNER_TAGS))
    target_cooldown_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    max_actions_per_hour: int = Field(10, ge=0, le=1000)  # per account, sliding 60 minutes
    max_actions_per_key_per_hour: int = Field(3, ge=0, le=1000)  # per failing key, sliding 60 minutes
    block_days: int = Field(7, ge=1, le=90)  # how long an escalation keeps enforcement off a target
    max_new_incidents_per_source: int = Field(
        10, ge=1, le=10_000
    )  # per source address (or VPC endpoint), per 15 minutes
    max_new_incidents: int = Field(200, ge=1, le=100_000)  # all sources together, per 15 minutes
    breaker_failures: int = Field(3, ge=1, le=100)
    restart_on_key_lifecycle: bool = False
    ssm_command: str = ""
    drain_minutes: int = Field(10, ge=1, le=15)  # SQS delay is at most 15 minutes
    reopen_after_minutes: int = Field(60, ge=1)
    scan_limit: int = Field(200, ge=10, le=5000)
    kill_switch_parameter: str = "/credfix/kill-switch"
    create_trail: bool = False  # for accounts that have no multi-region trail yet
    org: Organization = Field(default_factory=Organization)
    eks: EksAccess = Field(default_factory=EksAccess)
    powertools_layer_arn: str = ""  # override the published Powertools layer (e.g. GovCloud, China)

    @field_validator("regions", "watch_prefixes", "runner_tags", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("home_region")
    @classmethod
    def _home_region(cls, value: str) -> str:
        if not REGION.match(value):
            raise ValueError(f"{value!r} is not a region name like eu-west-1")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not REGION.match(r)]
        if bad:
            raise ValueError(f"not region names: {bad}")
        return sorted(set(value))

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not ACCOUNT.match(value):
            raise ValueError("account must be 12 digits")
        return value

    @field_validator("kill_switch_parameter")
    @classmethod
    def _parameter(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9_./-]{1,1000}$", value):
            raise ValueError("kill_switch_parameter must be an SSM parameter path like /credfix/kill-switch")
        return value

    @property
    def forwarder_regions(self) -> list[str]:
        """Regions whose failures must be forwarded home. IAM and STS log only in us-east-1."""
        wanted = set(self.regions) | {"us-east-1"}
        return sorted(wanted - {self.home_region})

    @model_validator(mode="after")
    def _org_needs_account(self) -> CredfixConfig:
        if self.org.enabled and not self.account:
            raise ValueError("org mode needs `account` (the home account the members forward to)")
        return self


FIELDS = tuple(CredfixConfig.model_fields)


def load(get_context: Callable[[str], Any]) -> CredfixConfig:
    """Read every known key from the CDK context and validate them together."""
    raw = {name: get_context(name) for name in FIELDS}
    raw = {
        k: (json.loads(v) if k in ("alerts", "org", "eks") and isinstance(v, str) else v)
        for k, v in raw.items()
    }
    try:
        return CredfixConfig.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        lines = [f"  - {'.'.join(str(p) for p in e['loc']) or '(context)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("credfix: invalid cdk.json context:\n" + "\n".join(lines)) from None
