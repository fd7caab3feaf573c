#!/usr/bin/env python3
"""CDK entry point (`npx cdk synth|deploy`): see infra/app.py."""

from infra.app import build_app

build_app().synth()
