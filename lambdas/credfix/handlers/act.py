"""act Lambda: act queues (the priority lane and the bulk lane of incidents from outside;
{"type": "incident-triaged", ...}) -> guardrailed remediation,
recorded on the incident, then alert + delayed verification. The only role that may change
anything (thin handler: parse, call the core step, report partial batch failures)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from credfix.adapters.actions.ssm import KillSwitch
from credfix.adapters.aws import AccountRouter, client
from credfix.adapters.messaging.act_retry import SqsActRetry
from credfix.adapters.messaging.verify_scheduler import SqsVerifyScheduler
from credfix.adapters.stores.guardrails import DynamoGuardrailStore
from credfix.adapters.stores.remediation import IncidentSuperseded, RemediationStore
from credfix.adapters.stores.storm import StormStore
from credfix.config import Settings, settings
from credfix.core.alerts.alerter import topic_alerter
from credfix.core.remediate import Alerter, NullAlerter, act_on_incident
from credfix.core.remediate.guardrails import BREAKER_OPEN
from credfix.core.storm import StormFolder, storm_limits
from credfix.errortext import error_text
from credfix.handlers.failures import redacted_failures
from credfix.keys import subject_label
from credfix.metrics import count_by

logger = Logger(service="credfix-act")
metrics = Metrics(namespace="credfix", service="act")
processor = BatchProcessor(event_type=EventType.SQS)


class IncidentTriaged(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["incident-triaged"]
    access_key_id: str
    incident_id: str
    # A rotation incident's item (adapters/stores/rotation.py); other incidents live under their key.
    item: str | None = Field(None, pattern=r"^rotation#arn:[^#]+#[^#]+$", max_length=2048)


def _chat_failed(exc: Exception) -> None:
    logger.warning("chat notification not published", extra={"error": str(exc)})
    metrics.add_metric("ChatPublishFailed", MetricUnit.Count, 1)


def build_alerter(cfg: Settings) -> Alerter:
    """The SNS alerter when a topic is configured; else a no-op (local runs without a topic)."""
    return topic_alerter(cfg, client("sns"), _chat_failed) if cfg.topic_arn else NullAlerter()


_cfg = settings()
_accounts = AccountRouter(client, _cfg.member_act_role_name)  # organisation mode: member accounts
_recorder = RemediationStore(client("dynamodb"), _cfg.table_name)
_guardrails = DynamoGuardrailStore(client("dynamodb"), _cfg.table_name)
_kill_switch = KillSwitch(client("ssm"), _cfg.kill_switch_parameter) if _cfg.kill_switch_parameter else None
_verify = SqsVerifyScheduler(client("sqs"), _cfg.verify_queue_url, _cfg.drain_seconds)
_retry = SqsActRetry(client("sqs"), _cfg.act_queue_url)
_storms = StormFolder(StormStore(client("dynamodb"), _cfg.table_name), storm_limits(_cfg))
alerter = build_alerter(_cfg)


@redacted_failures
def record_handler(record: SQSRecord) -> None:
    message = IncidentTriaged.model_validate_json(record.body)
    try:
        outcome = act_on_incident(
            message.access_key_id,
            message.incident_id,
            recorder=_recorder.at(message.item) if message.item else _recorder,
            client_for=client,
            settings=_cfg,
            route=_accounts.for_accounts if _cfg.member_act_role_name else None,
            store=_guardrails,
            kill_switch=_kill_switch,
            alerter=alerter,
            verify=_verify,
            retry=_retry.at(message.item) if message.item else _retry,
            storms=_storms,
        )
    except IncidentSuperseded as exc:
        # Re-opened while we worked: the claims still stop a repeat; a retry cannot record it either.
        logger.error("incident superseded before its actions were recorded", extra={"error": error_text(exc)})
        return
    for action in outcome.actions:
        metrics.add_metric(f"Actions{action.status.title()}", MetricUnit.Count, 1)
        count_by("Actions", service="act", dimension="status", value=action.status)
        if action.status == "planned" and BREAKER_OPEN in action.reason:
            metrics.add_metric("BreakerOpen", MetricUnit.Count, 1)
    logger.info(
        "incident acted on",
        extra={
            "incident_id": outcome.incident_id,
            "access_key": subject_label(message.access_key_id),
            "actions": [f"{a.status} {a.type}" for a in outcome.actions],
            "followed_up": outcome.followed_up_now,
            "note": outcome.note,
        },
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
