"""The hand-offs between the pipeline's steps: a record set aside with its reason, what
counting a batch into an incident came to, and where an incident stands for the act queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SetAside:
    message_id: str
    body: str
    reason: str


RecordOutcome = Literal["opened", "counted", "duplicate"]


@dataclass(frozen=True)
class RecordResult:
    outcome: RecordOutcome
    incident_id: str
    # The incident is open but its "opened" message was never confirmed sent (the send failed,
    # or the Lambda died after the write): whoever counts into it next sends it (again).
    # Triage ignores an incident it has already taken, so a repeat is harmless.
    announce: bool = False


@dataclass(frozen=True)
class HandOffState:
    """Where an incident item stands, as far as handing it to the act queue goes."""

    incident_id: str
    status: str
    act_queued_for: str | None  # the incident id whose "triaged" message was sent
    outside: bool = False  # triage attributed none of its sources: act's bulk lane
