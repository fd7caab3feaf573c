"""IAM reads (never writes): the instance profiles that carry a role, so that temporary
credentials issued to that role can be traced to the instances using the profiles."""

from __future__ import annotations

from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.models.paging import Page
from credfix.permissions import needs


class InstanceProfiles:
    def __init__(self, client: Any) -> None:
        self._iam = client

    @needs("triage", "iam:ListInstanceProfilesForRole", on="iam-roles")
    @needs("cli", "iam:ListInstanceProfilesForRole", on="iam-roles")
    def arns_for_role(self, role_name: str, *, limit: int) -> Page[str]:
        pages = self._iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=role_name)
        scanned = capped(pages, "InstanceProfiles", limit)
        return Page([p["Arn"] for p in scanned.items], scanned.truncated)
