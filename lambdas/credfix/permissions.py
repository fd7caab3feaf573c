"""What each Lambda may call, declared next to the code that calls it.

Adapter functions are decorated with `@needs(role, *actions, on=resource)`; the CDK stack
builds each Lambda's IAM policy from `credfix.registry.policy_for(role)`, so the policy cannot drift from
the code (Cloud Custodian's action registry does the same for its actions). `on` names a
resource *kind* that the stack maps to concrete ARNs or tag conditions; `"*"` is for APIs
that support no resource-level permission (e.g. ec2:DescribeNetworkInterfaces).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

# "operator": the people clearing blocks, resetting the breaker and muting keys (`credfix
# permissions --role operator`); never a Lambda.
Role = Literal["ingest", "logs", "relay", "triage", "act", "verify", "sweep", "cli", "operator", "rotation"]
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, order=True)
class Permission:
    role: str
    action: str
    resource: str


_REGISTRY: set[Permission] = set()


def needs(role: Role, *actions: str, on: str = "*") -> Callable[[F], F]:
    def register(fn: F) -> F:
        for action in actions:
            _REGISTRY.add(Permission(role, action, on))
        return fn

    return register


def declare(role: Role, *actions: str, on: str = "*") -> None:
    """For calls made outside a decorated function (e.g. a boto3 paginator built inline)."""
    for action in actions:
        _REGISTRY.add(Permission(role, action, on))


def declared(role: Role) -> dict[str, list[str]]:
    """resource kind -> sorted actions, for one role, from the modules imported so far
    (credfix.registry.policy_for imports all of them first)."""
    grouped: dict[str, set[str]] = {}
    for p in _REGISTRY:
        if p.role == role:
            grouped.setdefault(p.resource, set()).add(p.action)
    return {resource: sorted(actions) for resource, actions in sorted(grouped.items())}


# Kubernetes RBAC, declared the same way next to the code that calls the Kubernetes API of an
# EKS cluster: the manifests in docs/eks.md, `credfix permissions --kubernetes` and the test
# emulator's rules are all built from these, so RBAC cannot drift from the code either.
@dataclass(frozen=True, order=True)
class KubePermission:
    role: str
    verb: str  # get, list, patch
    group: str  # API group: "" (core), apps, external-secrets.io
    resource: str  # plural: pods, deployments


_KUBE_REGISTRY: set[KubePermission] = set()


def needs_rbac(role: Role, verbs: str, group: str, *resources: str) -> Callable[[F], F]:
    """`verbs` is space-separated (`"get list"`)."""

    def register(fn: F) -> F:
        declare_rbac(role, verbs, group, *resources)
        return fn

    return register


def declare_rbac(role: Role, verbs: str, group: str, *resources: str) -> None:
    for verb in verbs.split():
        for resource in resources:
            _KUBE_REGISTRY.add(KubePermission(role, verb, group, resource))


def declared_rbac(role: Role) -> list[tuple[str, str, tuple[str, ...]]]:
    """(API group, resource, verbs) for one role, sorted, from the modules imported so far."""
    rules: dict[tuple[str, str], set[str]] = {}
    for p in _KUBE_REGISTRY:
        if p.role == role:
            rules.setdefault((p.group, p.resource), set()).add(p.verb)
    return [(group, resource, tuple(sorted(verbs))) for (group, resource), verbs in sorted(rules.items())]
