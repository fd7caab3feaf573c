"""rotation Lambda: rotation queue (Secrets Manager events of watched secrets' rotations) ->
the rotation watch -> a rotation-drift incident on the act queue (thin handler: parse, call
the core step, report partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from credfix.adapters.aws import AccountRouter, client
from credfix.adapters.messaging.rotation_queues import RotationActQueue, RotationDeadLetters
from credfix.adapters.stores.rotation import RotationIncidents
from credfix.arns import arn_parts
from credfix.config import settings
from credfix.core.rotation.intake import Message, take_batch
from credfix.metrics import count_by

logger = Logger(service="credfix-rotation")
metrics = Metrics(namespace="credfix", service="rotation")
_cfg = settings()
_accounts = AccountRouter(client, _cfg.member_rotation_role_name)  # organisation mode: member accounts
_store = RotationIncidents(client("dynamodb"), _cfg.table_name)
_act = RotationActQueue(client("sqs"), _cfg.act_queue_url, _cfg.act_bulk_queue_url)
_dead_letters = RotationDeadLetters(client("sqs"), _cfg.rotation_dlq_url)


def home_account(context: LambdaContext | None) -> str | None:
    """The function's own account, from its ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME)."""
    parts = arn_parts(str(getattr(context, "invoked_function_arn", "") or ""))
    return parts[4] if len(parts) == 6 and parts[4].isdigit() else None


def parse_batch(event: Any) -> list[Message]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("not an SQS batch event: Records is missing")
    return [Message(str(r["messageId"]), str(r.get("body") or "")) for r in records]


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    org = bool(_cfg.member_rotation_role_name)
    report = take_batch(
        parse_batch(event),
        client_for_account=lambda account: _accounts.for_accounts([account]) if org else client,
        settings=_cfg,
        store=_store,
        act=_act,
        dead_letters=_dead_letters,
        home_account=None if org else home_account(context),
    )
    for outcome, count in report.outcomes.items():
        count_by("RotationEvents", service="rotation", dimension="outcome", value=outcome, count=count)
    refused = sum(report.refused.values())
    metrics.add_metric("RotationEventsRefused", MetricUnit.Count, refused)
    metrics.add_metric("RotationEventsRetried", MetricUnit.Count, len(report.failed_message_ids))
    for reason, count in report.refused.items():
        logger.warning("rotation events set aside", extra={"reason": reason, "count": count})
    for error in report.errors:
        logger.error("rotation watch failed; its events will be retried", extra={"error": error})
    for watched in report.watched:
        logger.info(
            "rotation watched",
            extra={
                "outcome": watched.outcome,
                "detail": watched.detail,
                "item": watched.item,
                "incident_id": watched.incident.incident_id if watched.incident else None,
            },
        )
    return report.batch_response()
