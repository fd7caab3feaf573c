"""A credential failure observed, whatever signal saw it (a CloudTrail record today, a
workload's log line next): one typed record, `Failure`, with one `signature` that groups the
failures of the same key, source and call; and what one batch of them adds to a key's
incident (`KeyDelta`, per source).

`Failure` is a NamedTuple: ingest builds one per record of a storm, and a tuple is the
cheapest object that still has names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

SourceKind = Literal["cloudtrail", "log"]


class Failure(NamedTuple):
    # The signature: everything an incident keeps of a failure but its time and reference.
    access_key_id: str  # the key that failed
    source_ip: str | None  # sourceIPAddress: an address, a service name ("AWS Internal"), or None
    user_agent: str | None
    error_code: str | None
    region: str
    event_source: str  # the service called, e.g. sts.amazonaws.com
    account: str  # the account the call was made to
    session_issuer: str | None  # the role behind a session key (ASIA…)
    vpc_endpoint_id: str | None  # the endpoint a private source address came through
    source_kind: SourceKind
    workload_hint: str | None  # what the signal names of the workload (a log group/stream), if anything
    # Not in the signature:
    event_time: datetime  # timezone-aware
    ref: str  # where it came from: an SQS message id, a CloudTrail event id, a log event id


SIGNATURE_FIELDS = 11
Signature = tuple[
    str, str | None, str | None, str | None, str, str, str, str | None, str | None, SourceKind, str | None
]


def signature(failure: Failure) -> Signature:
    """What groups failures for counting: all but their time and reference."""
    return failure[:SIGNATURE_FIELDS]  # type: ignore[return-value]


def source_hash(
    ip: str | None, user_agent: str | None, vpc_endpoint_id: str | None = None, log: str | None = None
) -> str:
    """A short stable name for a (source IP, user agent, VPC endpoint, log stream) source, usable
    as a map key (sources without an endpoint or a log stream keep the name they always had)."""
    endpoint = f"\x00{vpc_endpoint_id}" if vpc_endpoint_id else ""
    stream = f"\x00log\x00{log}" if log else ""
    return "s" + hashlib.sha256(f"{ip}\x00{user_agent}{endpoint}{stream}".encode()).hexdigest()[:12]


@dataclass
class SourceDelta:
    ip: str | None
    user_agent: str | None
    vpc_endpoint_id: str | None = None
    count: int = 0
    last_seen: datetime | None = None
    log: str | None = None  # runtime logs: `GROUP:STREAM` the lines were written to (no address)


@dataclass
class KeyDelta:
    """What one batch adds to the incident of one access key (or, for failures only a workload's
    logs show, of one workload: `access_key_id` is then its subject, `workload#<ARN>`)."""

    access_key_id: str
    message_ids: list[str] = field(default_factory=list)  # in the batch's order
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    error_codes: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    event_sources: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    sources: dict[str, SourceDelta] = field(default_factory=dict)  # first seen first
    sources_dropped: int = 0
    session_issuers: set[str] = field(default_factory=set)  # the first few seen
    known_key: str | None = None  # a workload subject's key as its lines show it (masked: `AKIA…WXYZ`)

    def batch_token(self) -> str:
        """Same records, same token: a redelivered batch is recognised and not counted twice."""
        joined = "\n".join(sorted(self.message_ids))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]
