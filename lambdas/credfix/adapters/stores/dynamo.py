"""DynamoDB conditional writes shared by the stores: a failed condition is an answer (another
worker, a re-opened incident, a redelivery got there first), every other error is raised."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def update_if(client: Any, **request: Any) -> bool:
    """UpdateItem with a ConditionExpression: True if written, False if the condition failed."""
    try:
        client.update_item(**request)
    except ClientError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True
