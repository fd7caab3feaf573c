"""Lambda reads for workload location: functions with their execution role, runtime and
VPC configuration (ListFunctions returns all three, so one capped scan serves every
locator)."""

from __future__ import annotations

from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.models.compute import Function
from credfix.models.paging import Page
from credfix.permissions import needs


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
