"""Workloads from EC2 instances and Lambda functions, shared by the IP and role locators."""

from __future__ import annotations

from credfix.arns import account_of, region_of
from credfix.core.locate.arns import ec2_arn
from credfix.core.locate.context import LocateContext
from credfix.models.compute import Function, Instance
from credfix.models.incident import Confidence, ConfiguredCredential, Workload

ASG_TAG = "aws:autoscaling:groupName"
# Instance tags naming the cluster of an EKS node; the last is on the VPC CNI's own interfaces.
EKS_TAGS = ("eks:cluster-name", "aws:eks:cluster-name", "cluster.k8s.amazonaws.com/name")
EKS_TAG_PREFIX = "kubernetes.io/cluster/"


def functions(ctx: LocateContext, region: str | None) -> list[Function]:
    """All Lambda functions of the region (up to the cap), listed once per invocation."""

    def scan() -> list[Function]:
        page = ctx.attempt(
            f"lambda:ListFunctions in {region}", lambda: ctx.lambdas(region).functions(limit=ctx.scan_limit)
        )
        return ctx.capped(f"lambda:ListFunctions in {region}", page) if page else []

    return ctx.memo(("lambda-functions", region), scan)


def function_workload(fn: Function, region: str, *, confidence: Confidence, evidence: list[str]) -> Workload:
    return Workload(
        type="lambda-function",
        id=fn.arn,
        confidence=confidence,
        evidence=evidence,
        region=region_of(fn.arn) or region,
        account=account_of(fn.arn),
        credentials=[ConfiguredCredential(kind="role", ref=fn.role)] if fn.role else [],
    )


def runner_tag_matches(tags: dict[str, str], runner_tags: tuple[str, ...]) -> list[str]:
    """The configured runner tags (`KEY` = key present, `KEY=VALUE` = exact value) an instance carries."""
    hits: list[str] = []
    for entry in runner_tags:
        key, sep, value = entry.partition("=")
        if key in tags and (not sep or tags[key] == value):
            hits.append(f"{key}={tags[key]}" if tags[key] else key)
    return hits


def eks_cluster(tags: dict[str, str]) -> str | None:
    for key in EKS_TAGS:
        if tags.get(key):
            return tags[key]
    for key in tags:
        if key.startswith(EKS_TAG_PREFIX) and key != EKS_TAG_PREFIX:
            return key.removeprefix(EKS_TAG_PREFIX)
    return None


def instance_workload(
    ctx: LocateContext, instance: Instance, region: str, *, confidence: Confidence, evidence: list[str]
) -> Workload:
    lines = list(evidence)
    group = instance.tags.get(ASG_TAG)
    if group is None and instance.tags.get("aws:ec2launchtemplate:id"):
        # Launched from a template but no group tag visible: ask Auto Scaling directly.
        group = ctx.attempt(
            f"autoscaling:DescribeAutoScalingInstances {instance.id}",
            lambda: ctx.autoscaling(region).group_of(instance.id),
        )
    if group:
        lines.append(f"member of Auto Scaling group {group}")
    runner = runner_tag_matches(instance.tags, ctx.settings.runner_tags)
    if runner:
        lines.append(f"tagged as a CI runner ({', '.join(runner)})")
    cluster = eks_cluster(instance.tags)
    if cluster:
        lines.append(f"node of EKS cluster {cluster}")
    if instance.state and instance.state != "running":
        lines.append(f"instance state is {instance.state}")
    if instance.vpc_id:
        ctx.vpc_of[ec2_arn(region, instance.owner_id, "instance", instance.id)] = instance.vpc_id
    return Workload(
        type="eks-node" if cluster else "ec2-instance",
        id=ec2_arn(region, instance.owner_id, "instance", instance.id),
        confidence=confidence,
        evidence=lines,
        region=region,
        account=instance.owner_id,
        parent=group,
        cluster=cluster,
        started_at=instance.launch_time,
        credentials=(
            [ConfiguredCredential(kind="instance-profile", ref=instance.instance_profile_arn)]
            if instance.instance_profile_arn
            else []
        ),
    )
