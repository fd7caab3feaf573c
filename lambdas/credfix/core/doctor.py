"""Preflight for a deployment: is there a trail whose records EventBridge can deliver? And, for
EKS clusters credfix should reach: the access entries of its roles, and an API that answers.

EventBridge receives CloudTrail management events only while a trail logs them; IAM and
STS failures are logged in us-east-1 only, so the trail must be multi-region (or at least
cover us-east-1) and include global service events, and it must log read events too, or
failures of Get/List/Describe calls (sts:GetCallerIdentity!) are missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from credfix.adapters.readers.cloudtrail import TrailInfo
from credfix.models.kubernetes import EksCluster
from credfix.models.logs import FILTER_TERMS, POLICY_NAME, SubscriptionPolicy


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def logs_all_management_events(trail: TrailInfo) -> bool:
    if not trail.basic_selectors and not trail.advanced_selectors:
        return True  # a trail without selectors logs all management events
    for s in trail.basic_selectors:
        if s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") == "All":
            return True
    for s in trail.advanced_selectors:
        fields = {f["Field"]: f for f in s.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {}).get("Equals", [])
        if "Management" in category and "readOnly" not in fields:
            return True
    return False


def check_trails(trails: list[TrailInfo]) -> DoctorReport:
    report = DoctorReport()
    usable = [t for t in trails if t.logging and t.multi_region and logs_all_management_events(t)]
    report.checks.append(
        Check(
            "multi-region trail logging all management events",
            bool(usable),
            f"{usable[0].name} (home {usable[0].home_region})"
            if usable
            else "none: EventBridge sees no CloudTrail records, so credfix detects nothing. Deploy with "
            "-c create_trail=true, or turn on a multi-region trail with read and write management events.",
        )
    )
    report.checks.append(
        Check(
            "IAM and STS failures (logged in us-east-1) are covered",
            any(t.global_service_events for t in usable),
            "global service events included"
            if any(t.global_service_events for t in usable)
            else "no usable trail includes global service events: IAM/STS failures will be missed",
        )
    )
    stopped = [t.name for t in trails if not t.logging]
    if stopped:
        report.checks.append(Check("no stopped trails", False, f"not logging: {', '.join(stopped)}"))
    return report


LOG_SIGNAL = "runtime-log signal (account subscription filter policy)"


def check_log_policy(policies: list[SubscriptionPolicy], region: str) -> Check:
    """The runtime-log signal is opt-in: none is fine; credfix's must still match every credential
    term; another one takes the account and region's only slot (deploying the signal fails)."""
    if not policies:
        return Check(
            LOG_SIGNAL,
            True,
            f"none in {region}: workloads' own logs are not read "
            "(opt-in: -c 'log_signal={\"enabled\": true}')",
        )
    ours = next((p for p in policies if p.name == POLICY_NAME), None)
    if ours is None:
        names = ", ".join(p.name for p in policies)
        return Check(
            LOG_SIGNAL,
            False,
            f"{names} already holds {region}'s one account-level subscription filter policy: deploying "
            "credfix's runtime-log signal here fails until it is removed",
        )
    missing = [t for t in FILTER_TERMS if f'"{t}"' not in ours.filter_pattern]
    if missing:
        return Check(LOG_SIGNAL, False, f"{POLICY_NAME} in {region} misses {missing}: redeploy credfix")
    if "NOT IN" not in ours.selection_criteria:
        return Check(
            LOG_SIGNAL,
            False,
            f"{POLICY_NAME} in {region} excludes no log group: credfix would read its own logs",
        )
    return Check(LOG_SIGNAL, True, f"{POLICY_NAME} in {region} sends to {ours.destination}")


def check_eks_cluster(
    name: str,
    cluster: EksCluster | None,
    entries: dict[str, list[str] | None],
    api_error: str | None,
) -> list[Check]:
    """An EKS cluster credfix should reach: it exists, each credfix role has an access entry
    (and which Kubernetes groups it maps to: their RBAC is in docs/eks.md), and its Kubernetes
    API answers a token (`api_error` None) from where `credfix doctor` runs."""
    if cluster is None:
        return [Check(f"EKS cluster {name}", False, "not found in this account and region")]
    checks = [
        Check(
            f"EKS cluster {name}",
            cluster.status == "ACTIVE" and bool(cluster.endpoint),
            f"{cluster.status}, API {cluster.endpoint or 'not available'}"
            + (
                ""
                if cluster.public_access is not False
                else " (private only: credfix's Lambdas run outside the VPC)"
            ),
        )
    ]
    if not entries:
        checks.append(
            Check(
                f"EKS cluster {name}: access entries",
                False,
                "no credfix role to check: pass --principal ROLE_ARN, or deploy credfix-home first",
            )
        )
    for principal, groups in entries.items():
        checks.append(
            Check(
                f"EKS cluster {name}: access entry for {principal}",
                bool(groups),
                f"Kubernetes groups {', '.join(groups)}"
                if groups
                else (
                    "none: deploy with -c 'eks={\"clusters\": [...]}' (or create one) so the role can "
                    "reach the API"
                    if groups is None
                    else "the entry maps to no Kubernetes group: RBAC grants it nothing"
                ),
            )
        )
    checks.append(
        Check(
            f"EKS cluster {name}: Kubernetes API answers",
            api_error is None,
            "GET /version answered with this identity's EKS token" if api_error is None else api_error,
        )
    )
    return checks
