"""Per verdict: why it happens (one line for the alert's first screen, one paragraph for
its details), and what a person should do next (the first thing, then every step).

The wording follows the field guide the verdicts encode (docs/verdicts/); its "wrong fix to
avoid" lines are quoted verbatim where they apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from credfix.core.alerts.eks_advice import move_to_a_role, winning_provider_in_a_pod
from credfix.core.alerts.sanitise import sanitise
from credfix.keys import redact
from credfix.models.incident import Incident, Workload

ROTATE_REPEATEDLY = (
    "Do not rotate keys repeatedly without first proving which credential source the runtime is "
    "actually loading."
)
BROADEN_IAM = (
    "Do not broaden IAM permissions if AWS never recognized the credential identity in the first place."
)
CONFIRM_IN_RUNTIME = (
    "Confirm from the same runtime that failed (not from your own shell): `aws sts get-caller-identity` "
    "(or the SDK's equivalent) must show the intended account and principal."
)


@dataclass(frozen=True)
class Advice:
    why: str
    steps: list[str]
    wrong_fix: str
    summary: str = ""  # why, in a few words (the first screen)
    first: str = ""  # what to do now, in one line (the first screen)


_OWNER_USER = re.compile(r"\b(?:for|of|owner) (?:the owner )?user ([\w+=,.@-]{1,64})")


def owner_user(incident: Incident) -> str | None:
    """The IAM user owning the key, where triage's evidence or timeline names one."""
    texts = [f"{e.check} {e.found}" for e in incident.evidence] + [t.what for t in incident.timeline]
    for text in texts:
        found = _OWNER_USER.search(text)
        if found:
            return sanitise(found.group(1), 64)
    return None


def _owner(incident: Incident) -> str:
    return f"account {incident.owner_account}" if incident.owner_account else "an unknown account"


def _recipients(incident: Incident) -> str:
    return ", ".join(incident.accounts) or "the target account"


def _configured(workloads: list[Workload]) -> str:
    """What the workloads are configured with, e.g. 'role arn:aws:iam::…:role/orders'."""
    found = [
        f"{c.kind} {sanitise(c.ref, 120)}" for w in workloads for c in w.credentials if c.kind != "static-key"
    ]
    return "; ".join(dict.fromkeys(found)) if found else ""


def winning_provider(incident: Incident) -> tuple[str, str]:
    """(which credential provider most likely wins, how to pin the intended one)."""
    in_a_pod = winning_provider_in_a_pod(incident)
    if in_a_pod:
        return in_a_pod
    for workload in incident.workloads:
        for cred in workload.credentials:
            if cred.kind == "static-key" and cred.access_key_id == incident.access_key_id:
                return (
                    f"a static key in the {workload.type}'s own configuration (AWS_ACCESS_KEY_ID in its "
                    "environment, e.g. the task definition): environment credentials are read before "
                    "the role",
                    "Remove AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the configuration (register a "
                    "new task definition revision without them) and redeploy, so that the role wins.",
                )
    agents = " ".join(s.user_agent or "" for s in incident.sources)
    types = {w.type for w in incident.workloads}
    if "aws-cli/" in agents or types & {"ec2-instance", "codebuild-project"}:
        return (
            "AWS_PROFILE or a shared credentials file (~/.aws/credentials) inherited from the host: a "
            "profile is read before the instance role",
            "Unset AWS_PROFILE for the job, remove the host's shared credentials file, and block profile "
            "fallback for production jobs (pin the role explicitly).",
        )
    if "exec-env/AWS_Lambda" in agents:
        return (
            "credentials passed explicitly in code or in a config file bundled with the function: they "
            "override the execution role",
            "Remove the explicit credentials from the code or bundled config and let the SDK use the "
            "execution role.",
        )
    if "exec-env/AWS_ECS" in agents:
        return (
            "an AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY pair in the container environment (task "
            "definition or image): environment credentials are read before the task role",
            "Remove the key pair from the task definition and the image, and redeploy so that the task "
            "role wins.",
        )
    return (
        "an environment variable (AWS_ACCESS_KEY_ID or AWS_PROFILE) or a shared credentials file: both "
        "are read before role credentials",
        "Remove the winning variable or file from the runtime, or pin the intended source explicitly "
        "in the SDK configuration.",
    )


def advice(incident: Incident) -> Advice:
    key = redact(incident.access_key_id)
    verdict = incident.verdict
    restarted = any(a.status == "executed" for a in incident.actions)
    if verdict == "stale-consumer":
        return Advice(
            f"The key {key} was rotated: the watched secret now holds a newer active key, but this "
            "workload still signs with the old one it loaded before the rotation.",
            [
                "Restart the consumers that started before the rotation: a running process keeps the "
                "credentials it read at start-up and does not re-read the secret."
                + (" credfix has restarted the target(s) listed above." if restarted else ""),
                CONFIRM_IN_RUNTIME,
                "Then make consumers re-read the secret on rotation (or fetch it per use), so the next "
                "rotation does not strand them again.",
            ],
            ROTATE_REPEATEDLY,
            "the key was rotated; this workload still signs with the old one",
            "check that the restarted workload now signs with the new key; then make consumers re-read "
            "the secret on rotation"
            if restarted
            else "restart the consumers that started before the rotation",
        )
    if verdict == "rotation-drift":
        return Advice(
            f"A watched secret was rotated: AWSCURRENT no longer holds {key}, but the workloads below "
            "still run with the previous version (they read the secret before the rotation). Nothing has "
            f"failed yet: it will when {key} is deactivated.",
            [
                "Restart the consumers still on the previous version: they read the secret only at start-up."
                + (" credfix has restarted the target(s) listed above." if restarted else ""),
                "Before deactivating the old key, run `credfix rotation-check --secret NAME`: it exits 0 "
                "only when every consumer runs AWSCURRENT and the old key is no longer used.",
                "Declare consumers credfix cannot find by configuration with the tag "
                "`credfix:consumes=<secret name>`.",
            ],
            ROTATE_REPEATEDLY,
            "the secret rotated; these workloads still run with the key it held before",
            "run `credfix rotation-check` before deactivating the old key"
            if restarted
            else "restart the consumers still on the previous version, then run `credfix rotation-check`",
        )
    if verdict == "stale-secret":
        return Advice(
            f"The secret's current version (AWSCURRENT) still holds {key}, which AWS no longer accepts: "
            "the secret itself is stale, so restarts alone reload the same dead key.",
            [
                "Refresh the secret once so AWSCURRENT holds an active key and its matching secret access "
                "key (rotate once if rotation is configured; do not create extra keys).",
                "Then restart the consumers so they load the new version.",
                CONFIRM_IN_RUNTIME,
            ],
            ROTATE_REPEATEDLY,
            "the secret itself still holds the dead key, so a restart reloads it",
            "refresh the secret once (a working key and its secret together), then restart its consumers",
        )
    if verdict == "signature-mismatch":
        return Advice(
            f"AWS knows the key ID {key} but the signature does not match: the key ID and the secret "
            "access key the workload uses are out of step (a half-done rollout).",
            [
                "Update the key ID and its secret access key together, atomically, in one secret version "
                "(never one component at a time).",
                "Restart the consumers so they load both halves from the same version.",
                CONFIRM_IN_RUNTIME,
            ],
            ROTATE_REPEATEDLY,
            "the key ID and the secret access key are out of step (a half-done rollout)",
            "update the key ID and its secret together in one secret version, then restart the consumers",
        )
    if verdict == "wrong-credential-source":
        winner, pin = winning_provider(incident)
        configured = _configured(incident.workloads)
        return Advice(
            "The workload is configured with a different credential"
            + (f" ({configured})" if configured else "")
            + f", yet it signs with {key}: another credential provider wins in its chain.",
            [
                f"Most likely winner: {winner}.",
                "Prove it in the failing runtime: `env | grep ^AWS_` and `aws configure list` show which "
                "provider is in use.",
                pin,
                "A restart alone does not fix this: the same provider wins again after the restart.",
                CONFIRM_IN_RUNTIME,
            ],
            ROTATE_REPEATEDLY,
            "another credential provider wins over the one the workload is configured with",
            "find and remove the provider that wins (environment variables, a profile, a static key); "
            "a restart alone does not help",
        )
    if verdict == "foreign-account":
        return Advice(
            f"The key {key} belongs to {_owner(incident)}, not to the account receiving the calls "
            f"({_recipients(incident)}): cross-account or partition drift.",
            [
                "Check which account and partition this workload is meant to run against, and where its "
                "credentials come from (profile, role chain, injected secret).",
                "Point the workload at the right account's credentials; assert account and partition at "
                "start-up (sts get-caller-identity) and fail fast on a mismatch.",
                "Do not add permissions or trust in the target account for this key: AWS rejected the "
                "identity, not an action.",
            ],
            BROADEN_IAM,
            f"the key belongs to {_owner(incident)}, not to {_recipients(incident)}",
            "point the workload at the right account's credentials; do not add permissions for this key",
        )
    if verdict in ("key-deactivated", "key-deleted"):
        state = "deactivated (Inactive)" if verdict == "key-deactivated" else "deleted"
        user = owner_user(incident)
        find = (
            f"Find who changed the key of IAM user {user} and why (CloudTrail UpdateAccessKey / "
            "DeleteAccessKey for it)."
            if user
            else "Find the key's owner (in CloudTrail, the CreateAccessKey event that returned this key ID "
            "names the user), then who changed the key and why (UpdateAccessKey / DeleteAccessKey)."
        )
        move = move_to_a_role(incident)
        return Advice(
            f"The key {key} of {_owner(incident)} was {state}, and no watched secret explains why "
            "this workload still uses it.",
            [
                *([move] if move else []),
                find,
                "Restore the workload's intended credential source (its role, or the secret the owner "
                "uses now) rather than re-activating the old key.",
                "Restart the workload after its source is fixed.",
                CONFIRM_IN_RUNTIME,
            ],
            ROTATE_REPEATEDLY,
            f"the key was {state.split(' ')[0]} and no rotation explains why this workload still uses it",
            "restore the workload's intended credential source; do not re-activate the old key",
        )
    if verdict == "temporary-credentials":
        return Advice(
            f"{key} is a temporary (ASIA) session credential: a role-session problem (expired or revoked "
            "session, wrong role chain), not a key lifecycle one.",
            [
                "Check the session's role: was it revoked (AWSRevokeOlderSessions) or is the SDK not "
                "refreshing an expired session (a cached credential file, a long-lived process)?",
                "Restart the located workload so it takes a fresh session from its role.",
                CONFIRM_IN_RUNTIME,
            ],
            BROADEN_IAM,
            "a temporary (ASIA) session credential failed: a role-session problem, not a key lifecycle one",
            "restart the workload so it takes a fresh session; check whether the role's sessions "
            "were revoked",
        )
    if verdict == "unknown-key":
        return Advice(
            f"No owner could be established for {key}: it is not a key of this account and its owner "
            "could not be determined.",
            [
                "Search for the key ID in CI variables, secrets, container images and config files of the "
                "located workload (the full key ID is in the incident document).",
                "Remove it and pin the workload to its intended credential source.",
                CONFIRM_IN_RUNTIME,
            ],
            BROADEN_IAM,
            "no owner could be established for this key ID",
            "search CI variables, secrets and images for the key ID, remove it and pin the intended source",
        )
    return Advice(
        f"Not diagnosed yet: {key} is being rejected, but triage has not reached a verdict.",
        ["Wait for the diagnosis, or run `credfix` triage for this key.", CONFIRM_IN_RUNTIME],
        ROTATE_REPEATEDLY,
        "not diagnosed yet",
        "wait for the diagnosis (or run `credfix diagnose` on the failing records)",
    )
