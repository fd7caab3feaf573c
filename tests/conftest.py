"""Shared fixtures: the local AWS (moto server, one per test worker) and the pipeline."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would only be noise in test output
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

from harness.moto import LocalAws, local_aws
from harness.pipeline import LocalPipeline


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalAws]:
    with local_aws() as server:
        yield server


@pytest.fixture
def aws_env(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    """A clean local AWS, and the standard AWS environment pointing at it."""
    aws.reset()
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
