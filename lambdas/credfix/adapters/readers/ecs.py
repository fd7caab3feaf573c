"""ECS reads for workload location: clusters, services, tasks and task definitions.

Task definitions are reduced here to what location needs. Plain environment values are
never kept, except a value of `AWS_ACCESS_KEY_ID` that has the shape of an access key ID
(`AKIA`/`ASIA` and 16 more: a key ID is not a secret); any other value there (a secret key
pasted into the wrong variable) is dropped and only its presence recorded. For the other
credential variables only the variable *name* is kept, so a secret access key in a task
definition never leaves this module.
"""

from __future__ import annotations

from typing import Any

from credfix.adapters.readers.paging import capped, chunks
from credfix.keys import has_key_id_shape
from credfix.models.ecs import Deployment, SecretRef, Service, StaticKey, Task, TaskDefinition
from credfix.models.paging import Page
from credfix.permissions import needs

# Variables that make the SDK pick a credential source other than the task role.
CREDENTIAL_VARIABLES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    }
)


def _task_definition(raw: dict[str, Any]) -> TaskDefinition:
    secrets: list[SecretRef] = []
    static_keys: list[StaticKey] = []
    variables: list[tuple[str, str]] = []
    for container in raw.get("containerDefinitions") or []:
        name = container.get("name") or "?"
        for secret in container.get("secrets") or []:
            if secret.get("valueFrom"):
                secrets.append(SecretRef(name, secret.get("name") or "?", secret["valueFrom"]))
        for env in container.get("environment") or []:
            variable = env.get("name") or ""
            if variable not in CREDENTIAL_VARIABLES:
                continue
            variables.append((name, variable))
            if variable == "AWS_ACCESS_KEY_ID" and env.get("value"):
                value = str(env["value"]).strip()
                static_keys.append(StaticKey(name, value if has_key_id_shape(value) else None))
    return TaskDefinition(
        arn=raw["taskDefinitionArn"],
        task_role_arn=raw.get("taskRoleArn") or None,
        secrets=tuple(secrets),
        static_keys=tuple(static_keys),
        credential_variables=tuple(variables),
    )


def _task(raw: dict[str, Any]) -> Task:
    enis: list[str] = []
    subnets: list[str] = []
    for attachment in raw.get("attachments") or []:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "networkInterfaceId" and detail.get("value"):
                enis.append(detail["value"])
            elif detail.get("name") == "subnetId" and detail.get("value"):
                subnets.append(detail["value"])
    return Task(
        arn=raw["taskArn"],
        cluster_arn=raw["clusterArn"],
        task_definition_arn=raw["taskDefinitionArn"],
        group=raw.get("group"),
        last_status=raw.get("lastStatus"),
        launch_type=raw.get("launchType"),
        started_at=raw.get("startedAt"),
        network_interface_ids=tuple(enis),
        subnet_ids=tuple(subnets),
        started_by=raw.get("startedBy") or None,
        created_at=raw.get("createdAt"),
    )


def _service(raw: dict[str, Any]) -> Service:
    definitions = [raw["taskDefinition"]] if raw.get("taskDefinition") else []
    for deployment in raw.get("deployments") or []:
        arn = deployment.get("taskDefinition")
        if arn and arn not in definitions and deployment.get("status") in ("PRIMARY", "ACTIVE"):
            definitions.append(arn)
    vpc = (raw.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    return Service(
        arn=raw["serviceArn"],
        name=raw["serviceName"],
        cluster_arn=raw["clusterArn"],
        task_definition_arns=tuple(definitions),
        subnet_ids=tuple(vpc.get("subnets") or ()),
        deployments=tuple(
            Deployment(
                id=str(d["id"]),
                status=d.get("status"),
                task_definition_arn=d.get("taskDefinition"),
                created_at=d.get("createdAt"),
            )
            for d in raw.get("deployments") or []
            if d.get("id")
        ),
    )


class Ecs:
    def __init__(self, client: Any) -> None:
        self._ecs = client

    @needs("triage", "ecs:ListClusters", on="*")
    @needs("rotation", "ecs:ListClusters", on="*")
    @needs("cli", "ecs:ListClusters", on="*")
    def cluster_arns(self, *, limit: int) -> Page[str]:
        return capped(self._ecs.get_paginator("list_clusters").paginate(), "clusterArns", limit)

    @needs("triage", "ecs:ListTasks", on="*")
    @needs("rotation", "ecs:ListTasks", on="*")
    @needs("cli", "ecs:ListTasks", on="*")
    def running_task_arns(self, cluster: str, *, limit: int, service_name: str | None = None) -> Page[str]:
        kwargs: dict[str, Any] = {"cluster": cluster, "desiredStatus": "RUNNING"}
        if service_name:
            kwargs["serviceName"] = service_name
        return capped(self._ecs.get_paginator("list_tasks").paginate(**kwargs), "taskArns", limit)

    @needs("triage", "ecs:DescribeTasks", on="ecs-tasks")
    @needs("rotation", "ecs:DescribeTasks", on="ecs-tasks")
    @needs("cli", "ecs:DescribeTasks", on="ecs-tasks")
    def tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        found: list[Task] = []
        for chunk in chunks(arns, 100):  # DescribeTasks takes 100 at a time
            found.extend(
                _task(raw) for raw in self._ecs.describe_tasks(cluster=cluster, tasks=chunk)["tasks"]
            )
        return found

    @needs("triage", "ecs:ListServices", on="*")
    @needs("rotation", "ecs:ListServices", on="*")
    @needs("cli", "ecs:ListServices", on="*")
    def service_arns(self, cluster: str, *, limit: int) -> Page[str]:
        return capped(
            self._ecs.get_paginator("list_services").paginate(cluster=cluster), "serviceArns", limit
        )

    @needs("triage", "ecs:DescribeServices", on="ecs-services")
    @needs("rotation", "ecs:DescribeServices", on="ecs-services")
    @needs("cli", "ecs:DescribeServices", on="ecs-services")
    def services(self, cluster: str, arns: list[str]) -> list[Service]:
        found: list[Service] = []
        for chunk in chunks(arns, 10):  # DescribeServices takes 10 at a time
            resp = self._ecs.describe_services(cluster=cluster, services=chunk)
            found.extend(_service(raw) for raw in resp["services"] if raw.get("status") != "INACTIVE")
        return found

    @needs("triage", "ecs:DescribeTaskDefinition", on="*")
    @needs("rotation", "ecs:DescribeTaskDefinition", on="*")
    @needs("cli", "ecs:DescribeTaskDefinition", on="*")
    def task_definition(self, arn: str) -> TaskDefinition:
        return _task_definition(self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])
