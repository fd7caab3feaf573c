"""What ECS says about services, tasks and task definitions, reduced to what location and
triage reason about (read by credfix.adapters.readers.ecs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SecretRef:
    container: str
    variable: str
    value_from: str


@dataclass(frozen=True)
class StaticKey:
    container: str
    access_key_id: str | None  # None: the value is not shaped like a key ID and was not kept


@dataclass(frozen=True)
class TaskDefinition:
    arn: str
    task_role_arn: str | None
    secrets: tuple[SecretRef, ...] = ()
    static_keys: tuple[StaticKey, ...] = ()
    # (container, variable) for credential variables set in plain environment
    credential_variables: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """`family:revision`, the way people refer to it."""
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Task:
    arn: str
    cluster_arn: str
    task_definition_arn: str
    group: str | None
    last_status: str | None
    launch_type: str | None
    started_at: datetime | None
    network_interface_ids: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    started_by: str | None = None  # a service's task: the ID of the deployment that started it
    created_at: datetime | None = None

    @property
    def service_name(self) -> str | None:
        if self.group and self.group.startswith("service:"):
            return self.group.removeprefix("service:")
        return None


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str | None  # PRIMARY, ACTIVE, INACTIVE
    task_definition_arn: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class Service:
    arn: str
    name: str
    cluster_arn: str
    task_definition_arns: tuple[str, ...]  # the primary one first, then other live deployments
    subnet_ids: tuple[str, ...] = ()
    deployments: tuple[Deployment, ...] = ()
