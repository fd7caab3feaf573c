"""One handler invocation in its own process, as a Lambda execution environment runs it:
`python -m bench.invoke HANDLER EVENT_JSON OUT_JSON`.

Every AWS call the handler makes (through credfix.adapters.aws.client, the factory every
handler and core step uses) is recorded with botocore's before-call hook, with a digest of the
request so that repeated identical calls show up as duplicates. Writes the calls, the
handler's response, its CPU time and the process's peak RSS to OUT_JSON.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def main(name: str, event_path: str, out_path: str) -> None:
    from bench.common import peak_rss_kb
    from credfix.adapters import aws

    calls: list[dict[str, str]] = []
    hooked: set[int] = set()
    real_client = aws.client

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        request = json.dumps(
            [params.get("url_path"), params.get("query_string"), params.get("body")],
            default=str,
            sort_keys=True,
        )
        calls.append(
            {
                "call": f"{model.service_model.service_name}:{model.name}",
                "digest": hashlib.sha256(request.encode()).hexdigest()[:16],
            }
        )

    def counted_client(service: str, region: str | None = None) -> Any:
        made = real_client(service, region)
        if id(made) not in hooked:
            hooked.add(id(made))
            made.meta.events.register("before-call", record)
        return made

    aws.client = counted_client  # type: ignore[assignment]  # before the handler binds the name
    from harness.pipeline import LambdaContext

    module = importlib.import_module(f"credfix.handlers.{name}")
    calls.clear()  # init-time calls (none expected) are not the incident's
    event = json.loads(Path(event_path).read_text())
    cpu = time.process_time()
    response = module.handler(event, LambdaContext(f"credfix-{name}"))
    cpu = time.process_time() - cpu
    Path(out_path).write_text(
        json.dumps(
            {
                "calls": calls,
                "response": response,
                "cpu_s": cpu,
                "maxrss_kb": peak_rss_kb(),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
