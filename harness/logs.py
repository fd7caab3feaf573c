"""CloudWatch Logs' account-level subscription filter policy, on the local AWS.

moto stores log groups, streams and events, but runs no subscription policy and no Lambda.
`LocalLogDelivery` stands in for both: it reads the policy the synthesized app deploys (its
filter pattern and selection criteria), takes the events written to the local AWS's log
groups since it last looked, and delivers the matching ones the way CloudWatch Logs does:
one payload per log stream, in the shape Lambda receives (`{"awslogs": {"data":
base64(gzip(json))}}`), through Lambda's asynchronous invocation (two retries after a
failure, then the record in the function's on-failure queue, with the error).

Fidelity: moto numbers each stream's events 0, 1, 2…; CloudWatch Logs gives every event a
unique 56-digit ID, on which the intake's dedup of a retried payload rests. The delivery
gives each event such an ID (its time, its stream and its position).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3

from harness.moto import ACCOUNT, REGION
from harness.pipeline import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


def payload(
    group: str,
    stream: str,
    messages: Sequence[str],
    *,
    owner: str = ACCOUNT,
    at: datetime | None = None,
    first_id: int = 0,
) -> dict[str, Any]:
    """A DATA_MESSAGE as CloudWatch Logs builds it (decoded)."""
    millis = int((at or datetime.now(UTC)).timestamp() * 1000)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["credfix-runtime-log-signal"],
        "policyLevel": "ACCOUNT_LEVEL_POLICY",
        "logEvents": [
            {"id": event_id(millis, group, stream, first_id + n), "timestamp": millis, "message": message}
            for n, message in enumerate(messages)
        ],
    }


def control_message(owner: str = ACCOUNT) -> dict[str, Any]:
    """What CloudWatch Logs sends to check that a destination is reachable."""
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": 1432826855000,
                "message": "CWL CONTROL MESSAGE: Checking health of destination",
            }
        ],
    }


def awslogs(decoded: dict[str, Any]) -> dict[str, Any]:
    """The payload as Lambda receives it."""
    data = base64.b64encode(gzip.compress(json.dumps(decoded).encode())).decode()
    return {"awslogs": {"data": data}}


def event_id(millis: int, group: str, stream: str, position: int) -> str:
    """A 56-digit event ID, unique as CloudWatch Logs' are."""
    where = int(hashlib.sha256(f"{group}:{stream}".encode()).hexdigest(), 16) % 10**20
    return f"{millis:016d}{where:020d}{position:020d}"


# --- The account policy as the synthesized app deploys it ---------------------------------


def _flatten(value: Any) -> str:
    """A CloudFormation value with Fn::Join resolved and other intrinsics as `<intrinsic>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flatten(p) for p in parts)
    return "<intrinsic>"


@dataclass(frozen=True)
class LogPolicy:
    filter_pattern: str
    excluded: tuple[str, ...]  # the literal names in the selection criteria (credfix's own resolve at deploy)


@cache
def synthesized_log_policies(context_json: str) -> dict[str, LogPolicy]:
    """Each stack's account policy (stack name -> policy) for a context given as JSON."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import build_app

    policies: dict[str, LogPolicy] = {}
    with tempfile.TemporaryDirectory() as out:
        for stack in build_app(json.loads(context_json), outdir=out).synth().stacks:
            for resource in stack.template["Resources"].values():
                if resource["Type"] != "AWS::Logs::AccountPolicy":
                    continue
                props = resource["Properties"]
                document = json.loads(_flatten(props["PolicyDocument"]).replace("<intrinsic>", "x"))
                criteria = _flatten(props.get("SelectionCriteria", "LogGroupName NOT IN []"))
                names = json.loads(criteria.removeprefix("LogGroupName NOT IN "))  # a JSON list of names
                literal = tuple(n for n in names if n != "<intrinsic>")  # credfix's own resolve at deploy
                policies[stack.stack_name] = LogPolicy(document["FilterPattern"], literal)
    return policies


_TERM = re.compile(r'\?"(?P<phrase>[^"]*)"|\?(?P<word>\S+)')


def matches(pattern: str, message: str) -> bool:
    """CloudWatch Logs' OR of terms (`?"exact phrase" ?word`), the only form the policy uses."""
    terms = [
        m.group("phrase") if m.group("phrase") is not None else m.group("word")
        for m in _TERM.finditer(pattern)
    ]
    if not terms:
        raise ValueError(f"not an OR-of-terms filter pattern: {pattern!r}")
    return any(term in message for term in terms)


# --- Delivery ------------------------------------------------------------------------------


@dataclass
class Delivered:
    payloads: int = 0
    events: int = 0
    invocations: int = 0
    failed: list[str] = field(default_factory=list)  # errors of payloads that ran out of retries


class LocalLogDelivery:
    """The account policy of one account and region, delivering to `handler`."""

    def __init__(
        self,
        handler: Handler,
        policy: LogPolicy,
        *,
        endpoint_url: str,
        region: str = REGION,
        function_name: str = "credfix-logs",
        on_failure: Callable[[dict[str, Any], str], None] | None = None,
    ) -> None:
        self.handler = handler
        self.policy = policy
        self.logs = boto3.client("logs", region_name=region, endpoint_url=endpoint_url)
        self.function_name = function_name
        self.on_failure = on_failure
        self._tokens: dict[tuple[str, str], str] = {}
        self._positions: dict[tuple[str, str], int] = {}
        self.stats = Delivered()
        self.sent: list[dict[str, Any]] = []  # the payloads delivered (decoded), in order

    def write(self, group: str, stream: str, messages: Sequence[str], at: datetime | None = None) -> None:
        """A workload's runtime writing lines into its log group (on the local AWS)."""
        if not self.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            self.logs.create_log_group(logGroupName=group)
        if not self.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        millis = int((at or datetime.now(UTC)).timestamp() * 1000)
        for start in range(0, len(messages), 10_000):  # PutLogEvents takes 10,000 events at a time
            batch = [{"timestamp": millis, "message": m} for m in messages[start : start + 10_000]]
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)

    def _new_events(self, group: str, stream: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = self._tokens.get((group, stream))
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            if token:
                kwargs["nextToken"] = token
            resp = self.logs.get_log_events(**kwargs)
            events.extend(resp["events"])
            if not resp["events"] or resp.get("nextForwardToken") in (None, token):
                token = resp.get("nextForwardToken") or token
                break
            token = resp["nextForwardToken"]
        if token:
            self._tokens[(group, stream)] = token
        return events

    def deliver(self) -> Delivered:
        """Every new matching event of every group the policy selects, one payload per stream."""
        for group in (g["logGroupName"] for g in self.logs.describe_log_groups()["logGroups"]):
            if group in self.policy.excluded:
                continue
            streams = self.logs.describe_log_streams(logGroupName=group)["logStreams"]
            for stream in (s["logStreamName"] for s in streams):
                events = self._new_events(group, stream)
                position = self._positions.get((group, stream), 0)
                self._positions[(group, stream)] = position + len(events)
                chosen = [
                    {"id": event_id(e["timestamp"], group, stream, position + n), **e}
                    for n, e in enumerate(events)
                    if matches(self.policy.filter_pattern, e["message"])
                ]
                if chosen:
                    self.invoke(
                        {
                            **payload(group, stream, [], owner=ACCOUNT),
                            "logEvents": [
                                {"id": e["id"], "timestamp": e["timestamp"], "message": e["message"]}
                                for e in chosen
                            ],
                        }
                    )
        return replace(self.stats, failed=list(self.stats.failed))  # a snapshot: later invokes add to stats

    def invoke(self, decoded: dict[str, Any]) -> Any:
        """Lambda's asynchronous invocation of the destination: the first try and two retries."""
        self.stats.payloads += 1
        self.stats.events += len(decoded["logEvents"])
        self.sent.append(decoded)
        event = awslogs(decoded)
        error = ""
        for _ in range(3):
            self.stats.invocations += 1
            try:
                return self.handler(event, LambdaContext(self.function_name))
            except Exception as exc:  # what Lambda records as the function's error
                error = f"{type(exc).__name__}: {exc}"
        self.stats.failed.append(error)
        if self.on_failure is not None:
            self.on_failure(event, error)
        return None
