"""Runtime settings of the Lambdas and the CLI, read once from the environment.

The CDK stack sets these variables from the validated `cdk.json` context; the CLI and the
local harness set them too. A plain Pydantic model (not pydantic-settings) because the
Powertools layer ships pydantic but not pydantic-settings, and these few variables do not
justify bundling it. Lists are comma-separated.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS

# Where the verdict pages (docs/verdicts/<verdict>.md) are published; alerts link to them.
# Deployments point it at their own copy with the `docs_base_url` setting.
DEFAULT_DOCS_BASE_URL = "https://github.com/credfix/credfix/blob/main/docs/verdicts"

DEFAULT_RUNNER_TAGS = (
    "credfix:workload=ci-runner",
    "ghr:Application=github-action-runner",  # philips-labs/terraform-aws-github-runner
    "gitlab-runner-parent-id",  # cattle-ops/terraform-aws-gitlab-runner (key present = runner)
    "buildkite:queue",
)


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    # Where things are (set by the stack).
    table_name: str = Field("", alias="CREDFIX_TABLE")
    work_queue_url: str = Field("", alias="CREDFIX_WORK_QUEUE_URL")
    bulk_queue_url: str = Field("", alias="CREDFIX_BULK_QUEUE_URL")  # triage's lane for outsiders
    act_queue_url: str = Field("", alias="CREDFIX_ACT_QUEUE_URL")
    act_bulk_queue_url: str = Field("", alias="CREDFIX_ACT_BULK_QUEUE_URL")  # act's lane for outsiders
    verify_queue_url: str = Field("", alias="CREDFIX_VERIFY_QUEUE_URL")
    events_dlq_url: str = Field("", alias="CREDFIX_EVENTS_DLQ_URL")
    topic_arn: str = Field("", alias="CREDFIX_TOPIC_ARN")
    # Opt-in: a second topic whose messages are Amazon Q Developer custom notifications (chat).
    chat_topic_arn: str = Field("", alias="CREDFIX_CHAT_TOPIC_ARN")
    docs_base_url: str = Field(DEFAULT_DOCS_BASE_URL, alias="CREDFIX_DOCS_BASE_URL")
    rotation_dlq_url: str = Field("", alias="CREDFIX_ROTATION_DLQ_URL")  # refused rotation events

    # Detection and ingest.
    reopen_after_seconds: int = Field(3600, ge=0, alias="CREDFIX_REOPEN_AFTER_SECONDS")
    # Storms (credfix.core.storm): new incidents per source address / in all, per window.
    max_new_incidents_per_source: int = Field(10, ge=0, alias="CREDFIX_MAX_NEW_INCIDENTS_PER_SOURCE")
    max_new_incidents: int = Field(200, ge=0, alias="CREDFIX_MAX_NEW_INCIDENTS")
    storm_window_seconds: int = Field(900, ge=60, le=900, alias="CREDFIX_STORM_WINDOW_SECONDS")
    include_expired_token: bool = Field(False, alias="CREDFIX_INCLUDE_EXPIRED_TOKEN")

    # Triage and location.
    watch_tag: str = Field("credfix:watch", alias="CREDFIX_WATCH_TAG")  # value must be "true"
    watch_prefixes: tuple[str, ...] = Field((), alias="CREDFIX_WATCH_PREFIXES")
    # Secrets under watch_prefixes are watched without the watch tag only when this is true.
    watch_untagged: bool = Field(False, alias="CREDFIX_WATCH_UNTAGGED")
    runner_tags: tuple[str, ...] = Field(DEFAULT_RUNNER_TAGS, alias="CREDFIX_RUNNER_TAGS")  # KEY or KEY=VALUE
    scan_limit: int = Field(200, ge=1, alias="CREDFIX_SCAN_LIMIT")  # items per account-wide scan

    # Remediation guardrails.
    mode: Literal["observe", "enforce"] = Field("observe", alias="CREDFIX_MODE")
    kill_switch_parameter: str = Field("", alias="CREDFIX_KILL_SWITCH_PARAMETER")
    target_cooldown_seconds: int = Field(3600, ge=0, alias="CREDFIX_TARGET_COOLDOWN_SECONDS")
    # Sliding 60-minute windows: per account acted in, and per failing key.
    max_actions_per_hour: int = Field(10, ge=0, alias="CREDFIX_MAX_ACTIONS_PER_HOUR")
    max_actions_per_key_per_hour: int = Field(3, ge=0, alias="CREDFIX_MAX_ACTIONS_PER_KEY_PER_HOUR")
    block_seconds: int = Field(7 * 86400, ge=60, alias="CREDFIX_BLOCK_SECONDS")  # escalation blocks expire
    breaker_failures: int = Field(3, ge=1, alias="CREDFIX_BREAKER_FAILURES")
    restart_on_key_lifecycle: bool = Field(False, alias="CREDFIX_RESTART_ON_KEY_LIFECYCLE")
    # credfix's command document, created by the stack when ssm_command is configured (else empty).
    ssm_document: str = Field("", alias="CREDFIX_SSM_DOCUMENT")
    # Organisation mode: roles in member accounts (empty = single account).
    member_read_role_name: str = Field("", alias="CREDFIX_MEMBER_READ_ROLE_NAME")
    member_act_role_name: str = Field("", alias="CREDFIX_MEMBER_ACT_ROLE_NAME")
    member_rotation_role_name: str = Field("", alias="CREDFIX_MEMBER_ROTATION_ROLE_NAME")

    # The sweep: incidents open without a verdict past this are announced to triage again.
    reannounce_after_seconds: int = Field(1800, ge=60, alias="CREDFIX_REANNOUNCE_AFTER_SECONDS")
    max_reannouncements: int = Field(3, ge=0, alias="CREDFIX_MAX_REANNOUNCEMENTS")

    # Verification.
    drain_seconds: int = Field(900, ge=0, le=900, alias="CREDFIX_DRAIN_SECONDS")  # SQS delay max 15 min

    @field_validator("watch_prefixes", "runner_tags", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @property
    def untagged_watch_prefixes(self) -> tuple[str, ...]:
        """Name prefixes whose secrets are watched without the tag (only with watch_untagged)."""
        return self.watch_prefixes if self.watch_untagged else ()

    @property
    def reopen_after(self) -> timedelta:
        return timedelta(seconds=self.reopen_after_seconds)

    @property
    def accepted_errors(self) -> tuple[str, ...]:
        return CREDENTIAL_ERRORS + (TEMPORARY_CREDENTIAL_ERRORS if self.include_expired_token else ())


def from_environ(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings.model_validate({k: v for k, v in env.items() if k.startswith("CREDFIX_")})


@lru_cache(maxsize=1)
def settings() -> Settings:
    return from_environ()
