"""One location run's shared state: adapters per region, a memo so that no scan or lookup
is repeated within the invocation, the scan cap, and the findings collected on the way."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.autoscaling import AutoScaling
from credfix.adapters.aws import ClientFactory
from credfix.adapters.ec2 import Ec2
from credfix.adapters.ecs import Ecs
from credfix.adapters.instance_profiles import InstanceProfiles
from credfix.adapters.lambda_functions import LambdaFunctions
from credfix.adapters.paging import Page
from credfix.config import Settings
from credfix.models.incident import Evidence

T = TypeVar("T")


class LocateContext:
    def __init__(self, client_for: ClientFactory, settings: Settings) -> None:
        self._client_for = client_for
        self.settings = settings
        self.scan_limit = settings.scan_limit
        self.findings: list[Evidence] = []
        self._memo: dict[Hashable, Any] = {}
        # Workload id -> VPC id, where known: lets a NAT gateway hit narrow other candidates.
        self.vpc_of: dict[str, str] = {}
        # Workload id -> (region, subnet ids), for workloads whose VPC is known only by subnet.
        self.subnets_of: dict[str, tuple[str | None, tuple[str, ...]]] = {}

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = compute()
        result: T = self._memo[key]
        return result

    def _client(self, service: str, region: str | None) -> Any:
        return self.memo(("client", service, region), lambda: self._client_for(service, region))

    def default_region(self) -> str:
        """The region the client factory uses when none is given (client configuration, no call)."""
        return str(self._client("ec2", None).meta.region_name)

    def ec2(self, region: str | None) -> Ec2:
        return Ec2(self._client("ec2", region))

    def ecs(self, region: str | None) -> Ecs:
        return Ecs(self._client("ecs", region))

    def autoscaling(self, region: str | None) -> AutoScaling:
        return AutoScaling(self._client("autoscaling", region))

    def lambdas(self, region: str | None) -> LambdaFunctions:
        return LambdaFunctions(self._client("lambda", region))

    def instance_profiles(self) -> InstanceProfiles:
        return InstanceProfiles(self._client("iam", None))

    def note(self, check: str, found: str) -> None:
        evidence = Evidence(check=check, found=found)
        if evidence not in self.findings:
            self.findings.append(evidence)

    def capped(self, what: str, page: Page[T]) -> list[T]:
        """The page's items; a finding when the scan stopped at the cap."""
        if page.truncated:
            self.note(
                what,
                f"scan cap of {self.scan_limit} hit: later items were not examined "
                "(raise CREDFIX_SCAN_LIMIT to look further)",
            )
        return page.items

    def attempt(self, check: str, call: Callable[[], T]) -> T | None:
        """Run one lookup; a refused or failed AWS call becomes a finding, not a crash, so that
        the other locators still run (e.g. a missing permission in one region)."""
        try:
            return call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            self.note(check, f"failed: {code}")
        except BotoCoreError as exc:
            self.note(check, f"failed: {type(exc).__name__}")
        return None
