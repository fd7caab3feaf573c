"""triage Lambda: work queue ("incident-opened") -> verdict on the incident -> act queue;
incidents no source of which is attributed go through the bulk queue (the same function's
second event source) so that they never delay the account's own (thin handler; per-record
failures go back to SQS and, after maxReceiveCount, to the DLQ)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from credfix.adapters.aws import AccountRouter, client
from credfix.adapters.messaging.triage_queues import ActQueue, BulkQueue
from credfix.adapters.stores.incidents import IncidentStore
from credfix.adapters.stores.triage import TriageStore
from credfix.arns import arn_parts
from credfix.config import settings
from credfix.core.triage import take_opened_incident
from credfix.handlers.failures import redacted_failures
from credfix.keys import redact
from credfix.metrics import count_by
from credfix.models.iam import CallerIdentity

logger = Logger(service="credfix-triage")
metrics = Metrics(namespace="credfix", service="triage")
processor = BatchProcessor(event_type=EventType.SQS)
_cfg = settings()
_accounts = AccountRouter(client, _cfg.member_read_role_name)  # organisation mode: member accounts
_incidents = IncidentStore(client("dynamodb"), _cfg.table_name, reopen_after=_cfg.reopen_after)
_writer = TriageStore(client("dynamodb"), _cfg.table_name)
_act = ActQueue(client("sqs"), _cfg.act_queue_url, _cfg.act_bulk_queue_url)
_bulk = BulkQueue(client("sqs"), _cfg.bulk_queue_url) if _cfg.bulk_queue_url else None


class IncidentOpened(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["incident-opened"]
    access_key_id: str
    incident_id: str
    lane: Literal["priority", "bulk"] = "priority"  # "bulk": sent on by triage's priority lane


def home_identity(context: LambdaContext | None) -> CallerIdentity | None:
    """The function's own account, from its ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME):
    the account the home clients read, known without an sts:GetCallerIdentity call."""
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn_parts(arn)
    if len(parts) == 6 and parts[2] == "lambda" and parts[4].isdigit() and ":" in parts[5]:
        return CallerIdentity(parts[4], arn)
    return None


@redacted_failures
def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    message = IncidentOpened.model_validate_json(record.body)
    taken = take_opened_incident(
        message.access_key_id,
        message.incident_id,
        incidents=_incidents,
        writer=_writer,
        act=_act,
        client_for=client,
        settings=_cfg,
        route=_accounts.for_accounts if _cfg.member_read_role_name else None,
        home=home_identity(lambda_context),
        lane=message.lane,
        bulk=_bulk,
    )
    metrics.add_metric(f"Incidents_{taken.outcome}", MetricUnit.Count, 1)
    if taken.verdict:  # one line per verdict on the dashboard
        count_by("IncidentsTriaged", service="triage", dimension="verdict", value=taken.verdict)
    logger.info(
        "incident taken",
        extra={
            "access_key": redact(message.access_key_id),
            "incident_id": message.incident_id,
            "outcome": taken.outcome,
            "lane": message.lane,
            "verdict": taken.verdict,
        },
    )
    return taken.outcome


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
