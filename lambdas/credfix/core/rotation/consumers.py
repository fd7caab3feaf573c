"""Consumers of a rotated secret and the version each one runs.

Found by configuration, in the secret's region: ECS services whose task definitions read the
secret (`valueFrom` with the full or partial ARN, with or without a JSON-key/version tail:
credfix.core.locate.arns.references_secret), Lambda functions whose environment names it
(its name or ARN), and any resource tagged `credfix:consumes=<secret name>`, the explicit
declaration for runners, instances and whatever credfix cannot infer.

Whether each one still runs with the previous version, from times AWS reports:
- an ECS service: a running task on such a task definition that started before the version
  became AWSCURRENT (an ECS task reads its `secrets` only when it starts); where the start
  time is unknown, the creation time of the deployment that started it (`startedBy`);
- a Lambda function: its configuration last changed before the rotation, so execution
  environments initialised then may still hold the value they read;
- an instance: launched before the rotation and still running (it read the key at boot).
What cannot be dated is "unknown": named, never acted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.declared_consumers import DeclaredConsumers
from credfix.adapters.readers.lambda_environment import LambdaEnvironments
from credfix.arns import account_of, arn_parts, instance_id
from credfix.core.locate.arns import references_secret
from credfix.core.locate.compute import instance_workload
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import ServiceConfig, ecs_configuration, service_workload
from credfix.models.ecs import Service, Task
from credfix.models.incident import Confidence, ConfiguredCredential, Workload
from credfix.models.rotation import CONSUMES_TAG, Consumer, ConsumerState, FoundBy, FunctionState, Rotation
from credfix.timefmt import iso_z

_SEPARATORS = re.compile(r"[\s,]+")
CONFIDENCE: dict[ConsumerState, Confidence] = {"previous": "high", "unknown": "low", "current": "low"}


@dataclass
class Found:
    consumers: list[Consumer] = field(default_factory=list)
    undetermined: list[str] = field(default_factory=list)  # declared resources credfix cannot date


def names_secret(rotation: Rotation, value: str) -> bool:
    """An environment value or tag value that names the secret: its name, or its ARN (full or
    partial, with or without a JSON-key tail)."""
    value = value.strip()
    return value == rotation.secret_name or references_secret(value, rotation.secret_arn)


def declares(rotation: Rotation, tag_value: str) -> bool:
    return any(names_secret(rotation, v) for v in _SEPARATORS.split(tag_value) if v)


def _secret_credential(rotation: Rotation) -> ConfiguredCredential:
    return ConfiguredCredential(kind="secret", ref=rotation.secret_arn)


def _state_of_tasks(tasks: list[Task], service: Service, became: datetime) -> tuple[ConsumerState, str]:
    stale: list[str] = []
    fresh = 0
    unknown: list[str] = []
    for task in tasks:
        started, how = task.started_at, "started"
        if started is None:
            deployment = next((d for d in service.deployments if d.id == task.started_by), None)
            if deployment is not None and deployment.created_at is not None:
                started, how = deployment.created_at, "its deployment was created"
        short = task.arn.rsplit("/", 1)[-1][:12]
        if started is None:
            unknown.append(short)
        elif started < became:
            stale.append(f"task {short}… ({how} {iso_z(started)})")
        else:
            fresh += 1
    rotated = f"the rotation at {iso_z(became)}"
    if stale:
        shown = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
        return "previous", f"{len(stale)} of {len(tasks)} running task(s) started before {rotated}: {shown}"
    if unknown:
        return "unknown", f"start time of {len(unknown)} running task(s) unknown ({', '.join(unknown[:3])}…)"
    if not tasks:
        return "current", "no running task: the next one reads AWSCURRENT when it starts"
    return "current", f"all {fresh} running task(s) started after {rotated}"


def _service_tasks(ctx: LocateContext, config: ServiceConfig, region: str) -> list[Task] | None:
    service = config.service
    ecs = ctx.ecs(region)
    listed = ctx.attempt(
        f"ecs:ListTasks {service.name}",
        lambda: ecs.running_task_arns(service.cluster_arn, service_name=service.name, limit=ctx.scan_limit),
    )
    if listed is None:
        return None
    arns = ctx.capped(f"ecs:ListTasks {service.name}", listed)
    if not arns:
        return []
    return ctx.attempt(f"ecs:DescribeTasks {service.name}", lambda: ecs.tasks(service.cluster_arn, arns))


def _ecs(ctx: LocateContext, rotation: Rotation, declared: set[str], found: Found) -> None:
    region = rotation.region
    key = rotation.old_keys[0]
    for config in ecs_configuration(ctx, region, key):
        reasons: list[str] = []
        matching: set[str] = set()
        for definition in config.definitions:
            for ref in definition.secrets:
                if references_secret(ref.value_from, rotation.secret_arn):
                    matching.add(definition.arn)
                    reasons.append(
                        f"task definition {definition.name} container {ref.container} reads the secret into "
                        f"{ref.variable}"
                    )
        by_tag = config.service.arn in declared
        if not matching and not by_tag:
            continue
        if by_tag:
            reasons.append(f"tagged {CONSUMES_TAG}={rotation.secret_name}")
        tasks = _service_tasks(ctx, config, region)
        if tasks is None:
            state: ConsumerState = "unknown"
            detail = "its running tasks could not be listed"
        else:
            relevant = [t for t in tasks if t.task_definition_arn in matching] if matching else tasks
            state, detail = _state_of_tasks(relevant, config.service, rotation.became_current)
        workload = service_workload(
            config, region, key, confidence=CONFIDENCE[state], evidence=[*reasons, detail]
        )
        if by_tag and _secret_credential(rotation) not in workload.credentials:
            workload = workload.model_copy(
                update={"credentials": [*workload.credentials, _secret_credential(rotation)]}
            )
        how: FoundBy = "ecs-task-definition" if matching else "tag"
        found.consumers.append(Consumer(workload, how, state, detail))


def _lambda_state(fn: FunctionState, became: datetime) -> tuple[ConsumerState, str]:
    if fn.last_modified is None:
        return "unknown", "its configuration's last change is not known"
    if fn.last_modified < became:
        return "previous", (
            f"configuration last changed {iso_z(fn.last_modified)}, before the rotation at {iso_z(became)}: "
            "execution environments initialised since may still hold the previous value"
        )
    return (
        "current",
        f"configuration changed {iso_z(fn.last_modified)}, after the rotation: fresh environments",
    )


def _lambdas(
    client_for: ClientFactory, ctx: LocateContext, rotation: Rotation, declared: set[str], found: Found
) -> None:
    region = rotation.region
    page = ctx.attempt(
        f"lambda:ListFunctions in {region}",
        lambda: LambdaEnvironments(client_for("lambda", region)).functions(
            lambda value: names_secret(rotation, value), limit=ctx.scan_limit
        ),
    )
    for fn in ctx.capped(f"lambda:ListFunctions in {region}", page) if page else []:
        if not fn.naming and fn.arn not in declared:
            continue
        reasons = [f"environment variable {v} names the secret" for v in fn.naming]
        if fn.arn in declared:
            reasons.append(f"tagged {CONSUMES_TAG}={rotation.secret_name}")
        state, detail = _lambda_state(fn, rotation.became_current)
        credentials = [ConfiguredCredential(kind="role", ref=fn.role)] if fn.role else []
        workload = Workload(
            type="lambda-function",
            id=fn.arn,
            confidence=CONFIDENCE[state],
            evidence=[*reasons, detail],
            region=region,
            account=account_of(fn.arn),
            started_at=fn.last_modified,
            credentials=[*credentials, _secret_credential(rotation)],
        )
        how: FoundBy = "lambda-environment" if fn.naming else "tag"
        found.consumers.append(Consumer(workload, how, state, detail))


def _instances(ctx: LocateContext, rotation: Rotation, arns: list[str], found: Found) -> None:
    region = rotation.region
    ids = [instance_id(a) for a in arns]
    instances = ctx.attempt(
        "ec2:DescribeInstances (declared consumers)", lambda: ctx.ec2(region).instances(ids)
    )
    if instances is None:
        found.undetermined.extend(arns)
        return
    tagged = f"tagged {CONSUMES_TAG}={rotation.secret_name}"
    for instance in instances:
        became = rotation.became_current
        state: ConsumerState
        if instance.state not in (None, "running", "pending"):
            state, detail = (
                "current",
                f"instance is {instance.state}: it reads AWSCURRENT when it starts again",
            )
        elif instance.launch_time is None:
            state, detail = "unknown", "launch time unknown"
        elif instance.launch_time < became:
            state = "previous"
            detail = f"launched {iso_z(instance.launch_time)}, before the rotation at {iso_z(became)}"
        else:
            state, detail = "current", f"launched {iso_z(instance.launch_time)}, after the rotation"
        workload = instance_workload(
            ctx, instance, region, confidence=CONFIDENCE[state], evidence=[tagged, detail]
        )
        workload = workload.model_copy(
            update={"credentials": [*workload.credentials, _secret_credential(rotation)]}
        )
        found.consumers.append(Consumer(workload, "tag", state, detail))


def find_consumers(client_for: ClientFactory, ctx: LocateContext, rotation: Rotation) -> Found:
    found = Found()
    region = rotation.region
    tags = ctx.attempt(
        f"tag:GetResources {CONSUMES_TAG} in {region}",
        lambda: DeclaredConsumers(client_for("resourcegroupstaggingapi", region)).tagged(
            CONSUMES_TAG, limit=ctx.scan_limit
        ),
    )
    declared = [
        arn
        for arn, value in (ctx.capped(f"tag:GetResources in {region}", tags) if tags else [])
        if declares(rotation, value)
    ]
    by_service: dict[str, list[str]] = {}
    for arn in declared:
        parts = arn_parts(arn)
        kind = f"{parts[2]}:{parts[5].split('/')[0].split(':')[0]}" if len(parts) == 6 else "?"
        by_service.setdefault(kind, []).append(arn)
    _ecs(ctx, rotation, set(by_service.pop("ecs:service", [])), found)
    _lambdas(client_for, ctx, rotation, set(by_service.pop("lambda:function", [])), found)
    instances = by_service.pop("ec2:instance", [])
    if instances:
        _instances(ctx, rotation, instances, found)
    for arns in by_service.values():
        found.undetermined.extend(arns)
    return found
