"""A pod named by its own log lines: the runtime-log signal's workload hint for EKS.

Most clusters reach STS through a NAT gateway, so a pod's failing call shows only the NAT's
address. The pod's own log line ("InvalidClientTokenId ...") names it: container logs shipped
by Fluent Bit for Container Insights go to log group `/aws/containerinsights/CLUSTER/application`
in streams named after the kubelet's log file,
`NODE-application.var.log.containers.POD_NAMESPACE_CONTAINER-CONTAINERID.log` (Fluentd's:
`POD_NAMESPACE_CONTAINER_CONTAINERID`), and each record carries Fluent Bit's `kubernetes`
metadata (pod_name, namespace_name, container_name). The stream name is chosen by the
account's log shipper from the file path, not by the process that logged.

`pod_from_log_stream` (credfix.models.pod_logs) / `pod_from_log_record` read the hint;
`locate_from_log` turns it into the same `eks-pod` workload the IP locator makes
(credfix.core.locate.eks), through the cluster's API.
"""

from __future__ import annotations

import re
from typing import Any

from credfix.core.locate.context import LocateContext
from credfix.core.locate.merge import Candidates
from credfix.models.pod_logs import (
    DNS_LABEL,
    POD_NAME,
    LoggedPod,
    cluster_of_log_group,
    pod_from_log_stream,
)

__all__ = ["LoggedPod", "locate_from_log", "pod_from_log_record", "pod_from_log_stream"]


def pod_from_log_record(
    record: dict[str, Any], log_group: str, *, cluster: str | None = None
) -> LoggedPod | None:
    """The pod Fluent Bit's `kubernetes` metadata in a log record names, or None."""
    meta = record.get("kubernetes")
    name = cluster or cluster_of_log_group(log_group)
    if not isinstance(meta, dict) or name is None:
        return None
    pod, namespace = meta.get("pod_name"), meta.get("namespace_name")
    if not isinstance(pod, str) or not isinstance(namespace, str) or not re.fullmatch(POD_NAME, pod):
        return None
    if not re.fullmatch(DNS_LABEL, namespace):
        return None
    container = meta.get("container_name") if isinstance(meta.get("container_name"), str) else ""
    return LoggedPod(name, namespace, pod, str(container), f"log group {log_group} (kubernetes metadata)")


def locate_from_log(
    ctx: LocateContext, found: Candidates, region: str, logged: LoggedPod, *, incident_key: str
) -> list[str]:
    """The logged pod as an `eks-pod` workload (high confidence: the account's own log shipper
    named it), with its deployment and credential configuration; [] when the API does not
    know the pod (any more), with a finding saying so."""
    from credfix.core.locate.eks import ask, cluster_access, pod_workload

    access = cluster_access(ctx, region, logged.cluster)
    reader = access.reader
    if reader is None:
        ctx.note(f"pod {logged.namespace}/{logged.pod} named by its logs", f"not read: {access.why}")
        return []
    pod = ask(
        ctx,
        access,
        f"get pod {logged.namespace}/{logged.pod}",
        lambda: reader.pod(logged.namespace, logged.pod),
    )
    if pod is None:
        ctx.note(
            f"pod {logged.namespace}/{logged.pod} named by its logs",
            f"the Kubernetes API of {logged.cluster} does not know it (any more): "
            f"{access.last_error or 'not found'}",
        )
        return []
    container = f" (container {logged.container})" if logged.container else ""
    workload = pod_workload(
        ctx,
        access,
        region,
        pod,
        confidence="high",
        evidence=[f"its own log lines name it{container}: {logged.where}"],
        incident_key=incident_key,
        vpc_id=None,
    )
    return [found.add(workload).id]
