"""ECS configuration: what a task definition makes its tasks sign with (task role, watched
secrets, static keys), and the scans that find services by that configuration: secret
consumers (locator 2) and users of a role (part of locator 4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from credfix.arns import account_of, region_of
from credfix.core.locate.arns import ecs_service_arn, references_secret, same_role
from credfix.core.locate.context import LocateContext
from credfix.core.locate.merge import Candidates
from credfix.keys import redact
from credfix.models.ecs import Service, Task, TaskDefinition
from credfix.models.incident import Confidence, ConfiguredCredential, Workload
from credfix.timefmt import iso_z

# What a task definition's AWS_ACCESS_KEY_ID shows as when its value is not shaped like a key ID
# (the reader dropped it: it may be a secret pasted into the wrong variable).
NOT_A_KEY_ID = "(a value that is not an access key ID; not kept)"


def task_definition(ctx: LocateContext, region: str | None, arn: str) -> TaskDefinition | None:
    return ctx.memo(
        ("task-definition", region, arn),
        lambda: ctx.attempt(
            f"ecs:DescribeTaskDefinition {arn}", lambda: ctx.ecs(region).task_definition(arn)
        ),
    )


def configured_credentials(definition: TaskDefinition, incident_key: str) -> list[ConfiguredCredential]:
    creds: list[ConfiguredCredential] = []
    if definition.task_role_arn:
        creds.append(ConfiguredCredential(kind="role", ref=definition.task_role_arn))
    for ref in definition.secrets:
        if ":secretsmanager:" in ref.value_from:
            creds.append(ConfiguredCredential(kind="secret", ref=ref.value_from))
    for static in definition.static_keys:
        creds.append(
            ConfiguredCredential(
                kind="static-key",
                ref=redact(static.access_key_id) if static.access_key_id else NOT_A_KEY_ID,
                # Key IDs are identifiers, not secrets: triage needs the full ID of a *different*
                # configured key to look up its status (an Active one means another source wins).
                access_key_id=static.access_key_id,
            )
        )
    return [c for i, c in enumerate(creds) if c not in creds[:i]]


def report_static_credentials(ctx: LocateContext, definition: TaskDefinition, incident_key: str) -> None:
    """Plain-environment credentials in a task definition are findings in their own right:
    they win over the task role in every SDK's credential chain."""
    for static in definition.static_keys:
        same = " — the failing key" if static.access_key_id == incident_key else ""
        shown = redact(static.access_key_id) if static.access_key_id else NOT_A_KEY_ID
        ctx.note(
            f"task definition {definition.name}",
            f"container {static.container} sets AWS_ACCESS_KEY_ID={shown} "
            f"in plain environment (a static key overrides the task role){same}",
        )
    for container, variable in definition.credential_variables:
        if variable not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ctx.note(
                f"task definition {definition.name}",
                f"container {container} sets {variable} in plain environment (overrides the task role)",
            )


@dataclass(frozen=True)
class ServiceConfig:
    service: Service
    definitions: tuple[TaskDefinition, ...]


def _services(ctx: LocateContext, region: str | None) -> list[Service]:
    ecs = ctx.ecs(region)
    clusters = ctx.memo(
        ("ecs-clusters", region),
        lambda: ctx.attempt("ecs:ListClusters", lambda: ecs.cluster_arns(limit=ctx.scan_limit)),
    )
    if clusters is None:
        return []
    services: list[Service] = []
    for cluster in ctx.capped(f"ecs:ListClusters in {region}", clusters):
        remaining = ctx.scan_limit - len(services)
        if remaining <= 0:
            ctx.note(
                f"ECS services in {region}", f"scan cap of {ctx.scan_limit} hit: later clusters not examined"
            )
            break
        arns = ctx.attempt(f"ecs:ListServices {cluster}", partial(ecs.service_arns, cluster, limit=remaining))
        if arns is None:
            continue
        listed = ctx.capped(f"ecs:ListServices {cluster}", arns)
        described = ctx.attempt(f"ecs:DescribeServices {cluster}", partial(ecs.services, cluster, listed))
        services.extend(described or [])
    return services


def ecs_configuration(ctx: LocateContext, region: str | None, incident_key: str) -> list[ServiceConfig]:
    """Every service (up to the cap) with the task definitions it runs: one scan per region
    per invocation, shared by the secret, static-key and role locators."""

    def scan() -> list[ServiceConfig]:
        configs: list[ServiceConfig] = []
        described = 0
        for service in _services(ctx, region):
            definitions: list[TaskDefinition] = []
            for arn in service.task_definition_arns:
                if described >= ctx.scan_limit:
                    ctx.note(
                        f"ECS task definitions in {region}",
                        f"scan cap of {ctx.scan_limit} hit: later task definitions not examined",
                    )
                    break
                described += 1
                definition = task_definition(ctx, region, arn)
                if definition is not None:
                    report_static_credentials(ctx, definition, incident_key)
                    definitions.append(definition)
            configs.append(ServiceConfig(service, tuple(definitions)))
        return configs

    return ctx.memo(("ecs-configuration", region), scan)


def service_workload(
    config: ServiceConfig,
    region: str | None,
    incident_key: str,
    *,
    confidence: Confidence,
    evidence: list[str],
) -> Workload:
    creds: list[ConfiguredCredential] = []
    for definition in config.definitions:
        creds.extend(c for c in configured_credentials(definition, incident_key) if c not in creds)
    return Workload(
        type="ecs-service",
        id=config.service.arn,
        confidence=confidence,
        evidence=evidence,
        region=region_of(config.service.arn) or region,
        account=account_of(config.service.arn),
        cluster=config.service.cluster_arn,
        credentials=creds,
    )


def task_workload(
    task: Task,
    definition: TaskDefinition | None,
    region: str | None,
    incident_key: str,
    *,
    confidence: Confidence,
    evidence: list[str],
) -> Workload:
    service = task.service_name
    return Workload(
        type="ecs-task",
        id=task.arn,
        confidence=confidence,
        evidence=evidence,
        region=region_of(task.arn) or region,
        account=account_of(task.arn),
        parent=ecs_service_arn(task.cluster_arn, service) if service else None,
        cluster=task.cluster_arn,
        started_at=task.started_at,
        credentials=configured_credentials(definition, incident_key) if definition else [],
    )


def _stale_tasks(
    ctx: LocateContext,
    found: Candidates,
    config: ServiceConfig,
    region: str | None,
    incident_key: str,
    matching: set[str],
    rotated_at: datetime | None,
    why: str,
) -> None:
    """Running tasks of the service on a matching task definition, started before the rotation."""
    service = config.service
    ecs = ctx.ecs(region)
    listed = ctx.memo(
        ("service-tasks", region, service.arn),
        lambda: ctx.attempt(
            f"ecs:ListTasks {service.name}",
            lambda: ecs.running_task_arns(
                service.cluster_arn, service_name=service.name, limit=ctx.scan_limit
            ),
        ),
    )
    if listed is None:
        return
    arns = ctx.capped(f"ecs:ListTasks {service.name}", listed)
    tasks = (
        ctx.memo(
            ("service-task-details", region, service.arn, tuple(arns)),
            lambda: ctx.attempt(
                f"ecs:DescribeTasks {service.name}", lambda: ecs.tasks(service.cluster_arn, arns)
            ),
        )
        or []
    )
    after = 0
    for task in tasks:
        if task.task_definition_arn not in matching:
            continue
        definition = task_definition(ctx, region, task.task_definition_arn)
        if task.started_at is None:
            when = "start time unknown" + (f"; rotation at {iso_z(rotated_at)}" if rotated_at else "")
        elif rotated_at is None:
            when = f"started {iso_z(task.started_at)}; rotation time unknown"
        elif task.started_at < rotated_at:
            when = f"started {iso_z(task.started_at)}, before the rotation at {iso_z(rotated_at)}"
        else:
            after += 1
            continue
        workload = task_workload(
            task, definition, region, incident_key, confidence="medium", evidence=[why, when]
        )
        found.add(workload)
        ctx.subnets_of[workload.id] = (region, task.subnet_ids)
    if after:
        found.update(service.arn, evidence=f"{after} running task(s) started after the rotation (not stale)")


def locate_secret_consumers(
    ctx: LocateContext,
    found: Candidates,
    region: str | None,
    *,
    incident_key: str,
    secret_arns: list[str],
    rotated_at: datetime | None,
) -> None:
    for config in ecs_configuration(ctx, region, incident_key):
        matching: set[str] = set()
        reasons: list[str] = []
        for definition in config.definitions:
            for ref in definition.secrets:
                for secret in secret_arns:
                    if references_secret(ref.value_from, secret):
                        matching.add(definition.arn)
                        reasons.append(
                            f"task definition {definition.name} container {ref.container} reads watched "
                            f"secret {secret} into {ref.variable}"
                        )
        if not matching:
            continue
        found.add(service_workload(config, region, incident_key, confidence="medium", evidence=reasons))
        ctx.subnets_of[config.service.arn] = (region, config.service.subnet_ids)
        _stale_tasks(ctx, found, config, region, incident_key, matching, rotated_at, reasons[0])


def locate_static_key_users(
    ctx: LocateContext, found: Candidates, region: str | None, *, incident_key: str
) -> None:
    """Services whose task definition carries the failing key itself in plain environment:
    the "one deployment still on static keys"."""
    for config in ecs_configuration(ctx, region, incident_key):
        lines = [
            f"task definition {d.name} container {s.container} sets AWS_ACCESS_KEY_ID to the failing key "
            f"{redact(incident_key)} in plain environment"
            for d in config.definitions
            for s in d.static_keys
            if s.access_key_id == incident_key
        ]
        if lines:
            found.add(service_workload(config, region, incident_key, confidence="high", evidence=lines))
            ctx.subnets_of[config.service.arn] = (region, config.service.subnet_ids)


def locate_role_users_ecs(
    ctx: LocateContext,
    found: Candidates,
    region: str | None,
    *,
    incident_key: str,
    role: tuple[str | None, str],
) -> None:
    for config in ecs_configuration(ctx, region, incident_key):
        lines = [
            f"task definition {d.name} uses task role {d.task_role_arn}, the role that issued the session"
            for d in config.definitions
            if same_role(d.task_role_arn, role)
        ]
        if lines:
            found.add(service_workload(config, region, incident_key, confidence="medium", evidence=lines))
            ctx.subnets_of[config.service.arn] = (region, config.service.subnet_ids)
