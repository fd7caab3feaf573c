"""What both intakes count with (CloudTrail records: handlers/ingest; runtime-log lines:
handlers/logs): the incidents table, their queues and the storm gate, made once per process
from the settings."""

from __future__ import annotations

from credfix.adapters.aws import client
from credfix.adapters.messaging.queues import Queues
from credfix.adapters.stores.incidents import IncidentStore
from credfix.adapters.stores.storm import StormStore
from credfix.config import Settings
from credfix.core.storm import StormGate, storm_limits


def intake_adapters(cfg: Settings) -> tuple[IncidentStore, Queues, StormGate]:
    # The storm's hot path: requests built by IncidentStore alone, validated by DynamoDB itself.
    store = IncidentStore(
        client("dynamodb", validate_params=False), cfg.table_name, reopen_after=cfg.reopen_after
    )
    queues = Queues(
        client("sqs"),
        work_queue_url=cfg.work_queue_url,
        dead_letter_url=cfg.events_dlq_url,
        verify_queue_url=cfg.verify_queue_url,
        bulk_queue_url=cfg.bulk_queue_url,
    )
    return store, queues, StormGate(StormStore(client("dynamodb"), cfg.table_name), storm_limits(cfg))
