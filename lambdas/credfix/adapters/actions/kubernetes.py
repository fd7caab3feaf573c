"""The one change credfix makes in a Kubernetes cluster: a rollout restart, exactly what
`kubectl rollout restart` sends (a strategic-merge patch of the pod template's
`kubectl.kubernetes.io/restartedAt` annotation), plus credfix's own marker annotation naming
the incident, so a redelivered message can see that the restart it was about to send has
already been applied. Before acting, the opt-out annotations of the workload and of its
namespace are read."""

from __future__ import annotations

from credfix.adapters.kubernetes import KubeApi, KubeError, path
from credfix.adapters.readers.kubernetes import parse_controller
from credfix.models.kubernetes import Controller, ControllerKind, Namespace
from credfix.permissions import needs_rbac

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTED_FOR = "credfix.io/restarted-for"  # the incident a restart was sent for
# What a rollout restart applies to (a Job's template is immutable; a bare pod has no template).
RESTARTABLE: dict[str, tuple[str, str, str]] = {
    "deployment": ("apps", "v1", "deployments"),
    "statefulset": ("apps", "v1", "statefulsets"),
    "daemonset": ("apps", "v1", "daemonsets"),
}


class KubeActions:
    def __init__(self, api: KubeApi) -> None:
        self.api = api

    @needs_rbac("act", "get", "apps", "deployments", "statefulsets", "daemonsets")
    def workload(self, kind: str, namespace: str, name: str) -> Controller | None:
        group, version, plural = RESTARTABLE[kind]
        try:
            raw = self.api.get(path(group, version, plural, namespace, name))
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise
        kind_name: ControllerKind = kind  # type: ignore[assignment]
        return parse_controller(kind_name, raw)

    @needs_rbac("act", "get", "", "namespaces")
    def namespace(self, name: str) -> Namespace:
        raw = self.api.get(path("", "v1", "namespaces", None, name))
        annotations = (raw.get("metadata") or {}).get("annotations") or {}
        return Namespace(name, {str(k): str(v) for k, v in annotations.items()})

    @needs_rbac("act", "patch", "apps", "deployments", "statefulsets", "daemonsets")
    def rollout_restart(
        self, kind: str, namespace: str, name: str, *, at: str, incident_id: str
    ) -> Controller:
        """Patch the pod template's annotations; the controller replaces every pod, each of
        which loads its credentials afresh. Returns the workload as the API answered."""
        group, version, plural = RESTARTABLE[kind]
        annotations = {RESTARTED_AT: at, RESTARTED_FOR: incident_id}
        body = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        raw = self.api.patch(path(group, version, plural, namespace, name), body)
        kind_name: ControllerKind = kind  # type: ignore[assignment]
        return parse_controller(kind_name, raw)
