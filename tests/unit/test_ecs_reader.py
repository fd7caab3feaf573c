"""A task definition's plain environment is reduced in the reader: a value of AWS_ACCESS_KEY_ID
is kept only when it is shaped like an access key ID; a secret pasted there is not kept."""

from __future__ import annotations

from credfix.adapters.readers.ecs import _task_definition
from credfix.core.locate.ecs_config import NOT_A_KEY_ID, configured_credentials

PASTED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def definition(value: str) -> dict[str, object]:
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3",
        "containerDefinitions": [
            {
                "name": "app",
                "environment": [
                    {"name": "AWS_ACCESS_KEY_ID", "value": value},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": PASTED},
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                ],
            }
        ],
    }


def test_a_key_id_is_kept() -> None:
    reduced = _task_definition(definition(" AKIAIOSFODNN7EXAMPLE "))
    assert [s.access_key_id for s in reduced.static_keys] == ["AKIAIOSFODNN7EXAMPLE"]
    assert ("app", "AWS_SECRET_ACCESS_KEY") in reduced.credential_variables
    assert "hunter2" not in repr(reduced) and PASTED not in repr(reduced)


def test_anything_else_in_the_key_id_variable_is_dropped() -> None:
    reduced = _task_definition(definition(PASTED))
    (static,) = reduced.static_keys
    assert static.access_key_id is None and PASTED not in repr(reduced)
    (credential,) = [
        c for c in configured_credentials(reduced, "AKIAIOSFODNN7EXAMPLE") if c.kind == "static-key"
    ]
    assert credential.ref == NOT_A_KEY_ID and credential.access_key_id is None
