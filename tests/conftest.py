"""Shared fixtures: the local AWS (moto server, one per test worker), the pipeline, and the
synthesized templates of a single-account and an organisation configuration."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would only be noise in test output
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

from harness.moto import LocalAws, local_aws
from harness.pipeline import LocalPipeline
from infra.app import build_app

# An example organisation deployment, synthesized once per test session, shared by the infra
# and reliability tests.
ORG_CONTEXT: dict[str, object] = {
    "home_region": "eu-west-1",
    "account": "111122223333",
    "regions": "eu-central-1,us-west-2",
    "org": {"enabled": True, "organization_id": "o-abcd123456"},
    "alerts": {"emails": ["oncall@example.com"], "sqs": ["arn:aws:sqs:eu-west-1:111122223333:soc-intake"]},
    "watch_prefixes": "ci/,deploy/",
}


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalAws]:
    with local_aws() as server:
        yield server


@pytest.fixture
def aws_env(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    """A clean local AWS, and the standard AWS environment pointing at it (and nothing
    remembered of the previous test's account: the shared lookup cache is emptied too)."""
    from credfix.core.locate.context import SHARED

    aws.reset()
    SHARED.clear()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in aws.environ().items():
        monkeypatch.setenv(name, value)
    return aws


@pytest.fixture
def pipeline(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalPipeline:
    deployed = LocalPipeline(aws_env).deploy()
    for name, value in deployed.environ().items():
        monkeypatch.setenv(name, value)
    return deployed


def load_handler(name: str) -> ModuleType:
    """Import a Lambda handler module fresh, so it reads the current environment at init
    exactly as a new Lambda execution environment would."""
    from credfix.adapters import aws as aws_clients
    from credfix.config import settings

    settings.cache_clear()
    aws_clients.reset_clients()
    module = importlib.import_module(f"credfix.handlers.{name}")
    return importlib.reload(module)


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
