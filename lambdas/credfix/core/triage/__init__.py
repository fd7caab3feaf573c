"""Triage: the decision shortcut of the field guide, as code, in rooms named for what they
decide: `ownership` (whose key), `lifecycle` (what IAM says of it), `evidence` (what the
watched secrets and the located workloads' configuration say), `verdict` (the decision table,
pure), `run` (gathering the facts for one incident), `workload` (an incident keyed by a
workload: its runtime-log lines show no key ID) and `handoff` (the triage Lambda's
message: lanes, the verdict written once, the act message sent at least once)."""

from credfix.core.triage.handoff import Taken, take_opened_incident
from credfix.core.triage.lifecycle import Lifecycle
from credfix.core.triage.ownership import Ownership, establish_ownership
from credfix.core.triage.run import TriageFailed, TriageResult, incident_from_delta, triage
from credfix.core.triage.verdict import SEVERITY, Decision, decide
from credfix.core.triage.workload import triage_any, triage_workload

__all__ = [
    "SEVERITY",
    "Decision",
    "Lifecycle",
    "Ownership",
    "Taken",
    "TriageFailed",
    "TriageResult",
    "decide",
    "establish_ownership",
    "incident_from_delta",
    "take_opened_incident",
    "triage",
    "triage_any",
    "triage_workload",
]
