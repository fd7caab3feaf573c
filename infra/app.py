"""Builds the CDK app: used by `app.py` (the CDK CLI's entry), the tests and the local harness,
so that what is tested and what the local pipeline routes on is what gets deployed.

Stacks: `credfix-home` (home region); `credfix-forwarder-<region>` for every other covered
region and us-east-1; in organisation mode also `credfix-member-forwarder` and
`credfix-member-roles`, account- and region-agnostic templates for StackSets.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambdas"))

from infra import config as credfix_config
from infra.forwarder_stacks import ForwarderStack, MemberForwarderStack, MemberRolesStack
from infra.home_stack import CENTRAL_BUS_NAME, HomeStack, error_codes

HOME_STACK_NAME = "credfix-home"


def build_app(context: dict[str, object] | None = None, outdir: str | None = None) -> cdk.App:
    app = cdk.App(context=context or {}, outdir=outdir)
    config = credfix_config.load(app.node.try_get_context, app.node.get_all_context().keys())
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    codes = error_codes(config)
    home = HomeStack(
        app,
        HOME_STACK_NAME,
        config=config,
        description="credfix: detects and remediates workloads signing with unrecognised AWS credentials",
        env=cdk.Environment(account=account, region=config.home_region),
    )
    for region in config.forwarder_regions:
        forwarder = ForwarderStack(
            app,
            f"credfix-forwarder-{region}",
            config=config,
            error_codes=codes,
            description=f"credfix: forwards credential failures from {region} to {config.home_region}",
            env=cdk.Environment(account=account, region=region),
        )
        forwarder.add_dependency(home)
    if config.org.enabled:
        MemberForwarderStack(
            app,
            "credfix-member-forwarder",
            config=config,
            error_codes=codes,
            central_bus_name=CENTRAL_BUS_NAME,
            description="credfix member account: forwards credential failures to the central bus",
        )
        MemberRolesStack(
            app,
            "credfix-member-roles",
            config=config,
            description="credfix member account: the roles the central triage and act Lambdas assume",
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return app
