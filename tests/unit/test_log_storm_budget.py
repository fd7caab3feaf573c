"""Runtime-log failures under the storm caps (credfix.core.storm): lines have no address, so a
new incident from a log group spends that group's budget, on the priority lane (the group is the
account's), and a storm of key IDs printed into one group cannot spend another's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credfix.core.storm import StormGate, budget_source
from credfix.models.observation import KeyDelta, SourceDelta
from credfix.models.storm import StormBatch, StormLimits

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def delta(key: str, *, log: str | None = None, ip: str | None = None) -> KeyDelta:
    return KeyDelta(
        key, count=1, first_seen=NOW, last_seen=NOW, sources={"s": SourceDelta(ip, None, log=log, count=1)}
    )


class Budgets:
    """The storm store's budget counters, in memory (the DynamoDB store is tested on the local AWS)."""

    def __init__(self) -> None:
        self.taken: dict[str, int] = {}

    def take_openings(self, source: str, wanted: int, cap: int, window: datetime, now: datetime) -> int:
        have = self.taken.get(source, 0)
        granted = max(0, min(wanted, cap - have))
        self.taken[source] = have + wanted if have < cap else have
        return granted

    def trusted(self, sources: Any) -> set[Any]:
        return set()

    def record(self, *args: Any) -> bool:
        return True


def test_a_log_source_spends_its_log_groups_budget_on_the_priority_lane() -> None:
    line = delta("AKIAY34FZKBOKMUTVV7A", log="/ecs/web:ecs/app/" + "a" * 32)
    assert budget_source(line) == "log-group /ecs/web"
    gate = StormGate(Budgets(), StormLimits(per_source=2, overall=100, window_seconds=900))
    assert gate.rank(line) == 1  # not the bulk lane: a log group of the account


def test_key_ids_printed_into_one_group_cannot_spend_anothers_budget() -> None:
    budgets = Budgets()
    gate = StormGate(budgets, StormLimits(per_source=2, overall=100, window_seconds=900))
    flood = [delta(f"AKIAY34FZKBOKMUTV{n:03d}", log="/ecs/web:ecs/app/" + "a" * 32) for n in range(50)]
    other = delta(
        "workload#arn:aws:lambda:us-east-1:123456789012:function:orders", log="/aws/lambda/orders:s"
    )
    admitted = gate.admit([*flood, other], NOW)
    assert len([d for d in admitted if d in flood]) == 2 and other in admitted
    assert budgets.taken["log-group /ecs/web"] == 50 and budgets.taken["log-group /aws/lambda/orders"] == 1


def test_the_storm_record_names_a_log_group_not_a_missing_address() -> None:
    batch = StormBatch()
    batch.add(delta("AKIAY34FZKBOKMUTVV7A", log="/ecs/web:ecs/app/" + "a" * 32))
    assert dict(batch.sources) == {"log-group /ecs/web": 1}
