"""Triage of an incident keyed by a workload: failures only its own log lines show, with no
usable key ID in them (credfix.core.logs). The field guide's order, from the workload's side:

1. the workload its log group and stream name (credfix.core.locate.logs), attributed to the
   account by construction;
2. the key it signs with, from its configured credentials: a static key in its configuration
   (it wins over any role); else a watched secret it reads, at the version that was current
   when it started (task definition secrets -> watched secret -> key IDs), or, its start time
   unknown, the version before a current one whose key is Active;
3. with that key, the usual triage (ownership, lifecycle, watched secrets, verdict), the
   workload already located; the incident's `access_key_id` is then that key;
4. without one, what is known: a masked long-term key (`AKIA…`) while only a role is
   configured is another credential source winning; a masked session key (`ASIA…`) with a role
   is a session problem; anything else is an unknown key, with what to do about it.

A masked key the lines show (`AKIA…WXYZ`) must agree with the derived key; if it does not, the
workload signs with a key its configuration does not give it (wrong-credential-source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.iam_keys import IamKeys
from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.config import Settings
from credfix.core import attribution as attribution_rule
from credfix.core.triage.configured_keys import (
    CONFIGURED_KEY,
    DerivedKey,
    derive_keys,
    matches_masked,
)
from credfix.core.triage.evidence import scan_secrets, shared_scan
from credfix.core.triage.location import Locate, Located, NothingLocated, default_locate
from credfix.core.triage.run import TriageFailed, TriageResult, triage
from credfix.core.triage.verdict import DECISIVE_CONFIDENCE, SEVERITY, Decision
from credfix.keys import is_access_key_id, redact
from credfix.models.iam import CallerIdentity
from credfix.models.incident import Evidence, Incident, KeyStatus, TimelineEntry, Verdict, Workload


def triage_any(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    locate: Locate = default_locate,
    session_issuer: str | None = None,
    now: datetime | None = None,
    caller_identity: CallerIdentity | None = None,
) -> TriageResult:
    """`triage`, or for an incident keyed by a workload whose key is not known yet, this module's."""
    if incident.workload_key and not is_access_key_id(incident.access_key_id):
        return triage_workload(
            incident, client_for, settings, locate=locate, now=now, caller_identity=caller_identity
        )
    return triage(
        incident,
        client_for,
        settings,
        locate=locate,
        session_issuer=session_issuer,
        now=now,
        caller_identity=caller_identity,
    )


def _account(incident: Incident, caller_identity: CallerIdentity | None) -> str | None:
    if len(incident.accounts) == 1:
        return incident.accounts[0]
    return caller_identity.account_id if caller_identity else None


def triage_workload(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    locate: Locate = default_locate,
    now: datetime | None = None,
    caller_identity: CallerIdentity | None = None,
) -> TriageResult:
    now = now or datetime.now(UTC)
    account = _account(incident, caller_identity)
    located: Located
    try:
        located = locate(incident, client_for, settings, secret_arns=[], rotated_at=None, account=account)
    except Exception as exc:  # location is best effort, as in triage()
        located = NothingLocated(
            findings=[Evidence(check="workload location", found=f"failed: {type(exc).__name__}: {exc}"[:300])]
        )
    workloads = [w for w in located.workloads if w.confidence in DECISIVE_CONFIDENCE]
    try:
        iam = IamKeys(client_for("iam"))
        scan = shared_scan(
            account,
            incident.first_seen,
            settings,
            lambda: scan_secrets(
                WatchedSecrets(
                    client_for("secretsmanager"),
                    watch_tag=settings.watch_tag,
                    prefixes=settings.watch_prefixes,
                    limit=settings.scan_limit,
                )
            ),
        )
        derived, notes = derive_keys(workloads, scan, iam.describe)
    except (ClientError, BotoCoreError) as exc:
        raise TriageFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    masked = incident.access_key_id if "…" in incident.access_key_id else None
    agreeing = [d for d in derived if masked is None or matches_masked(d.access_key_id, masked)]
    if agreeing:
        chosen = agreeing[0]
        keyed = incident.model_copy(update={"access_key_id": chosen.access_key_id})
        result = triage(
            keyed,
            client_for,
            settings,
            locate=lambda *_args, **_kwargs: located,
            now=now,
            caller_identity=caller_identity,
        )
        first = [Evidence(check=CONFIGURED_KEY, found=chosen.how), *notes]
        if masked:
            first.append(Evidence(check="key in the log lines", found=f"{masked}: agrees"))
        evidence = first + [e for e in result.incident.evidence if e not in first]
        return replace(result, incident=result.incident.model_copy(update={"evidence": evidence}))
    verdict, key_status, findings = _without_key(workloads, derived, masked)
    decision = Decision(verdict, SEVERITY[verdict], key_status, account, [*findings, *notes])
    return _finish(incident, decision, located, now)


def _without_key(
    workloads: Sequence[Workload], derived: Sequence[DerivedKey], masked: str | None
) -> tuple[Verdict, KeyStatus, list[Evidence]]:
    """The verdict when no configured key agrees with the lines (or none is configured)."""
    if not workloads:
        found = "the log lines name no workload credfix could find; the failing key is unknown"
        return "unknown-key", "unknown", [Evidence(check="workload", found=found)]
    names = ", ".join(w.id for w in workloads)
    if derived and masked:
        configured = ", ".join(redact(d.access_key_id) for d in derived)
        found = (
            f"the log lines show {masked}, but {names} is configured with {configured}: another credential "
            "provider wins (an environment variable, a profile or file in the image, a cached credential)"
        )
        return "wrong-credential-source", "unknown", [Evidence(check="key in the log lines", found=found)]
    roles = [c.ref for w in workloads for c in w.credentials if c.kind in ("role", "instance-profile")]
    if masked and masked.startswith("AKIA") and roles:
        found = (
            f"the log lines show a long-term key {masked}, while {names} is configured with "
            f"{', '.join(roles)} only: a long-term key wins over the role (an environment variable, a "
            "profile or file in the image)"
        )
        return "wrong-credential-source", "unknown", [Evidence(check="key in the log lines", found=found)]
    if masked and masked.startswith("ASIA") and roles:
        found = f"the log lines show a session key {masked}; {names} uses {', '.join(roles)}"
        return "temporary-credentials", "temporary", [Evidence(check="key in the log lines", found=found)]
    what = f"configured with {', '.join(roles)}" if roles else "configured with no credential credfix can see"
    found = (
        f"{names} is {what}, and its log lines name no key: the key it signs with comes from somewhere "
        "credfix cannot see (its code, a file, a parameter), or the calls go to a region the account has "
        "not enabled; run `credfix preflight` in the workload to see which provider wins"
    )
    return "unknown-key", "unknown", [Evidence(check="configured credentials", found=found)]


def _finish(incident: Incident, decision: Decision, located: Located, now: datetime) -> TriageResult:
    evidence = decision.evidence + [f for f in located.findings if f not in decision.evidence]
    attributed = list(located.attribution)
    for a in attributed:
        evidence.append(
            Evidence(
                check=f"attribution of {attribution_rule.describe_source(a)}", found=f"{a.scope}: {a.why}"
            )
        )
    timeline = [
        TimelineEntry(
            at=incident.first_seen, what=f"first failure in the log lines of {incident.workload_key}"
        ),
        TimelineEntry(at=now, what=f"triaged: {decision.verdict} (severity {decision.severity})"),
    ]
    update: dict[str, Any] = {
        "status": "triaged",
        "key_status": decision.key_status,
        "owner_account": decision.owner_account,
        "verdict": decision.verdict,
        "severity": decision.severity,
        "evidence": evidence,
        "workloads": list(located.workloads),
        "attribution": attributed,
        "origin": attribution_rule.origin(attributed),
        "timeline": sorted([*incident.timeline, *timeline], key=lambda e: e.at),
    }
    return TriageResult(incident.model_copy(update=update), decision, [], None, timeline)
