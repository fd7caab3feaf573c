"""The deployment's view of credfix.scopes (the one mapping of resource kinds to IAM scopes,
shared with `credfix permissions`): the scopes of the workloads' account for a configuration,
used by the home stack and, in organisation mode, by the member roles."""

from __future__ import annotations

from credfix.scopes import Deployment, Scope
from credfix.scopes import member_role_scopes as _member_role_scopes
from credfix.scopes import workload_scopes as _workload_scopes
from infra.config import CredfixConfig


def deployment(config: CredfixConfig) -> Deployment:
    return Deployment(
        untagged_watch_prefixes=config.untagged_watch_prefixes,
        ssm_command=bool(config.ssm_command),
        organization_id=config.org.organization_id,
        member_role_names=(
            config.org.member_read_role_name,
            config.org.member_act_role_name,
            config.org.member_rotation_role_name,
        ),
        eks_clusters=tuple(config.eks.clusters),
    )


def workload_scopes(config: CredfixConfig) -> dict[str, list[Scope]]:
    return _workload_scopes(deployment(config))


def member_role_scopes(config: CredfixConfig) -> list[Scope]:
    return _member_role_scopes(deployment(config))
