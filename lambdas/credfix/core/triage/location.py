"""Where triage asks credfix.core.locate (imported late: triage's own tests pass their own
locators, and the locators' imports are paid only when a triage really runs): the workloads
that sign with the key, and whether any source of an incident can be attributed."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from credfix.adapters.aws import ClientFactory
from credfix.config import Settings
from credfix.models.incident import (
    Evidence,
    Incident,
    SourceAttribution,
    Workload,
)


class Located(Protocol):
    """What triage needs from credfix.core.locate's LocateResult."""

    @property
    def workloads(self) -> list[Workload]: ...

    @property
    def findings(self) -> list[Evidence]: ...

    @property
    def attribution(self) -> list[SourceAttribution]: ...


class Locate(Protocol):
    def __call__(
        self,
        incident: Incident,
        client_for: ClientFactory,
        settings: Settings,
        *,
        secret_arns: list[str],
        rotated_at: datetime | None,
        session_issuer_arn: str | None = None,
        account: str | None = None,
    ) -> Located: ...


@dataclass
class NothingLocated:
    workloads: list[Workload] = field(default_factory=list)
    findings: list[Evidence] = field(default_factory=list)
    attribution: list[SourceAttribution] = field(default_factory=list)


def default_locate(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    secret_arns: list[str],
    rotated_at: datetime | None,
    session_issuer_arn: str | None = None,
    account: str | None = None,
) -> Located:
    """credfix.core.locate, imported late: triage's own tests pass their own `locate`, and the
    locators' imports are paid only when a triage really runs."""
    locate_workloads = importlib.import_module("credfix.core.locate").locate_workloads
    result: Located = locate_workloads(
        incident,
        client_for,
        settings,
        secret_arns=secret_arns,
        rotated_at=rotated_at,
        session_issuer_arn=session_issuer_arn,
        account=account,
    )
    return result


class Attributable(Protocol):
    def __call__(
        self, incident: Incident, client_for: ClientFactory, settings: Settings, *, account: str | None
    ) -> bool: ...


def default_attributable(
    incident: Incident, client_for: ClientFactory, settings: Settings, *, account: str | None
) -> bool:
    """credfix.core.locate.any_attributable, imported late (as default_locate)."""
    check = importlib.import_module("credfix.core.locate").any_attributable
    return bool(check(incident, client_for, settings, account=account))
