"""Human and JSON renderings of a preflight report. Key IDs are redacted in both (the output
ends up in CI logs and container health-check logs); secrets are never in the report."""

from __future__ import annotations

import json
from typing import Any

from credfix.keys import key_kind, redact
from credfix.preflight.run import PreflightReport
from credfix.preflight.sources import Source

SCHEMA = "credfix.preflight/v1"
_STATUS = {0: "PASS", 1: "UNVERIFIED", 3: "MISMATCH", 4: "REJECTED"}
_MARK = {"error": "ERROR", "warning": "WARN ", "info": "INFO "}


def to_dict(report: PreflightReport) -> dict[str, Any]:
    audit, sts = report.audit, report.sts
    expect = report.expectations
    return {
        "schema": SCHEMA,
        "status": "pass" if report.passed else "fail",
        "exit_code": report.exit_code,
        "offline": audit.offline,
        "strict": report.strict,
        "expected": {
            "accounts": list(expect.accounts),
            "arn_pattern": expect.arn_pattern,
            "partition": expect.partition,
            "source": expect.source,
        },
        "profile": {"name": audit.profile, "set_by": audit.profile_from, "variables": audit.profile_vars},
        "region": audit.region,
        "region_partition": report.region_partition,
        "files": {"config": audit.config_file, "credentials": audit.credentials_file},
        "chain": audit.chain,
        "winner": audit.winner,
        "winner_note": audit.winner_note,
        "chain_failure": (
            None
            if audit.failure is None
            else {
                "provider": audit.failure.provider,
                "error": audit.failure.error,
                "message": audit.failure.message,
            }
        ),
        "sources": [_source_dict(s) for s in audit.sources],
        "sts": None
        if sts is None
        else {
            "endpoint": sts.endpoint,
            "key_id": redact(sts.key_id) if sts.key_id else None,
            "identity": None
            if sts.identity is None
            else {
                "account": sts.identity.account,
                "arn": sts.identity.arn,
                "user_id": sts.identity.user_id,
                "partition": sts.identity.partition,
            },
            "error": None
            if sts.failure is None
            else {
                "stage": sts.failure.stage,
                "code": sts.failure.code,
                "message": sts.failure.message,
                "operation": sts.failure.operation,
                "unreachable": sts.failure.unreachable,
            },
        },
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "message": f.message,
                "exit_code": f.exit_code,
                "source": f.source,
                "verdict": f.verdict,
                "also_possible": f.also_possible,
            }
            for f in report.findings
        ],
    }


def to_json(report: PreflightReport) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


def to_text(report: PreflightReport) -> str:
    audit, sts = report.audit, report.sts
    status = _STATUS.get(report.exit_code, "FAIL")
    lines = [f"credfix preflight: {status} (exit {report.exit_code})"]
    profile = f"profile {audit.profile}" + (f" (from {audit.profile_from})" if audit.profile_from else "")
    region = f"region {audit.region} [{report.region_partition}]" if audit.region else "no region set"
    lines.append(f"  runtime   {profile}, {region}")
    if not audit.sources:
        lines.append("  sources   none present")
    for source in audit.sources:
        lines.append("  " + _source_line(source))
    if sts is not None and sts.identity is not None:
        lines.append(f"  identity  {sts.identity.arn} (account {sts.identity.account}) via {sts.endpoint}")
    elif sts is not None and sts.failure is not None:
        lines.append(f"  identity  unknown: {sts.failure.code} from {sts.failure.operation or sts.endpoint}")
    elif audit.offline:
        lines.append("  identity  not checked (--offline)")
    for finding in report.findings:
        verdict = f" [{finding.verdict}]" if finding.verdict else ""
        lines.append(f"  {_MARK[finding.severity]} {finding.code}{verdict}: {finding.message}")
    return "\n".join(lines)


def _source_dict(source: Source) -> dict[str, Any]:
    return {
        "method": source.method,
        "canonical_name": source.canonical_name,
        "position": source.position,
        "won": source.won,
        "kind": source.kind,
        "origin": source.origin,
        "key_id": redact(source.key_id) if source.key_id else None,
        "key_kind": key_kind(source.key_id) if source.key_id else None,
        "account": source.account,
        "account_basis": source.account_basis,
        "role_arn": source.role_arn,
        "contacted": source.contacted,
        "note": source.note,
        "details": source.details,
    }


def _source_line(source: Source) -> str:
    label = "winner   " if source.won else "also     "
    parts = [f"{label} {source.method}"]
    if source.key_id:
        parts.append(redact(source.key_id))
    if source.role_arn:
        parts.append(f"role {source.role_arn}")
    if source.account and source.account_basis == "key-id-decoding":
        parts.append(f"account {source.account} (decoded)")
    if source.origin:
        parts.append(f"<- {source.origin}")
    if source.contacted:
        parts.append(f"(contacted {source.contacted})")
    if source.note:
        parts.append(f"({source.note})")
    return "  ".join(parts)
