"""Candidates from every locator, merged by workload id and ranked."""

from __future__ import annotations

from credfix.models.incident import Confidence, Workload

_ORDER: dict[Confidence, int] = {"high": 0, "medium": 1, "low": 2}
_LOWER: dict[Confidence, Confidence] = {"high": "medium", "medium": "low", "low": "low"}


def stronger(a: Confidence, b: Confidence) -> Confidence:
    return a if _ORDER[a] <= _ORDER[b] else b


def lower(confidence: Confidence) -> Confidence:
    return _LOWER[confidence]


def merge(old: Workload, new: Workload) -> Workload:
    evidence = list(old.evidence) + [e for e in new.evidence if e not in old.evidence]
    credentials = list(old.credentials) + [c for c in new.credentials if c not in old.credentials]
    return old.model_copy(
        update={
            "confidence": stronger(old.confidence, new.confidence),
            "evidence": evidence,
            "credentials": credentials,
            "region": old.region or new.region,
            "account": old.account or new.account,
            "parent": old.parent or new.parent,
            "cluster": old.cluster or new.cluster,
            "started_at": old.started_at or new.started_at,
        }
    )


class Candidates:
    def __init__(self) -> None:
        self._by_id: dict[str, Workload] = {}

    def add(self, workload: Workload) -> Workload:
        existing = self._by_id.get(workload.id)
        merged = workload if existing is None else merge(existing, workload)
        self._by_id[workload.id] = merged
        return merged

    def update(self, workload_id: str, *, evidence: str, confidence: Confidence | None = None) -> None:
        """Add one line of evidence, and optionally set the confidence (used to demote)."""
        current = self._by_id[workload_id]
        lines = current.evidence if evidence in current.evidence else [*current.evidence, evidence]
        self._by_id[workload_id] = current.model_copy(
            update={"evidence": lines, "confidence": confidence or current.confidence}
        )

    def get(self, workload_id: str) -> Workload | None:
        return self._by_id.get(workload_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[Workload]:
        return list(self._by_id.values())

    def ranked(self) -> list[Workload]:
        """high > medium > low, then more evidence first; ties keep a stable, readable order."""
        return sorted(
            self._by_id.values(), key=lambda w: (_ORDER[w.confidence], -len(w.evidence), w.type, w.id)
        )
