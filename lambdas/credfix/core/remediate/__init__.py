"""Remediation behind guardrails: plan (pure), guardrails, the action registry, and the
act step that ties them together. See DESIGN.md §2 and §4."""

from credfix.core.remediate.actions import REGISTRY, RemediationAction
from credfix.core.remediate.engine import remediate
from credfix.core.remediate.model import (
    Alerter,
    GuardrailStore,
    KillSwitchReader,
    NullAlerter,
    PlannedAction,
    VerifyScheduler,
)
from credfix.core.remediate.planner import plan
from credfix.core.remediate.step import ActOutcome, act_on_incident, timeline_for
from credfix.models.guardrails import ClaimHolder, ClaimResult

__all__ = [
    "REGISTRY",
    "ActOutcome",
    "Alerter",
    "ClaimHolder",
    "ClaimResult",
    "GuardrailStore",
    "KillSwitchReader",
    "NullAlerter",
    "PlannedAction",
    "RemediationAction",
    "VerifyScheduler",
    "act_on_incident",
    "plan",
    "remediate",
    "timeline_for",
]
