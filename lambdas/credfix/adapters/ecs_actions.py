"""ECS calls of the act step: restart a service's tasks (new deployment) or stop a
standalone task, and read the tags that can opt a resource out of remediation."""

from __future__ import annotations

from typing import Any

from credfix.permissions import needs


class EcsActions:
    def __init__(self, client: Any) -> None:
        self._ecs = client

    @needs("act", "ecs:UpdateService", on="ecs-services")
    def force_new_deployment(self, cluster: str, service: str) -> str:
        """Replace every task of the service with a fresh one (same task definition); the new
        tasks read the secret again at start. Returns the new PRIMARY deployment's id."""
        resp = self._ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
        deployments = resp["service"].get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        return str(primary["id"]) if primary else ""

    @needs("act", "ecs:StopTask", on="ecs-tasks")
    def stop_task(self, cluster: str, task: str, reason: str) -> None:
        self._ecs.stop_task(cluster=cluster, task=task, reason=reason[:255])

    @needs("act", "ecs:ListTagsForResource", on="ecs-resources")
    def tags(self, arn: str) -> dict[str, str]:
        """Tags of a cluster, service or task (services and tasks need the long ARN format)."""
        resp = self._ecs.list_tags_for_resource(resourceArn=arn)
        return {t["key"]: t.get("value", "") for t in resp.get("tags", [])}
