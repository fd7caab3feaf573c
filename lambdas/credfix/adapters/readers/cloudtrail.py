"""CloudTrail trails, read for `credfix doctor` (EventBridge only sees what a trail logs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credfix.permissions import needs


@dataclass(frozen=True)
class TrailInfo:
    name: str
    home_region: str
    multi_region: bool
    global_service_events: bool
    logging: bool
    basic_selectors: list[dict[str, Any]] = field(default_factory=list)
    advanced_selectors: list[dict[str, Any]] = field(default_factory=list)


@needs(
    "cli", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors", on="*"
)
def read_trails(cloudtrail: Any) -> list[TrailInfo]:
    trails = []
    for trail in cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", []):
        arn = trail["TrailARN"]
        status = cloudtrail.get_trail_status(Name=arn)
        selectors = cloudtrail.get_event_selectors(TrailName=arn)
        trails.append(
            TrailInfo(
                name=trail["Name"],
                home_region=trail.get("HomeRegion", ""),
                multi_region=bool(trail.get("IsMultiRegionTrail")),
                global_service_events=bool(trail.get("IncludeGlobalServiceEvents")),
                logging=bool(status.get("IsLogging")),
                basic_selectors=selectors.get("EventSelectors") or [],
                advanced_selectors=selectors.get("AdvancedEventSelectors") or [],
            )
        )
    return trails
