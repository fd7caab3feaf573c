"""One look at a rotation: the secret's versions, its consumers and the version each runs,
and the old key's use since, read from the account (`check`); and what that shows: drift to
act on (`drifted`), and whether the old key is safe to deactivate (`gate`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.config import Settings
from credfix.core.attribution import address_kind
from credfix.core.locate.context import LocateContext
from credfix.core.rotation.consumers import find_consumers
from credfix.core.rotation.secret import NoRotation, read_rotation
from credfix.core.rotation.usage import old_key_usage, whole_second
from credfix.keys import redact
from credfix.models.incident import Evidence, Source
from credfix.models.rotation import Rotation, RotationReport
from credfix.timefmt import iso_z

DEFAULT_QUIET = timedelta(minutes=15)


@dataclass(frozen=True)
class Checked:
    report: RotationReport
    sources: tuple[Source, ...]  # the old keys' successful uses since the rotation, per address


def read(
    client_for: ClientFactory, settings: Settings, secret_ref: str, *, region: str
) -> Rotation | NoRotation:
    """The rotation of the watched secret `secret_ref` names, as Secrets Manager answers now."""
    secrets = WatchedSecrets(
        client_for("secretsmanager", region),
        watch_tag=settings.watch_tag,
        prefixes=settings.watch_prefixes,
        limit=settings.scan_limit,
    )
    return read_rotation(secrets, secret_ref, region)


def examine(
    client_for: ClientFactory, settings: Settings, rotation: Rotation, *, account: str | None
) -> Checked:
    """Consumers and the old keys' use. Raises ClientError/BotoCoreError when IAM cannot be read;
    other reads that fail become findings."""
    # Nothing shared with other incidents: the consumers are read as they are now.
    ctx = LocateContext(client_for, settings, account=None)
    found = find_consumers(client_for, ctx, rotation)
    usage = old_key_usage(client_for, ctx, rotation, account=account)
    findings = list(ctx.findings) + usage.findings
    for arn in found.undetermined:
        findings.append(
            Evidence(
                check=f"declared consumer {arn}",
                found="credfix cannot tell which version this kind of resource runs: restart it by hand, "
                "or run `credfix rotation-check` once it has re-read the secret",
            )
        )
    report = RotationReport(
        rotation=rotation,
        account=account,
        consumers=tuple(found.consumers),
        old_keys=tuple(usage.old_keys),
        located=tuple(usage.located),
        attribution=tuple(usage.attribution),
        findings=tuple(findings),
        undetermined=tuple(found.undetermined),
    )
    return Checked(report, tuple(usage.sources))


def check(
    client_for: ClientFactory, settings: Settings, secret_ref: str, *, region: str, account: str | None
) -> Checked | NoRotation:
    """Read-only: `read`, then `examine`. Raises ClientError/BotoCoreError when Secrets Manager
    or IAM cannot be read (no answer without them)."""
    rotation = read(client_for, settings, secret_ref, region=region)
    if isinstance(rotation, NoRotation):
        return rotation
    return examine(client_for, settings, rotation, account=account)


def drifted(report: RotationReport) -> bool:
    """Something to tell people about (and maybe restart): a consumer on the previous version or
    of unknown version, a declared consumer credfix cannot date, or the old key used since."""
    since = whole_second(report.rotation.became_current)
    return (
        any(c.state != "current" for c in report.consumers)
        or bool(report.undetermined)
        or any(k.used_after(since) for k in report.old_keys)
    )


@dataclass(frozen=True)
class Gate:
    safe: bool
    reasons: tuple[str, ...]  # why not safe (empty when safe)


def gate(report: RotationReport, now: datetime, quiet: timedelta = DEFAULT_QUIET) -> Gate:
    """Safe to deactivate the old key(s): every consumer runs AWSCURRENT, nothing declared is
    undated, and no old key was used since the rotation within the last `quiet` (CloudTrail
    and IAM see a use minutes late; an older use came from something that has stopped since)."""
    reasons: list[str] = []
    for c in report.consumers:
        if c.state == "previous":
            reasons.append(f"{c.workload.type} {c.workload.id} still runs the previous version: {c.detail}")
        elif c.state == "unknown":
            reasons.append(
                f"{c.workload.type} {c.workload.id}: cannot tell which version it runs ({c.detail})"
            )
    for arn in report.undetermined:
        reasons.append(f"declared consumer {arn}: cannot tell which version it runs")
    since = whole_second(report.rotation.became_current)
    for key in report.old_keys:
        last = key.facts.last_used_at if key.facts else None
        recent = [u for u in key.uses if u.succeeded and u.at >= now - quiet]
        if recent:
            newest = recent[0]
            where = f"{newest.ip or '?'}" + (
                f" via {newest.vpc_endpoint_id}" if newest.vpc_endpoint_id else ""
            )
            reasons.append(
                f"{redact(key.access_key_id)} was used {len(recent)} time(s) in the last "
                f"{int(quiet.total_seconds() // 60)} min, last at {iso_z(newest.at)} "
                f"({newest.event_source} {newest.event_name} from {where})"
            )
        elif last is not None and last >= since and last >= now - quiet:
            service = key.facts.last_used_service if key.facts else None
            reasons.append(
                f"IAM last saw {redact(key.access_key_id)} used at {iso_z(last)} ({service or '?'}), "
                "after the rotation"
            )
    return Gate(not reasons, tuple(reasons))


def outside_uses(report: RotationReport) -> list[str]:
    """Addresses outside the account that used an old key successfully since the rotation."""
    return [str(a.ip) for a in report.attribution if a.scope == "none" and address_kind(a.ip) != "not-ip"]
