"""`credfix permissions`: the IAM policy a role needs, from the code's own `@needs`
declarations (the same source the CDK stack builds its Lambda policies from).

For people running the CLI: `--role cli` covers `diagnose`, `remediate` in observe mode,
`doctor` and `preflight`; `remediate --mode enforce` also needs `--role act`. Resources are
`*` here because resource kinds (e.g. watched secrets by tag) are mapped by the stack;
narrow them to your account as the deployed policies do (see infra/scopes.py).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, get_args

from credfix.permissions import Role
from credfix.registry import policy_for


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("permissions", help="print the IAM policy a credfix role needs")
    parser.add_argument("--role", choices=get_args(Role), default="cli", help="default: cli (the CLI verbs)")
    parser.set_defaults(func=run)


def policy_document(role: Role) -> dict[str, Any]:
    statements = [
        {
            "Sid": "".join(part.title() for part in f"{role}-{kind}".replace("*", "any").split("-")),
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }
        for kind, actions in policy_for(role).items()
        if kind != "member-roles"  # organisation mode only, and never for people
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def run(args: argparse.Namespace) -> int:
    print(json.dumps(policy_document(args.role), indent=2))
    return 0
