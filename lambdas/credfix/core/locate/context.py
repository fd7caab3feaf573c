"""One location run's shared state: adapters per region, a memo so that no scan or lookup
is repeated within the invocation, the scan cap, and the findings collected on the way.

Across incidents, lookups and account-wide scans are shared through `SHARED`, a process-wide
cache (a warm Lambda handles many incidents): during a storm of distinct key IDs from the same
sources, the scans run about once, not once per key. An entry is reused only for the same
account, within its TTL, and only if it was made after the incident's first failure: whatever
changed in the account before the failures began is always seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.autoscaling import AutoScaling
from credfix.adapters.readers.codebuild import CodeBuild
from credfix.adapters.readers.ec2 import Ec2
from credfix.adapters.readers.ecs import Ecs
from credfix.adapters.readers.instance_profiles import InstanceProfiles
from credfix.adapters.readers.lambda_functions import LambdaFunctions
from credfix.config import Settings
from credfix.errortext import error_text
from credfix.models.incident import Evidence
from credfix.models.paging import Page

T = TypeVar("T")
SHARED_TTL_SECONDS = 300
SHARED_MAX_ENTRIES = 4096


class SharedCache:
    """Process-wide results of lookups and scans, by (account, lookup), with the findings noted
    while computing them (replayed on a hit, so an incident's evidence does not depend on
    whether another incident asked first)."""

    def __init__(self, ttl_seconds: int = SHARED_TTL_SECONDS, max_entries: int = SHARED_MAX_ENTRIES) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any, list[Evidence]]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: Hashable, fresh_after: float) -> tuple[Any, list[Evidence]] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            made, value, notes = entry
            if made < fresh_after or time.time() - made > self.ttl:
                del self._entries[key]
                return None
            self.hits += 1
            return value, notes

    def put(self, key: Hashable, value: Any, notes: list[Evidence]) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 4]:  # oldest first (insertion order)
                    del self._entries[old]
            self._entries[key] = (time.time(), value, notes)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = 0


SHARED = SharedCache()


class LocateContext:
    def __init__(
        self,
        client_for: ClientFactory,
        settings: Settings,
        *,
        account: str | None = None,
        fresh_after: datetime | None = None,
        shared: SharedCache | None = SHARED,
    ) -> None:
        """`account`: the account `client_for` reads; without it nothing is shared across incidents.
        `fresh_after`: the incident's first failure (shared entries made before it are not used)."""
        self._client_for = client_for
        self.settings = settings
        self.account = account
        self._shared = shared if account else None
        # CloudTrail's event times are whole seconds: an entry counts as made after the first
        # failure only if it was made after the end of that second.
        self._fresh_after = (fresh_after.timestamp() + 1) if fresh_after else time.time()
        self.scan_limit = settings.scan_limit
        self.findings: list[Evidence] = []
        self._memo: dict[Hashable, Any] = {}
        # Workload id -> VPC id, where known: lets a NAT gateway hit narrow other candidates.
        self.vpc_of: dict[str, str] = {}
        # Workload id -> (region, subnet ids), for workloads whose VPC is known only by subnet.
        self.subnets_of: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        # The watched secrets that held the failing key and when they rotated it out (set by
        # locate_workloads): the EKS locator checks pods reading a Secret synced from them.
        self.secret_arns: list[str] = []
        self.rotated_at: datetime | None = None

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per invocation, and across incidents through the shared cache. A
        None result (a lookup that failed: ctx.attempt) is never shared: the next incident asks
        again."""
        if key in self._memo:
            known: T = self._memo[key]
            return known
        shared = self._shared if not _local_only(key) else None
        if shared is not None:
            hit = shared.get((self.account, key), self._fresh_after)
            if hit is not None:
                cached: T = hit[0]
                for note in hit[1]:
                    self.note(note.check, note.found)
                self._memo[key] = cached
                return cached
        before = len(self.findings)
        value = self._memo[key] = compute()
        if shared is not None and value is not None:
            shared.put((self.account, key), value, self.findings[before:])
        return value

    def _client(self, service: str, region: str | None) -> Any:
        return self.memo(("client", service, region), lambda: self._client_for(service, region))

    def client(self, service: str, region: str | None) -> Any:
        """A boto3 client of this run's account (for adapters the core builds itself)."""
        return self._client(service, region)

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

    def codebuild(self, region: str | None) -> CodeBuild:
        return CodeBuild(self._client("codebuild", region))

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
        except (ClientError, BotoCoreError) as exc:
            self.note(check, f"failed: {error_text(exc)}")
        return None


def _local_only(key: Hashable) -> bool:
    """Clients belong to one invocation's client factory (in organisation mode, one member
    account's credentials): never shared."""
    return isinstance(key, tuple) and bool(key) and key[0] == "client"
