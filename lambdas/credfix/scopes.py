"""IAM scopes: what each resource kind the code declares with `@needs(..., on=KIND)` means as
resources and conditions. One source for the CDK stacks (infra/, which build every Lambda's
policy from it) and for `credfix permissions` (which prints the same statements), so that the
policy a person pastes is the policy the stack deploys.

ARNs are written with CloudFormation's pseudo parameters (`${AWS::Partition}`,
`${AWS::AccountId}`), which the stacks resolve at deploy time and the CLI prints as they are.
Resources the home stack creates (its table, queues, topic, key, kill switch, functions) are
`${credfix:KIND}` placeholders here; the home stack maps them to its own resources.

A kind mapped to an empty list is declared by the code but deployed without any permission in
this configuration (the SSM command without `ssm_command`): the call it guards is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credfix.core.remediate.model import (
    OPT_OUT_TAG,
    OPT_OUT_VALUE,
    ROTATION_FUNCTION_TAG,
    SSM_DOCUMENT_NAME,
    SSM_OPT_IN_TAG,
    TAG_TRUE,
)
from credfix.permissions import Role
from credfix.registry import policy_for

PARTITION = "${AWS::Partition}"
ACCOUNT = "${AWS::AccountId}"
PSEUDO_PARAMETERS = ("AWS::Partition", "AWS::AccountId", "AWS::Region")
WATCH_TAG = "credfix:watch"

# Each Lambda's function (placeholders for the CLI, the functions' ARNs in the stack).
FUNCTION_ROLES: tuple[Role, ...] = ("ingest", "triage", "act", "verify", "sweep", "rotation")
# Kinds that exist only in the home account, created by the home stack: never granted by a
# member account's role.
HOME_KINDS = (
    "incidents-table",
    "events-dlq",
    "work-queue",
    "bulk-queue",
    "act-queue",
    "act-bulk-queue",
    "verify-queue",
    "rotation-dlq",
    "alerts-topic",
    "alerts-topic-key",
    "kill-switch-parameter",
    "credfix-queues",
    "credfix-queues-key",
    "member-roles",
    "home-stack",  # its outputs, read by the day-two verbs (operator)
)

OPT_OUT = {"StringNotEquals": {f"aws:ResourceTag/{OPT_OUT_TAG}": OPT_OUT_VALUE}}
WATCHED = {"StringEquals": {f"secretsmanager:ResourceTag/{WATCH_TAG}": TAG_TRUE}}
SSM_OPTED_IN = {"StringEquals": {f"ssm:resourceTag/{SSM_OPT_IN_TAG}": TAG_TRUE}}
ROTATION_FUNCTION = {"StringEquals": {f"aws:ResourceTag/{ROTATION_FUNCTION_TAG}": TAG_TRUE}}


def placeholder(name: str) -> str:
    """A value the home stack resolves: `${credfix:incidents-table}`, `${credfix:function/act}`."""
    return "${credfix:" + name + "}"


def arn(service: str, resource: str, region: str = "*", *, account: str = ACCOUNT) -> str:
    """An ARN pattern in the deploying partition; in this account unless `account` is given
    ("" for AWS-owned resources, "*" for any account)."""
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True)
class Scope:
    resources: tuple[str, ...]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""  # required when a resource holds a wildcard: goes into the cdk-nag acknowledgement


@dataclass(frozen=True)
class Deployment:
    """The settings the scopes depend on (from the cdk.json context, or the CLI's flags)."""

    untagged_watch_prefixes: tuple[str, ...] = ()  # watch_prefixes, only with watch_untagged=true
    ssm_command: bool = False  # an SSM command is configured (its document exists)
    organization_id: str = ""
    member_role_names: tuple[str, ...] = ()
    eks_clusters: tuple[str, ...] = ()  # eks.clusters: the clusters credfix reaches (none: any)


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    effect: str = "Allow"

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": list(self.actions),
            "Resource": list(self.resources),
        }
        if self.conditions:
            doc["Condition"] = {k: dict(v) for k, v in self.conditions.items()}
        return doc


def workload_scopes(d: Deployment) -> dict[str, list[Scope]]:
    """Kinds that live in the workloads' account: the home account's, and in organisation mode
    each member account's (the same kinds, evaluated there)."""
    watched = [
        Scope(
            (arn("secretsmanager", "secret:*"),),
            WATCHED,
            why="Watched secrets are chosen by tag (credfix:watch=true); the tag condition is the scope.",
        )
    ]
    if d.untagged_watch_prefixes:
        watched.append(
            Scope(
                tuple(arn("secretsmanager", f"secret:{p}*") for p in d.untagged_watch_prefixes),
                why="Secrets under the configured name prefixes, watched without the tag because the "
                "operator set watch_untagged=true (secret ARNs end in a random suffix).",
            )
        )
    ssm_command = d.ssm_command
    return {
        "watched-secrets": watched,
        "secrets-manager-keys": [
            Scope(
                (arn("kms", "key/*"),),
                {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
                why="Watched secrets may use a customer-managed KMS key; decryption is allowed only "
                "through Secrets Manager (kms:ViaService), for keys of this account.",
            )
        ],
        "iam-users": [
            Scope(
                (arn("iam", "user/*", region=""),),
                why="Access-key lifecycle reads (ListAccessKeys, GetAccessKeyLastUsed) for whichever user "
                "owns the failing key.",
            )
        ],
        "iam-roles": [
            Scope(
                (arn("iam", "role/*", region=""),),
                why="Read-only role lookups (the role behind a failing session, the roles workloads use).",
            )
        ],
        "ecs-services": [
            Scope(
                (arn("ecs", "service/*"),),
                OPT_OUT,
                why="Any ECS service here may hold a stale consumer; services tagged "
                "credfix:remediate=false are excluded.",
            )
        ],
        "ecs-tasks": [
            Scope(
                (arn("ecs", "task/*"),),
                OPT_OUT,
                why="ECS tasks here; tasks tagged credfix:remediate=false are excluded.",
            )
        ],
        "ecs-resources": [
            Scope(
                (arn("ecs", "cluster/*"), arn("ecs", "service/*"), arn("ecs", "task/*")),
                why="Reading the opt-out tag of a task, its service and its cluster.",
            )
        ],
        "codebuild-projects": [
            Scope(
                (arn("codebuild", "project/*"),),
                why="Read-only: the project (and its builds) whose log group /aws/codebuild/NAME showed "
                "a credential failure, whichever project it is.",
            )
        ],
        "lambda-functions": [
            Scope(
                (arn("lambda", "function:*"),),
                OPT_OUT,
                why="Any function here may cache a stale key; functions tagged credfix:remediate=false "
                "(credfix's own among them, which are also denied by ARN) are excluded.",
            )
        ],
        "autoscaling-groups": [
            Scope(
                (arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),),
                OPT_OUT,
                why="Runner Auto Scaling groups here; groups tagged credfix:remediate=false are excluded.",
            )
        ],
        # SendCommand is authorised on the document and on each instance: both must allow it.
        "ssm-command-document": [
            Scope(
                (arn("ssm", f"document/{SSM_DOCUMENT_NAME}"),),
                why="credfix's own command document (created from ssm_command in each covered region, "
                "hence any region), the only document the act role may run.",
            )
        ]
        if ssm_command
        else [],
        "ssm-command-instances": [
            Scope(
                (arn("ec2", "instance/*"),),
                SSM_OPTED_IN,
                why="Only instances that opted in with the tag credfix:ssm-command=true run credfix's "
                "command document (and only when ssm_command is configured).",
            )
        ]
        if ssm_command
        else [],
        "secret-rotation-functions": [
            Scope(
                (arn("lambda", "function:*"),),
                ROTATION_FUNCTION,
                why="RotateSecret needs lambda:InvokeFunction on the secret's rotation function; only "
                "functions tagged credfix:rotation-function=true (the watched secrets' rotation "
                "functions) may be invoked this way.",
            )
        ],
        **eks_scopes(d.eks_clusters),
    }


def eks_scopes(clusters: tuple[str, ...]) -> dict[str, list[Scope]]:
    """The clusters named in context, or every cluster of the account when none is (read-only
    calls; without an access entry a cluster's Kubernetes API refuses credfix anyway)."""
    names = clusters or ("*",)
    which = "the clusters named in context" if clusters else "any cluster of the account"
    return {
        "eks-clusters": [
            Scope(
                tuple(arn("eks", f"cluster/{n}") for n in names),
                why=f"DescribeCluster (API endpoint and CA), ListFargateProfiles and "
                f"ListPodIdentityAssociations of {which}, in any covered region.",
            )
        ],
        "eks-fargate-profiles": [
            Scope(
                tuple(arn("eks", f"fargateprofile/{n}/*") for n in names),
                why=f"The Fargate profiles of {which}: which subnets run their pods.",
            )
        ],
        "eks-pod-identity-associations": [
            Scope(
                tuple(arn("eks", f"podidentityassociation/{n}/*") for n in names),
                why=f"The role of a Pod Identity association of {which} (the listing has none).",
            )
        ],
        "eks-access-entries": [
            Scope(
                tuple(arn("eks", f"access-entry/{n}/*") for n in names),
                why=f"`credfix doctor --eks-cluster`: the access entries of credfix's roles in {which}.",
            )
        ],
    }


def relay_scopes() -> dict[str, list[Scope]]:
    """A runtime-log relay (another region, a member account): its own region's default bus,
    where it puts the lines it recognised for the forwarding rule to take home."""
    return {"log-relay-bus": [Scope((arn("events", "event-bus/default", region="${AWS::Region}"),))]}


def member_role_scopes(d: Deployment) -> list[Scope]:
    return [
        Scope(
            tuple(arn("iam", f"role/{name}", "", account="*") for name in d.member_role_names),
            {"StringEquals": {"aws:ResourceOrgID": d.organization_id or "o-none"}},
            why="credfix's member roles in the organisation's accounts (org mode only).",
        )
    ]


def home_scopes(resources: Mapping[str, str]) -> dict[str, list[Scope]]:
    """The home stack's own resources, one ARN each (`resources`: kind -> ARN or placeholder)."""
    return {kind: [Scope((value,))] for kind, value in resources.items()}


def placeholder_home_scopes() -> dict[str, list[Scope]]:
    """What `credfix permissions` prints for the home stack's resources."""
    named = {kind: placeholder(kind) for kind in HOME_KINDS if kind not in ("member-roles",)}
    named["credfix-queues"] = arn("sqs", "credfix-*")
    named["credfix-queues-key"] = placeholder("alerts-topic-key")
    named["home-stack"] = arn("cloudformation", "stack/credfix-home/*")
    return {**home_scopes(named), **operator_scopes()}


def operator_scopes() -> dict[str, list[Scope]]:
    """What only people's roles read, outside any stack: the bucket their CloudTrail trail
    writes to (`credfix diagnose s3://...`), named by them when they attach the policy."""
    bucket = placeholder("trail-bucket")
    return {
        "trail-bucket": [
            Scope(
                (f"arn:{PARTITION}:s3:::{bucket}", f"arn:{PARTITION}:s3:::{bucket}/*"),
                why="The trail's bucket `credfix diagnose s3://...` lists and reads.",
            )
        ]
    }


def _sid(kind: str, n: int) -> str:
    base = "".join(part.title() for part in kind.replace("*", "any").split("-"))
    return f"{base}{n}" if n else base


def statements(
    roles: Iterable[Role], scopes: Mapping[str, list[Scope]], *, only: set[str] | None = None
) -> list[Statement]:
    """The roles' declared permissions as Allow statements, one per kind and scope (several
    roles merge: the actions of a kind are united); `only` limits them to some kinds. A kind
    the code declares and `scopes` does not map is an error: a new call cannot ship with a
    silently broader or missing permission."""
    merged: dict[str, set[str]] = {}
    for role in roles:
        for kind, actions in policy_for(role).items():
            if only is None or kind in only:
                merged.setdefault(kind, set()).update(actions)
    missing = sorted(set(merged) - set(scopes) - {"*"})
    if missing:
        raise ValueError(f"no IAM scope mapped for declared resource kinds {missing}")
    found: list[Statement] = []
    for kind in sorted(merged):
        for n, scope in enumerate(scopes.get(kind, ANY)):
            found.append(
                Statement(_sid(kind, n), tuple(sorted(merged[kind])), scope.resources, scope.conditions)
            )
    return found


def denies(roles: Iterable[Role], own_functions: Sequence[str]) -> list[Statement]:
    """What the act role must never do, whatever else allows it: touch credfix's own functions
    (read their environment, change it, invoke them: they also carry credfix:remediate=false),
    and attach a layer to any function (the refresh re-puts the environment and nothing else)."""
    if "act" not in set(roles):
        return []
    found = []
    if own_functions:
        found.append(
            Statement(
                "DenyCredfixOwnFunctions",
                (
                    "lambda:GetFunctionConfiguration",
                    "lambda:InvokeFunction",
                    "lambda:UpdateFunctionConfiguration",
                ),
                tuple(r for fn in own_functions for r in (fn, f"{fn}:*")),
                effect="Deny",
            )
        )
    found.append(
        Statement(
            "DenyLayerChanges",
            ("lambda:UpdateFunctionConfiguration",),
            ("*",),
            {"Null": {"lambda:Layer": "false"}},
            effect="Deny",
        )
    )
    return found


def own_function_placeholders() -> list[str]:
    return [placeholder(f"function/{role}") for role in FUNCTION_ROLES]


ANY = [
    Scope(
        ("*",),
        why="Describe/List APIs that support no resource-level permissions (declared with on='*' "
        "next to each call in credfix.adapters), and X-Ray tracing.",
    )
]
