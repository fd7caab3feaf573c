"""EC2 / Auto Scaling calls of the act step: replace an instance of an Auto Scaling group
with a fresh one, and read the tags that can opt an instance or its group out."""

from __future__ import annotations

from typing import Any

from credfix.arns import instance_id
from credfix.permissions import needs


class Ec2Actions:
    def __init__(self, ec2: Any, autoscaling: Any) -> None:
        self._ec2 = ec2
        self._autoscaling = autoscaling

    @needs("act", "autoscaling:TerminateInstanceInAutoScalingGroup", on="autoscaling-groups")
    def recycle(self, instance: str) -> str:
        """Terminate the instance (ID or ARN) WITHOUT lowering desired capacity: the group
        launches a new instance from its launch template, which starts with fresh credentials.
        Returns the scaling activity id."""
        resp = self._autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id(instance), ShouldDecrementDesiredCapacity=False
        )
        return str(resp.get("Activity", {}).get("ActivityId", ""))

    @needs("act", "ec2:DescribeTags", on="*")  # DescribeTags has no resource-level permission
    def instance_tags(self, instance: str) -> dict[str, str]:
        """Tags of an instance given by ID or ARN (the filter takes the ID only)."""
        resp = self._ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id(instance)]}])
        return {t["Key"]: t.get("Value", "") for t in resp.get("Tags", [])}

    @needs("act", "autoscaling:DescribeTags", on="*")  # no resource-level permission either
    def group_tags(self, group_name: str) -> dict[str, str]:
        resp = self._autoscaling.describe_tags(
            Filters=[{"Name": "auto-scaling-group", "Values": [group_name]}]
        )
        return {t["Key"]: t.get("Value", "") for t in resp.get("Tags", [])}
