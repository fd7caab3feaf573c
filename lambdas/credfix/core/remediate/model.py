"""The plan's vocabulary: what the planner decides (pure data) and what the act step
needs from its collaborators (Protocols, implemented in credfix.adapters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from credfix.models.guardrails import Cap, ClaimResult, guard_key
from credfix.models.incident import Incident, Workload

OPT_OUT_TAG = "credfix:remediate"
OPT_OUT_ANNOTATION = "credfix.io/remediate"  # the same opt-out on a Kubernetes workload or namespace
OPT_OUT_VALUE = "false"
TAG_TRUE = "true"
# Opt-in for what runs code: an instance runs credfix's SSM command document only with this tag.
SSM_OPT_IN_TAG = "credfix:ssm-command"
# The document the stacks create from the configured ssm_command (a Command document with no
# parameters: the act role can run that command and nothing else).
SSM_DOCUMENT_NAME = "credfix-reload-credentials"
# RotateSecret needs lambda:InvokeFunction on the secret's rotation function: only functions
# with this tag may be invoked (docs/deploy.md).
ROTATION_FUNCTION_TAG = "credfix:rotation-function"
NOTIFY = "notify"  # not an action: the plan's entry for "tell a person, change nothing"


class OptOutUnknown(RuntimeError):
    """The opt-out of a resource could not be read: the action does not run."""


@dataclass(frozen=True)
class PlannedAction:
    """One decision of the planner.

    `type` is a registered action name (or NOTIFY); `skip` set means the planner already
    decided not to act and says why. `after` names targets of earlier planned actions that
    must have been executed first (a consumer restart waits for its secret's rotation).
    """

    type: str
    target: str
    reason: str
    workload: Workload | None = None
    region: str | None = None
    cluster: str | None = None  # ECS cluster of a service/task, EKS cluster of a pod
    group: str | None = None  # Auto Scaling group of an instance
    skip: str | None = None
    after: tuple[str, ...] = ()

    @property
    def actionable(self) -> bool:
        return self.skip is None and self.type != NOTIFY

    @property
    def guard_key(self) -> str:
        """The key of this target's claim, cool-down and block (credfix.models.guardrails)."""
        return guard_key(self.target, self.cluster)


class GuardrailStore(Protocol):
    """Rate, idempotency and breaker state shared by every act worker (the incidents table in
    AWS; memory for a one-off CLI run)."""

    def claim(
        self,
        target: str,
        incident_id: str,
        action: str,
        now: datetime,
        cooldown_seconds: int,
        *,
        caps: Sequence[Cap] = (),
    ) -> ClaimResult:
        """Take the target unless another incident acted on it inside the cooldown, this
        incident already claimed it (at any time), or an unexpired block holds it: the
        idempotency point. With `caps`, also take one slot of each cap's sliding window,
        atomically with the claim: a claim is won only with every slot, and a capped attempt
        leaves nothing behind."""
        ...

    def settle(
        self,
        target: str,
        incident_id: str,
        outcome: Literal["executed", "failed"],
        detail: str,
        now: datetime,
    ) -> None:
        """Record the claimed action's outcome and count it for the circuit breaker (a success
        resets the failures, a failure adds one), atomically."""
        ...

    def release(self, target: str, incident_id: str) -> None:
        """Give back a claim that was not used."""
        ...

    def breaker_failures(self, now: datetime, window_seconds: int) -> int:
        """Failures counted since the last success, or 0 if the last failure is older than the window."""
        ...


class KillSwitchReader(Protocol):
    def engaged(self) -> tuple[bool, str]: ...


class Alerter(Protocol):
    def incident_remediated(self, incident: Incident) -> object: ...


class VerifyScheduler(Protocol):
    def schedule(self, incident: Incident, action_at: datetime) -> None: ...


class NullAlerter:
    """Used until the SNS alerter is configured: remediation must not depend on alerting."""

    def incident_remediated(self, incident: Incident) -> object:
        return None
