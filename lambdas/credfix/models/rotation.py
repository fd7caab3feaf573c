"""A rotation of a watched secret and what it left behind, as the rotation watch
(credfix.core.rotation) reads it from the account: which secret changed (all an event may
say), the versions before and after and their key IDs, each consumer and whether it still
runs with the previous version, and the old key's use since the rotation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from credfix.models.iam import KeyFacts
from credfix.models.incident import Evidence, SourceAttribution, Workload

CONSUMES_TAG = "credfix:consumes"  # value: the secret's name (several names: separated by spaces)


@dataclass(frozen=True)
class RotationSignal:
    """What a Secrets Manager event says, after its checks: which secret changed, where. The
    reference only chooses which watched secret to read; nothing else is taken from the event."""

    account: str
    region: str
    secret_ref: str  # the secret's name or ARN as the event names it
    trigger: str  # e.g. "Secret Label Updated (AWSCURRENT)", "PutSecretValue"
    event_id: str = ""


@dataclass(frozen=True)
class Rotation:
    """The secret's current and previous versions as Secrets Manager answers now."""

    secret_arn: str
    secret_name: str
    region: str
    current_version: str
    previous_version: str
    current_keys: tuple[str, ...]
    old_keys: tuple[str, ...]  # key IDs the previous version holds and the current one does not
    became_current: datetime  # when the current version took AWSCURRENT (best reading: `basis`)
    basis: str


ConsumerState = Literal["previous", "current", "unknown"]
FoundBy = Literal["ecs-task-definition", "lambda-environment", "tag"]


@dataclass(frozen=True)
class Consumer:
    """A workload configured (or declared) to read the secret, and which version it runs."""

    workload: Workload
    found_by: FoundBy
    state: ConsumerState
    detail: str  # why that state, for people


@dataclass(frozen=True)
class KeyUse:
    """One CloudTrail record of a call signed with an old key (LookupEvents), reduced to what
    attributes and describes it: no request, no response."""

    at: datetime
    event_name: str
    event_source: str
    region: str
    ip: str | None
    vpc_endpoint_id: str | None
    user_agent: str | None
    error_code: str | None
    account: str | None

    @property
    def succeeded(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class OldKey:
    """An old key's state and use since the rotation."""

    access_key_id: str
    facts: KeyFacts | None  # IAM: status and last use; None when IAM has no record (deleted)
    uses: tuple[KeyUse, ...] = ()  # CloudTrail records since the rotation, most recent first
    regions_searched: tuple[str, ...] = ()
    truncated: bool = False  # the lookup stopped at its cap

    def used_after(self, moment: datetime) -> bool:
        last = self.facts.last_used_at if self.facts else None
        return (last is not None and last >= moment) or any(u.succeeded for u in self.uses)


@dataclass(frozen=True)
class FunctionState:
    """A Lambda function as the rotation watch sees it: when its configuration last changed
    (execution environments are not older than that) and which environment variables name
    the secret (names only: values never leave the adapter)."""

    arn: str
    name: str
    role: str | None
    last_modified: datetime | None
    naming: tuple[str, ...] = ()


@dataclass(frozen=True)
class RotationReport:
    rotation: Rotation
    account: str | None
    consumers: tuple[Consumer, ...] = ()
    old_keys: tuple[OldKey, ...] = ()
    located: tuple[Workload, ...] = ()  # holders of the addresses that used an old key since
    attribution: tuple[SourceAttribution, ...] = ()  # one per address that used an old key
    findings: tuple[Evidence, ...] = field(default_factory=tuple)
    undetermined: tuple[str, ...] = ()  # declared consumers (ARNs) whose version credfix cannot tell
