from __future__ import annotations

import tempfile
from typing import Any

import pytest
from aws_cdk import assertions

from infra.app import HOME_STACK_NAME, build_app


@pytest.fixture(scope="session")
def home_template() -> assertions.Template:
    """The home stack as `cdk synth` produces it, cdk-nag included (synth fails on a finding)."""
    with tempfile.TemporaryDirectory() as out:
        app = build_app(outdir=out)
        assembly = app.synth()
        stack = assembly.get_stack_by_name(HOME_STACK_NAME)
        return assertions.Template.from_json(stack.template)


def resources(template: assertions.Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))
