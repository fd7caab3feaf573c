"""Triage of one incident: gather the facts read-only (ownership, lifecycle, watched secrets,
location and attribution of the sources) and decide the verdict; and an incident built
outside the table from aggregated failures (the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.adapters.readers.iam_keys import IamKeys
from credfix.adapters.readers.secrets import WatchedSecrets
from credfix.adapters.readers.sts_ownership import StsOwnership
from credfix.config import Settings
from credfix.core import attribution as attribution_rule
from credfix.core.triage.evidence import scan_secrets, shared_scan
from credfix.core.triage.lifecycle import Lifecycle, RelatedKeys, lifecycle_of
from credfix.core.triage.location import Locate, Located, NothingLocated, default_locate
from credfix.core.triage.ownership import establish_ownership, only_account
from credfix.core.triage.verdict import OUTSIDER_SECURITY_SIGNAL, Decision, decide
from credfix.errortext import error_text
from credfix.keys import key_kind, redact
from credfix.models.iam import CallerIdentity
from credfix.models.incident import (
    Evidence,
    Incident,
    Source,
    TimelineEntry,
)
from credfix.models.observation import KeyDelta
from credfix.models.secrets import SecretHit, SecretsScan


class TriageFailed(Exception):
    """An AWS failure that prevents a verdict (the message is retried; the CLI exits 1)."""


@dataclass(frozen=True)
class TriageResult:
    incident: Incident  # status "triaged", with the verdict and its evidence
    decision: Decision
    secret_arns: list[str]
    rotated_at: datetime | None
    timeline: list[TimelineEntry] = field(default_factory=list)  # triage's own entries

    def stage(self) -> dict[str, Any]:
        """The `triage` attribute of the incident item (the storage contract of to_incident:
        Incident fields, with only triage's own timeline entries; to_incident merges them)."""
        doc = self.incident.document()
        names = (
            "key_status",
            "owner_account",
            "verdict",
            "severity",
            "evidence",
            "workloads",
            "attribution",
            "origin",
        )
        own = [entry.model_dump(mode="json") for entry in self.timeline]
        return {**{name: doc[name] for name in names}, "timeline": own}


def triage(
    incident: Incident,
    client_for: ClientFactory,
    settings: Settings,
    *,
    locate: Locate = default_locate,
    session_issuer: str | None = None,
    now: datetime | None = None,
    caller_identity: CallerIdentity | None = None,
) -> TriageResult:
    """Read-only: gathers the facts about the incident's key and decides the verdict.
    `caller_identity`: the account `client_for` reads, when known without asking STS.

    Raises TriageFailed when AWS fails in a way that prevents a verdict (IAM or Secrets
    Manager unreachable or refusing). STS failing is not such a case (offline decoding), nor
    is workload location failing (recorded as evidence).
    """
    now = now or datetime.now(UTC)
    key = incident.access_key_id
    temporary = key_kind(key) == "temporary"
    issuer = session_issuer or next(iter(incident.session_issuers), None)
    try:
        ownership = establish_ownership(incident, StsOwnership(client_for("sts")), caller_identity)
        iam = IamKeys(client_for("iam"))
        lifecycle = lifecycle_of(incident, ownership, iam)
        if lifecycle.state == "found" and ownership.owner_account is None:
            # IAM of this account knows the key: that settles ownership when STS could not.
            only = ownership.target_accounts[0] if len(ownership.target_accounts) == 1 else None
            ownership = replace(ownership, owner_account=only, method="iam")
        scan = (
            SecretsScan()
            if temporary
            else shared_scan(
                ownership.caller_account or only_account(ownership.target_accounts),
                incident.first_seen,
                settings,
                lambda: scan_secrets(
                    WatchedSecrets(
                        client_for("secretsmanager"),
                        watch_tag=settings.watch_tag,
                        prefixes=settings.untagged_watch_prefixes,
                        limit=settings.scan_limit,
                    )
                ),
            )
        )
        hits = scan.hits(key)
        related = RelatedKeys(iam, key, readable=lifecycle.state in ("found", "absent"))
        look_up = related.look_up
        for hit in hits:
            for other in hit.current_key_ids:
                look_up(other)
    except (ClientError, BotoCoreError) as exc:
        raise TriageFailed(error_text(exc)) from exc

    rotated = [h.rotated_out_at for h in hits if h.rotated_out_at]
    rotated_at = max(rotated) if rotated else None
    secret_arns = sorted({h.arn for h in hits})
    located: Located
    try:
        located = locate(
            incident,
            client_for,
            settings,
            secret_arns=secret_arns,
            rotated_at=rotated_at,
            session_issuer_arn=issuer,
            account=ownership.caller_account or only_account(ownership.target_accounts),
        )
    except Exception as exc:  # location is best effort: the key's lifecycle verdict still stands
        failed = f"failed: {error_text(exc)}"
        located = NothingLocated(
            findings=[Evidence(check="workload location", found=failed)],
            attribution=[
                attribution_rule.none(
                    s.ip, s.vpc_endpoint_id, f"could not be checked: workload location {failed}"
                )
                for s in incident.sources
            ],
        )
    workloads = list(located.workloads)
    try:
        for w in workloads:
            for cred in w.credentials:
                look_up(cred.access_key_id)
            for cred in w.credentials:  # a configured secret's current key, if it is watched
                secret = scan.by_ref(cred.ref) if cred.kind == "secret" else None
                for other in secret.current.key_ids if secret and secret.current else ():
                    look_up(other)
    except (ClientError, BotoCoreError) as exc:
        raise TriageFailed(error_text(exc)) from exc

    decision = decide(
        access_key_id=key,
        error_codes=incident.error_codes,
        ownership=ownership,
        lifecycle=lifecycle,
        secrets=scan,
        workloads=workloads,
        related_keys=related.facts,
        session_issuer=issuer,
        first_seen=incident.first_seen,
    )
    evidence = decision.evidence + [f for f in located.findings if f not in decision.evidence]
    attributed = list(located.attribution)
    origin = attribution_rule.origin(attributed)
    for a in attributed:
        evidence.append(
            Evidence(
                check=f"attribution of {attribution_rule.describe_source(a)}", found=f"{a.scope}: {a.why}"
            )
        )
    severity = decision.severity
    if origin == "outside" and decision.verdict in OUTSIDER_SECURITY_SIGNAL:
        severity = "high"
        evidence.append(
            Evidence(
                check="origin",
                found="every failing request came from outside the account: a security signal, not a "
                "rotation straggler",
            )
        )
    decision = replace(decision, severity=severity)
    own_timeline = _timeline(incident, lifecycle, hits, decision, now)
    triaged = incident.model_copy(
        update={
            "status": "triaged",
            "key_status": decision.key_status,
            "owner_account": decision.owner_account,
            "verdict": decision.verdict,
            "severity": decision.severity,
            "evidence": evidence,
            "workloads": workloads,
            "attribution": attributed,
            "origin": origin,
            "timeline": sorted([*incident.timeline, *own_timeline], key=lambda e: e.at),
        }
    )
    return TriageResult(triaged, decision, secret_arns, rotated_at, own_timeline)


def _timeline(
    incident: Incident, lifecycle: Lifecycle, hits: list[SecretHit], decision: Decision, now: datetime
) -> list[TimelineEntry]:
    key = redact(incident.access_key_id)
    entries: list[TimelineEntry] = []
    facts = lifecycle.facts
    if facts and facts.created_at:
        entries.append(TimelineEntry(at=facts.created_at, what=f"{key} created for user {facts.user_name}"))
    if facts and facts.last_used_at:
        entries.append(TimelineEntry(at=facts.last_used_at, what=f"IAM last recorded a use of {key}"))
    for hit in hits:
        if hit.rotated_out_at:
            entries.append(
                TimelineEntry(
                    at=hit.rotated_out_at, what=f"secret {hit.name} rotated: {key} no longer current"
                )
            )
    entries.append(TimelineEntry(at=incident.first_seen, what=f"first failure of {key}"))
    entries.append(TimelineEntry(at=now, what=f"triaged: {decision.verdict} (severity {decision.severity})"))
    return entries


def incident_from_delta(delta: KeyDelta, now: datetime, incident_id: str) -> Incident:
    """An incident as ingest would open it from these records (CLI: no table involved)."""
    assert delta.first_seen and delta.last_seen
    sources = sorted(
        (
            Source(
                ip=s.ip,
                user_agent=s.user_agent,
                vpc_endpoint_id=s.vpc_endpoint_id,
                count=s.count,
                last_seen=s.last_seen,
            )
            for s in delta.sources.values()
        ),
        key=lambda s: -s.count,
    )
    return Incident(
        incident_id=incident_id,
        access_key_id=delta.access_key_id,
        event_count=delta.count,
        first_seen=delta.first_seen,
        last_seen=delta.last_seen,
        opened_at=now,
        error_codes=sorted(delta.error_codes),
        regions=sorted(delta.regions),
        event_sources=sorted(delta.event_sources),
        accounts=sorted(delta.accounts),
        session_issuers=sorted(delta.session_issuers),
        sources=sources,
        sources_dropped=delta.sources_dropped,
    )
