"""relay Lambda (regions other than home, member accounts): the account's CloudWatch Logs
subscription filter policy delivers a workload's error lines here; the recognised ones go to
this region's default bus as `credfix.logs` events, which the forwarding rule takes to the
home intake (thin handler: nothing is stored here; a failed send raises, and Lambda retries)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credfix.adapters.aws import client
from credfix.adapters.messaging.log_relay import LogRelay
from credfix.config import settings
from credfix.core.logs import relayed_events

logger = Logger(service="credfix-relay")
_cfg = settings()
_relay = LogRelay(client("events"))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    entries, lines = relayed_events(event, os.environ.get("AWS_REGION", "unknown"), _cfg.accepted_errors)
    sent = _relay.send(entries) if entries else 0
    for reason, count in lines.ignored.items():
        logger.info("log lines not relayed", extra={"reason": reason, "count": count})
    logger.info("log lines relayed", extra={"lines": lines.lines, "relayed": lines.counted, "events": sent})
    return {"lines": lines.lines, "relayed": lines.counted}
