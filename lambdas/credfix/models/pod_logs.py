"""A pod named by its log stream: Container Insights' Fluent Bit (or Fluentd) names the stream
of a container's lines after the kubelet's log file,
`NODE-application.var.log.containers.POD_NAMESPACE_CONTAINER-CONTAINERID.log` (Fluentd:
`POD_NAMESPACE_CONTAINER_CONTAINERID`), in log group `/aws/containerinsights/CLUSTER/application`.
The stream name is chosen by the account's log shipper from the file path, not by the process
that logged. Pure parsing at the models floor: the intake keys a pod's incident by it
(credfix.models.logs.workload_of), the locator asks the cluster's API for the pod
(credfix.core.locate.eks_logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTAINER_INSIGHTS_GROUP = re.compile(
    r"^/aws/containerinsights/(?P<cluster>[0-9A-Za-z][A-Za-z0-9_-]{0,99})/application$"
)
POD_NAME = r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?"  # pod names: DNS subdomains, never "_"
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"  # namespaces and containers
FLUENT_BIT_STREAM = re.compile(
    rf"(?:^|-)application\.var\.log\.containers\.(?P<pod>{POD_NAME})_(?P<namespace>{DNS_LABEL})_"
    rf"(?P<container>{DNS_LABEL})-(?P<id>[0-9a-f]{{64}})(?:\.log)?$"
)
FLUENTD_STREAM = re.compile(
    rf"^(?P<pod>{POD_NAME})_(?P<namespace>{DNS_LABEL})_(?P<container>{DNS_LABEL})_(?P<id>[0-9a-f]{{64}})$"
)
# What stays the same across a workload's restarts: a Deployment's pods are NAME-RSHASH-XXXXX,
# a StatefulSet's NAME-ORDINAL (a DaemonSet's NAME-XXXXX reads as a pod of its own).
_DEPLOYMENT_POD = re.compile(r"^(?P<base>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(?P<base>.+)-\d{1,5}$")


@dataclass(frozen=True)
class LoggedPod:
    cluster: str
    namespace: str
    pod: str
    container: str
    where: str  # the log group and stream, for the evidence

    @property
    def workload_name(self) -> str:
        """The pod's owner as its name suggests (NAME of NAME-RSHASH-XXXXX): the incident key
        of lines that show no key ID, so a restarted deployment's pods share one incident."""
        named = _DEPLOYMENT_POD.match(self.pod) or _STATEFUL_POD.match(self.pod)
        return named["base"] if named else self.pod


def cluster_of_log_group(log_group: str) -> str | None:
    match = CONTAINER_INSIGHTS_GROUP.match(log_group)
    return match["cluster"] if match else None


def pod_from_log_stream(log_group: str, log_stream: str, *, cluster: str | None = None) -> LoggedPod | None:
    """The pod a Container Insights stream names, or None. `cluster`: for a log group that does
    not name one (a custom Fluent Bit output)."""
    name = cluster or cluster_of_log_group(log_group)
    match = FLUENT_BIT_STREAM.search(log_stream) or FLUENTD_STREAM.match(log_stream)
    if name is None or match is None:
        return None
    where = f"log group {log_group}, stream {log_stream}"
    return LoggedPod(name, match["namespace"], match["pod"], match["container"], where)
