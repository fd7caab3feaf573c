"""`credfix rotation-check --secret NAME|ARN [--json]`: the gate to run before deactivating a
rotated-out key. Reads the watched secret's current and previous versions, every consumer
(ECS services reading it, Lambda functions naming it, resources tagged
`credfix:consumes=<secret name>`) and whether it runs AWSCURRENT yet, and the old key's use
since the rotation (IAM last use; CloudTrail LookupEvents by AccessKeyId, each address
located). Read-only.

Exit codes: 0 safe to deactivate; 3 still in use (with who); 2 bad input (unknown secret,
not a watched secret, no previous version, nothing rotated out); 1 AWS failed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from credfix.cli.output import add_format_argument, emit, fail
from credfix.keys import redact
from credfix.timefmt import iso_z

if TYPE_CHECKING:  # the base install has no pydantic: these load when the verb runs
    from credfix.adapters.aws import ClientFactory
    from credfix.config import Settings
    from credfix.core.rotation.check import Checked
    from credfix.models.rotation import RotationReport

SCHEMA = "credfix.rotation-check/v1"
SAFE, AWS_FAILED, BAD_INPUT, IN_USE = 0, 1, 2, 3
BAD_OUTCOMES = ("unwatched", "no-previous-version", "no-key-change")
QUIET_MINUTES = 15  # = credfix.core.rotation.check.DEFAULT_QUIET (tests/unit/test_rotation.py)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rotation-check",
        help="is a rotated-out key safe to deactivate? (consumers on AWSCURRENT, old key unused)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_secret_arguments(parser)
    add_format_argument(parser, json_flag=True)  # json: the credfix.rotation-check/v1 document
    parser.add_argument(
        "--quiet-minutes",
        type=int,
        default=QUIET_MINUTES,
        metavar="N",
        help="the old key must not have been used in the last N minutes (CloudTrail and IAM see a use "
        "minutes late; default %(default)s)",
    )
    parser.set_defaults(func=run)


def add_secret_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret", required=True, metavar="NAME|ARN", help="the watched secret")
    parser.add_argument(
        "--region", metavar="REGION", help="the secret's region (default: the ARN's, else yours)"
    )


class CheckFailed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def run_check(args: argparse.Namespace, settings: Settings, client_for: ClientFactory) -> Checked:
    """The check behind `rotation-check` and `sweep`; CheckFailed with the exit code otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError

    from credfix.adapters.readers.secrets import WatchedSecrets
    from credfix.adapters.readers.sts_ownership import StsOwnership
    from credfix.arns import region_of
    from credfix.core.rotation.check import check
    from credfix.core.rotation.secret import NoRotation
    from credfix.errortext import error_text
    from credfix.models.iam import CallerIdentity

    ref = str(args.secret).strip()
    if not ref:
        raise CheckFailed(BAD_INPUT, "--secret is empty")
    region = args.region or region_of(ref) or client_for("secretsmanager").meta.region_name
    try:
        identity = StsOwnership(client_for("sts")).caller()
        account = identity.account_id if isinstance(identity, CallerIdentity) else None
        checked = check(client_for, settings, ref, region=region, account=account)
        if isinstance(checked, NoRotation) and checked.outcome == "unwatched":
            secrets = WatchedSecrets(
                client_for("secretsmanager", region), watch_tag=settings.watch_tag, prefixes=(), limit=1
            )
            if secrets.exists(ref) is False:
                raise CheckFailed(BAD_INPUT, f"no secret {ref!r} in {region}")
    except (ClientError, BotoCoreError) as exc:
        raise CheckFailed(AWS_FAILED, f"AWS: {error_text(exc)}") from None
    if isinstance(checked, NoRotation):
        raise CheckFailed(BAD_INPUT if checked.outcome in BAD_OUTCOMES else AWS_FAILED, checked.why)
    return checked


def document(report: RotationReport, safe: bool, reasons: tuple[str, ...], now: datetime) -> dict[str, Any]:
    rotation = report.rotation
    return {
        "schema": SCHEMA,
        "checked_at": iso_z(now),
        "secret": {"arn": rotation.secret_arn, "name": rotation.secret_name, "region": rotation.region},
        "current": {
            "version_id": rotation.current_version,
            "key_ids": list(rotation.current_keys),
            "since": iso_z(rotation.became_current),
            "since_basis": rotation.basis,
        },
        "previous": {"version_id": rotation.previous_version, "old_key_ids": list(rotation.old_keys)},
        "consumers": [
            {
                "type": c.workload.type,
                "id": c.workload.id,
                "found_by": c.found_by,
                "state": c.state,
                "on_awscurrent": c.state == "current",
                "detail": c.detail,
            }
            for c in report.consumers
        ],
        "undetermined": list(report.undetermined),
        "old_keys": [
            {
                "access_key_id": k.access_key_id,
                "status": k.facts.status if k.facts else "deleted",
                "iam_last_used": (
                    {
                        "at": iso_z(k.facts.last_used_at),
                        "service": k.facts.last_used_service,
                        "region": k.facts.last_used_region,
                    }
                    if k.facts and k.facts.last_used_at
                    else None
                ),
                "used_since_rotation": k.used_after(rotation.became_current.replace(microsecond=0)),
                "regions_searched": list(k.regions_searched),
                "uses": [
                    {
                        "at": iso_z(u.at),
                        "call": f"{u.event_source.split('.')[0]}:{u.event_name}",
                        "region": u.region,
                        "source_ip": u.ip,
                        "vpc_endpoint_id": u.vpc_endpoint_id,
                        "succeeded": u.succeeded,
                        "error_code": u.error_code,
                    }
                    for u in k.uses[:50]
                ],
            }
            for k in report.old_keys
        ],
        "used_by": [{"type": w.type, "id": w.id, "confidence": w.confidence} for w in report.located],
        "attribution": [a.model_dump(mode="json") for a in report.attribution],
        "findings": [f.model_dump(mode="json") for f in report.findings],
        "safe_to_deactivate": safe,
        "reasons": list(reasons),
    }


def text(report: RotationReport, safe: bool, reasons: tuple[str, ...]) -> str:
    rotation = report.rotation
    old = ", ".join(redact(k) for k in rotation.old_keys)
    lines = [
        f"secret {rotation.secret_name} ({rotation.region})",
        f"  AWSCURRENT  version {rotation.current_version[:8]}  "
        f"{', '.join(redact(k) for k in rotation.current_keys)}  since {iso_z(rotation.became_current)}",
        f"  AWSPREVIOUS version {rotation.previous_version[:8]}  {old}  (the key to deactivate)",
        f"consumers ({len(report.consumers)}):",
    ]
    marks = {"current": "ok  ", "previous": "OLD ", "unknown": "??  "}
    for c in report.consumers:
        lines.append(f"  {marks[c.state]} {c.workload.type} {c.workload.id} [{c.found_by}]")
        lines.append(f"       {c.detail}")
    for arn in report.undetermined:
        lines.append(f"  ??   {arn} [tag]: credfix cannot tell which version it runs")
    for key in report.old_keys:
        facts = key.facts
        last = (
            f"last used {iso_z(facts.last_used_at)} ({facts.last_used_service} in {facts.last_used_region})"
            if facts and facts.last_used_at
            else "no recorded use"
        )
        status = facts.status if facts else "deleted"
        ok = [u for u in key.uses if u.succeeded]
        lines.append(f"old key {redact(key.access_key_id)}: {status}; IAM: {last}")
        lines.append(
            f"  CloudTrail since the rotation ({', '.join(key.regions_searched)}): {len(ok)} successful, "
            f"{len(key.uses) - len(ok)} failed call(s)"
        )
    for workload in report.located:
        lines.append(f"  used by {workload.type} {workload.id} ({workload.confidence} confidence)")
    if safe:
        lines.append(
            f"SAFE to deactivate {old}: every consumer runs AWSCURRENT and the old key is not in use."
        )
    else:
        lines.append(f"STILL IN USE: do not deactivate {old} yet.")
        lines.extend(f"  - {reason}" for reason in reasons)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError

    from credfix.adapters.cli_clients import environment_clients
    from credfix.config import from_environ
    from credfix.core.rotation.check import gate
    from credfix.errortext import error_text

    if args.quiet_minutes < 0:
        return fail("rotation-check", BAD_INPUT, "--quiet-minutes must be 0 or more")
    settings = from_environ()
    try:
        client_for = environment_clients()
        checked = run_check(args, settings, client_for)
    except BotoCoreError as exc:
        return fail("rotation-check", AWS_FAILED, f"AWS configuration: {error_text(exc)}")
    except CheckFailed as exc:
        return fail("rotation-check", exc.code, str(exc))
    now = datetime.now(UTC)
    verdict = gate(checked.report, now, timedelta(minutes=args.quiet_minutes))
    emit(
        args,
        document(checked.report, verdict.safe, verdict.reasons, now),
        text(checked.report, verdict.safe, verdict.reasons),
    )
    return SAFE if verdict.safe else IN_USE
