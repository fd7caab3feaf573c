"""What to tell a person about an EKS pod that signs with a static key: which workload to move
off which Secret, and onto what (the field guide's third story: one deployment left on static
keys while the rest of the cluster uses IRSA or Pod Identity)."""

from __future__ import annotations

from credfix.core.alerts.sanitise import sanitise
from credfix.models.incident import Incident, Workload


def _static_pods(incident: Incident) -> list[Workload]:
    return [
        w
        for w in incident.workloads
        if w.type == "eks-pod"
        and w.confidence != "low"
        and any(c.kind == "static-key" for c in w.credentials)
    ]


def move_to_a_role(incident: Incident) -> str | None:
    """One step for the alert, or None when no located pod signs with a static key."""
    pods = _static_pods(incident)
    if not pods:
        return None
    pod = pods[0]
    where = ", ".join(
        dict.fromkeys(
            sanitise(c.ref, 120) if c.access_key_id is None else "the pod template's own env"
            for c in pod.credentials
            if c.kind == "static-key"
        )
    )
    workload = sanitise(pod.parent or pod.id, 160)
    cluster = sanitise((pod.cluster or "").rsplit("/", 1)[-1] or "its cluster", 100)
    return (
        f"Move {workload} (cluster {cluster}) off the static key it reads from {where}: give its service "
        "account an IAM role with IRSA or EKS Pod Identity, as the cluster's other deployments have (see "
        "the evidence), remove AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from its environment, roll it "
        "out, then delete the Secret. A restart alone reloads the same key."
    )


def winning_provider_in_a_pod(incident: Incident) -> tuple[str, str] | None:
    """(winner, how to pin the role) when a located pod carries the failing key in its env."""
    for workload in incident.workloads:
        if workload.type != "eks-pod":
            continue
        for cred in workload.credentials:
            if cred.kind == "static-key" and cred.access_key_id == incident.access_key_id:
                name = sanitise(workload.parent or workload.id, 160)
                return (
                    f"AWS_ACCESS_KEY_ID written into the pod template of {name}: environment credentials are "
                    "read before the service account's role (IRSA or Pod Identity)",
                    f"Remove AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from {name}'s manifest and roll it "
                    "out, so that the service account's role wins.",
                )
    return None
