"""ingest Lambda: SQS batch of CloudTrail failure events -> incidents (thin handler)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from credfix.config import settings
from credfix.core.ingest import ingest_batch
from credfix.handlers._intake import intake_adapters


class SqsMessage(TypedDict):
    """The two fields of an SQS record ingest reads; the body is validated by ingest itself."""

    messageId: str
    body: str


class SqsBatch(TypedDict):
    Records: list[SqsMessage]


# Not Powertools' SqsModel: its parser package costs ~40 ms of cold start, and validating every
# record's attributes then dumping them back to dicts cost ~4 µs per record on a storm.
_batch = TypeAdapter(SqsBatch)

logger = Logger(service="credfix-ingest")
metrics = Metrics(namespace="credfix", service="ingest")
_cfg = settings()
_store, _queues, _gate = intake_adapters(_cfg)
# Everything made so far (boto3's service models, pydantic's validators) lives as long as the
# process: keep it out of the cyclic GC, whose full collections otherwise rescan it all, about
# 50 ms on one batch in twenty of a storm (docs/performance.md §2).
gc.freeze()


def parse_batch(event: Any) -> list[SqsMessage]:
    """The records of Lambda's SQS event; ValueError naming the first problem otherwise (Lambda
    then retries the whole batch: an event source mapping never sends such an event)."""
    try:
        return _batch.validate_python(event)["Records"]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise ValueError(f"not an SQS batch event: {where}: {first['msg']}") from None


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = parse_batch(event)
    report = ingest_batch(records, _store, _queues, datetime.now(UTC), _cfg.accepted_errors, _gate)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, report.accepted)
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, report.duplicates)
    metrics.add_metric("EventsStormed", MetricUnit.Count, report.stormed)
    metrics.add_metric("EventsRejected", MetricUnit.Count, sum(report.rejected.values()))
    metrics.add_metric("EventsRetried", MetricUnit.Count, len(report.failed_message_ids))
    metrics.add_metric("IncidentsOpened", MetricUnit.Count, len(report.opened))
    for reason, count in report.rejected.items():
        logger.warning("records set aside", extra={"reason": reason, "count": count})
    for error in report.errors:
        logger.error("incident update failed; records will be retried", extra={"error": error})
    logger.info(
        "batch ingested",
        extra={
            "records": len(records),
            "accepted": report.accepted,
            "stormed": report.stormed,
            "opened": report.opened,
        },
    )
    return report.batch_response()
