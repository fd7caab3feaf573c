"""Lambda reads for workload location: functions with their execution role, runtime, VPC
configuration and the key IDs their environment holds (ListFunctions returns all of them, so
one capped scan serves every locator)."""

from __future__ import annotations

from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.keys import is_access_key_id
from credfix.models.compute import Function
from credfix.models.paging import Page
from credfix.permissions import needs


def _static_keys(raw: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Environment variables holding an access key ID: (name, key ID). Every other value is
    dropped here (a secret access key in the environment never leaves this function)."""
    variables = (raw.get("Environment") or {}).get("Variables") or {}
    found: list[tuple[str, str]] = []
    for name, value in variables.items():
        if isinstance(value, str) and is_access_key_id(value.strip()) and len(value.strip()) == 20:
            found.append((str(name), value.strip()))
    return tuple(found)


def _function(raw: dict[str, Any]) -> Function:
    vpc = raw.get("VpcConfig") or {}
    return Function(
        arn=raw["FunctionArn"],
        name=raw["FunctionName"],
        role=raw.get("Role"),
        runtime=raw.get("Runtime"),
        vpc_id=vpc.get("VpcId") or None,
        subnet_ids=frozenset(vpc.get("SubnetIds") or ()),
        security_group_ids=frozenset(vpc.get("SecurityGroupIds") or ()),
        static_keys=_static_keys(raw),
    )


class LambdaFunctions:
    def __init__(self, client: Any) -> None:
        self._lambda = client

    @needs("triage", "lambda:ListFunctions", on="*")
    @needs("rotation", "lambda:ListFunctions", on="*")
    @needs("cli", "lambda:ListFunctions", on="*")
    def functions(self, *, limit: int) -> Page[Function]:
        scanned = capped(self._lambda.get_paginator("list_functions").paginate(), "Functions", limit)
        return Page([_function(raw) for raw in scanned.items], scanned.truncated)
