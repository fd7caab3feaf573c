#!/usr/bin/env python3
"""CDK entry point (`npx cdk synth|deploy`): see infra/app.py. A configuration mistake prints
as a short list on stderr and fails synth (exit 1), without a Python traceback."""

import sys

from infra.app import build_app
from infra.config import ConfigError

try:
    build_app().synth()
except ConfigError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
