"""The detection rule: CloudTrail records of credential failures on the default bus."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_events as events
from constructs import Construct

from credfix.models.cloudtrail import DETAIL_TYPE

# Without this State, EventBridge only delivers CloudTrail *write* (mutating) management
# events; failures of Get/List/Describe calls, e.g. sts:GetCallerIdentity, never arrive.
ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def event_pattern(error_codes: tuple[str, ...]) -> dict[str, Any]:
    return {"detail-type": [DETAIL_TYPE], "detail": {"errorCode": list(error_codes)}}


def credential_failure_rule(
    scope: Construct,
    construct_id: str,
    *,
    error_codes: tuple[str, ...],
    description: str,
    event_bus: events.IEventBus | None = None,
    state: str = ALL_MANAGEMENT_EVENTS,
) -> events.Rule:
    rule = events.Rule(
        scope,
        construct_id,
        description=description,
        event_bus=event_bus,
        event_pattern=events.EventPattern(detail_type=[DETAIL_TYPE], detail={"errorCode": list(error_codes)}),
    )
    # The L2 Rule only knows ENABLED/DISABLED: set the State on the L1 resource.
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    cfn_rule.add_property_override("State", state)
    return rule
