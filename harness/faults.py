"""A fault-injecting HTTP proxy between credfix's clients and the local AWS (moto server).

Point a client's endpoint at `FaultProxy.url` and every request is forwarded to moto,
except that a seeded share of them fails the way AWS fails: a throttling error in the
service's own protocol, a 500 InternalFailure, a connection closed without an answer,
an answer lost after the call was applied, or a slow answer. The proxy counts what it
injected so a test can show the faults really happened.

Protocols (botocore 1.44): DynamoDB and SQS both speak AWS JSON 1.0 (`X-Amz-Target`
header; SQS moved from query to JSON in 2023, with `awsQueryCompatible`, so its errors
also carry the `x-amzn-query-error` header botocore maps back to the query error code).
Anything else (query protocol, `Action=` form bodies) gets the query XML error shape.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal["throttle", "server-error", "drop", "lost-answer", "slow"]
FAULT_KINDS: tuple[FaultKind, ...] = ("throttle", "server-error", "drop", "lost-answer", "slow")
# Headers hop-by-hop or recomputed by http.client; never copied between the two legs.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class FaultPlan:
    """Per-call probability of each fault kind (their sum is the share of faulty calls).

    `only` limits faults to operations whose name (e.g. "UpdateItem", "SendMessage")
    is in it; other calls always pass through.
    """

    throttle: float = 0.05
    server_error: float = 0.05
    drop: float = 0.04
    lost_answer: float = 0.02
    slow: float = 0.04
    slow_seconds: float = 0.2
    seed: int = 0
    only: frozenset[str] | None = None

    def __post_init__(self) -> None:
        rates = (self.throttle, self.server_error, self.drop, self.lost_answer, self.slow)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError(f"fault rates must be >= 0 and sum to <= 1, got {rates}")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must be >= 0")

    @classmethod
    def uniform(cls, total: float = 0.2, *, seed: int = 0, slow_seconds: float = 0.2) -> FaultPlan:
        """`total` of all calls faulty, split evenly over the five kinds."""
        each = total / len(FAULT_KINDS)
        return cls(each, each, each, each, each, slow_seconds=slow_seconds, seed=seed)

    def rates(self) -> list[tuple[FaultKind, float]]:
        return [
            ("throttle", self.throttle),
            ("server-error", self.server_error),
            ("drop", self.drop),
            ("lost-answer", self.lost_answer),
            ("slow", self.slow),
        ]


@dataclass
class FaultCounts:
    calls: int = 0
    injected: Counter[str] = field(default_factory=Counter)  # fault kind -> count
    by_operation: Counter[str] = field(default_factory=Counter)  # "Operation:kind" -> count

    @property
    def faulty(self) -> int:
        return sum(self.injected.values())


def _operation(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(protocol, operation name) of a botocore request."""
    target = headers.get("x-amz-target", "")
    if target:  # "DynamoDB_20120810.UpdateItem", "AmazonSQS.SendMessage"
        prefix, _, operation = target.partition(".")
        return ("sqs-json" if prefix == "AmazonSQS" else "json"), operation
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return "query", action or "unknown"


def _throttle(protocol: str) -> tuple[int, dict[str, str], bytes]:
    if protocol == "json":
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body).encode()
    if protocol == "sqs-json":
        body = {"__type": "com.amazonaws.sqs#RequestThrottled", "message": "Request is throttled."}
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": "RequestThrottled;Sender",
        }
        return 400, headers, json.dumps(body).encode()
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml"}, xml.encode()


def _server_error(protocol: str) -> tuple[int, dict[str, str], bytes]:
    if protocol in ("json", "sqs-json"):
        body = {"__type": "InternalFailure", "message": "We encountered an internal error."}
        return 500, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body).encode()
    xml = (
        "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
        "<Message>We encountered an internal error.</Message></Error></ErrorResponse>"
    )
    return 500, {"Content-Type": "text/xml"}, xml.encode()


class FaultProxy:
    """A threaded HTTP server on 127.0.0.1 that forwards to `target_url`, injecting faults."""

    def __init__(self, target_url: str, plan: FaultPlan | None = None) -> None:
        self.target = urlsplit(target_url)
        self.plan = plan or FaultPlan.uniform()
        self.counts = FaultCounts()
        self.enabled = True  # switch faults off to let a redrive finish cleanly
        self._rng = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self._scripted: list[tuple[str, bytes, FaultKind]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, operation: str, body_contains: str, fault: FaultKind, times: int = 1) -> FaultProxy:
        """Inject `fault` into the next `times` `operation` calls whose body contains the text
        (the deterministic form of a fault the seeded runs draw now and then; botocore retries
        a failed call up to 3 times, so `times=4` makes the call fail for the caller)."""
        with self._lock:
            self._scripted.extend([(operation, body_contains.encode(), fault)] * times)
        return self

    def scripted(self, operation: str, body: bytes) -> FaultKind | None:
        with self._lock:
            for n, (wanted, text, fault) in enumerate(self._scripted):
                if operation == wanted and text in body:
                    del self._scripted[n]
                    self.counts.injected[fault] += 1
                    self.counts.by_operation[f"{operation}:{fault}"] += 1
                    return fault
        return None

    def choose(self, operation: str) -> FaultKind | None:
        """The fault for the next call (None: forward it untouched); counts the call."""
        with self._lock:
            self.counts.calls += 1
            if not self.enabled or (self.plan.only is not None and operation not in self.plan.only):
                return None
            roll = self._rng.random()
            for kind, rate in self.plan.rates():
                if roll < rate:
                    self.counts.injected[kind] += 1
                    self.counts.by_operation[f"{operation}:{kind}"] += 1
                    return kind
                roll -= rate
            return None

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.target.hostname or "127.0.0.1", self.target.port, timeout=60)
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        conn.request(method, path, body=body, headers=sent)
        return conn.getresponse()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the counts say what happened

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _hang_up(self) -> None:
                self.close_connection = True
                with suppress(OSError):  # the client may have gone already
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                protocol, operation = _operation(headers, body)
                fault = proxy.scripted(operation, body) or proxy.choose(operation)
                if fault == "throttle":
                    return self._answer(*_throttle(protocol))
                if fault == "server-error":
                    return self._answer(*_server_error(protocol))
                if fault == "drop":  # the call never reaches AWS
                    return self._hang_up()
                if fault == "slow":
                    time.sleep(proxy.plan.slow_seconds)
                response = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
                answer = response.read()
                if fault == "lost-answer":  # applied by AWS, but the client never hears back
                    return self._hang_up()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS}
                self._answer(response.status, kept, answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


@contextmanager
def fault_proxy(target_url: str, plan: FaultPlan | None = None) -> Iterator[FaultProxy]:
    proxy = FaultProxy(target_url, plan).start()
    try:
        yield proxy
    finally:
        proxy.stop()
