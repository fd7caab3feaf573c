"""sweep Lambda: an EventBridge schedule -> incidents open without a verdict past the bound are
announced to triage again; the oldest one's age is a metric (the stuck-incident alarm's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from credfix.adapters.aws import client
from credfix.adapters.messaging.sweep_queue import Reannouncer
from credfix.adapters.stores.sweep import SweepStore
from credfix.config import settings
from credfix.core.sweep import sweep

logger = Logger(service="credfix-sweep")
metrics = Metrics(namespace="credfix", service="sweep")
_cfg = settings()
_store = SweepStore(client("dynamodb"), _cfg.table_name)
_announcer = Reannouncer(client("sqs"), _cfg.work_queue_url)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep(
        _store,
        _announcer,
        datetime.now(UTC),
        after=timedelta(seconds=_cfg.reannounce_after_seconds),
        max_times=_cfg.max_reannouncements,
    )
    metrics.add_metric("OldestOpenIncidentAgeSeconds", MetricUnit.Seconds, report.oldest_open_seconds)
    metrics.add_metric("OpenIncidents", MetricUnit.Count, report.open)
    metrics.add_metric("IncidentsReannounced", MetricUnit.Count, len(report.reannounced))
    metrics.add_metric("IncidentsGivenUp", MetricUnit.Count, len(report.given_up))
    for error in report.errors:
        logger.error("incident not announced again", extra={"error": error})
    logger.info(
        "sweep",
        extra={
            "open": report.open,
            "oldest_open_seconds": round(report.oldest_open_seconds),
            "reannounced": report.reannounced,
            "given_up": report.given_up,
        },
    )
    return {
        "open": report.open,
        "reannounced": len(report.reannounced),
        "given_up": len(report.given_up),
        "errors": len(report.errors),
    }
