"""Imports every module under credfix.adapters, credfix.core and credfix.handlers' helpers
that may declare IAM permissions with `@needs`, so that `permissions.policy_for()` sees
all of them (the CDK stack and the policy tests use it). Discovery is automatic: a new
adapter module needs no registration here."""

from __future__ import annotations

import importlib
import pkgutil

import credfix.adapters
import credfix.core
import credfix.preflight

for package in (credfix.adapters, credfix.core, credfix.preflight):
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        importlib.import_module(module.name)
