"""The Resource Groups Tagging API, read for explicit declarations: every resource of the
region tagged `credfix:consumes` (an EC2 instance, an ECS service, a Lambda function, or
anything credfix cannot infer), with the tag's value. GetResources supports no
resource-level permission, hence `on="*"`."""

from __future__ import annotations

from typing import Any

from credfix.adapters.readers.paging import capped
from credfix.models.paging import Page
from credfix.permissions import needs


class DeclaredConsumers:
    def __init__(self, client: Any) -> None:
        self._tagging = client

    @needs("rotation", "tag:GetResources", on="*")
    @needs("cli", "tag:GetResources", on="*")
    def tagged(self, tag_key: str, *, limit: int) -> Page[tuple[str, str]]:
        """(resource ARN, tag value) of every resource carrying `tag_key`, at most `limit`."""
        pages = self._tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": tag_key}])
        listed = capped(pages, "ResourceTagMappingList", limit)
        found: list[tuple[str, str]] = []
        for mapping in listed.items:
            for tag in mapping.get("Tags") or []:
                if tag.get("Key") == tag_key and mapping.get("ResourceARN"):
                    found.append((str(mapping["ResourceARN"]), str(tag.get("Value") or "")))
        return Page(found, listed.truncated)
