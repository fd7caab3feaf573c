"""The incident document (`credfix.incident/v1`): the same JSON in DynamoDB, in the SNS
message for machine subscribers, and in the CLI's report. DESIGN.md §5 is the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from credfix.keys import WORKLOAD_SUBJECT

SCHEMA = "credfix.incident/v1"
REPORT_SCHEMA = "credfix.report/v1"

Verdict = Literal[
    "stale-consumer",
    "stale-secret",
    "signature-mismatch",
    "wrong-credential-source",
    "foreign-account",
    "key-deactivated",
    "key-deleted",
    "temporary-credentials",
    "unknown-key",
    "rotation-drift",  # before any failure: a consumer still on the previous version of a rotated secret
]
Severity = Literal["low", "medium", "high", "critical"]
KeyStatus = Literal["Active", "Inactive", "deleted", "not-in-account", "temporary", "unknown"]
IncidentStatus = Literal["open", "triaged", "acted", "resolved", "escalated"]
WorkloadType = Literal[
    "ecs-task",
    "ecs-service",
    "ec2-instance",
    "lambda-function",
    "codebuild-project",
    "eks-node",
    "eks-pod",  # id NAMESPACE/POD, parent KIND/NAMESPACE/NAME (deployment/payments/ledger-sync)
    "vpc",
]
Confidence = Literal["high", "medium", "low"]
# pending: an attributed action held back by a rate cap; it runs when the window frees.
ActionStatus = Literal["executed", "planned", "pending", "skipped", "failed"]
# How far a failing request's source address attributes it to this account (docs/threat-model.md):
# "workload": a private address through the account's own VPC endpoint, held by a workload;
# "vpc": an address of the account that only narrows to a VPC (NAT gateway, Elastic IP, a
# private address through the account's endpoint that no interface holds any more);
# "none": anything else (an outsider's address, a private address without the account's endpoint);
# "rotation": no address: the account's own rotation of a watched secret, naming the consumers
# found by configuration (rotation-drift only; credfix.core.attribution).
AttributionScope = Literal["workload", "vpc", "none", "rotation"]
Origin = Literal["account", "outside", "mixed", "unknown"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Evidence(_Doc):
    check: str  # what was looked at, e.g. "iam:ListAccessKeys for the owner user"
    found: str  # what it showed


class ConfiguredCredential(_Doc):
    """A credential a workload is *configured* with (which may not be the one it signs with)."""

    kind: Literal["role", "secret", "static-key", "instance-profile"]
    ref: str  # role/secret/instance-profile ARN, or a redacted key ID for static keys
    access_key_id: str | None = None  # for static keys found in configuration (never a secret value)


class Workload(_Doc):
    type: WorkloadType
    id: str  # ARN where one exists, else the resource ID
    confidence: Confidence
    evidence: list[str] = Field(default_factory=list)
    region: str | None = None
    account: str | None = None
    parent: str | None = None  # e.g. the ECS service of a task, the Auto Scaling group of an instance
    cluster: str | None = None  # ECS cluster ARN for tasks and services; EKS cluster ARN for pods and nodes
    vpc_id: str | None = None  # where known: attribution by a VPC-level address needs it
    started_at: datetime | None = None
    credentials: list[ConfiguredCredential] = Field(default_factory=list)


class Action(_Doc):
    type: str
    target: str
    status: ActionStatus
    reason: str = ""
    at: datetime | None = None
    retry_at: datetime | None = None  # pending: when a slot of the full cap frees


class TimelineEntry(_Doc):
    at: datetime
    what: str


class Verification(_Doc):
    outcome: Literal["verified", "escalated", "pending"]
    checked_at: datetime
    action_at: datetime | None = None
    failures_after_action: int = 0
    detail: str = ""
    blocked_targets: list[str] = Field(default_factory=list)  # escalated: targets enforcement stopped for


class Source(_Doc):
    ip: str | None = None
    user_agent: str | None = None
    vpc_endpoint_id: str | None = None  # the endpoint CloudTrail names for a private source address
    count: int = 0
    last_seen: datetime | None = None  # event time of this source's newest failure
    log: str | None = None  # runtime logs: `GROUP:STREAM` the failing lines were written to (no address)


class SourceAttribution(_Doc):
    """What one source address of the failing requests attributes them to (the rule lives in
    credfix.core.attribution). Only the address and the endpoint it came through count: the
    key ID, user agent and request are whatever the caller sent."""

    ip: str | None = None
    vpc_endpoint_id: str | None = None
    scope: AttributionScope = "none"
    account: str | None = None  # the account the address belongs to, when it is this one
    region: str | None = None
    vpc_id: str | None = None
    holders: list[str] = Field(default_factory=list)  # workload ids holding the address ("workload")
    why: str = ""  # one sentence for people
    log: str | None = None  # a runtime-log source (`GROUP:STREAM`): attributed by construction


class Incident(_Doc):
    """One incident per subject: a failing access key ID (item pk `key#<key ID>`), or, for
    failures only a workload's own logs show with no usable key ID, the workload (pk
    `workload#<workload_key>`; `access_key_id` then holds what is known of the key: empty, a
    masked `AKIA…WXYZ` from the lines, or the key triage derived from the workload's
    configured credentials). Readers that key on the item use `subject`."""

    schema_: Literal["credfix.incident/v1"] = Field("credfix.incident/v1", alias="schema")
    incident_id: str
    access_key_id: str
    workload_key: str | None = None  # the workload ARN a runtime-log incident is keyed by
    status: IncidentStatus = "open"
    key_status: KeyStatus | None = None
    owner_account: str | None = None
    verdict: Verdict | None = None
    severity: Severity | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    workloads: list[Workload] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    event_count: int = 0
    first_seen: datetime
    last_seen: datetime
    opened_at: datetime
    error_codes: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    event_sources: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)  # recipient accounts of the failing calls
    session_issuers: list[str] = Field(default_factory=list)  # role ARNs, for ASIA (session) keys
    sources: list[Source] = Field(default_factory=list)
    sources_dropped: int = 0  # failures from sources beyond the per-incident cap, still counted
    attribution: list[SourceAttribution] = Field(default_factory=list)  # per source, from triage
    origin: Origin | None = None  # where the failing requests came from, from `attribution`
    timeline: list[TimelineEntry] = Field(default_factory=list)
    verification: Verification | None = None

    @property
    def subject(self) -> str:
        """What the incident is keyed by: the pipeline's messages and every store use it."""
        return f"{WORKLOAD_SUBJECT}{self.workload_key}" if self.workload_key else self.access_key_id

    def document(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
