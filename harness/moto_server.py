"""moto server, with one correction for fidelity: DynamoDB writes are serialised.

Real DynamoDB applies each conditional write to an item atomically; moto's threaded server
checks the condition and writes in two steps without a lock, so two racing requests can
both pass a condition only one of them should pass. credfix's dedup rests on that
atomicity, so the harness runs moto's own WSGI app behind a lock for DynamoDB requests
(other services stay concurrent). Run as `python -m harness.moto_server -p PORT`.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialise_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host, args.port, serialise_dynamodb(app), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()
