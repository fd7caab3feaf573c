"""`credfix sweep --secret NAME|ARN [--mode observe|enforce] [--table NAME] [--topic-arn ARN]`:
the rotation watch from the command line. Checks the watched secret's rotation as the
rotation Lambda does; when a consumer still runs the previous version (or the old key is
still used), builds the rotation-drift incident and runs the act step on it with the same
guardrails as the act Lambda, then prints the usual `credfix.report/v1` report (no incident
when nothing drifted).

Default mode is observe (actions are `planned`). Rate and idempotency state is kept in memory
for this run, or in the deployed incidents table with `--table NAME` (a CLI run and the act
Lambda then never act twice on one target). Exit codes: 0 report printed; 1 AWS failed;
2 bad input (unknown secret, not a watched secret, no previous version); 3 report printed,
an action failed.
"""

from __future__ import annotations

import argparse
from typing import Any

from credfix.cli.output import add_format_argument, emit, fail
from credfix.cli.rotation_check import CheckFailed, add_secret_arguments, run_check


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="the rotation watch for one secret: find consumers on the previous version, restart them "
        "behind guardrails (observe by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_secret_arguments(parser)
    parser.add_argument("--mode", choices=("observe", "enforce"), default="observe")
    parser.add_argument("--table", metavar="NAME", help="the deployed incidents table, for shared rate state")
    parser.add_argument("--topic-arn", metavar="ARN", help="publish the incident to this SNS topic")
    add_format_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from datetime import UTC, datetime

    from botocore.exceptions import BotoCoreError

    from credfix.adapters.cli_clients import environment_clients
    from credfix.cli.remediate import Acting, GuardrailsUnavailable
    from credfix.config import from_environ
    from credfix.core.alerts.render import first_screen
    from credfix.core.rotation.check import drifted
    from credfix.core.rotation.incident import incident_of
    from credfix.errortext import error_text
    from credfix.models.incident import REPORT_SCHEMA

    settings = from_environ().model_copy(update={"mode": args.mode})
    try:
        client_for = environment_clients()
        checked = run_check(args, settings, client_for)
        acting = Acting.build(args, client_for, settings, "sweep")
    except BotoCoreError as exc:
        return fail("sweep", 1, f"AWS configuration: {error_text(exc)}")
    except CheckFailed as exc:
        return fail("sweep", exc.code, str(exc))
    except ValueError as exc:  # --topic-arn
        return fail("sweep", 2, str(exc))
    name = checked.report.rotation.secret_name
    documents: list[dict[str, object]] = []
    blocks: list[str] = []
    failed = False
    if not drifted(checked.report):
        print(f"credfix sweep: {name}: no drift", file=sys.stderr)
        blocks.append(f"{name}: no drift: every consumer runs AWSCURRENT.")
    else:
        try:
            acted, failed = acting.act(incident_of(checked, datetime.now(UTC)))
        except GuardrailsUnavailable as exc:
            return fail("sweep", 1, str(exc))
        documents.append(acted.document())
        blocks.append("\n".join(first_screen(acted, "remediated", settings.docs_base_url)))
    report = {"schema": REPORT_SCHEMA, "incidents": documents, "rejected": {"count": 0, "reasons": {}}}
    emit(args, report, "\n\n".join(blocks))
    return 3 if failed else 0
