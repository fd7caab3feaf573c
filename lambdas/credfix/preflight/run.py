"""One preflight run: audit the chain, check what can be checked offline, ask STS, decide."""

from __future__ import annotations

from dataclasses import dataclass

from credfix.keys import partition_of_region
from credfix.preflight.checks import (
    Expectations,
    Finding,
    chain_findings,
    exit_code_for,
    identity_findings,
    sts_failure_findings,
)
from credfix.preflight.identity import StsOutcome, get_caller_identity
from credfix.preflight.sources import ChainAudit, audit_chain, new_session

DEFAULT_TIMEOUT = 5.0


@dataclass
class PreflightReport:
    audit: ChainAudit
    expectations: Expectations
    findings: list[Finding]
    exit_code: int
    strict: bool
    sts: StsOutcome | None = None  # None when STS was not called (offline, or no credentials)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def region_partition(self) -> str | None:
        return partition_of_region(self.audit.region) if self.audit.region else None


def run_preflight(
    expectations: Expectations,
    *,
    offline: bool = False,
    strict: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> PreflightReport:
    """Resolve the credential chain from this process's environment and files, check it
    against `expectations`, and (unless offline) prove it with sts:GetCallerIdentity."""
    session = new_session()
    audit = audit_chain(session, offline=offline)
    findings = chain_findings(audit, expectations)
    sts: StsOutcome | None = None
    if not offline and audit.credentials is not None:
        sts = get_caller_identity(session, audit.credentials, region=audit.region, timeout=timeout)
        winner = audit.winning_source
        if winner is not None and sts.key_id and winner.key_id is None:
            winner.set_key(sts.key_id)
        if sts.identity is not None:
            findings += identity_findings(sts.identity, expectations, audit)
        elif sts.failure is not None:
            findings += sts_failure_findings(sts.failure, sts.key_id, audit, expectations)
    # Audit findings first, then what STS said; errors before warnings within each.
    order = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: order[f.severity])
    return PreflightReport(audit, expectations, findings, exit_code_for(findings, strict=strict), strict, sts)
