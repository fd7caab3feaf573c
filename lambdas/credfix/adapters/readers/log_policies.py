"""CloudWatch Logs account policies, read for `credfix doctor`: the account-level subscription
filter policy of this account and region (one at most), which the runtime-log signal is."""

from __future__ import annotations

import json
from typing import Any

from credfix.models.logs import SubscriptionPolicy
from credfix.permissions import needs


@needs("cli", "logs:DescribeAccountPolicies", on="*")
def read_subscription_policies(logs: Any) -> list[SubscriptionPolicy]:
    found = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY").get("accountPolicies", [])
    policies = []
    for policy in found:
        try:
            document = json.loads(policy.get("policyDocument") or "{}")
        except ValueError:
            document = {}
        policies.append(
            SubscriptionPolicy(
                name=str(policy.get("policyName", "")),
                destination=str(document.get("DestinationArn", "")),
                filter_pattern=str(document.get("FilterPattern", "")),
                selection_criteria=str(policy.get("selectionCriteria", "")),
            )
        )
    return policies
