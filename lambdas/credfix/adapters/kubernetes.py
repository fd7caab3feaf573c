"""The Kubernetes API of an EKS cluster, over plain HTTPS: `http.client` + `ssl` + `json`.

Chosen by measured cold-start cost (docs/eks.md): boto3 already loads every module this
needs, so importing it adds nothing measurable, where the official `kubernetes` client adds
about 570 ms to a cold start and 137 MB. credfix makes a handful of fixed calls (pods by IP,
owners, service accounts, External Secrets, one PATCH), so a general client buys nothing.
This module is imported only when an EKS workload is being handled.

The bearer token is the standard EKS one, built the way `aws eks get-token` builds it
(awscli/customizations/eks/get_token.py): a presigned STS GetCallerIdentity URL whose signed
headers include `x-k8s-aws-id: CLUSTER`, base64url-encoded without padding, after the prefix
`k8s-aws-v1.`. Presigning is local (no network call); EKS replays the URL to STS. STS accepts
it for 15 minutes from X-Amz-Date; credfix uses one for 10 at most.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from credfix.models.kubernetes import EksCluster
from credfix.models.paging import Page

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 -- a format prefix, not a secret
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60  # what the CLI and aws-iam-authenticator send; STS honours 15 minutes anyway
TOKEN_REUSE_SECONDS = 600
TIMEOUT_SECONDS = 5.0  # per connect and per read: an unreachable API must not eat the Lambda's time
PAGE_SIZE = 500
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class KubeError(Exception):
    """The API refused (`code` is the HTTP status, `reason` the Status object's reason:
    Unauthorized, Forbidden, NotFound...) or could not be reached (`code` 0)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}" if code else f"unreachable: {message}")
        self.code = code
        self.reason = reason
        self.message = message

    @property
    def short(self) -> str:
        """One line for evidence: never the request, only what the API said."""
        if not self.code:
            return f"API not reachable ({self.message[:160]})"
        return f"{self.code} {self.reason}: {self.message[:200]}"


def register_cluster_header(sts_client: Any) -> None:
    """The CLI's two event handlers: move `x-k8s-aws-id` from the call's params into its
    context, then into a header just before signing, so the signature covers it. Registering
    again is a no-op (unique ids)."""

    def take_param(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if CLUSTER_ID_HEADER in params:
            context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)

    def add_header(request: Any, **_: Any) -> None:
        if CLUSTER_ID_HEADER in request.context:
            request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]

    events = sts_client.meta.events
    events.register(
        "provide-client-params.sts.GetCallerIdentity", take_param, unique_id="credfix-eks-cluster-param"
    )
    events.register("before-sign.sts.GetCallerIdentity", add_header, unique_id="credfix-eks-cluster-header")


def eks_token(sts_client: Any, cluster_name: str) -> str:
    """A bearer token for `cluster_name`, from an STS client in the cluster's region (its
    credentials are the identity the cluster sees: the access entry's principal)."""
    register_cluster_header(sts_client)
    url = sts_client.generate_presigned_url(
        "get_caller_identity",
        Params={CLUSTER_ID_HEADER: cluster_name},
        ExpiresIn=URL_EXPIRES_SECONDS,
        HttpMethod="GET",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(url).encode()).decode().rstrip("=")


class TokenSource:
    """One token per cluster, reused for TOKEN_REUSE_SECONDS (STS accepts it for 15 minutes)."""

    def __init__(self, sts_client: Any, cluster_name: str) -> None:
        self._sts = sts_client
        self._cluster = cluster_name
        self._token = ""
        self._made = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if not self._token or time.monotonic() - self._made > TOKEN_REUSE_SECONDS:
                self._token = eks_token(self._sts, self._cluster)
                self._made = time.monotonic()
            return self._token


class KubeApi:
    """One keep-alive connection to one API server, its CA pinned (DescribeCluster's
    certificateAuthority.data); every answer that is not 2xx raises KubeError."""

    def __init__(
        self,
        endpoint: str,
        token: Callable[[], str],
        *,
        ca_data: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise KubeError(0, "", f"not an https API endpoint: {endpoint[:100]!r}")
        self.endpoint = endpoint
        self._host = parts.hostname
        self._port = parts.port
        self._token = token
        self._timeout = timeout
        pem = base64.b64decode(ca_data).decode("ascii", "replace") if ca_data else None
        self._context = ssl.create_default_context(cadata=pem) if pem else ssl.create_default_context()
        self._conn: http.client.HTTPSConnection | None = None
        self._lock = threading.Lock()
        self.calls = 0

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        *,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        url = path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": accept}
        if data is not None:
            headers["Content-Type"] = content_type
        with self._lock:
            status, raw = self._send(method, url, data, headers)
        self.calls += 1
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = None
        if status >= 300:
            if isinstance(doc, dict) and doc.get("kind") == "Status":
                raise KubeError(status, str(doc.get("reason") or ""), str(doc.get("message") or ""))
            reason = http.client.responses.get(status, "")
            raise KubeError(status, reason, raw[:200].decode("utf-8", "replace"))
        if not isinstance(doc, dict):
            raise KubeError(status, "BadResponse", "the answer is not a JSON object")
        return doc

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):  # one retry, for a GET on a keep-alive connection the server closed
            conn = self._connection()
            try:
                conn.request(method, url, body=data, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                self._conn = None
                if attempt == 2 or method != "GET":
                    raise KubeError(0, "", f"{type(exc).__name__}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, TLS
                conn.close()
                self._conn = None
                raise KubeError(0, "", f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def get(self, path: str, *, accept: str = "application/json") -> dict[str, Any]:
        return self.request("GET", path, accept=accept)

    def list(self, path: str, *, limit: int, **selectors: str) -> Page[dict[str, Any]]:
        """Items of a list call across pages, at most `limit` of them."""
        items: list[dict[str, Any]] = []
        query = {k: v for k, v in selectors.items() if v}
        while True:
            query["limit"] = str(max(1, min(PAGE_SIZE, limit - len(items) + 1)))
            page = self.request("GET", path, query)
            for item in page.get("items") or []:
                if len(items) >= limit:
                    return Page(items, truncated=True)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return Page(items, truncated=False)
            query["continue"] = str(token)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, body=body, content_type=STRATEGIC_MERGE)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def connect(cluster: EksCluster, sts_client: Any) -> KubeApi:
    """The API of an EKS cluster as DescribeCluster gave it, with a token for the identity
    `sts_client` signs as. Raises KubeError when the cluster has no endpoint yet."""
    if not cluster.endpoint:
        raise KubeError(0, "", f"cluster {cluster.name} has no API endpoint (status {cluster.status})")
    return KubeApi(cluster.endpoint, TokenSource(sts_client, cluster.name), ca_data=cluster.ca_data)


def path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """/api/v1/... for the core group, /apis/GROUP/VERSION/... otherwise; names are quoted."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace is not None:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    if name is not None:
        base += f"/{quote(name, safe='')}"
    return base
