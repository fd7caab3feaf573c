"""Verify's escalation stops enforcement for the target: the act guardrails honour the block
that verify writes, even after the cooldown (which would otherwise free the target), until
the block expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.adapters.stores.verification import VerificationStore
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
    until = t0 + timedelta(days=7)
    verification.block_target(SERVICE, "incident-1", "AKIAY34FZKBOKMUTVV7A", "failures continued", t0, until)

    later = t0 + timedelta(days=2)  # long past the cooldown
    claim = guardrails.claim(SERVICE, "incident-2", "ecs-force-new-deployment", later, 3600)
    assert not claim.won
    assert claim.holder is not None and claim.holder.outcome == "blocked"
    reason = lost_claim_reason(claim.holder, "incident-2", 3600)
    assert "blocked" in reason and "the block expires, or a person clears it sooner" in reason


def test_a_block_expires(pipeline: LocalPipeline) -> None:
    """A real incident after the block's end can act again (blocks used to last forever: an
    outsider's late failure could disable a target for good)."""
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    verification = VerificationStore(pipeline.ddb, pipeline.names.table)
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    assert guardrails.claim(SERVICE, "incident-1", "ecs-force-new-deployment", t0, 3600).won
    guardrails.settle(SERVICE, "incident-1", "executed", "new deployment", t0)
    verification.block_target(
        SERVICE, "incident-1", "AKIAY34FZKBOKMUTVV7A", "failures continued", t0, t0 + timedelta(days=7)
    )
    item = pipeline.ddb.get_item(TableName=pipeline.names.table, Key={"pk": {"S": f"target#{SERVICE}"}})[
        "Item"
    ]
    assert item["blocked_until"]["S"] == "2026-11-10T11:05:00Z"
    assert int(item["expires_at"]["N"]) > int((t0 + timedelta(days=7)).timestamp())  # the TTL outlives it

    assert not guardrails.claim(SERVICE, "incident-2", "ecs", t0 + timedelta(days=6, hours=23), 3600).won
    assert guardrails.claim(SERVICE, "incident-3", "ecs", t0 + timedelta(days=7, seconds=1), 3600).won


def test_a_block_written_before_blocks_expired_lasts_seven_days(pipeline: LocalPipeline) -> None:
    t0 = datetime(2026, 11, 3, 11, 5, tzinfo=UTC)
    pipeline.ddb.put_item(
        TableName=pipeline.names.table,
        Item={
            "pk": {"S": f"target#{SERVICE}"},
            "incident_id": {"S": "incident-0"},
            "last_action_at": {"S": "2026-11-03T11:05:00Z"},
            "outcome": {"S": "executed"},
            "blocked": {"BOOL": True},
            "blocked_at": {"S": "2026-11-03T11:05:00Z"},
        },
    )
    guardrails = DynamoGuardrailStore(pipeline.ddb, pipeline.names.table)
    assert not guardrails.claim(SERVICE, "incident-1", "ecs", t0 + timedelta(days=6), 3600).won
    assert guardrails.claim(SERVICE, "incident-1", "ecs", t0 + timedelta(days=7, seconds=1), 3600).won


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
