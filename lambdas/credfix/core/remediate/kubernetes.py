"""What a located EKS pod gets: a rollout restart of its Deployment, StatefulSet or DaemonSet
(`eks-rollout-restart`), or a notify entry saying why not. Pure, like the planner."""

from __future__ import annotations

from credfix.core.remediate.model import NOTIFY, PlannedAction
from credfix.models.incident import Workload

RESTARTABLE_KINDS = ("deployment", "statefulset", "daemonset")


def restart_for_pod(workload: Workload, region: str | None) -> PlannedAction:
    w = workload
    literal = [c for c in w.credentials if c.kind == "static-key" and c.access_key_id]
    if literal:
        why = (
            f"the pod's manifest itself sets AWS_ACCESS_KEY_ID ({literal[0].ref}): a restart reloads the "
            "same key, so credfix never restarts it; move the workload to a role (IRSA or Pod Identity)"
        )
        return PlannedAction(NOTIFY, w.parent or w.id, "", workload=w, region=region, skip=why)
    kind = (w.parent or "").split("/", 1)[0]
    if not w.parent:
        why = "a pod without a controller (nothing would recreate it if deleted): notify only"
    elif kind not in RESTARTABLE_KINDS:
        why = f"{w.parent}: a {kind}'s pods cannot be restarted in place; re-run it by hand: notify only"
    elif not w.cluster:
        why = "the pod's cluster is unknown: notify only"
    else:
        return PlannedAction(
            "eks-rollout-restart",
            w.parent,
            f"pod {w.id} of {w.parent}: a rollout restart replaces its pods, which load credentials afresh",
            workload=w,
            region=region,
            cluster=w.cluster,
        )
    return PlannedAction(NOTIFY, w.parent or w.id, "", workload=w, region=region, skip=why)
