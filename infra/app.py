"""Builds the CDK app: used by `app.py` (the CDK CLI's entry), the tests and the local harness,
so that what is tested and what the local pipeline routes on is what gets deployed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambdas"))

from infra.home_stack import HomeStack

HOME_STACK_NAME = "credfix-home"


def build_app(context: dict[str, object] | None = None, outdir: str | None = None) -> cdk.App:
    app = cdk.App(context=context or {}, outdir=outdir)
    include_expired = bool(app.node.try_get_context("include_expired_token") or False)
    home_region = str(app.node.try_get_context("home_region") or "us-east-1")
    HomeStack(
        app,
        HOME_STACK_NAME,
        include_expired_token=include_expired,
        description="credfix: detects and remediates workloads signing with unrecognised AWS credentials",
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=home_region),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return app
