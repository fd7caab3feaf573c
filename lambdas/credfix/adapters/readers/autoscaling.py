"""Auto Scaling reads: which group an instance belongs to, when its tags do not say."""

from __future__ import annotations

from typing import Any

from credfix.permissions import needs


class AutoScaling:
    def __init__(self, client: Any) -> None:
        self._asg = client

    @needs("triage", "autoscaling:DescribeAutoScalingInstances", on="*")
    @needs("rotation", "autoscaling:DescribeAutoScalingInstances", on="*")
    @needs("cli", "autoscaling:DescribeAutoScalingInstances", on="*")
    def group_of(self, instance_id: str) -> str | None:
        resp = self._asg.describe_auto_scaling_instances(InstanceIds=[instance_id])
        for raw in resp.get("AutoScalingInstances", []):
            return str(raw["AutoScalingGroupName"])
        return None
