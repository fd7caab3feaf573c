"""Runtime settings of the Lambdas and the CLI, read once from the environment.

The CDK stack sets these variables; the CLI and the local harness set them too. A plain
Pydantic model (not pydantic-settings) because the Powertools layer ships pydantic but not
pydantic-settings, and these few variables do not justify bundling it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS


class Settings(BaseModel):
    table_name: str = Field("", alias="CREDFIX_TABLE")
    work_queue_url: str = Field("", alias="CREDFIX_WORK_QUEUE_URL")
    events_dlq_url: str = Field("", alias="CREDFIX_EVENTS_DLQ_URL")
    mode: Literal["observe", "enforce"] = Field("observe", alias="CREDFIX_MODE")
    reopen_after_seconds: int = Field(3600, ge=0, alias="CREDFIX_REOPEN_AFTER_SECONDS")
    include_expired_token: bool = Field(False, alias="CREDFIX_INCLUDE_EXPIRED_TOKEN")

    @property
    def reopen_after(self) -> timedelta:
        return timedelta(seconds=self.reopen_after_seconds)

    @property
    def accepted_errors(self) -> tuple[str, ...]:
        return CREDENTIAL_ERRORS + (TEMPORARY_CREDENTIAL_ERRORS if self.include_expired_token else ())


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.model_validate({k: v for k, v in os.environ.items() if k.startswith("CREDFIX_")})
