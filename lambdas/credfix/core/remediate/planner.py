"""plan(incident, settings): which remediation each located workload gets, as a pure
function of the incident document (DESIGN.md §2, the field guide's decision shortcut).

Nothing here calls AWS; guardrails and execution come after (engine.py). Every restart and
rotation passes the attribution rule (credfix.core.attribution) last: a plan never acts on
what an outsider could have sent."""

from __future__ import annotations

from dataclasses import replace

from credfix.arns import region_of, secret_arn
from credfix.config import Settings
from credfix.core.attribution import NOT_ATTRIBUTED, action_gate
from credfix.core.remediate.kubernetes import restart_for_pod
from credfix.core.remediate.model import NOTIFY, PlannedAction
from credfix.models.incident import Confidence, Incident, Workload

# The field guide: a restart reloads the same winning provider, so for these verdicts a
# restart changes nothing and a key rotation is the "wrong fix to avoid".
NO_RESTART: dict[str, str] = {
    "wrong-credential-source": (
        "another credential provider wins over the configured credential; a restart reloads the same "
        "winning provider: find it and remove or refresh that exact env var, profile, secret mount or "
        "metadata path; notify with evidence"
    ),
    "foreign-account": (
        "the key belongs to another account ('cross-account or partition drift'); a restart reloads the same "
        "credentials: 'assert account and partition identity at startup' and fix where the workload loads "
        "them: notify"
    ),
    "unknown-key": (
        "no owner of the key could be established; a restart or a rotation proves nothing until the "
        "credential source the runtime loads is known: notify"
    ),
}
KEY_LIFECYCLE = ("key-deactivated", "key-deleted", "temporary-credentials")
_RANK: dict[Confidence, int] = {"high": 2, "medium": 1, "low": 0}


def restart_for(workload: Workload, settings: Settings) -> PlannedAction:
    """The restart that reloads credentials for one located workload (or a notify entry)."""
    w = workload
    region = w.region or region_of(w.id)
    if w.type == "ecs-task" and w.parent:
        return PlannedAction(
            "ecs-force-new-deployment",
            w.parent,
            "task of a service: a new deployment replaces the service's tasks, which load credentials afresh",
            workload=w,
            region=region,
            cluster=w.cluster,
        )
    if w.type == "ecs-service":
        return PlannedAction(
            "ecs-force-new-deployment",
            w.id,
            "a new deployment replaces the service's tasks, which load credentials afresh",
            workload=w,
            region=region,
            cluster=w.cluster,
        )
    if w.type == "ecs-task":
        return PlannedAction(
            "ecs-stop-task",
            w.id,
            "standalone task (no service): stopped so that its next run starts with fresh credentials",
            workload=w,
            region=region,
            cluster=w.cluster,
        )
    if w.type == "eks-pod":
        return restart_for_pod(w, region)
    if w.type == "lambda-function":
        return PlannedAction(
            "lambda-refresh",
            w.id,
            "a configuration update makes Lambda replace the execution environments that cached credentials",
            workload=w,
            region=region,
        )
    if w.type == "ec2-instance" and w.parent:
        return PlannedAction(
            "ec2-recycle-instance",
            w.id,
            f"instance of Auto Scaling group {w.parent}: replaced by a fresh instance",
            workload=w,
            region=region,
            group=w.parent,
        )
    if w.type == "ec2-instance" and settings.ssm_document:
        return PlannedAction(
            "ec2-ssm-command",
            w.id,
            "standalone instance: credfix's command document (the configured command) reloads its "
            "credentials",
            workload=w,
            region=region,
        )
    if w.type == "ec2-instance":
        why = "standalone instance and no SSM command configured (ssm_command): notify only"
    else:
        why = f"no automatic remediation for a {w.type}: notify only"
    return PlannedAction(NOTIFY, w.id, "", workload=w, region=region, skip=why)


def _candidates(incident: Incident) -> tuple[list[Workload], list[PlannedAction]]:
    """Workloads that may be acted on (those of the highest confidence found, never low),
    and a skipped entry for each of the others saying why."""
    if not incident.workloads:
        return [], []
    best = max(_RANK[w.confidence] for w in incident.workloads)
    chosen: list[Workload] = []
    passed_over: list[PlannedAction] = []
    for w in incident.workloads:
        if w.confidence == "low":
            why = "low-confidence location: credfix never acts on a low-confidence workload"
        elif _RANK[w.confidence] < best:
            why = f"{w.confidence}-confidence location while a higher-confidence one was found: not acted on"
        else:
            chosen.append(w)
            continue
        passed_over.append(PlannedAction(NOTIFY, w.id, "", workload=w, skip=why))
    return chosen, passed_over


def _unique(actions: list[PlannedAction]) -> list[PlannedAction]:
    """One entry per (action, target): five tasks of one service make one new deployment."""
    seen: set[tuple[str, str]] = set()
    out: list[PlannedAction] = []
    for a in actions:
        if (a.type, a.guard_key) not in seen:
            seen.add((a.type, a.guard_key))
            out.append(a)
    return out


def _skip_all(restarts: list[PlannedAction], incident: Incident, why: str) -> list[PlannedAction]:
    return [replace(r, skip=why) for r in restarts] or [
        PlannedAction(NOTIFY, incident.access_key_id, "", skip=why)
    ]


def _secret_rotations(incident: Incident, chosen: list[Workload]) -> list[PlannedAction]:
    # One rotation per secret, by its ARN: consumers may read different JSON keys of it.
    secrets = list(
        dict.fromkeys(secret_arn(c.ref) for w in chosen for c in w.credentials if c.kind == "secret")
    )
    if not secrets:
        return [
            PlannedAction(
                "secret-rotate", incident.access_key_id, "", skip="no secret named by the located workloads"
            )
        ]
    reason = (
        f"the secret's current value holds the failing key (key {incident.key_status}); its configured "
        "rotation puts a working key in it before the consumers restart"
    )
    rotations = [PlannedAction("secret-rotate", ref, reason, region=region_of(ref)) for ref in secrets]
    if incident.key_status == "Active":
        why = "the key in the secret is Active: rotating it would not help"
        return [replace(r, skip=why) for r in rotations]
    return rotations


def _attributed(actions: list[PlannedAction], incident: Incident) -> list[PlannedAction]:
    """Attribution before action (credfix.core.attribution): a restart runs only on a workload
    every attributed source supports; a secret rotation only for a restart that may run."""
    gated = [
        replace(p, skip=why)
        if p.actionable and p.type != "secret-rotate" and (why := action_gate(incident, p.workload))
        else p
        for p in actions
    ]
    wanted = {target for p in gated if p.actionable for target in p.after}
    refused = next((p.skip for p in gated if p.skip and p.skip.startswith(NOT_ATTRIBUTED)), None)
    return [
        replace(p, skip=refused or action_gate(incident, None) or f"{NOT_ATTRIBUTED}: no attributed consumer")
        if p.type == "secret-rotate" and p.actionable and p.target not in wanted
        else p
        for p in gated
    ]


def plan(incident: Incident, settings: Settings) -> list[PlannedAction]:
    return _attributed(_plan(incident, settings), incident)


def _plan(incident: Incident, settings: Settings) -> list[PlannedAction]:
    verdict = incident.verdict
    if verdict is None:
        return [PlannedAction(NOTIFY, incident.access_key_id, "", skip="not triaged: no verdict, no action")]
    chosen, passed_over = _candidates(incident)
    restarts = _unique([restart_for(w, settings) for w in chosen])

    if verdict in NO_RESTART:
        return _skip_all(restarts, incident, NO_RESTART[verdict]) + passed_over
    if verdict in KEY_LIFECYCLE and not settings.restart_on_key_lifecycle:
        why = (
            f"{verdict}: no newer key is waiting to be loaded, so a restart would load the same key; notify "
            "only (restarts happen when CREDFIX_RESTART_ON_KEY_LIFECYCLE is set)"
        )
        return _skip_all(restarts, incident, why) + passed_over
    if not restarts:
        why = "only low/lower-confidence locations" if passed_over else "no workload located"
        return [PlannedAction(NOTIFY, incident.access_key_id, "", skip=f"{why}: notify only"), *passed_over]
    if verdict != "stale-secret":
        return restarts + passed_over

    # stale-secret: "refresh the secret, then restart consumers". A restart before the secret
    # holds a working key would reload the same stale key, so restarts wait for the rotation.
    rotations = _secret_rotations(incident, chosen)
    rotating = tuple(r.target for r in rotations if r.actionable)
    if rotating:
        restarts = [replace(r, after=rotating) if r.actionable else r for r in restarts]
    else:
        why = "the secret still holds the failing key and will not be rotated: a restart would reload it"
        restarts = [replace(r, skip=r.skip or why) for r in restarts]
    return rotations + restarts + passed_over
