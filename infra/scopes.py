"""IAM scopes for the resource kinds the code declares (`@needs(..., on=KIND)`) that live in
the workloads' account: used by the home stack and, in organisation mode, by the member
roles (the same kinds, evaluated in the member account)."""

from __future__ import annotations

from infra.config import CredfixConfig
from infra.eks import eks_scopes
from infra.policy import Scope, arn

OPT_OUT = {"StringNotEquals": {"aws:ResourceTag/credfix:remediate": "false"}}
WATCHED = {"StringEquals": {"secretsmanager:ResourceTag/credfix:watch": "true"}}


def workload_scopes(config: CredfixConfig) -> dict[str, list[Scope]]:
    watched = [
        Scope(
            [arn("secretsmanager", "secret:*")],
            WATCHED,
            why="Watched secrets are chosen by tag (credfix:watch=true); the tag condition is the scope.",
        )
    ]
    if config.watch_prefixes:
        watched.append(
            Scope(
                [arn("secretsmanager", f"secret:{p}*") for p in config.watch_prefixes],
                why="Watched secrets by configured name prefix (secret ARNs end in a random suffix).",
            )
        )
    return {
        "watched-secrets": watched,
        "secrets-manager-keys": [
            Scope(
                [arn("kms", "key/*")],
                {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
                why="Watched secrets may use a customer-managed KMS key; decryption is allowed only "
                "through Secrets Manager (kms:ViaService), for keys of this account.",
            )
        ],
        "iam-users": [
            Scope(
                [arn("iam", "user/*", region="")],
                why="Access-key lifecycle reads (ListAccessKeys, GetAccessKeyLastUsed) for whichever user "
                "owns the failing key.",
            )
        ],
        "iam-roles": [
            Scope(
                [arn("iam", "role/*", region="")],
                why="Read-only role lookups (the role behind a failing session, the roles workloads use).",
            )
        ],
        "ecs-services": [
            Scope(
                [arn("ecs", "service/*")],
                OPT_OUT,
                why="Any ECS service here may hold a stale consumer; services tagged "
                "credfix:remediate=false are excluded.",
            )
        ],
        "ecs-tasks": [
            Scope(
                [arn("ecs", "task/*")],
                OPT_OUT,
                why="ECS tasks here; tasks tagged credfix:remediate=false are excluded.",
            )
        ],
        "ecs-resources": [
            Scope(
                [arn("ecs", "cluster/*"), arn("ecs", "service/*"), arn("ecs", "task/*")],
                why="Reading the opt-out tag of a task, its service and its cluster.",
            )
        ],
        "lambda-functions": [
            Scope(
                [arn("lambda", "function:*")],
                OPT_OUT,
                why="Any function here may cache a stale key; opted-out functions are excluded.",
            )
        ],
        "autoscaling-groups": [
            Scope(
                [arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*")],
                OPT_OUT,
                why="Runner Auto Scaling groups here; groups tagged credfix:remediate=false are excluded.",
            )
        ],
        "ec2-instances": [
            Scope(
                [arn("ec2", "instance/*")],
                OPT_OUT,
                why="Runner instances here; instances tagged credfix:remediate=false are excluded.",
            )
        ],
        "ssm-shell-document": [
            Scope(
                [arn("ssm", "document/AWS-RunShellScript", account="")],
                why="The one AWS-owned document credfix runs (only with a configured command).",
            )
        ],
        "secret-rotation-functions": [
            Scope(
                [arn("lambda", "function:*")],
                why="RotateSecret invokes the secret's own rotation function, whichever it is.",
            )
        ],
        **eks_scopes(config.eks),
    }


def member_role_scopes(config: CredfixConfig) -> list[Scope]:
    org = config.org
    return [
        Scope(
            [
                arn("iam", f"role/{org.member_read_role_name}", "", account="*"),
                arn("iam", f"role/{org.member_act_role_name}", "", account="*"),
            ],
            {"StringEquals": {"aws:ResourceOrgID": org.organization_id or "o-none"}},
            why="credfix's member roles in the organisation's accounts (org mode only).",
        )
    ]
