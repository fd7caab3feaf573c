"""Verify's escalation stops enforcement for the target: the act guardrails honour the block
that verify writes, even after the cooldown (which would otherwise free the target)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credfix.adapters.guardrail_store import DynamoGuardrailStore
from credfix.adapters.verification_store import VerificationStore
from credfix.core.remediate.guardrails import lost_claim_reason
from harness.pipeline import LocalPipeline

pytestmark = pytest.mark.integration
SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/prod/orders-api"


def test_blocked_target_cannot_be_claimed_again(pipeline: LocalPipeline) -> None:
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    verification = VerificationStore(pipeline.ddb, pipeline.names.table)
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    assert guardrails.claim(SERVICE, "incident-1", "ecs-force-new-deployment", t0, 3600).won
    guardrails.settle(SERVICE, "incident-1", "executed", "new deployment", t0)
    verification.block_target(SERVICE, "incident-1", "AKIAY34FZKBOKMUTVV7A", "failures continued", t0)

    later = t0 + timedelta(days=2)  # long past the cooldown
    claim = guardrails.claim(SERVICE, "incident-2", "ecs-force-new-deployment", later, 3600)
    assert not claim.won
    assert claim.holder is not None and claim.holder.outcome == "blocked"
    reason = lost_claim_reason(claim.holder, "incident-2", 3600)
    assert "blocked" in reason and "a person must clear the block" in reason


def test_unblocked_target_is_free_after_the_cooldown(pipeline: LocalPipeline) -> None:
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    assert guardrails.claim(SERVICE, "incident-1", "ecs-force-new-deployment", t0, 3600).won
    guardrails.settle(SERVICE, "incident-1", "executed", "new deployment", t0)
    assert not guardrails.claim(
        SERVICE, "incident-2", "ecs-force-new-deployment", t0 + timedelta(minutes=5), 3600
    ).won
    assert guardrails.claim(
        SERVICE, "incident-2", "ecs-force-new-deployment", t0 + timedelta(hours=2), 3600
    ).won
