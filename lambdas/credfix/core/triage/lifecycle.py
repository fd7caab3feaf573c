"""The key's IAM lifecycle in the account credfix reads: found (with its facts), absent
(deleted or never issued), a session key, or not visible from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from credfix.adapters.readers.iam_keys import IamKeys
from credfix.core.triage.ownership import Ownership
from credfix.keys import key_kind
from credfix.models.iam import KeyFacts
from credfix.models.incident import (
    Incident,
)

LifecycleState = Literal["found", "absent", "temporary", "not-visible"]


@dataclass(frozen=True)
class Lifecycle:
    state: LifecycleState
    facts: KeyFacts | None = None  # when found
    note: str = ""  # why not looked up


def lifecycle_of(incident: Incident, ownership: Ownership, iam: IamKeys) -> Lifecycle:
    key, owner = incident.access_key_id, ownership.owner_account
    if key_kind(key) == "temporary":
        return Lifecycle("temporary", note="STS session credentials have no IAM lifecycle")
    if owner and ownership.target_accounts and owner not in ownership.target_accounts:
        return Lifecycle("not-visible", note=f"the key belongs to account {owner}")
    caller = ownership.caller_account
    if owner and caller and owner != caller:
        return Lifecycle(
            "not-visible",
            note=f"the key belongs to account {owner}; credfix reads IAM of account {caller}",
        )
    facts = iam.describe(key)
    return Lifecycle("found", facts) if facts else Lifecycle("absent")


MAX_RELATED_KEYS = 10  # other keys looked up (secrets' current keys, configured static keys)


class RelatedKeys:
    """IAM's facts about the other keys that matter (a watched secret's current key, a
    workload's configured static key), each looked up once, at most MAX_RELATED_KEYS; None
    for a key IAM has no record of. Only when the failing key's own lifecycle was readable."""

    def __init__(self, iam: IamKeys, failing_key: str, *, readable: bool) -> None:
        self._iam = iam
        self._failing = failing_key
        self._readable = readable
        self.facts: dict[str, KeyFacts | None] = {}

    def look_up(self, other: str | None) -> None:
        if not self._readable or not other or other == self._failing or other in self.facts:
            return
        if len(self.facts) < MAX_RELATED_KEYS:
            self.facts[other] = self._iam.describe(other)
