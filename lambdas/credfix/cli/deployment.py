"""The deployed credfix the day-two verbs work on (shared; not a verb): its incidents table,
found from the home stack's outputs (`--stack`, default credfix-home, in the region of the
standard AWS environment) or named with `--table`, and the identity of the person running
the verb, which every change is recorded with."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credfix.adapters.aws import ClientFactory
    from credfix.adapters.stores.operator import OperatorStore
    from credfix.core.operations import GuardrailSettings

HOME_STACK = "credfix-home"
TABLE_OUTPUT = "IncidentsTableName"
SETTINGS_OUTPUT = "OperatorSettings"


class NotDeployed(Exception):
    """The table cannot be found: one line, exit code 2."""


def add_deployment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", metavar="NAME", help="the incidents table (default: from the home stack's outputs)"
    )
    parser.add_argument(
        "--stack", metavar="NAME", default=HOME_STACK, help=f"the home stack (default {HOME_STACK})"
    )


@dataclass(frozen=True)
class Deployment:
    table: str
    settings: GuardrailSettings
    found_by: str  # how the table was found, for people


def locate(args: argparse.Namespace, client_for: ClientFactory) -> Deployment:
    from credfix.adapters.readers.deployment import StackNotFound, stack_outputs
    from credfix.core.operations import GuardrailSettings

    defaults = GuardrailSettings(
        target_cooldown_seconds=int(os.environ.get("CREDFIX_TARGET_COOLDOWN_SECONDS", 3600)),
        breaker_failures=int(os.environ.get("CREDFIX_BREAKER_FAILURES", 3)),
    )
    table = args.table or os.environ.get("CREDFIX_TABLE", "")
    if table:
        return Deployment(table, defaults, "--table" if args.table else "CREDFIX_TABLE")
    try:
        outputs = stack_outputs(client_for("cloudformation"), args.stack)
    except StackNotFound:
        raise NotDeployed(
            f"no stack {args.stack!r} in this region: name the table with --table, or the stack with "
            "--stack (and the home region with AWS_REGION)"
        ) from None
    if TABLE_OUTPUT not in outputs:
        raise NotDeployed(f"stack {args.stack!r} has no {TABLE_OUTPUT} output: is it credfix's home stack?")
    settings = defaults
    if SETTINGS_OUTPUT in outputs:
        deployed: dict[str, Any] = json.loads(outputs[SETTINGS_OUTPUT])
        settings = GuardrailSettings(
            target_cooldown_seconds=int(
                deployed.get("target_cooldown_seconds", defaults.target_cooldown_seconds)
            ),
            breaker_failures=int(deployed.get("breaker_failures", defaults.breaker_failures)),
        )
    return Deployment(outputs[TABLE_OUTPUT], settings, f"stack {args.stack} outputs")


def operator_store(deployment: Deployment, client_for: ClientFactory) -> OperatorStore:
    from credfix.adapters.stores.operator import OperatorStore

    return OperatorStore(client_for("dynamodb"), deployment.table)


def caller(client_for: ClientFactory) -> str:
    from credfix.adapters.readers.deployment import caller_arn

    return caller_arn(client_for("sts"))


def reason_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason",
        required=True,
        metavar="TEXT",
        help="why (recorded with your identity on the item and timeline)",
    )


def checked_reason(text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < 3:
        raise NotDeployed("--reason must say why (a few words at least)")
    return reason


@dataclass(frozen=True)
class Operator:
    """What a day-two verb works with."""

    client_for: ClientFactory
    deployment: Deployment
    store: OperatorStore


def run_operator(verb: str, args: argparse.Namespace, body: Callable[[Operator], int]) -> int:
    """Find the deployment and run `body`; every failure is one line on stderr. Exit codes:
    0 done; 1 AWS failed; 2 bad arguments or nothing deployed; 3 nothing changed: the item is
    not in the state the change needs (changed since it was read, or already so)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.cli_clients import environment_clients
    from credfix.cli.output import fail
    from credfix.models.operator import Conflict

    try:
        client_for = environment_clients()
        deployment = locate(args, client_for)
        return body(Operator(client_for, deployment, operator_store(deployment, client_for)))
    except NotDeployed as exc:
        return fail(verb, 2, str(exc))
    except Conflict as exc:
        return fail(verb, 3, f"nothing changed: {exc}")
    except (ClientError, BotoCoreError) as exc:
        return fail(verb, 1, f"AWS: {exc}")
