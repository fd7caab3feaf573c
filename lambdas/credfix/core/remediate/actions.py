"""The action registry: every remediation credfix can take, registered under its name.

Each action says which resource kind it changes and which IAM permissions it needs (the
same `(action, resource kind)` pairs its adapter calls declare with `@needs("act", ...)`;
a unit test checks that the two agree), which resources' tags can opt it out, what must
hold before it runs, and how it runs. Actions only call adapters, never boto3.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from credfix.adapters.actions.ec2 import Ec2Actions
from credfix.adapters.actions.ecs import EcsActions
from credfix.adapters.actions.lambda_refresh import LambdaActions
from credfix.adapters.actions.secrets import SecretsActions
from credfix.adapters.actions.ssm import SsmActions
from credfix.adapters.aws import ClientFactory
from credfix.arns import arn_parts, secret_arn
from credfix.config import Settings
from credfix.core.remediate.model import (
    OPT_OUT_ANNOTATION,
    OPT_OUT_TAG,
    SSM_OPT_IN_TAG,
    TAG_TRUE,
    OptOutUnknown,
    PlannedAction,
)
from credfix.models.secrets import SecretRotationInfo
from credfix.timefmt import iso_z

SECRET_ROTATION_INTERVAL = timedelta(hours=24)  # "do not rotate keys repeatedly"


@dataclass(frozen=True)
class TagSource:
    """A resource whose tags may opt the action out. `required`: if its tags cannot be read
    the action does not run (an optional source is e.g. a task that may already be gone).
    Kubernetes objects carry the opt-out as an annotation (`kind`, `key`)."""

    label: str
    read: Callable[[], dict[str, str]]
    required: bool = True
    kind: str = "tag"
    key: str = OPT_OUT_TAG


class RemediationAction(ABC):
    name: ClassVar[str]
    resource_kind: ClassVar[str]  # what it changes, as named in the act policy
    permissions: ClassVar[tuple[tuple[str, str], ...]]  # (IAM action, resource kind), reads included
    min_cooldown_seconds: ClassVar[int] = 0  # a floor under Settings.target_cooldown_seconds

    def __init__(self, planned: PlannedAction, client_for: ClientFactory, settings: Settings) -> None:
        self.planned = planned
        self.client_for = client_for
        self.settings = settings

    def client(self, service: str) -> Any:
        return self.client_for(service, self.planned.region)

    def cooldown_seconds(self) -> int:
        return max(self.settings.target_cooldown_seconds, self.min_cooldown_seconds)

    @abstractmethod
    def tag_sources(self) -> list[TagSource]: ...

    def precondition(self, now: datetime) -> str | None:
        """Why the action must not run now (checked in observe mode too), or None."""
        return None

    @abstractmethod
    def execute(self, incident_id: str, now: datetime) -> str:
        """Do it; return a short human note of what happened. Raise on failure."""


REGISTRY: dict[str, type[RemediationAction]] = {}


def register(cls: type[RemediationAction]) -> type[RemediationAction]:
    if cls.name in REGISTRY:
        raise ValueError(f"action {cls.name} registered twice")
    if not cls.permissions:
        raise ValueError(f"action {cls.name} declares no permission")
    REGISTRY[cls.name] = cls
    return cls


def ecs_cluster_of(arn: str) -> str | None:
    """Cluster name from a long-format service or task ARN (…:service/CLUSTER/NAME)."""
    parts = arn_parts(arn)
    if len(parts) == 6 and parts[2] == "ecs":
        path = parts[5].split("/")
        if len(path) == 3 and path[0] in ("service", "task"):
            return path[1]
    return None


def _ecs_tag_sources(ecs: EcsActions, planned: PlannedAction) -> list[TagSource]:
    sources = [TagSource(f"ECS resource {planned.target}", lambda: ecs.tags(planned.target))]
    cluster = planned.cluster
    if cluster and cluster.startswith("arn:"):
        sources.append(TagSource(f"ECS cluster {cluster}", lambda: ecs.tags(cluster)))
    task = planned.workload.id if planned.workload and planned.workload.type == "ecs-task" else None
    if task and task != planned.target and task.startswith("arn:"):
        # The located task itself: it may have stopped and aged out since, so not required.
        sources.append(TagSource(f"ECS task {task}", lambda: ecs.tags(task), required=False))
    return sources


@register
class EcsForceNewDeployment(RemediationAction):
    name = "ecs-force-new-deployment"
    resource_kind = "ecs-services"
    permissions = (
        ("ecs:UpdateService", "ecs-services"),
        ("ecs:DescribeServices", "ecs-services"),
        ("ecs:ListTagsForResource", "ecs-resources"),
    )

    def tag_sources(self) -> list[TagSource]:
        return _ecs_tag_sources(EcsActions(self.client("ecs")), self.planned)

    def execute(self, incident_id: str, now: datetime) -> str:
        cluster = self.planned.cluster or ecs_cluster_of(self.planned.target) or "default"
        deployment = EcsActions(self.client("ecs")).force_new_deployment(cluster, self.planned.target)
        return f"new deployment {deployment} replaces the service's tasks"


@register
class EcsStopTask(RemediationAction):
    name = "ecs-stop-task"
    resource_kind = "ecs-tasks"
    permissions = (("ecs:StopTask", "ecs-tasks"), ("ecs:ListTagsForResource", "ecs-resources"))

    def tag_sources(self) -> list[TagSource]:
        return _ecs_tag_sources(EcsActions(self.client("ecs")), self.planned)

    def execute(self, incident_id: str, now: datetime) -> str:
        cluster = self.planned.cluster or ecs_cluster_of(self.planned.target) or "default"
        EcsActions(self.client("ecs")).stop_task(
            cluster, self.planned.target, f"credfix {incident_id}: stale credentials"
        )
        return "standalone task stopped; whatever schedules it starts a fresh one"


@register
class LambdaRefresh(RemediationAction):
    name = "lambda-refresh"
    resource_kind = "lambda-functions"
    permissions = (
        ("lambda:GetFunctionConfiguration", "lambda-functions"),
        ("lambda:UpdateFunctionConfiguration", "lambda-functions"),
        ("lambda:ListTags", "lambda-functions"),
    )

    def tag_sources(self) -> list[TagSource]:
        actions = LambdaActions(self.client("lambda"))
        return [
            TagSource(f"Lambda function {self.planned.target}", lambda: actions.tags(self.planned.target))
        ]

    def precondition(self, now: datetime) -> str | None:
        if not self.planned.target.startswith("arn:"):
            return "the function's ARN is needed to read its opt-out tags"
        return None

    def execute(self, incident_id: str, now: datetime) -> str:
        revision = LambdaActions(self.client("lambda")).refresh(self.planned.target, now)
        applied = (
            f"configuration re-applied (revision {revision})" if revision else "configuration re-applied"
        )
        return f"{applied}: new execution environments on next invoke"


@register
class Ec2RecycleInstance(RemediationAction):
    name = "ec2-recycle-instance"
    resource_kind = "autoscaling-groups"
    permissions = (
        ("autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling-groups"),
        ("ec2:DescribeTags", "*"),
        ("autoscaling:DescribeTags", "*"),
    )

    def _ec2(self) -> Ec2Actions:
        return Ec2Actions(self.client("ec2"), self.client("autoscaling"))

    def tag_sources(self) -> list[TagSource]:
        ec2 = self._ec2()
        sources = [
            TagSource(f"instance {self.planned.target}", lambda: ec2.instance_tags(self.planned.target))
        ]
        group = self.planned.group
        if group:
            sources.append(TagSource(f"Auto Scaling group {group}", lambda: ec2.group_tags(group)))
        return sources

    def execute(self, incident_id: str, now: datetime) -> str:
        activity = self._ec2().recycle(self.planned.target)
        return f"terminated without lowering desired capacity (activity {activity}); the group replaces it"


def command_marker(incident_id: str, target: str) -> str:
    """The comment credfix puts on its SSM command: one per claim (incident and target), so a
    command whose answer was lost can be found again instead of sent twice (<= 100 characters)."""
    digest = hashlib.sha256(f"{incident_id}|{target}".encode()).hexdigest()[:16]
    return f"credfix {incident_id[:60]} {digest}"


@register
class Ec2SsmCommand(RemediationAction):
    """credfix's command document (from the configured ssm_command; no parameters) on a
    standalone instance that opted in with the tag credfix:ssm-command=true."""

    name = "ec2-ssm-command"
    resource_kind = "ssm-command-instances"
    permissions = (
        ("ssm:SendCommand", "ssm-command-instances"),
        ("ssm:SendCommand", "ssm-command-document"),
        ("ssm:ListCommands", "*"),
        ("ec2:DescribeTags", "*"),
    )

    def __init__(self, planned: PlannedAction, client_for: ClientFactory, settings: Settings) -> None:
        super().__init__(planned, client_for, settings)
        self._tags: dict[str, str] | None = None

    def _instance_tags(self) -> dict[str, str]:
        """Read once per decision: the opt-out (tag sources) and the opt-in (precondition)."""
        if self._tags is None:
            ec2 = Ec2Actions(self.client("ec2"), self.client("autoscaling"))
            self._tags = ec2.instance_tags(self.planned.target)
        return self._tags

    def tag_sources(self) -> list[TagSource]:
        return [TagSource(f"instance {self.planned.target}", self._instance_tags)]

    def precondition(self, now: datetime) -> str | None:
        if not self.settings.ssm_document:
            return "no SSM command configured (ssm_command): notify only"
        if self._instance_tags().get(SSM_OPT_IN_TAG, "").strip().lower() != TAG_TRUE:
            return (
                "not opted in: credfix runs its command only on instances tagged "
                f"{SSM_OPT_IN_TAG}={TAG_TRUE}; notify only"
            )
        return None

    def execute(self, incident_id: str, now: datetime) -> str:
        document = self.settings.ssm_document
        command_id = SsmActions(self.client("ssm")).run_document(
            self.planned.target, document, command_marker(incident_id, self.planned.target), now
        )
        return f"command document {document} sent (SSM command {command_id})"


@register
class SecretRotate(RemediationAction):
    name = "secret-rotate"
    resource_kind = "watched-secrets"
    permissions = (
        ("secretsmanager:DescribeSecret", "watched-secrets"),
        ("secretsmanager:RotateSecret", "watched-secrets"),
        ("lambda:InvokeFunction", "secret-rotation-functions"),
    )
    min_cooldown_seconds = int(SECRET_ROTATION_INTERVAL.total_seconds())

    def __init__(self, planned: PlannedAction, client_for: ClientFactory, settings: Settings) -> None:
        super().__init__(planned, client_for, settings)
        self._described: SecretRotationInfo | None = None

    def _secrets(self) -> SecretsActions:
        return SecretsActions(self.client("secretsmanager"))

    def _describe(self) -> SecretRotationInfo:
        """One DescribeSecret per decision: its tags (opt-out) and its rotation state
        (precondition) come from the same answer, read just before acting."""
        if self._described is None:
            self._described = self._secrets().describe(secret_arn(self.planned.target))
        return self._described

    def tag_sources(self) -> list[TagSource]:
        return [TagSource(f"secret {self.planned.target}", lambda: self._describe().tags)]

    def precondition(self, now: datetime) -> str | None:
        info = self._describe()
        if not info.rotation_enabled:
            return "the secret has no rotation configured; credfix never configures one: notify only"
        if info.rotation_in_progress:
            return "a rotation of this secret is already in progress"
        last = info.last_rotated
        if last is not None:
            last = last if last.tzinfo else last.replace(tzinfo=UTC)
            if now - last < SECRET_ROTATION_INTERVAL:
                return f"rotated at {last:%Y-%m-%dT%H:%M:%SZ}, less than 24 h ago: at most one rotation a day"
        return None

    def execute(self, incident_id: str, now: datetime) -> str:
        version = self._secrets().rotate(
            secret_arn(self.planned.target), f"{incident_id}/{self.planned.target}"
        )
        return f"rotation started (new version {version}); consumers are restarted after it"


@register
class EksRolloutRestart(RemediationAction):
    """`kubectl rollout restart` of a pod's Deployment, StatefulSet or DaemonSet, through the
    cluster's Kubernetes API (its RBAC: get and patch those, get namespaces; docs/eks.md).
    The target is the workload's parent, KIND/NAMESPACE/NAME; the cluster is the pod's."""

    name = "eks-rollout-restart"
    resource_kind = "eks-clusters"
    permissions = (("eks:DescribeCluster", "eks-clusters"),)

    def __init__(self, planned: PlannedAction, client_for: ClientFactory, settings: Settings) -> None:
        super().__init__(planned, client_for, settings)
        self.kind, _, rest = planned.target.partition("/")
        self.namespace, _, self.workload_name = rest.partition("/")
        cluster = planned.cluster or ""
        self.cluster_name = cluster.rsplit(":cluster/", 1)[-1] if ":cluster/" in cluster else cluster
        self._api: Any = None

    def _kube(self) -> Any:
        """The Kubernetes client, built (and imported) only when an EKS action runs."""
        if self._api is None:
            from credfix.adapters.actions.kubernetes import KubeActions
            from credfix.adapters.kubernetes import KubeError, connect
            from credfix.adapters.readers.eks import Eks

            cluster = Eks(self.client("eks")).cluster(self.cluster_name)
            if cluster is None:
                raise KubeError(404, "NotFound", f"EKS cluster {self.cluster_name} not found")
            self._api = KubeActions(connect(cluster, self.client("sts")))
        return self._api

    def _annotations(self, read: Callable[[], dict[str, str]], what: str) -> Callable[[], dict[str, str]]:
        def annotations() -> dict[str, str]:
            from credfix.adapters.kubernetes import KubeError

            try:
                return read()
            except KubeError as exc:  # an opt-out that cannot be read counts as present
                raise OptOutUnknown(f"could not read the annotations of {what} ({exc.short})") from exc

        return annotations

    def _workload(self) -> Any:
        found = self._kube().workload(self.kind, self.namespace, self.workload_name)
        if found is None:
            from credfix.adapters.kubernetes import KubeError

            raise KubeError(
                404, "NotFound", f"{self.planned.target} not found in cluster {self.cluster_name}"
            )
        return found

    def tag_sources(self) -> list[TagSource]:
        target = f"{self.kind} {self.namespace}/{self.workload_name}"
        namespace = f"namespace {self.namespace}"
        return [
            TagSource(
                target,
                self._annotations(lambda: self._workload().annotations, target),
                kind="annotation",
                key=OPT_OUT_ANNOTATION,
            ),
            TagSource(
                namespace,
                self._annotations(lambda: self._kube().namespace(self.namespace).annotations, namespace),
                kind="annotation",
                key=OPT_OUT_ANNOTATION,
            ),
        ]

    def precondition(self, now: datetime) -> str | None:
        from credfix.adapters.actions.kubernetes import RESTARTABLE

        if self.kind not in RESTARTABLE or not self.namespace or not self.workload_name:
            return f"{self.planned.target} is not a Deployment, StatefulSet or DaemonSet: not restarted"
        if not self.cluster_name:
            return "the pod's cluster is unknown"
        return None

    def execute(self, incident_id: str, now: datetime) -> str:
        from credfix.adapters.actions.kubernetes import RESTARTED_AT, RESTARTED_FOR

        kube = self._kube()
        current = self._workload()
        if current.template_annotations.get(RESTARTED_FOR) == incident_id:
            # The restart of an earlier delivery reached the API; this one must not send another.
            at = current.template_annotations.get(RESTARTED_AT, "an earlier delivery")
            return f"rollout restart for this incident already applied ({RESTARTED_AT} {at}): not sent again"
        after = kube.rollout_restart(
            self.kind, self.namespace, self.workload_name, at=iso_z(now), incident_id=incident_id
        )
        return (
            f"rollout restart of {self.kind} {self.namespace}/{self.workload_name} in {self.cluster_name} "
            f"(generation {current.generation} -> {after.generation}): its pods are replaced and load "
            "their credentials afresh"
        )
