"""A small Kubernetes API server for tests and the demo: the local EKS cluster's API, as moto
is the local AWS. No kube-apiserver can run here (no Docker), and the PyPI emulators either
patch a client in-process (mockernetes) or ignore field selectors, resourceVersion and
authentication (kmock), so credfix's real client would pass tests a real cluster fails.

What it emulates, with the real wire shapes (what credfix's client and `kubectl` send and read):

- a real HTTPS server on 127.0.0.1 (its own CA, handed to moto's DescribeCluster as
  `certificateAuthority.data`, so the client pins it exactly as against EKS);
- paths `/api/v1[/namespaces/NS]/PLURAL[/NAME]` and `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]`
  for pods, serviceaccounts, secrets, namespaces, deployments, replicasets, statefulsets,
  daemonsets, jobs, cronjobs and external-secrets.io ExternalSecrets; `/version`;
- lists: kind `<Kind>List`, `metadata.resourceVersion`, items without kind/apiVersion (as the
  apiserver sends them), `limit`/`continue` paging;
- `fieldSelector` (=, ==, !=, comma = AND) on the fields the apiserver supports for each
  resource (`status.podIP`, `status.phase`, `spec.nodeName`...), 400 `field label not
  supported` for any other; `labelSelector` (=, ==, !=, in, notin, exists, !exists);
- PATCH: strategic merge (maps merged, containers/env/volumes... merged by their merge key),
  merge patch (RFC 7386), JSON patch (RFC 6902); 415 for any other content type;
- `resourceVersion` (one counter, not bumped by a no-op patch) and `generation` (bumped when
  `.spec` changes) as the apiserver keeps them;
- Status objects for 400/401/403/404/405/409/415/422 with the apiserver's wording;
- authentication of EKS bearer tokens as aws-iam-authenticator checks them (prefix, STS host,
  whitelisted query parameters, `x-k8s-aws-id` signed, X-Amz-Expires, 15-minute age), with
  the SigV4 signature recomputed from the test's known secret and this cluster's name (a
  token for another cluster fails), then the access entry: principal -> username and groups;
- RBAC: rules bound to users or groups (verbs, API groups, resources, namespaces); a denied
  write changes nothing. `rbac_rules(role, group)` builds them from credfix's own
  `@needs_rbac` declarations, as docs/eks.md's ClusterRoles are.

What it does not: no watch, no PUT/apply/server-side apply, no admission or validation, no
controllers (patching a Deployment's template creates no ReplicaSet or pods: tests seed the
next state themselves), no `$patch` directives, no resourceVersion preconditions or 409 on
PATCH, no aggregated discovery, no other API groups or resources.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from credfix.permissions import Role

Obj = dict[str, Any]

POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    }
)
# (group, version, plural) -> (Kind, namespaced, field selectors the apiserver supports besides
# metadata.name and metadata.namespace)
RESOURCES: dict[tuple[str, str, str], tuple[str, bool, frozenset[str]]] = {
    ("", "v1", "pods"): ("Pod", True, POD_FIELDS),
    ("", "v1", "secrets"): ("Secret", True, frozenset({"type"})),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, frozenset()),
    ("", "v1", "namespaces"): ("Namespace", False, frozenset({"status.phase"})),
    ("apps", "v1", "deployments"): ("Deployment", True, frozenset()),
    ("apps", "v1", "replicasets"): ("ReplicaSet", True, frozenset({"status.replicas"})),
    ("apps", "v1", "statefulsets"): ("StatefulSet", True, frozenset()),
    ("apps", "v1", "daemonsets"): ("DaemonSet", True, frozenset()),
    ("batch", "v1", "jobs"): ("Job", True, frozenset({"status.successful"})),
    ("batch", "v1", "cronjobs"): ("CronJob", True, frozenset()),
    ("external-secrets.io", "v1", "externalsecrets"): ("ExternalSecret", True, frozenset()),
}
KIND_TO_RESOURCE = {kind: key for key, (kind, _, _) in RESOURCES.items()}
HAS_GENERATION = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}
SMP_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
}
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+)(?=/))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$"
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def _details(group: str, plural: str, name: str | None) -> Obj:
    details: Obj = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def forbidden(user: str, verb: str, group: str, plural: str, ns: str | None, name: str | None) -> ApiError:
    what = _qualified(group, plural) + (f' "{name}"' if name else "")
    where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
    return ApiError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
        f'in API group "{group}" {where}',
        _details(group, plural, name),
    )


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(group, plural)} "{name}" not found', _details(group, plural, name)
    )


NOT_SERVED = "the server could not find the requested resource"


# -- selectors -------------------------------------------------------------------------------


def _get_path(obj: Obj, dotted: str) -> Any:
    current: Any = obj
    for part in dotted.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def parse_field_selector(text: str, allowed: frozenset[str]) -> list[tuple[str, str, str]]:
    requirements = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = re.match(r"^([^=!]+)(==|!=|=)(.*)$", term)
        if not match:
            raise ApiError(400, "BadRequest", f"invalid selector: '{text}'; can't understand '{term}'")
        key, op, value = match[1].strip(), match[2], match[3].strip()
        if key not in allowed:
            raise ApiError(400, "BadRequest", f"field label not supported: {key}")
        requirements.append((key, "!=" if op == "!=" else "=", value))
    return requirements


def _field_value(obj: Obj, key: str) -> str:
    if key == "status.podIPs":
        return ",".join(ip.get("ip", "") for ip in _get_path(obj, "status.podIPs") or [])
    value = _get_path(obj, key)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def match_fields(obj: Obj, requirements: list[tuple[str, str, str]]) -> bool:
    for key, op, value in requirements:
        actual = _field_value(obj, key)
        hit = value in actual.split(",") if key == "status.podIPs" else actual == value
        if hit != (op == "="):
            return False
    return True


_LABEL_TERM = re.compile(
    r"\s*(?:(!)\s*([\w./-]+)|([\w./-]+)\s*(?:(==|!=|=)\s*([\w.-]*)|\s+(in|notin)\s*\(([^)]*)\))?)\s*(?:,|$)"
)


def parse_label_selector(text: str) -> list[tuple[str, str, set[str]]]:
    requirements: list[tuple[str, str, set[str]]] = []
    text, position = text.strip(), 0
    while position < len(text):
        match = _LABEL_TERM.match(text, position)
        if not match or match.end() == position:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {text[position:]!r}")
        if match[1]:
            requirements.append((match[2], "!exists", set()))
        elif match[4]:
            requirements.append((match[3], "!=" if match[4] == "!=" else "=", {match[5]}))
        elif match[6]:
            requirements.append((match[3], match[6], {v.strip() for v in match[7].split(",") if v.strip()}))
        else:
            requirements.append((match[3], "exists", set()))
        position = match.end()
    return requirements


def match_labels(obj: Obj, requirements: list[tuple[str, str, set[str]]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, values in requirements:
        present, value = key in labels, labels.get(key)
        ok = {
            "exists": present,
            "!exists": not present,
            "=": present and value in values,
            "in": present and value in values,
            "!=": not present or value not in values,
            "notin": not present or value not in values,
        }[op]
        if not ok:
            return False
    return True


# -- patches ---------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: null deletes, maps merge, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, key: str | None = None) -> Any:
    """Maps merge; the lists in SMP_MERGE_KEYS merge item by item on their merge key; other
    lists are replaced. `$patch` directives are refused (422)."""
    if isinstance(patch, dict):
        result = dict(target) if isinstance(target, dict) else {}
        for k, value in patch.items():
            if k.startswith("$"):
                raise ApiError(422, "Invalid", f"harness.kube: strategic merge directive {k} not implemented")
            if value is None:
                result.pop(k, None)
            else:
                result[k] = strategic_merge_patch(result.get(k), value, k)
        return result
    if isinstance(patch, list) and key in SMP_MERGE_KEYS and isinstance(target, list):
        merge_key = SMP_MERGE_KEYS[key]
        merged = [copy.deepcopy(x) for x in target]
        for item in patch:
            index = next(
                (
                    i
                    for i, x in enumerate(merged)
                    if isinstance(x, dict)
                    and isinstance(item, dict)
                    and x.get(merge_key) == item.get(merge_key)
                ),
                None,
            )
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = strategic_merge_patch(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def json_patch(target: Any, operations: list[Obj]) -> Any:
    doc = copy.deepcopy(target)
    try:
        for op in operations:
            parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
            parent: Any = doc
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            last: Any = parts[-1]
            if isinstance(parent, list):
                last = len(parent) if last == "-" else int(last)
            kind = op["op"]
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(last, op["value"])
                else:
                    parent[last] = op["value"]
            elif kind == "replace":
                _ = parent[last]  # must exist
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent[last] != op["value"]:
                    raise ApiError(422, "Invalid", f"testing value {op['path']} failed")
            else:
                raise ApiError(422, "Invalid", f"harness.kube: json-patch op {kind!r} not implemented")
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    return doc


# -- authentication: EKS tokens ----------------------------------------------------------------

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
ALLOWED_PARAMS = {
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
}
STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")


class TokenError(ValueError):
    pass


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def verify_eks_token(
    token: str,
    cluster_name: str,
    secrets: dict[str, str],
    *,
    now: datetime | None = None,
    sts_endpoint: str | None = None,
) -> str:
    """What aws-iam-authenticator's Verify() checks before it asks STS (pkg/token/token.go);
    then, instead of asking STS, the SigV4 query signature is recomputed with the known secret
    of the access key and header `x-k8s-aws-id: cluster_name` (what EKS sends). Returns the
    access key ID; raises TokenError.

    `sts_endpoint`: the local AWS's URL (http://127.0.0.1:PORT) when the token was presigned
    against it (AWS_ENDPOINT_URL): the one check relaxed, scheme and host, because the local AWS
    speaks plain HTTP on loopback; everything else is checked as for sts.REGION.amazonaws.com."""
    if len(token) > 4096:
        raise TokenError("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError(f"token is missing expected {TOKEN_PREFIX!r} prefix")
    body = token[len(TOKEN_PREFIX) :]
    if body.endswith("="):
        raise TokenError("token is padded: base64url without padding expected")
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except ValueError as exc:
        raise TokenError(str(exc)) from exc
    parts = urlsplit(url)
    local = urlsplit(sts_endpoint) if sts_endpoint else None
    if parts.scheme != (local.scheme if local else "https"):
        raise TokenError(f"unexpected scheme {parts.scheme!r} in pre-signed URL")
    if (parts.netloc != local.netloc) if local else not STS_HOST.match(parts.netloc):
        raise TokenError(f"unexpected hostname {parts.netloc!r} in pre-signed URL")
    if parts.path != "/":
        raise TokenError("unexpected path in pre-signed URL")
    query = parse_qs(parts.query, keep_blank_values=True)
    low: dict[str, str] = {}
    for key, values in query.items():
        if key.lower() not in ALLOWED_PARAMS:
            raise TokenError(f"non-whitelisted query parameter {key!r}")
        if len(values) != 1:
            raise TokenError("query parameter with multiple values not supported")
        low[key.lower()] = values[0]
    if low.get("action") != "GetCallerIdentity":
        raise TokenError("unexpected action parameter in pre-signed URL")
    signed = low.get("x-amz-signedheaders", "").lower().split(";")
    if CLUSTER_ID_HEADER not in signed:
        raise TokenError(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")
    expires = int(low.get("x-amz-expires", "-1"))
    if not 0 <= expires <= 900:
        raise TokenError(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires}")
    date = datetime.strptime(low["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if (now or datetime.now(UTC)) > date + timedelta(minutes=15):
        raise TokenError("X-Amz-Date parameter is expired (15 minute expiration)")
    access_key, scope_date, region, service, _ = low["x-amz-credential"].split("/")
    if access_key not in secrets:
        raise TokenError("unknown access key (STS would answer InvalidClientTokenId)")
    pairs = [p.partition("=") for p in parts.query.split("&")]
    canonical_query = "&".join(f"{k}={v}" for k, _, v in sorted(pairs) if k != "X-Amz-Signature")
    header_values = {"host": parts.netloc, CLUSTER_ID_HEADER: cluster_name}
    canonical_headers = "".join(f"{h}:{header_values.get(h, '')}\n" for h in signed)
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, canonical_headers, ";".join(signed), hashlib.sha256(b"").hexdigest()]
    )
    scope = f"{scope_date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", low["x-amz-date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(("AWS4" + secrets[access_key]).encode(), scope_date), region), service),
        "aws4_request",
    )
    expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, low["x-amz-signature"]):
        raise TokenError("SignatureDoesNotMatch (wrong cluster name, secret, or a tampered URL)")
    return unquote(access_key)


# -- authorisation ---------------------------------------------------------------------------


@dataclass
class Rule:
    """One RBAC grant. `subject`: a user name, `group:NAME`, or `*` (anyone authenticated)."""

    subject: str
    verbs: set[str]
    groups: set[str] = field(default_factory=lambda: {"*"})  # API groups; "" = core
    resources: set[str] = field(default_factory=lambda: {"*"})
    namespaces: set[str] | None = None  # None: every namespace and the cluster scope

    def allows(
        self, user: str, user_groups: set[str], verb: str, group: str, plural: str, ns: str | None
    ) -> bool:
        def inside(value: str, allowed: set[str]) -> bool:
            return "*" in allowed or value in allowed

        subject_ok = self.subject in ("*", user) or (
            self.subject.startswith("group:") and self.subject[6:] in user_groups
        )
        return (
            subject_ok
            and inside(verb, self.verbs)
            and inside(group, self.groups)
            and inside(plural, self.resources)
            and (self.namespaces is None or ns in self.namespaces)
        )


def rbac_rules(role: Role, group: str) -> list[Rule]:
    """The ClusterRole docs/eks.md gives `group` for a credfix role, from the code's declarations."""
    from credfix.registry import rbac_for

    return [
        Rule(f"group:{group}", set(verbs), {api_group}, {resource})
        for api_group, resource, verbs in rbac_for(role)
    ]


@dataclass(frozen=True)
class Identity:
    """What an EKS access entry maps a principal to."""

    username: str
    groups: tuple[str, ...] = ()


# -- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerCert:
    cert_pem: bytes
    key_pem: bytes

    @property
    def ca_data(self) -> str:
        """What DescribeCluster returns as certificateAuthority.data (base64 of the PEM)."""
        return base64.b64encode(self.cert_pem).decode()

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


def self_signed_cert() -> ServerCert:
    """A CA-flagged self-signed certificate for 127.0.0.1 (the client pins it as the cluster CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return ServerCert(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


# -- the cluster -----------------------------------------------------------------------------


class FakeCluster:
    """`name`: the EKS cluster name tokens must be signed for. `secrets`: access key -> secret
    key of the identities that may sign tokens; `access_entries`: access key -> Identity (an
    access key with a secret but no entry authenticates in STS but is unknown to the cluster:
    401, as EKS answers a principal without an access entry). `sts_endpoint`: see
    verify_eks_token."""

    def __init__(
        self,
        name: str,
        *,
        secrets: dict[str, str] | None = None,
        access_entries: dict[str, Identity] | None = None,
        rules: list[Rule] | None = None,
        sts_endpoint: str | None = None,
    ) -> None:
        self.name = name
        self.secrets = dict(secrets or {})
        self.access_entries = dict(access_entries or {})
        self.rules = list(rules or [])
        self.sts_endpoint = sts_endpoint
        self.requests: list[Obj] = []
        self.token_errors: list[str] = []
        self._store: dict[tuple[str, str, str], dict[tuple[str | None, str], Obj]] = {
            k: {} for k in RESOURCES
        }
        self._rv = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.cert: ServerCert | None = None
        self.url = ""

    # seeding and inspection: direct, no HTTP, no authorisation
    def put(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        key = KIND_TO_RESOURCE[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        namespaced = RESOURCES[key][1]
        if namespaced:
            meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if obj["kind"] in HAS_GENERATION:
            meta.setdefault("generation", 1)
        obj.setdefault("apiVersion", f"{key[0]}/{key[1]}" if key[0] else key[1])
        with self._lock:
            meta["resourceVersion"] = str(next(self._rv))
            self._store[key][(meta.get("namespace") if namespaced else None, meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, kind: str, name: str, namespace: str | None = "default") -> Obj | None:
        key = KIND_TO_RESOURCE[kind]
        ns = namespace if RESOURCES[key][1] else None
        with self._lock:
            obj = self._store[key].get((ns, name))
            return copy.deepcopy(obj) if obj else None

    def names(self, kind: str, namespace: str | None = None) -> list[str]:
        key = KIND_TO_RESOURCE[kind]
        with self._lock:
            return sorted(name for (ns, name) in self._store[key] if namespace is None or ns == namespace)

    def calls(self, method: str | None = None) -> list[Obj]:
        return [r for r in self.requests if method is None or r["method"] == method]

    # one request, without the socket
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Obj]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        entry: Obj = {
            "method": method,
            "path": parts.path,
            "query": query,
            "user": None,
            "content_type": headers.get("content-type"),
            "body": body,
        }
        with self._lock:
            self.requests.append(entry)
        try:
            identity = self._authenticate(headers.get("authorization", ""))
            entry["user"] = identity.username
            status, out = self._dispatch(method, parts.path, query, headers, body, identity)
        except ApiError as exc:
            status, out = exc.code, exc.status()
        except Exception as exc:  # a bug in the emulator answers 500, as an apiserver panic would
            status, out = 500, ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}").status()
        entry["status"] = status
        return status, out

    def _authenticate(self, header: str) -> Identity:
        if not header.lower().startswith("bearer "):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        try:
            access_key = verify_eks_token(
                header[7:].strip(), self.name, self.secrets, sts_endpoint=self.sts_endpoint
            )
        except (TokenError, KeyError, ValueError) as exc:
            self.token_errors.append(str(exc))
            raise ApiError(401, "Unauthorized", "Unauthorized") from exc
        identity = self.access_entries.get(access_key)
        if identity is None:  # authenticated by STS, but no access entry in this cluster
            self.token_errors.append(f"no access entry for {access_key}")
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return identity

    def _authorize(
        self, who: Identity, verb: str, group: str, plural: str, ns: str | None, name: str | None
    ) -> None:
        groups = set(who.groups)
        if not any(r.allows(who.username, groups, verb, group, plural, ns) for r in self.rules):
            raise forbidden(who.username, verb, group, plural, ns, name)

    def _dispatch(
        self,
        method: str,
        raw: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        who: Identity,
    ) -> tuple[int, Obj]:
        url_path = raw.rstrip("/") or "/"
        if method == "GET" and url_path == "/version":
            return 200, {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0-eks-harness",
                "platform": "linux/amd64",
            }
        match = _PATH.match(url_path)
        if not match:
            raise ApiError(404, "NotFound", NOT_SERVED)
        group, version = match["group"] or "", match["cv"] or match["gv"]
        ns, plural, name = match["ns"], match["plural"], match["name"]
        key = (group, version, plural)
        if key not in RESOURCES:
            raise ApiError(404, "NotFound", NOT_SERVED)
        kind, namespaced, extra_fields = RESOURCES[key]
        if ns and not namespaced:
            raise ApiError(404, "NotFound", NOT_SERVED)
        verb = {
            "GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"),
            "PATCH": "patch",
            "POST": "create",
            "DELETE": "delete",
            "PUT": "update",
        }.get(method)
        if (
            verb is None
            or (verb in ("patch", "delete", "update") and not name)
            or (verb == "create" and name)
        ):
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        if verb in ("watch", "update"):
            raise ApiError(405, "MethodNotAllowed", f"harness.kube: {verb} not implemented")
        self._authorize(who, verb, group, plural, ns, name)
        store = self._store[key]
        with self._lock:
            if verb == "list":
                return 200, self._list(store, kind, group, version, ns, query, extra_fields)
            if verb == "create":
                return 201, self._create(store, key, kind, ns, json.loads(body or b"{}"))
            assert name is not None
            obj = store.get((ns if namespaced else None, name))
            if obj is None:
                raise not_found(group, plural, name)
            if verb == "get":
                if "as=PartialObjectMetadata" in headers.get("accept", ""):
                    return 200, {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": copy.deepcopy(obj["metadata"]),
                    }
                return 200, copy.deepcopy(obj)
            if verb == "delete":
                del store[(ns if namespaced else None, name)]
                return 200, copy.deepcopy(obj)
            return 200, self._patch(obj, headers.get("content-type", ""), body)

    def _list(
        self,
        store: dict[tuple[str | None, str], Obj],
        kind: str,
        group: str,
        version: str,
        ns: str | None,
        query: dict[str, str],
        extra_fields: frozenset[str],
    ) -> Obj:
        fields = parse_field_selector(
            query.get("fieldSelector", ""), frozenset({"metadata.name", "metadata.namespace"}) | extra_fields
        )
        labels = parse_label_selector(query.get("labelSelector", ""))
        items = [
            o
            for (ons, _), o in sorted(store.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
            if (ns is None or ons == ns) and match_fields(o, fields) and match_labels(o, labels)
        ]
        start = int(base64.urlsafe_b64decode(query["continue"]).decode()) if query.get("continue") else 0
        limit = int(query.get("limit") or 0)
        page = items[start : start + limit] if limit else items[start:]
        meta: Obj = {"resourceVersion": str(self._current_rv())}
        if limit and start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        stripped = [
            {k: v for k, v in copy.deepcopy(o).items() if k not in ("kind", "apiVersion")} for o in page
        ]
        return {
            "kind": f"{kind}List",
            "apiVersion": f"{group}/{version}" if group else version,
            "metadata": meta,
            "items": stripped,
        }

    def _current_rv(self) -> int:
        return max(
            (int(o["metadata"]["resourceVersion"]) for s in self._store.values() for o in s.values()),
            default=0,
        )

    def _create(
        self,
        store: dict[tuple[str | None, str], Obj],
        key: tuple[str, str, str],
        kind: str,
        ns: str | None,
        obj: Obj,
    ) -> Obj:
        meta = obj.setdefault("metadata", {})
        if ns:
            meta["namespace"] = ns
        if (meta.get("namespace") if RESOURCES[key][1] else None, meta.get("name")) in store:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{_qualified(key[0], key[2])} "{meta.get("name")}" already exists',
                _details(key[0], key[2], meta.get("name")),
            )
        obj["kind"] = kind
        return self.put(obj)

    def _patch(self, obj: Obj, content_type: str, body: bytes) -> Obj:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(PATCH_TYPES),
            )
        try:
            patch = json.loads(body or b"null")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding patch: {exc}") from exc
        if ctype == "application/json-patch+json":
            new = json_patch(obj, patch)
        elif ctype == "application/merge-patch+json":
            new = merge_patch(obj, patch)
        else:
            new = strategic_merge_patch(obj, patch)
        old_meta = obj["metadata"]
        new_meta = new.setdefault("metadata", {})
        for kept in ("name", "namespace", "uid", "creationTimestamp"):
            if kept in old_meta:
                new_meta[kept] = old_meta[kept]
        new["kind"], new["apiVersion"] = obj["kind"], obj["apiVersion"]
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        if "generation" in old_meta:
            new_meta["generation"] = old_meta["generation"]
        if new == obj:  # a no-op patch writes nothing: resourceVersion unchanged
            return copy.deepcopy(obj)
        if obj["kind"] in HAS_GENERATION and new.get("spec") != obj.get("spec"):
            new_meta["generation"] = int(old_meta.get("generation", 1)) + 1
        new_meta["resourceVersion"] = str(next(self._rv))
        obj.clear()
        obj.update(new)
        return copy.deepcopy(obj)

    # the socket
    def start(self) -> str:
        """Serve HTTPS on a free loopback port; returns the endpoint (`self.cert` holds the CA)."""
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # otherwise every call waits ~40 ms for a delayed ACK

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out = cluster.handle(self.command, self.path, headers, body)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.cert = self_signed_cert()
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self.cert.context().wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
