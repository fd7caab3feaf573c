from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import assertions

from infra.app import HOME_STACK_NAME
from tests.conftest import synth  # noqa: F401  (re-exported for the infra tests)


@pytest.fixture(scope="session")
def home_template(single_account_templates: dict[str, dict[str, Any]]) -> assertions.Template:
    return assertions.Template.from_json(single_account_templates[HOME_STACK_NAME])


def resources(template: assertions.Template | dict[str, Any], kind: str) -> dict[str, Any]:
    if isinstance(template, dict):
        return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}
    return dict(template.find_resources(kind))
