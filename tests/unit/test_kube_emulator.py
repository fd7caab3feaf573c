"""The local Kubernetes API (harness/kube.py) answers as kube-apiserver does where credfix's
tests depend on it: list shapes, field selectors, patches, resourceVersion/generation, Status
objects, RBAC. Requests go through `handle()` (the socket is exercised by the EKS tests)."""

from __future__ import annotations

import json
from typing import Any

from harness.kube import FakeCluster, Identity, Rule, merge_patch, strategic_merge_patch

USER = Identity("credfix", ("credfix-triage",))


class Unauthenticated(FakeCluster):
    """`handle()` without tokens: every request is the test user (the token check has its own tests)."""

    def _authenticate(self, header: str) -> Identity:
        return USER


def cluster(rules: list[Rule] | None = None) -> FakeCluster:
    c = Unauthenticated("prod", rules=rules if rules is not None else [Rule("*", {"*"})])
    c.put(
        {
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "p"},
            "status": {"phase": "Running", "podIP": "10.0.0.5"},
        }
    )
    c.put(
        {
            "kind": "Pod",
            "metadata": {"name": "b", "namespace": "q"},
            "status": {"phase": "Running", "podIP": "10.0.0.6"},
        }
    )
    c.put(
        {
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "p"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]
                    }
                }
            },
        }
    )
    return c


def call(
    c: FakeCluster, method: str, path: str, body: Any = None, ctype: str = ""
) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": ctype} if ctype else {}
    return c.handle(method, path, headers, json.dumps(body).encode() if body is not None else b"")


def test_list_by_pod_ip_across_namespaces_has_the_apiservers_shape() -> None:
    status, out = call(cluster(), "GET", "/api/v1/pods?fieldSelector=status.podIP%3D10.0.0.6")
    assert status == 200
    assert out["kind"] == "PodList" and out["apiVersion"] == "v1" and "resourceVersion" in out["metadata"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in out["items"]] == [("q", "b")]
    assert "kind" not in out["items"][0]  # items come without kind/apiVersion


def test_unsupported_field_selector_is_a_400() -> None:
    status, out = call(cluster(), "GET", "/api/v1/pods?fieldSelector=spec.containers.image%3Dx")
    assert (status, out["reason"], out["message"]) == (
        400,
        "BadRequest",
        "field label not supported: spec.containers.image",
    )


def test_paging_with_limit_and_continue() -> None:
    c = cluster()
    status, first = call(c, "GET", "/api/v1/pods?limit=1")
    assert status == 200 and len(first["items"]) == 1 and first["metadata"]["remainingItemCount"] == 1
    _, second = call(c, "GET", f"/api/v1/pods?limit=1&continue={first['metadata']['continue']}")
    assert [i["metadata"]["name"] for i in second["items"]] == ["b"] and "continue" not in second["metadata"]


def test_rollout_restart_patch_bumps_generation_and_a_no_op_writes_nothing() -> None:
    c = cluster()
    before = c.get("Deployment", "web", "p")
    assert before is not None
    restart = {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "t1"}}}}
    }
    path = "/apis/apps/v1/namespaces/p/deployments/web"
    status, after = call(c, "PATCH", path, restart, "application/strategic-merge-patch+json")
    assert status == 200 and after["metadata"]["generation"] == 2
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert [x["name"] for x in after["spec"]["template"]["spec"]["containers"]] == ["app", "side"]  # kept
    _, again = call(c, "PATCH", path, restart, "application/strategic-merge-patch+json")
    assert again["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]  # no-op
    status, out = call(c, "PATCH", path, restart, "application/yaml")
    assert (status, out["reason"]) == (415, "UnsupportedMediaType")


def test_strategic_merge_merges_containers_by_name_merge_patch_replaces_the_list() -> None:
    target = {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}
    patch = {"containers": [{"name": "app", "image": "a:2"}]}
    assert strategic_merge_patch(target, patch)["containers"] == [
        {"name": "app", "image": "a:2"},
        {"name": "side", "image": "s:1"},
    ]
    assert merge_patch(target, patch)["containers"] == [{"name": "app", "image": "a:2"}]


def test_not_found_and_forbidden_are_status_objects() -> None:
    c = cluster([Rule("group:credfix-triage", {"get", "list"}, {""}, {"pods"})])
    status, out = call(c, "GET", "/apis/apps/v1/namespaces/p/deployments/web")
    assert status == 403 and out == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "web" is forbidden: User "credfix" cannot get resource "deployments" '
        'in API group "apps" in the namespace "p"',
        "reason": "Forbidden",
        "details": {"kind": "deployments", "name": "web", "group": "apps"},
        "code": 403,
    }
    status, out = call(c, "GET", "/api/v1/namespaces/p/pods/zzz")
    assert (status, out["reason"], out["message"]) == (404, "NotFound", 'pods "zzz" not found')
    status, out = call(
        c, "PATCH", "/apis/apps/v1/namespaces/p/deployments/web", {"spec": {}}, "application/merge-patch+json"
    )
    assert status == 403
    deployment = c.get("Deployment", "web", "p")
    assert (
        deployment is not None and deployment["metadata"]["generation"] == 1
    )  # a denied write changes nothing


def test_unknown_resources_are_not_served() -> None:
    status, out = call(cluster(), "GET", "/apis/external-secrets.io/v1beta1/namespaces/p/externalsecrets")
    assert (status, out["message"]) == (404, "the server could not find the requested resource")
