"""ingest Lambda: SQS batch of CloudTrail failure events -> incidents (thin handler)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from credfix.adapters.aws import client
from credfix.adapters.incidents import IncidentStore
from credfix.adapters.queues import Queues
from credfix.config import settings
from credfix.core.ingest import ingest_batch

logger = Logger(service="credfix-ingest")
metrics = Metrics(namespace="credfix", service="ingest")
_cfg = settings()
_store = IncidentStore(client("dynamodb"), _cfg.table_name, reopen_after=_cfg.reopen_after)
_queues = Queues(client("sqs"), work_queue_url=_cfg.work_queue_url, dead_letter_url=_cfg.events_dlq_url)


@metrics.log_metrics
@logger.inject_lambda_context
@event_parser(model=SqsModel)
def handler(event: SqsModel, context: LambdaContext) -> dict[str, Any]:
    # ingest reads only the message id and body: no need to dump whole records back to dicts
    raw_records = [{"messageId": r.messageId, "body": r.body} for r in event.Records]
    report = ingest_batch(raw_records, _store, _queues, datetime.now(UTC), _cfg.accepted_errors)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, report.accepted)
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, report.duplicates)
    metrics.add_metric("EventsRejected", MetricUnit.Count, sum(report.rejected.values()))
    metrics.add_metric("EventsRetried", MetricUnit.Count, len(report.failed_message_ids))
    metrics.add_metric("IncidentsOpened", MetricUnit.Count, len(report.opened))
    for reason, count in report.rejected.items():
        logger.warning("records set aside", extra={"reason": reason, "count": count})
    for error in report.errors:
        logger.error("incident update failed; records will be retried", extra={"error": error})
    logger.info(
        "batch ingested",
        extra={"records": len(raw_records), "accepted": report.accepted, "opened": report.opened},
    )
    return report.batch_response()
