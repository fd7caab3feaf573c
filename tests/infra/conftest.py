from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk import assertions

from infra.app import HOME_STACK_NAME, build_app

ORG_CONTEXT: dict[str, object] = {
    "home_region": "eu-west-1",
    "account": "111122223333",
    "regions": "eu-central-1,us-west-2",
    "org": {"enabled": True, "organization_id": "o-abcd123456"},
    "alerts": {"emails": ["oncall@example.com"], "sqs": ["arn:aws:sqs:eu-west-1:111122223333:soc-intake"]},
    "watch_prefixes": "ci/,deploy/",
}


def synth(context: dict[str, object] | None, out: str) -> dict[str, dict[str, Any]]:
    """All templates of the app, by stack name (cdk-nag runs: synth fails on a finding)."""
    assembly = build_app(context, outdir=out).synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


@pytest.fixture(scope="session")
def single_account_templates() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth(None, out)


@pytest.fixture(scope="session")
def org_templates() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        yield synth(ORG_CONTEXT, out)


@pytest.fixture(scope="session")
def home_template(single_account_templates: dict[str, dict[str, Any]]) -> assertions.Template:
    return assertions.Template.from_json(single_account_templates[HOME_STACK_NAME])


def resources(template: assertions.Template | dict[str, Any], kind: str) -> dict[str, Any]:
    if isinstance(template, dict):
        return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}
    return dict(template.find_resources(kind))
