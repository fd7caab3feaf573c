"""ECS calls of the act step: restart a service's tasks (new deployment) or stop a
standalone task, and read the tags that can opt a resource out of remediation."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from credfix.permissions import needs

# The request went out but no answer came back: ECS may have applied it.
_AMBIGUOUS = (ConnectionClosedError, ReadTimeoutError)


def _no_blind_resend(caught_exception: BaseException | None = None, **_: Any) -> None:
    """UpdateService is not idempotent: botocore must not resend it after a lost answer."""
    if isinstance(caught_exception, _AMBIGUOUS):
        raise caught_exception


class EcsActions:
    def __init__(self, client: Any) -> None:
        self._ecs = client
        client.meta.events.register_first(
            "needs-retry.ecs.UpdateService", _no_blind_resend, unique_id="credfix-no-blind-resend"
        )

    @needs("act", "ecs:UpdateService", "ecs:DescribeServices", on="ecs-services")
    def force_new_deployment(self, cluster: str, service: str) -> str:
        """Replace every task of the service with a fresh one (same task definition); the new
        tasks read the secret again at start. Returns the new PRIMARY deployment's id.

        The PRIMARY deployment is read first: if an UpdateService goes out and no answer comes
        back, a different PRIMARY afterwards says ECS applied it (a new deployment, ours or a
        concurrent one: the tasks are replaced either way); the same one says it never arrived.
        A clock-based test could not tell a dropped call from a restart on a service created
        moments ago (found by tests/reliability/test_act_reliability.py with 20 % faults)."""
        before = self._primary_deployment(cluster, service)
        for _attempt in range(3):
            try:
                resp = self._ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
            except _AMBIGUOUS:
                after = self._primary_deployment(cluster, service)
                if after and after != before:
                    return after  # applied; only the answer was lost
                continue
            deployments = resp["service"].get("deployments", [])
            primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
            return str(primary["id"]) if primary else ""
        raise RuntimeError(f"UpdateService on {service}: no answer after 3 attempts")

    def _primary_deployment(self, cluster: str, service: str) -> str:
        found = self._ecs.describe_services(cluster=cluster, services=[service])["services"]
        deployments = found[0].get("deployments", []) if found else []
        return next((str(d["id"]) for d in deployments if d.get("status") == "PRIMARY"), "")

    @needs("act", "ecs:StopTask", on="ecs-tasks")
    def stop_task(self, cluster: str, task: str, reason: str) -> None:
        self._ecs.stop_task(cluster=cluster, task=task, reason=reason[:255])

    @needs("act", "ecs:ListTagsForResource", on="ecs-resources")
    def tags(self, arn: str) -> dict[str, str]:
        """Tags of a cluster, service or task (services and tasks need the long ARN format)."""
        resp = self._ecs.list_tags_for_resource(resourceArn=arn)
        return {t["key"]: t.get("value", "") for t in resp.get("tags", [])}
