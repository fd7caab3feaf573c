"""Locator 5: a runtime-log source (`GROUP:STREAM`, credfix.core.logs) -> the workload whose
runtime wrote it, by what the group and stream name (credfix.models.logs.workload_of): a
Lambda function (`/aws/lambda/NAME`), a CodeBuild project and its build
(`/aws/codebuild/PROJECT`, stream = the build's ID), an ECS task (awslogs
`prefix/container/task-id`; the task is looked up cluster by cluster) and its service, an EC2
instance (the CloudWatch agent's `{instance_id}` stream), an EKS pod (a Container Insights
group's stream, through the cluster's API). Each is looked up directly, never
by scanning for it; a source whose workload is gone (a task stopped long ago) or unknown is
still the account's, with nothing to act on (credfix.core.attribution.runtime_log)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from credfix.core import attribution
from credfix.core.locate.compute import function_workload, functions, instance_workload
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import report_static_credentials, task_definition, task_workload
from credfix.core.locate.merge import Candidates
from credfix.keys import redact
from credfix.models.compute import CodeBuildProject
from credfix.models.ecs import Task
from credfix.models.incident import ConfiguredCredential, SourceAttribution, Workload
from credfix.models.logs import LogWorkload, split_log_source, workload_of
from credfix.timefmt import iso_z


@dataclass
class LogHit:
    attribution: SourceAttribution
    workload_ids: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return bool(self.workload_ids)


def _written(log: str) -> str:
    group, stream = split_log_source(log)
    return f"its runtime wrote the failing lines to log group {group}, stream {stream}"


def _ecs_task(ctx: LocateContext, region: str, task_id: str) -> Task | None:
    """The task of an awslogs stream: ECS has no lookup by ID alone, so each cluster is asked."""
    ecs = ctx.ecs(region)
    clusters = ctx.memo(
        ("ecs-clusters", region),
        lambda: ctx.attempt("ecs:ListClusters", lambda: ecs.cluster_arns(limit=ctx.scan_limit)),
    )
    for cluster in ctx.capped(f"ecs:ListClusters in {region}", clusters) if clusters else []:
        tasks = ctx.memo(
            ("ecs-task-by-id", region, cluster, task_id),
            partial(ctx.attempt, f"ecs:DescribeTasks {cluster}", partial(ecs.tasks, cluster, [task_id])),
        )
        for task in tasks or []:
            if task.arn.endswith(f"/{task_id}"):
                return task
    return None


def _ecs(ctx: LocateContext, found: Candidates, named: LogWorkload, log: str, region: str) -> list[Workload]:
    assert named.detail
    task = _ecs_task(ctx, region, named.detail)
    if task is None:
        ctx.note(
            f"ECS task {named.detail}",
            "not found in any cluster: stopped more than an hour ago, or in another region",
        )
        return []
    definition = task_definition(ctx, region, task.task_definition_arn)
    if definition is not None:
        report_static_credentials(ctx, definition, "")
    evidence = [f"{_written(log)} (container {named.name})"]
    if task.last_status and task.last_status != "RUNNING":
        evidence.append(f"task status is {task.last_status}")
    workload = task_workload(task, definition, region, "", confidence="high", evidence=evidence)
    found.add(workload)
    ctx.subnets_of[workload.id] = (region, task.subnet_ids)
    return [workload]


def _lambda(
    ctx: LocateContext, found: Candidates, named: LogWorkload, log: str, region: str
) -> list[Workload]:
    fn = next((f for f in functions(ctx, region) if f.name == named.name), None)
    if fn is None:
        ctx.note(f"Lambda function {named.name}", f"not found in {region} (deleted, or beyond the scan cap)")
        return []
    workload = function_workload(fn, region, confidence="high", evidence=[_written(log)])
    static = [
        ConfiguredCredential(kind="static-key", ref=redact(key), access_key_id=key)
        for _, key in fn.static_keys
    ]
    for variable, key in fn.static_keys:
        ctx.note(
            f"Lambda function {fn.name}",
            f"environment variable {variable} holds access key ID {redact(key)} (its code signs with it "
            "instead of the execution role)",
        )
    workload = workload.model_copy(update={"credentials": [*static, *workload.credentials]})
    if fn.vpc_id:
        ctx.vpc_of[workload.id] = fn.vpc_id
    return [found.add(workload)]


def _project_credentials(project: CodeBuildProject) -> list[ConfiguredCredential]:
    creds = [
        ConfiguredCredential(kind="static-key", ref=redact(key), access_key_id=key)
        for _, key in project.static_keys
    ]
    creds += [ConfiguredCredential(kind="secret", ref=ref) for _, ref in project.secret_refs]
    if project.service_role:
        creds.append(ConfiguredCredential(kind="role", ref=project.service_role))
    return creds


def _codebuild(
    ctx: LocateContext, found: Candidates, named: LogWorkload, log: str, region: str
) -> list[Workload]:
    codebuild = ctx.codebuild(region)
    project = ctx.memo(
        ("codebuild-project", region, named.name),
        partial(
            ctx.attempt, f"codebuild:BatchGetProjects {named.name}", partial(codebuild.project, named.name)
        ),
    )
    if project is None:
        ctx.note(f"CodeBuild project {named.name}", f"not found in {region}")
        return []
    evidence = [_written(log)]
    started = None
    if named.detail:
        build = ctx.attempt(
            f"codebuild:BatchGetBuilds {named.detail}", partial(codebuild.build, named.detail)
        )
        if build is not None:
            started = build.started_at
            when = iso_z(build.started_at) if build.started_at else "at an unknown time"
            status = f", status {build.status}" if build.status else ""
            evidence.append(f"build {build.id} started {when}{status}")
    for variable, key in project.static_keys:
        ctx.note(
            f"CodeBuild project {project.name}",
            f"plaintext environment variable {variable} holds access key ID {redact(key)}",
        )
    workload = Workload(
        type="codebuild-project",
        id=project.arn,
        confidence="high",
        evidence=evidence,
        region=region,
        account=project.arn.split(":")[4] or None,
        started_at=started,
        credentials=_project_credentials(project),
    )
    return [found.add(workload)]


def _instance(
    ctx: LocateContext, found: Candidates, named: LogWorkload, log: str, region: str
) -> list[Workload]:
    ec2 = ctx.ec2(region)
    instances = ctx.attempt(f"ec2:DescribeInstances {named.name}", partial(ec2.instances, [named.name]))
    instance = next(iter(instances or []), None)
    if instance is None:
        ctx.note(f"EC2 instance {named.name}", f"not found in {region} (terminated?)")
        return []
    workload = instance_workload(ctx, instance, region, confidence="high", evidence=[_written(log)])
    return [found.add(workload)]


def _eks_pod(ctx: LocateContext, found: Candidates, log: str, region: str, incident_key: str) -> list[str]:
    """A pod of a Container Insights group, through its cluster's API (imported here only:
    no handler loads the EKS modules before an EKS workload needs them)."""
    from credfix.core.locate.eks_logs import locate_from_log
    from credfix.models.pod_logs import pod_from_log_stream

    logged = pod_from_log_stream(*split_log_source(log))
    return locate_from_log(ctx, found, region, logged, incident_key=incident_key) if logged else []


LOCATORS = {
    "ecs-task": _ecs,
    "lambda-function": _lambda,
    "codebuild-project": _codebuild,
    "ec2-instance": _instance,
}


def locate_by_log(
    ctx: LocateContext, found: Candidates, log: str, region: str, account: str, *, incident_key: str = ""
) -> LogHit:
    """The workload that wrote a runtime-log source, and what the source attributes
    (`incident_key`: the incident's key ID, which a pod's own configuration may show)."""
    group, stream = split_log_source(log)
    named = workload_of(group, stream, region, account)
    if named.kind == "eks-pod":
        ids = _eks_pod(ctx, found, log, region, incident_key)
        return LogHit(attribution.runtime_log(log, account, region, ids, f"eks-pod {named.detail}"), ids)
    locator = LOCATORS.get(named.kind)
    if locator is None:
        ctx.note(
            f"log group {group}",
            "names no workload credfix can locate (not Lambda, CodeBuild, ECS, EKS pods or EC2)",
        )
        return LogHit(attribution.runtime_log(log, account, region, [], f"log group {group}"))
    ids = [w.id for w in locator(ctx, found, named, log, region)]
    return LogHit(attribution.runtime_log(log, account, region, ids, f"{named.kind} {named.name}"), ids)
