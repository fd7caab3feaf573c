"""Deployment configuration: every setting comes from `cdk.json` context (or `-c key=value`),
validated here so that a mistake fails `cdk synth` with a clear message, not a deploy.

Context values given with `-c` arrive as strings: booleans and numbers are coerced by
Pydantic; lists accept JSON (`-c regions='["eu-west-1"]'`) or comma-separated text.

A context key that is not a setting fails too ("unknown setting 'mod' (did you mean
'mode'?)"): a typo must not deploy defaults silently. The CDK's own keys (feature flags
`@aws-cdk/...`, `aws:cdk:...`, lookups `availability-zones:...`) are left to the CDK.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from credfix.config import DEFAULT_DOCS_BASE_URL, DEFAULT_RUNNER_TAGS

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
ACCOUNT = re.compile(r"^\d{12}$")
SLACK_CONFIGURATION_ARN = re.compile(
    r"^arn:aws[a-z-]*:chatbot::\d{12}:chat-configuration/slack-channel/[A-Za-z0-9_.+=,@-]{1,128}$"
)
SLACK_ID = re.compile(r"^[A-Z0-9]{6,24}$")
# Keys the CDK CLI itself puts in the context without a namespace.
CDK_OWN_KEYS = frozenset({"acknowledged-issue-numbers"})


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


LOG_GROUP = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")


class LogSignal(_Strict):
    """Opt-in: the workloads' own logs as a signal (docs/detection.md). An account-level
    subscription filter policy in every covered account and region sends the lines that look
    like credential failures to credfix; its own log groups and `exclude_log_groups` never."""

    enabled: bool = False
    exclude_log_groups: list[str] = Field(default_factory=list)

    @field_validator("exclude_log_groups", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("exclude_log_groups")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not LOG_GROUP.match(v)]
        if bad:
            raise ValueError(f"not log group names: {bad}")
        return sorted(set(value))


class Chat(_Strict):
    """Alerts in Slack or Microsoft Teams through Amazon Q Developer in chat applications (opt-in):
    a second topic whose messages are custom notifications. `enabled` alone deploys the topic
    (add it to a channel configuration yourself); `slack_workspace_id` + `slack_channel_id`
    also deploy a Slack channel configuration subscribed to it; `slack_channel_configuration_arn`
    names an existing configuration (CloudFormation cannot add a topic to a configuration it
    does not own: the stack outputs the topic to add, docs/deploy.md §5)."""

    enabled: bool = False
    slack_channel_configuration_arn: str = ""
    slack_workspace_id: str = ""
    slack_channel_id: str = ""

    @field_validator("slack_channel_configuration_arn")
    @classmethod
    def _configuration_arn(cls, value: str) -> str:
        if value and not SLACK_CONFIGURATION_ARN.match(value):
            raise ValueError(
                "not a Slack channel configuration ARN "
                "(arn:aws:chatbot::ACCOUNT:chat-configuration/slack-channel/NAME)"
            )
        return value

    @field_validator("slack_workspace_id", "slack_channel_id")
    @classmethod
    def _slack_id(cls, value: str) -> str:
        if value and not SLACK_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack ID (like T0ABC12DE or C0ABC12DE)")
        return value

    @model_validator(mode="after")
    def _both_ids(self) -> Chat:
        if bool(self.slack_workspace_id) != bool(self.slack_channel_id):
            raise ValueError("chat needs both slack_workspace_id and slack_channel_id, or neither")
        if self.slack_channel_id and self.slack_channel_configuration_arn:
            raise ValueError(
                "chat: give an existing slack_channel_configuration_arn or the Slack IDs, not both"
            )
        return self

    @property
    def wanted(self) -> bool:
        return self.enabled or bool(self.slack_channel_configuration_arn or self.slack_channel_id)


class Organization(_Strict):
    enabled: bool = False
    organization_id: str = ""  # o-xxxxxxxxxx: the central bus and member roles are restricted to it
    member_read_role_name: str = "credfix-member-read"
    member_act_role_name: str = "credfix-member-act"
    member_rotation_role_name: str = "credfix-member-rotation"

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
    chat: Chat = Field(default_factory=Chat)
    docs_base_url: str = DEFAULT_DOCS_BASE_URL  # where alerts link the verdict pages
    watch_prefixes: list[str] = Field(default_factory=list)
    # Secrets under watch_prefixes are watched without the tag only with this explicit choice.
    watch_untagged: bool = False
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
    ssm_command: str = ""  # becomes credfix's own SSM command document; empty: no SSM action at all
    # How long after an action verify looks (SQS delay: at most 15 minutes). It must cover the
    # rollout grace verify forgives (5 min for ECS) plus CloudTrail's delivery (about 5 min on
    # average, not guaranteed): below that, "verified" could speak before the failures arrived.
    drain_minutes: int = Field(15, ge=1, le=15)
    reopen_after_minutes: int = Field(60, ge=1)
    # The sweep: an incident open without a verdict this long is announced to triage again
    # (at most max_reannouncements times); the alarm fires when the oldest is stuck_alarm_minutes old.
    reannounce_after_minutes: int = Field(30, ge=5, le=24 * 60)
    max_reannouncements: int = Field(3, ge=1, le=20)
    stuck_alarm_minutes: int = Field(120, ge=10, le=7 * 24 * 60)
    scan_limit: int = Field(200, ge=10, le=5000)
    kill_switch_parameter: str = "/credfix/kill-switch"
    create_trail: bool = False  # for accounts that have no multi-region trail yet
    log_signal: LogSignal = Field(default_factory=LogSignal)  # the workloads' own logs (opt-in)
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

    @field_validator("ssm_command")
    @classmethod
    def _ssm_command(cls, value: str) -> str:
        if "{{" in value or "}}" in value:
            raise ValueError("ssm_command must not contain {{ }}: SSM would read it as a document parameter")
        if len(value) > 4096:
            raise ValueError("ssm_command is longer than 4096 characters")
        return value

    @field_validator("docs_base_url")
    @classmethod
    def _docs_base_url(cls, value: str) -> str:
        if not re.match(r"^https://[^\s]+$", value):
            raise ValueError("docs_base_url must be an https:// URL (where docs/verdicts/ is published)")
        return value.rstrip("/")

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
    def _stuck_alarm_after_reannouncing(self) -> CredfixConfig:
        if self.stuck_alarm_minutes <= self.reannounce_after_minutes:
            raise ValueError("stuck_alarm_minutes must be longer than reannounce_after_minutes")
        return self

    @property
    def untagged_watch_prefixes(self) -> tuple[str, ...]:
        """Prefixes whose secrets are watched without the tag (only with watch_untagged=true)."""
        return tuple(self.watch_prefixes) if self.watch_untagged else ()

    @model_validator(mode="after")
    def _org_needs_account(self) -> CredfixConfig:
        if self.org.enabled and not self.account:
            raise ValueError("org mode needs `account` (the home account the members forward to)")
        return self


FIELDS = tuple(CredfixConfig.model_fields)


OBJECT_FIELDS = ("alerts", "org", "chat", "log_signal", "eks")


def unknown_settings(keys: Iterable[str]) -> list[str]:
    """One line per context key that is neither a setting nor the CDK's own, with the setting
    it most likely meant."""
    lines = []
    for key in sorted(set(keys)):
        if key in FIELDS or key in CDK_OWN_KEYS or key.startswith("@") or ":" in key or "/" in key:
            continue
        close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (settings: {', '.join(FIELDS)})"
        lines.append(f"  - unknown setting {key!r}{hint}")
    return lines


def load(get_context: Callable[[str], Any], keys: Iterable[str] = ()) -> CredfixConfig:
    """Read every known key from the CDK context and validate them together; `keys` (all the
    context's keys) are checked for settings that do not exist."""
    problems = unknown_settings(keys)
    raw = {name: get_context(name) for name in FIELDS}
    try:
        raw = {k: (json.loads(v) if k in OBJECT_FIELDS and isinstance(v, str) else v) for k, v in raw.items()}
    except ValueError as exc:
        problems.append(f"  - {', '.join(OBJECT_FIELDS)} must be JSON objects: {exc}")
        raw = {k: v for k, v in raw.items() if k not in OBJECT_FIELDS or not isinstance(v, str)}
    config = None
    try:
        config = CredfixConfig.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        problems += [
            f"  - {'.'.join(str(p) for p in e['loc']) or '(context)'}: {e['msg']}" for e in exc.errors()
        ]
    if problems or config is None:
        raise ConfigError("credfix: invalid cdk.json context:\n" + "\n".join(problems))
    return config
