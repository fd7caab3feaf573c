"""Every permission credfix's code declares, for the CDK stack, `credfix permissions` and the
policy tests: `policy_for(role)` imports every module under credfix.adapters, credfix.core
and credfix.preflight (they declare with `@needs` as they are imported), then reads the
declarations. Discovery is automatic: a new adapter module needs no registration here.

This module sits above everything it imports, and credfix.permissions (at the bottom)
imports nothing: no import circle runs through the declarations.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from credfix.permissions import Role, declared, declared_rbac


@cache
def _import_all() -> None:
    for name in ("credfix.adapters", "credfix.core", "credfix.preflight"):
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            importlib.import_module(module.name)


def policy_for(role: Role) -> dict[str, list[str]]:
    """resource kind -> sorted actions, for one role."""
    _import_all()
    return declared(role)


def rbac_for(role: Role) -> list[tuple[str, str, tuple[str, ...]]]:
    """(API group, resource, verbs) the role needs in an EKS cluster's Kubernetes API."""
    _import_all()
    return declared_rbac(role)
