"""EventBridge: a relay Lambda (another region, a member account) sends the runtime-log lines
it recognised to its own default bus, whose forwarding rule takes them to the home intake."""

from __future__ import annotations

from typing import Any

from credfix.permissions import needs

MAX_REQUEST_BYTES = 240_000  # PutEvents takes 256 KB per request, envelopes included
MAX_ENTRIES = 10


class RelayFailed(Exception):
    """Some entries were not accepted: the invocation fails, and Lambda retries the payload."""


class LogRelay:
    def __init__(self, client: Any, bus: str = "default") -> None:
        self._events = client
        self._bus = bus

    @needs("relay", "events:PutEvents", on="log-relay-bus")
    def send(self, entries: list[dict[str, Any]]) -> int:
        """Put the entries on the bus, as few requests as the limits allow; how many were sent."""
        batch: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            entry_size = len(entry["Detail"]) + len(entry["Source"]) + len(entry["DetailType"])
            if batch and (size + entry_size > MAX_REQUEST_BYTES or len(batch) == MAX_ENTRIES):
                self._put(batch)
                batch, size = [], 0
            batch.append({**entry, "EventBusName": self._bus})
            size += entry_size
        if batch:
            self._put(batch)
        return len(entries)

    def _put(self, batch: list[dict[str, Any]]) -> None:
        resp = self._events.put_events(Entries=batch)
        if resp.get("FailedEntryCount"):
            codes = sorted({str(e.get("ErrorCode")) for e in resp.get("Entries", []) if e.get("ErrorCode")})
            raise RelayFailed(f"{resp['FailedEntryCount']} of {len(batch)} entries not accepted: {codes}")
