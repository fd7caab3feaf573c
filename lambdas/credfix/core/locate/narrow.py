"""Locator 3, applied: the user agent and NAT-gateway narrowing adjust candidates found by
the other locators; and, when nothing else was found, a Lambda runtime in `exec-env`
names low-confidence candidates (never more)."""

from __future__ import annotations

from functools import partial

from credfix.core.locate.compute import function_workload, functions
from credfix.core.locate.context import LocateContext
from credfix.core.locate.merge import Candidates, lower
from credfix.core.locate.user_agent import UserAgent

MAX_RUNTIME_CANDIDATES = 5


def apply_user_agent(found: Candidates, workload_id: str, agents: list[UserAgent]) -> None:
    """Agreement adds evidence (ranks higher); disagreement with every opinionated agent
    demotes one step. Agents without a platform opinion change nothing."""
    workload = found.get(workload_id)
    if workload is None or workload.type == "vpc":
        return
    opinions = [ua for ua in agents if ua.workload_types]
    if not opinions:
        return
    agreeing = [ua for ua in opinions if workload.type in ua.workload_types]
    if agreeing:
        ua = agreeing[0]
        found.update(workload_id, evidence=f"user agent ({ua.describe()}) fits workload type {workload.type}")
        if ua.platform == "ecs-ec2" and workload.type == "ec2-instance":
            found.update(
                workload_id,
                evidence="exec-env AWS_ECS_EC2: likely an ECS task in bridge or host network mode "
                "on this instance",
            )
    else:
        ua = opinions[0]
        found.update(
            workload_id,
            evidence=f"user agent ({ua.describe()}) does not fit workload type {workload.type}",
            confidence=lower(workload.confidence),
        )


def apply_vpc_narrowing(ctx: LocateContext, found: Candidates, nat_vpcs: set[str]) -> None:
    """Only called when every IP source came through a NAT gateway: candidates in another VPC
    cannot have sent those requests."""
    resolve_subnets(ctx)
    for workload in found.all():
        vpc = ctx.vpc_of.get(workload.id)
        if workload.type == "vpc" or vpc is None:
            continue
        if vpc in nat_vpcs:
            found.update(
                workload.id, evidence=f"runs in {vpc}, behind the NAT gateway the requests came from"
            )
        else:
            found.update(
                workload.id,
                evidence=f"runs in {vpc}, not behind the NAT gateway the requests came from",
                confidence=lower(workload.confidence),
            )


def locate_by_lambda_runtime(
    ctx: LocateContext, found: Candidates, regions: list[str], agent: UserAgent
) -> None:
    runtime = agent.lambda_runtime
    if not runtime:
        return
    for region in regions:
        matching = [fn for fn in functions(ctx, region) if fn.runtime == runtime]
        if len(matching) > MAX_RUNTIME_CANDIDATES:
            ctx.note(
                f"user agent exec-env/{agent.exec_env}",
                f"{len(matching)} functions in {region} run {runtime}: too many to name as candidates",
            )
            continue
        for fn in matching:
            found.add(
                function_workload(
                    fn,
                    region,
                    confidence="low",
                    evidence=[
                        f"only the user agent points here: exec-env/{agent.exec_env} and runtime {runtime}"
                    ],
                )
            )


def resolve_subnets(ctx: LocateContext) -> None:
    """VPCs of candidates known only by their subnets (ECS services and tasks): one
    ec2:DescribeSubnets per region."""
    by_region: dict[str | None, set[str]] = {}
    for workload_id, (region, subnet_ids) in ctx.subnets_of.items():
        if workload_id not in ctx.vpc_of and subnet_ids:
            by_region.setdefault(region, set()).update(subnet_ids)
    for region, wanted in by_region.items():
        lookup = partial(ctx.ec2(region).vpc_of_subnets, sorted(wanted))
        vpcs = (
            ctx.memo(
                ("subnet-vpcs", region, tuple(sorted(wanted))),
                partial(ctx.attempt, f"ec2:DescribeSubnets in {region}", lookup),
            )
            or {}
        )
        for workload_id, (in_region, ids) in ctx.subnets_of.items():
            vpcs_of_workload = {vpcs[s] for s in ids if s in vpcs}
            if in_region == region and len(vpcs_of_workload) == 1 and workload_id not in ctx.vpc_of:
                ctx.vpc_of[workload_id] = vpcs_of_workload.pop()
