"""verify Lambda: delayed "verify" messages -> verified (resolved) or escalated; delayed
"storm-summary" messages -> the window's one storm alert (thin handler)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, TypeAdapter

from credfix.adapters.aws import client
from credfix.adapters.messaging.sns import SnsTopic
from credfix.adapters.stores.storm import StormStore
from credfix.adapters.stores.verification import VerificationStore
from credfix.config import settings
from credfix.core.alerts.alerter import TopicAlerter
from credfix.core.storm import StormSummaryDue, storm_limits, summarise
from credfix.core.verify import VerifyRequest, verify
from credfix.handlers.failures import redacted_failures
from credfix.keys import redact

# Metric per outcome, no outcome dimension (namespace credfix, service=verify).
METRIC_OF_OUTCOME = {"verified": "VerificationVerified", "escalated": "VerificationEscalated"}

logger = Logger(service="credfix-verify")
metrics = Metrics(namespace="credfix", service="verify")
_cfg = settings()
_store = VerificationStore(client("dynamodb"), _cfg.table_name)
_alerter = TopicAlerter(SnsTopic(client("sns"), _cfg.topic_arn).publish)
_storms = StormStore(client("dynamodb"), _cfg.table_name)
_limits = storm_limits(_cfg)
# The verify queue carries verifications and, from ingest, the storm windows' summaries.
_messages: TypeAdapter[VerifyRequest | StormSummaryDue] = TypeAdapter(
    Annotated[VerifyRequest | StormSummaryDue, Field(discriminator="type")]
)


# The body is validated with credfix's own model; the record itself is Powertools' data class
# (as in act and triage): its pydantic SqsRecordModel would import the parser package, about
# 35 ms of cold start (docs/performance.md §1).
processor = BatchProcessor(event_type=EventType.SQS)


@redacted_failures
def record_handler(record: SQSRecord) -> str:
    message = _messages.validate_json(record.body)
    if isinstance(message, StormSummaryDue):
        outcome = summarise(message.window, _storms, _alerter, _limits, datetime.now(UTC))
        logger.info("storm summary", extra={"window": message.window.isoformat(), "outcome": outcome})
        return outcome
    request = message
    result = verify(
        request, _store, _alerter, datetime.now(UTC), block_for=timedelta(seconds=_cfg.block_seconds)
    )
    if result.alerted:
        metrics.add_metric(METRIC_OF_OUTCOME[result.outcome], MetricUnit.Count, 1)
    logger.info(
        "verification",
        extra={
            "outcome": result.outcome,
            "incident_id": result.incident_id,
            "key": redact(request.access_key_id),
            "detail": result.detail,
            "blocked_targets": list(result.blocked_targets),
        },
    )
    return result.outcome


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
