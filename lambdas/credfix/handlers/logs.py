"""logs Lambda (the runtime-log intake): the account's CloudWatch Logs subscription filter
policy delivers a workload's error lines here directly (home region), and relayed payloads
from other regions and member accounts arrive through the log events queue (its second event
source) -> incidents, counted as ingest counts CloudTrail records (thin handler).

A direct delivery whose counting failed raises, so that Lambda retries it (asynchronous
invocation: twice) and then sends it to the function's dead-letter queue; a retry counts
nothing twice (each line's id is in its key's batch token)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from credfix.config import settings
from credfix.core.ingest import IngestReport
from credfix.core.logs import LogLines, count_lines, failed_messages, intake_payload, read_relayed
from credfix.handlers._intake import intake_adapters

logger = Logger(service="credfix-logs")
metrics = Metrics(namespace="credfix", service="logs")
_cfg = settings()
_store, _queues, _gate = intake_adapters(_cfg)


class SqsMessage(TypedDict):
    messageId: str
    body: str


_batch = TypeAdapter(list[SqsMessage])


def parse_batch(event: Any) -> list[SqsMessage]:
    """The records of Lambda's SQS event; ValueError naming the first problem otherwise."""
    try:
        return _batch.validate_python(event["Records"] if isinstance(event, dict) else None)
    except (KeyError, ValidationError) as exc:
        raise ValueError(
            f"neither a CloudWatch Logs delivery nor an SQS batch: {type(exc).__name__}"
        ) from None


class IntakeFailed(Exception):
    """Some lines could not be counted: Lambda retries the whole payload."""


def _report(report: IngestReport, lines: LogLines) -> None:
    metrics.add_metric("LogLines", MetricUnit.Count, lines.lines)
    metrics.add_metric("LogLinesCounted", MetricUnit.Count, report.accepted)
    metrics.add_metric("LogLinesDuplicate", MetricUnit.Count, report.duplicates)
    metrics.add_metric("LogLinesStormed", MetricUnit.Count, report.stormed)
    metrics.add_metric("LogLinesIgnored", MetricUnit.Count, sum(report.rejected.values()))
    metrics.add_metric("IncidentsOpened", MetricUnit.Count, len(report.opened))
    for reason, count in report.rejected.items():
        logger.info("log lines not counted", extra={"reason": reason, "count": count})
    for error in report.errors:
        logger.error("incident update failed; the lines will be retried", extra={"error": error})
    logger.info(
        "log lines taken",
        extra={
            "lines": lines.lines,
            "counted": report.accepted,
            "stormed": report.stormed,
            "opened": report.opened,
        },
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    accepted = _cfg.accepted_errors
    if isinstance(event, dict) and "awslogs" in event:  # CloudWatch Logs, directly
        region = os.environ.get("AWS_REGION", "unknown")
        report, lines = intake_payload(
            event,
            region=region,
            store=_store,
            notifier=_queues,
            now=now,
            accepted_errors=accepted,
            gate=_gate,
        )
        _report(report, lines)
        if report.failed_message_ids:
            raise IntakeFailed(f"{len(report.failed_message_ids)} lines not counted: {report.errors[:3]}")
        return {"lines": lines.lines, "counted": report.accepted}
    records = parse_batch(event)  # relayed payloads, through the log events queue
    lines = LogLines()
    read_relayed(records, accepted, lines)
    report = count_lines(lines, _store, _queues, now, _gate)
    _report(report, lines)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed_messages(report, lines)]}
