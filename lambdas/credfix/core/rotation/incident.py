"""The rotation-drift incident: what one check of a rotation found, as the incident document
the act step, the guardrails and the alerts already read (docs/verdicts/rotation-drift.md).

- `access_key_id`: the old key (the first one the previous version held that the current
  one does not); the per-key cap of the guardrails counts against it.
- `workloads`: the consumers still on the previous version (high confidence: what runs was
  started before the rotation, by configuration credfix read), those whose version cannot be
  told (low: named, never acted on), and the holders of addresses that used the old key
  successfully since the rotation.
- `attribution`: one "rotation" entry naming the consumers found by configuration (the
  trigger was the account's own authenticated rotation: credfix.core.attribution), and one
  entry per address that used the old key, judged by the usual rule.
- `sources` / `event_count`: the old key's *successful* uses since the rotation, per
  address; `first_seen` is when the new version became AWSCURRENT.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from credfix.core import attribution as rule
from credfix.core.rotation.check import Checked, outside_uses
from credfix.core.rotation.usage import whole_second
from credfix.keys import redact
from credfix.models.incident import Evidence, Incident, KeyStatus, Severity, SourceAttribution, TimelineEntry
from credfix.models.rotation import RotationReport
from credfix.timefmt import iso_z

VERDICT = "rotation-drift"
SEVERITY: Severity = "low"  # nothing has failed yet; a restart fixes it
OUTSIDE_SEVERITY: Severity = "high"  # the previous secret is held outside the account


def rotation_attribution(report: RotationReport) -> SourceAttribution:
    rotation = report.rotation
    configured = [c.workload.id for c in report.consumers if c.state == "previous"]
    return SourceAttribution(
        scope="rotation",
        account=report.account,
        region=rotation.region,
        holders=configured,
        why=(
            f"the account's own rotation of watched secret {rotation.secret_name} (AWSCURRENT moved to "
            f"version {rotation.current_version[:8]}); its consumers found by configuration: "
            f"{', '.join(configured) or 'none on the previous version'}"
        ),
    )


def _key_status(report: RotationReport) -> KeyStatus:
    facts = report.old_keys[0].facts if report.old_keys else None
    return facts.status if facts else "deleted"


def evidence_of(report: RotationReport) -> list[Evidence]:
    rotation = report.rotation
    since = whole_second(rotation.became_current)
    lines = [
        Evidence(
            check=f"secretsmanager: watched secret {rotation.secret_name}",
            found=(
                f"AWSCURRENT is version {rotation.current_version[:8]} (keys "
                f"{', '.join(redact(k) for k in rotation.current_keys) or 'none'}) since "
                f"{iso_z(rotation.became_current)} "
                f"({rotation.basis}); AWSPREVIOUS version {rotation.previous_version[:8]} holds "
                f"{', '.join(redact(k) for k in rotation.old_keys)}"
            ),
        )
    ]
    for c in report.consumers:
        lines.append(
            Evidence(
                check=f"consumer {c.workload.type} {c.workload.id} ({c.found_by})",
                found=f"{c.state}: {c.detail}",
            )
        )
    for key in report.old_keys:
        facts = key.facts
        if facts is None:
            iam = "IAM has no record of it (deleted)"
        elif facts.last_used_at is None:
            iam = f"{facts.status}; never used according to IAM"
        else:
            when = "after" if facts.last_used_at >= since else "before"
            iam = (
                f"{facts.status}; last used {iso_z(facts.last_used_at)} ({facts.last_used_service or '?'} in "
                f"{facts.last_used_region or '?'}), {when} the rotation"
            )
        lines.append(Evidence(check=f"iam:GetAccessKeyLastUsed {redact(key.access_key_id)}", found=iam))
        ok = [u for u in key.uses if u.succeeded]
        failed = [u for u in key.uses if not u.succeeded]
        found = f"{len(ok)} successful and {len(failed)} failed call(s) since {iso_z(since)}"
        if ok:
            services = sorted({f"{u.event_source.split('.')[0]}:{u.event_name}" for u in ok})
            found += f"; succeeded: {', '.join(services[:5])}, last at {iso_z(ok[0].at)}"
        if key.truncated:
            found += " (lookup stopped at its cap)"
        lines.append(
            Evidence(
                check=f"cloudtrail:LookupEvents AccessKeyId={redact(key.access_key_id)} in "
                f"{', '.join(key.regions_searched)}",
                found=found,
            )
        )
    for a in report.attribution:
        lines.append(Evidence(check=f"attribution of {rule.describe_source(a)}", found=f"{a.scope}: {a.why}"))
    outside = outside_uses(report)
    if outside:
        lines.append(
            Evidence(
                check="origin",
                found=f"{', '.join(outside[:3])} used the old key successfully and is not an address of the "
                "account: "
                "someone outside holds the previous secret",
            )
        )
    return lines + [f for f in report.findings if f not in lines]


def incident_of(checked: Checked, now: datetime) -> Incident:
    report = checked.report
    rotation = report.rotation
    key = rotation.old_keys[0]
    by_configuration = rotation_attribution(report)
    attribution = (
        [by_configuration, *report.attribution] if by_configuration.holders else list(report.attribution)
    )
    consumers = [c.workload for c in report.consumers if c.state != "current"]
    ids = {w.id for w in consumers}
    workloads = consumers + [w for w in report.located if w.id not in ids]
    sources = list(checked.sources)
    last_use = max((s.last_seen for s in sources if s.last_seen), default=None)
    severity = OUTSIDE_SEVERITY if outside_uses(report) else SEVERITY
    timeline = [
        TimelineEntry(
            at=rotation.became_current,
            what=f"secret {rotation.secret_name} rotated: AWSCURRENT moved to version "
            f"{rotation.current_version[:8]}",
        ),
        TimelineEntry(at=now, what=f"rotation checked: {VERDICT} (severity {severity})"),
    ]
    if last_use:
        timeline.append(
            TimelineEntry(at=last_use, what=f"latest successful use of {redact(key)} since the rotation")
        )
    return Incident(
        incident_id=f"{now.strftime('%Y%m%dT%H%M%SZ')}-rot-{key[-4:]}-{uuid.uuid4().hex[:8]}",
        access_key_id=key,
        status="triaged",
        key_status=_key_status(report),
        owner_account=report.account,
        verdict=VERDICT,
        severity=severity,
        evidence=evidence_of(report),
        workloads=workloads,
        event_count=sum(s.count for s in sources),
        first_seen=rotation.became_current,
        last_seen=max(rotation.became_current, last_use) if last_use else rotation.became_current,
        opened_at=now,
        regions=[rotation.region],
        event_sources=sorted({u.event_source for k in report.old_keys for u in k.uses if u.succeeded}),
        accounts=[report.account] if report.account else [],
        sources=sources,
        attribution=attribution,
        origin=rule.origin(attribution),
        timeline=sorted(timeline, key=lambda e: e.at),
    )
