"""One SQS batch of the rotation queue: every event is checked (a refused one goes to the DLQ
with its reason), the events that name the same secret are handled once, and each secret's
outcome counts for all of its events (a failure sends them all back to be retried)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from credfix.adapters.aws import ClientFactory
from credfix.config import Settings
from credfix.core.rotation.events import Refused, signal_of
from credfix.core.rotation.watch import ActNotifier, RotationStore, Watched, watch_rotation
from credfix.errortext import error_text
from credfix.models.pipeline import SetAside
from credfix.models.rotation import RotationSignal


class DeadLetters(Protocol):
    def set_aside(self, records: list[SetAside]) -> list[str]: ...


@dataclass(frozen=True)
class Message:
    message_id: str
    body: str


@dataclass
class IntakeReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # per event
    refused: Counter[str] = field(default_factory=Counter)  # reason -> events
    failed_message_ids: list[str] = field(default_factory=list)
    watched: list[Watched] = field(default_factory=list)  # one per secret
    errors: list[str] = field(default_factory=list)

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed_message_ids]}


def _signal(body: str, home_account: str | None) -> RotationSignal:
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused("not JSON") from None
    signal = signal_of(event)
    if home_account is not None and signal.account != home_account:
        raise Refused(f"the event is of account {signal.account}, not of this account {home_account}")
    return signal


def take_batch(
    messages: Sequence[Message],
    *,
    client_for_account: Callable[[str], ClientFactory],
    settings: Settings,
    store: RotationStore,
    act: ActNotifier,
    dead_letters: DeadLetters,
    home_account: str | None,
    now: datetime | None = None,
) -> IntakeReport:
    """`home_account`: the only account whose events are taken (single-account mode); None in
    organisation mode, where `client_for_account` reaches each member account."""
    now = now or datetime.now(UTC)
    report = IntakeReport()
    refused: list[SetAside] = []
    by_secret: dict[tuple[str, str, str], list[Message]] = {}
    signals: dict[tuple[str, str, str], RotationSignal] = {}
    for message in messages:
        try:
            signal = _signal(message.body, home_account)
        except Refused as exc:
            reason = str(exc)[:256]
            refused.append(SetAside(message.message_id, message.body[:200_000], reason))
            report.refused[reason] += 1
            continue
        group = (signal.account, signal.region, signal.secret_ref)
        by_secret.setdefault(group, []).append(message)
        signals.setdefault(group, signal)
    if refused:
        report.failed_message_ids.extend(dead_letters.set_aside(refused))
    for group, grouped in by_secret.items():
        signal = signals[group]
        try:
            watched = watch_rotation(
                signal, client_for_account(signal.account), settings, store=store, act=act, now=now
            )
        except (ClientError, BotoCoreError) as exc:
            report.errors.append(f"{signal.secret_ref[:100]}: {error_text(exc)}")
            report.failed_message_ids.extend(m.message_id for m in grouped)
            continue
        report.watched.append(watched)
        report.outcomes[watched.outcome] += len(grouped)
    return report
