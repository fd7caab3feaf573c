"""Workload location: from a failing request to the task, runner, instance or function that
sent it (DESIGN.md §3).

Locators, each adding candidates with a confidence and evidence:
1. `source_ip`: source IP -> network interface -> ECS task / EC2 instance / Lambda function;
   a NAT gateway only narrows to its VPC.
2. `ecs_config.locate_secret_consumers`: ECS services whose task definitions read a watched
   secret, and their tasks started before the rotation; static keys in task definitions.
   `eks`: an address on an EKS node, branch or Fargate interface -> the pod and its deployment
   through the cluster's Kubernetes API; behind a NAT gateway, the pods of the VPC's clusters
   that sign with static keys or read a Secret synced from a watched secret.
3. `user_agent` / `narrow`: exec-env and SDK narrow and rank; never proof on their own.
4. `session_role`: ASIA keys -> the session issuer role -> workloads configured with it.
5. `logs`: a runtime-log source -> the function, project, task or instance whose log group and
   stream the lines were written to (attributed by construction).

AWS calls are bounded: when every source IP leads directly to a workload, no account-wide
scan runs; scans are paginated, memoised for the invocation and capped by
`Settings.scan_limit`, and a hit cap is reported as a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from credfix.adapters.aws import ClientFactory
from credfix.config import Settings
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import locate_secret_consumers, locate_static_key_users
from credfix.core.locate.logs import LogHit, locate_by_log
from credfix.core.locate.merge import Candidates
from credfix.core.locate.narrow import (
    apply_user_agent,
    apply_vpc_narrowing,
    locate_by_lambda_runtime,
    resolve_subnets,
)
from credfix.core.locate.session_role import locate_role_users
from credfix.core.locate.source_ip import attributable, locate_by_ip
from credfix.core.locate.user_agent import UserAgent, parse_user_agent
from credfix.keys import is_access_key_id, key_kind
from credfix.models.cloudtrail import source_ip_kind
from credfix.models.incident import Evidence, Incident, SourceAttribution, Workload

__all__ = ["LocateResult", "UserAgent", "any_attributable", "locate_workloads", "parse_user_agent"]


@dataclass
class LocateResult:
    workloads: list[Workload] = field(default_factory=list)  # merged by id, ranked
    findings: list[Evidence] = field(default_factory=list)
    attribution: list[SourceAttribution] = field(default_factory=list)  # one per source


def _regions(ctx: LocateContext, incident: Incident) -> list[str]:
    regions = list(dict.fromkeys(r for r in incident.regions if r))
    if not regions:
        regions = [ctx.default_region()]
        ctx.note("regions", f"the incident names no region: searched {regions[0]} only")
    return regions


def any_attributable(
    incident: Incident, client_for: ClientFactory, settings: Settings, *, account: str | None
) -> bool:
    """Whether any source of the incident can be attributed to the account (a few address
    lookups, shared with the full location that follows)."""
    if any(s.log for s in incident.sources):  # a workload's own log line: the account's by construction
        return True
    ctx = LocateContext(client_for, settings, account=account, fresh_after=incident.first_seen)
    regions = _regions(ctx, incident)
    return any(attributable(ctx, s.ip, s.vpc_endpoint_id, regions, account) for s in incident.sources)


def _by_log(
    ctx: LocateContext,
    found: Candidates,
    log: str,
    regions: list[str],
    account: str | None,
    incident: Incident,
) -> LogHit:
    """A log source's workload, in the first of the incident's regions that has it."""
    owner = account or (incident.accounts[0] if incident.accounts else "")
    key = incident.access_key_id or ""
    hit = locate_by_log(ctx, found, log, regions[0], owner, incident_key=key)
    for region in regions[1:]:
        if hit.resolved:
            break
        hit = locate_by_log(ctx, found, log, region, owner, incident_key=key)
    return hit


def locate_workloads(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    secret_arns: list[str],
    rotated_at: datetime | None,
    session_issuer_arn: str | None = None,
    account: str | None = None,
) -> LocateResult:
    """Candidates for the workload that signs with the incident's key, best first, and what
    each source address attributes (credfix.core.attribution).

    `secret_arns`: full ARNs of watched secrets that held the key; `rotated_at`: when the
    secret's current version replaced it (tasks started before are stale); for ASIA keys
    `session_issuer_arn`: the role ARN from the events' `userIdentity.sessionContext`;
    `account`: the account whose addresses and endpoints attribute (the one credfix reads).
    """
    ctx = LocateContext(client_for, settings, account=account, fresh_after=incident.first_seen)
    ctx.secret_arns, ctx.rotated_at = list(secret_arns), rotated_at
    found = Candidates()
    regions = _regions(ctx, incident)
    key = incident.access_key_id
    agents: list[UserAgent] = []
    unresolved = 0 if incident.sources else 1
    nat_vpcs: set[str] = set()
    attributed: list[SourceAttribution] = []

    for source in incident.sources:
        if source.log:  # a workload's own log line: the workload its group and stream name
            logged = _by_log(ctx, found, source.log, regions, account, incident)
            attributed.append(logged.attribution)
            unresolved += 0 if logged.resolved else 1
            continue
        agent = parse_user_agent(source.user_agent)
        if agent is not None:
            agents.append(agent)
        if source_ip_kind(source.ip) not in ("ipv4", "ipv6"):
            ctx.note(f"source {source.ip or '(missing)'}", "not an IP address: the IP locator does not apply")
        hit = locate_by_ip(
            ctx,
            found,
            source.ip,
            regions,
            vpc_endpoint_id=source.vpc_endpoint_id,
            account=account,
            incident_key=key,
            last_seen=incident.last_seen,
        )
        attributed.append(hit.attribution)
        for workload_id in hit.workload_ids:
            apply_user_agent(found, workload_id, [agent] if agent else [])
        nat_vpcs.update(hit.vpc_ids)
        if not hit.resolved:
            unresolved += 1
    direct = {w.id for w in found.all()}

    if unresolved == 0:
        ctx.note("account-wide scans", "skipped: every source IP led directly to a workload")
        return _result(ctx, found, attributed)
    if not is_access_key_id(key):  # a workload's incident (runtime logs): the scans look for a key
        return _result(ctx, found, attributed)

    temporary = key_kind(key) == "temporary"
    for region in regions:
        if not temporary:
            locate_static_key_users(ctx, found, region, incident_key=key)
        if secret_arns:
            locate_secret_consumers(
                ctx, found, region, incident_key=key, secret_arns=secret_arns, rotated_at=rotated_at
            )
    if nat_vpcs:
        # Behind a NAT gateway: the pods of the VPC's EKS clusters, by configuration.
        from credfix.core.locate.eks import locate_by_configuration

        for region in regions:
            locate_by_configuration(ctx, found, region, nat_vpcs, incident_key=key)
    if temporary:
        if session_issuer_arn:
            locate_role_users(ctx, found, regions, incident_key=key, session_issuer_arn=session_issuer_arn)
        else:
            ctx.note(
                "temporary credentials",
                "the incident names no session issuer role: its users were not searched",
            )
    if not any(w.type != "vpc" for w in found.all()):
        for agent in agents:
            locate_by_lambda_runtime(ctx, found, regions, agent)
    for workload in found.all():
        if workload.id not in direct:
            apply_user_agent(found, workload.id, agents)
    if nat_vpcs and not direct - {w.id for w in found.all() if w.type == "vpc"}:
        apply_vpc_narrowing(ctx, found, nat_vpcs)
    return _result(ctx, found, attributed)


def _result(ctx: LocateContext, found: Candidates, attributed: list[SourceAttribution]) -> LocateResult:
    """The ranked candidates, each with its VPC where known: a VPC-level attribution permits
    acting only on workloads shown to run in that VPC."""
    if any(a.scope == "vpc" for a in attributed):
        resolve_subnets(ctx)
    workloads = [
        w.model_copy(update={"vpc_id": ctx.vpc_of[w.id]}) if w.vpc_id is None and w.id in ctx.vpc_of else w
        for w in found.ranked()
    ]
    return LocateResult(workloads, ctx.findings, attributed)
