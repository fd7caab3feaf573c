"""Locator 4: temporary (ASIA…) credentials -> the role that issued the session -> the
workloads configured with that role: ECS task roles, Lambda execution roles, and instance
profiles carrying the role (-> the instances associated with them)."""

from __future__ import annotations

from functools import partial

from credfix.core.locate.arns import role_identity, same_role
from credfix.core.locate.compute import function_workload, functions, instance_workload
from credfix.core.locate.context import LocateContext
from credfix.core.locate.ecs_config import locate_role_users_ecs
from credfix.core.locate.merge import Candidates


def locate_role_users(
    ctx: LocateContext, found: Candidates, regions: list[str], *, incident_key: str, session_issuer_arn: str
) -> None:
    role = role_identity(session_issuer_arn)
    if role is None:
        ctx.note("session issuer", f"{session_issuer_arn} is not an IAM role: no role users to look for")
        return
    for region in regions:
        locate_role_users_ecs(ctx, found, region, incident_key=incident_key, role=role)
        for fn in functions(ctx, region):
            if same_role(fn.role, role):
                found.add(
                    function_workload(
                        fn,
                        region,
                        confidence="medium",
                        evidence=[f"execution role {fn.role} is the role that issued the session"],
                    )
                )
    profiles_page = ctx.attempt(
        f"iam:ListInstanceProfilesForRole {role[1]}",
        lambda: ctx.instance_profiles().arns_for_role(role[1], limit=ctx.scan_limit),
    )
    profiles = (
        set(ctx.capped(f"iam:ListInstanceProfilesForRole {role[1]}", profiles_page))
        if profiles_page
        else set()
    )
    if not profiles:
        return
    for region in regions:
        ec2 = ctx.ec2(region)
        page = ctx.attempt(
            f"ec2:DescribeIamInstanceProfileAssociations in {region}",
            partial(ec2.instances_with_profiles, profiles, limit=ctx.scan_limit),
        )
        ids = ctx.capped(f"ec2:DescribeIamInstanceProfileAssociations in {region}", page) if page else []
        instances = ctx.attempt(f"ec2:DescribeInstances in {region}", partial(ec2.instances, ids)) or []
        for instance in instances:
            if instance.state in ("terminated", "shutting-down"):
                continue
            evidence = [
                f"instance profile {instance.instance_profile_arn} carries the role that issued the session"
            ]
            found.add(instance_workload(ctx, instance, region, confidence="medium", evidence=evidence))
