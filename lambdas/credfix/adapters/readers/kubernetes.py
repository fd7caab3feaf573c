"""Kubernetes reads for workload location in an EKS cluster: pods by IP, the controllers that
own them, service accounts and External Secrets. Read-only (RBAC: get/list, declared with
`@needs_rbac`). Never reads a Secret: a Secret is named by the pods that use it, not opened.

Pod specs are reduced here to what location needs (credfix.models.kubernetes): of the
environment only the value of a literal AWS_ACCESS_KEY_ID is kept (a key ID is not a
secret); of every other credential variable only its name and where it comes from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credfix.adapters.kubernetes import KubeApi, KubeError, path
from credfix.models.kubernetes import (
    Controller,
    ControllerKind,
    CredentialSource,
    ExternalSecret,
    OwnerRef,
    Pod,
    ServiceAccount,
)
from credfix.models.paging import Page
from credfix.permissions import declare_rbac, needs_rbac

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
FILE_VARIABLES = ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE")
# (group, version, plural) of each controller kind credfix follows from a pod.
CONTROLLERS: dict[str, tuple[str, str, str]] = {
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}
# External Secrets Operator serves external-secrets.io/v1 since v0.17, v1beta1 before.
ESO_VERSIONS = ("v1", "v1beta1")

# KubeReader.controller's reads, one declaration per API group (the kind is a parameter).
declare_rbac("triage", "get", "apps", "replicasets", "deployments", "statefulsets", "daemonsets")
declare_rbac("triage", "get", "batch", "jobs", "cronjobs")
declare_rbac("cli", "get", "apps", "replicasets", "deployments", "statefulsets", "daemonsets")
declare_rbac("cli", "get", "batch", "jobs", "cronjobs")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _owners(meta: dict[str, Any]) -> tuple[OwnerRef, ...]:
    return tuple(
        OwnerRef(
            kind=str(o.get("kind") or ""),
            name=str(o.get("name") or ""),
            uid=o.get("uid"),
            controller=bool(o.get("controller")),
        )
        for o in meta.get("ownerReferences") or []
        if isinstance(o, dict)
    )


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()} if isinstance(value, dict) else {}


def credential_sources(spec: dict[str, Any]) -> tuple[CredentialSource, ...]:
    """What the pod spec makes its containers sign with, in no particular order."""
    found: list[CredentialSource] = []
    secret_volumes = {
        v.get("name"): (v.get("secret") or {}).get("secretName")
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and v.get("secret")
    }
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        name = str(container.get("name") or "?")
        for env in container.get("env") or []:
            variable = str(env.get("name") or "")
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if variable == "AWS_ACCESS_KEY_ID":
                if env.get("value"):
                    found.append(
                        CredentialSource(
                            "env-literal", name, variable, access_key_id=str(env["value"]).strip()
                        )
                    )
                elif ref.get("name"):
                    found.append(
                        CredentialSource(
                            "env-secret", name, variable, secret=str(ref["name"]), secret_key=ref.get("key")
                        )
                    )
            elif variable in FILE_VARIABLES:
                found.append(CredentialSource("credentials-file", name, variable, secret=ref.get("name")))
            elif variable == "AWS_ROLE_ARN":
                found.append(CredentialSource("irsa", name, variable, role_arn=env.get("value") or None))
            elif variable == "AWS_CONTAINER_CREDENTIALS_FULL_URI":
                found.append(CredentialSource("pod-identity", name, variable))
        for source in container.get("envFrom") or []:
            secret = (source.get("secretRef") or {}).get("name")
            if secret:
                found.append(CredentialSource("envfrom-secret", name, "envFrom", secret=str(secret)))
        for mount in container.get("volumeMounts") or []:
            mount_path = str(mount.get("mountPath") or "")
            if mount_path.rstrip("/").endswith("/.aws") or "/.aws/" in mount_path:
                found.append(
                    CredentialSource(
                        "credentials-file", name, mount_path, secret=secret_volumes.get(mount.get("name"))
                    )
                )
    return tuple(dict.fromkeys(found))


def parse_pod(raw: dict[str, Any]) -> Pod:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    return Pod(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        uid=meta.get("uid"),
        ip=status.get("podIP") or None,
        phase=status.get("phase"),
        node_name=spec.get("nodeName"),
        service_account=str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"),
        host_network=bool(spec.get("hostNetwork")),
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=parse_time(status.get("startTime")),
        deleted_at=parse_time(meta.get("deletionTimestamp")),
        owners=_owners(meta),
        labels=_strings(meta.get("labels")),
        credentials=credential_sources(spec),
    )


def parse_controller(kind: ControllerKind, raw: dict[str, Any]) -> Controller:
    meta = raw.get("metadata") or {}
    template = ((raw.get("spec") or {}).get("template") or {}).get("metadata") or {}
    generation = meta.get("generation")
    return Controller(
        kind=kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=meta.get("uid"),
        owners=_owners(meta),
        annotations=_strings(meta.get("annotations")),
        template_annotations=_strings(template.get("annotations")),
        generation=generation if isinstance(generation, int) else None,
    )


def parse_external_secret(raw: dict[str, Any]) -> ExternalSecret:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    keys = [(d.get("remoteRef") or {}).get("key") for d in spec.get("data") or [] if isinstance(d, dict)] + [
        (d.get("extract") or {}).get("key") for d in spec.get("dataFrom") or [] if isinstance(d, dict)
    ]
    ready = next(
        (c.get("status") == "True" for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
    )
    store = spec.get("secretStoreRef") or {}
    return ExternalSecret(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        target_secret=str((spec.get("target") or {}).get("name") or meta.get("name") or ""),
        remote_keys=tuple(dict.fromkeys(str(k) for k in keys if k)),
        refreshed_at=parse_time(status.get("refreshTime")),
        ready=ready,
        store=f"{store.get('kind') or 'SecretStore'}/{store.get('name') or '?'}",
    )


class KubeReader:
    def __init__(self, api: KubeApi) -> None:
        self.api = api

    @needs_rbac("triage", "list", "", "pods")
    @needs_rbac("cli", "list", "", "pods")
    def pods_by_ip(self, ip: str, *, limit: int = 50) -> list[Pod]:
        """Pods in every namespace whose IP is `ip` (hostNetwork pods share their node's IP)."""
        page = self.api.list(path("", "v1", "pods"), limit=limit, fieldSelector=f"status.podIP={ip}")
        return [parse_pod(raw) for raw in page.items]

    @needs_rbac("triage", "list", "", "pods")
    @needs_rbac("cli", "list", "", "pods")
    def pods(self, *, limit: int) -> Page[Pod]:
        """Every running pod of the cluster, up to `limit` (a survey of how workloads sign)."""
        page = self.api.list(path("", "v1", "pods"), limit=limit, fieldSelector="status.phase=Running")
        return Page([parse_pod(raw) for raw in page.items], page.truncated)

    @needs_rbac("triage", "get", "", "pods")
    @needs_rbac("cli", "get", "", "pods")
    def pod(self, namespace: str, name: str) -> Pod | None:
        try:
            return parse_pod(self.api.get(path("", "v1", "pods", namespace, name)))
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise

    def controller(self, kind: str, namespace: str, name: str) -> Controller | None:
        """A ReplicaSet, Deployment, StatefulSet, DaemonSet, Job or CronJob, or None if absent
        or of a kind credfix does not follow (RBAC: declared above for each kind)."""
        where = CONTROLLERS.get(kind)
        if where is None:
            return None
        group, version, plural = where
        try:
            raw = self.api.get(path(group, version, plural, namespace, name))
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise
        return parse_controller(kind.lower(), raw)  # type: ignore[arg-type]

    @needs_rbac("triage", "list", "", "serviceaccounts")
    @needs_rbac("cli", "list", "", "serviceaccounts")
    def service_accounts(self, *, limit: int) -> Page[ServiceAccount]:
        page = self.api.list(path("", "v1", "serviceaccounts"), limit=limit)
        return Page(
            [
                ServiceAccount(
                    namespace=str((raw.get("metadata") or {}).get("namespace") or ""),
                    name=str((raw.get("metadata") or {}).get("name") or ""),
                    role_arn=_strings((raw.get("metadata") or {}).get("annotations")).get(IRSA_ANNOTATION),
                )
                for raw in page.items
            ],
            page.truncated,
        )

    @needs_rbac("triage", "list", "external-secrets.io", "externalsecrets")
    @needs_rbac("cli", "list", "external-secrets.io", "externalsecrets")
    def external_secrets(self, namespace: str, *, limit: int = 100) -> list[ExternalSecret]:
        """The namespace's ExternalSecrets; none when External Secrets is not installed."""
        for version in ESO_VERSIONS:
            try:
                listed = self.api.list(
                    path("external-secrets.io", version, "externalsecrets", namespace), limit=limit
                )
            except KubeError as exc:
                if exc.code == 404:  # the CRD (or this version of it) is not served
                    continue
                raise
            return [parse_external_secret(raw) for raw in listed.items]
        return []
