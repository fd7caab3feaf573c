"""`credfix permissions`: the IAM policy a role needs, from the code's own `@needs`
declarations (the same source the CDK stack builds its Lambda policies from).

For people running the CLI: `--role cli` covers `diagnose`, `remediate` in observe mode,
`doctor` and `preflight` (and `--from s3://…`, the trail bucket's read); `remediate --mode
enforce` also needs `--role act`; the day-two verbs (`incidents`, `targets`, `unblock`,
`breaker`, `mute`) need `--role operator`. Resources are `*` here because resource kinds
(e.g. watched secrets by tag) are mapped by the stack; narrow them to your account as the
deployed policies do (see infra/scopes.py). On a terminal the policy is listed for reading;
piped (or `--format json`) it is the IAM policy document.
"""

from __future__ import annotations

import argparse
from typing import Any, get_args

from credfix.cli.output import add_format_argument, emit
from credfix.permissions import Role
from credfix.registry import policy_for


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("permissions", help="print the IAM policy a credfix role needs")
    parser.add_argument("--role", choices=get_args(Role), default="cli", help="default: cli (the CLI verbs)")
    add_format_argument(parser)
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


def policy_text(role: Role) -> str:
    lines = [f"credfix role {role!r} needs (resources: narrow '*' to your account, see infra/scopes.py):"]
    for kind, actions in policy_for(role).items():
        if kind == "member-roles":
            continue
        lines.append(f"  on {kind}:")
        lines.extend(f"    {action}" for action in actions)
    lines.append("--format json prints the IAM policy document.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    emit(args, policy_document(args.role), policy_text(args.role))
    return 0
