"""Who still uses the old key, from evidence nobody outside can forge.

- IAM: the old key's status and last use (date, service, region), GetAccessKeyLastUsed.
- CloudTrail: `LookupEvents` by `AccessKeyId` since the rotation, in the secret's region,
  us-east-1 (where IAM and STS calls are recorded) and the region IAM last saw the key in.
  A *successful* call proves that its caller holds the secret: AWS authenticated it. Its
  source address then attributes it exactly as a failure's does, through the same locators
  (credfix.core.locate.source_ip); an address that is not the account's means someone
  outside holds the previous secret. Failed calls prove nothing of the kind and are only
  counted (the reactive path handles them).

CloudTrail's event times are whole seconds: the lookup starts at the second the version
became current, so a call in that same second counts as after it (the safe side).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.iam_keys import IamKeys
from credfix.adapters.readers.key_history import KeyHistory
from credfix.core.locate.context import LocateContext
from credfix.core.locate.merge import Candidates
from credfix.core.locate.source_ip import locate_by_ip
from credfix.keys import redact
from credfix.models.incident import Evidence, Source, SourceAttribution, Workload
from credfix.models.rotation import KeyUse, OldKey, Rotation
from credfix.timefmt import iso_z

GLOBAL_REGION = "us-east-1"  # IAM and STS (global endpoint) calls are recorded here
MAX_LOOKUPS = 250  # LookupEvents records read per key and region (5 pages of 50)


@dataclass
class Usage:
    old_keys: list[OldKey] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)  # successful uses, per address
    located: list[Workload] = field(default_factory=list)
    attribution: list[SourceAttribution] = field(default_factory=list)
    findings: list[Evidence] = field(default_factory=list)


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _regions(rotation: Rotation, facts_region: str | None, used_after: bool) -> list[str]:
    regions = [rotation.region, GLOBAL_REGION]
    if used_after and facts_region:
        regions.append(facts_region)
    return list(dict.fromkeys(regions))


def _sources(uses: Iterable[KeyUse]) -> list[Source]:
    by_address: dict[tuple[str | None, str | None], Source] = {}
    for use in uses:
        if not use.succeeded:
            continue
        key = (use.ip, use.vpc_endpoint_id)
        known = by_address.get(key)
        if known is None:
            by_address[key] = Source(
                ip=use.ip,
                user_agent=use.user_agent,
                vpc_endpoint_id=use.vpc_endpoint_id,
                count=1,
                last_seen=use.at,
            )
        else:
            last = max(known.last_seen or use.at, use.at)
            by_address[key] = known.model_copy(update={"count": known.count + 1, "last_seen": last})
    return sorted(by_address.values(), key=lambda s: -s.count)


def old_key_usage(
    client_for: ClientFactory, ctx: LocateContext, rotation: Rotation, *, account: str | None
) -> Usage:
    """The old keys' state and use since the rotation, and the workloads their successful uses
    came from. Raises ClientError/BotoCoreError when IAM cannot be read (no verdict without it)."""
    usage = Usage()
    since = whole_second(rotation.became_current)
    iam = IamKeys(client_for("iam"))
    found = Candidates()
    all_uses: list[KeyUse] = []
    for key in rotation.old_keys:
        facts = iam.describe(key)
        after = facts is not None and facts.last_used_at is not None and facts.last_used_at >= since
        regions = _regions(rotation, facts.last_used_region if facts else None, after)
        uses: list[KeyUse] = []
        truncated = False
        for region in regions:
            try:
                page = KeyHistory(client_for("cloudtrail", region), region).uses(
                    key, since, limit=MAX_LOOKUPS
                )
            except (ClientError, BotoCoreError) as exc:
                code = (
                    exc.response.get("Error", {}).get("Code", "error") if isinstance(exc, ClientError) else ""
                )
                usage.findings.append(
                    Evidence(
                        check=f"cloudtrail:LookupEvents {redact(key)} in {region}",
                        found=f"failed: {code or type(exc).__name__}: the old key's use there is not known",
                    )
                )
                continue
            uses.extend(u for u in page.items if u.at >= since)
            truncated = truncated or page.truncated
        uses.sort(key=lambda u: u.at, reverse=True)
        usage.old_keys.append(OldKey(key, facts, tuple(uses), tuple(regions), truncated))
        all_uses.extend(uses)
    usage.sources = _sources(all_uses)
    for source in usage.sources:
        region = next(
            (u.region for u in all_uses if (u.ip, u.vpc_endpoint_id) == (source.ip, source.vpc_endpoint_id)),
            rotation.region,
        )
        hit = locate_by_ip(
            ctx,
            found,
            source.ip,
            list(dict.fromkeys([region, rotation.region])),
            vpc_endpoint_id=source.vpc_endpoint_id,
            account=account,
            incident_key=rotation.old_keys[0],
            last_seen=source.last_seen or rotation.became_current,
        )
        usage.attribution.append(hit.attribution)
    usage.located = [
        w.model_copy(
            update={"evidence": [*w.evidence, f"used the old key successfully after {iso_z(since)}"]}
        )
        for w in found.ranked()
        if w.type != "vpc"
    ]
    return usage
