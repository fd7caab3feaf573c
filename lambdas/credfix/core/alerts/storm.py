"""The storm summary: one alert per window for the keys ingest did not open incidents for
(credfix.core.storm), instead of two e-mails per key. Pure functions of the storm record."""

from __future__ import annotations

import json
from typing import Any

from credfix.core.alerts.sanitise import ascii_line, sanitise
from credfix.keys import redact
from credfix.models.storm import StormSummary
from credfix.timefmt import iso_z

MAX_SOURCES = 10


def storm_subject(summary: StormSummary) -> str:
    s = summary.record
    sources = len(s.sources)
    return ascii_line(
        f"[credfix] STORM: {s.keys:,} key IDs failing from {sources:,} source(s), {iso_z(s.window)}"
    )[:99]


def storm_text(summary: StormSummary) -> str:
    s = summary.record
    top = sorted(s.sources.items(), key=lambda kv: -kv[1])[:MAX_SOURCES]
    lines = [
        "credfix saw more new failing key IDs than it opens incidents for, and summarises them here "
        "instead of alerting on each.",
        "",
        "WHAT IS FAILING",
        f"  Window:     {iso_z(s.window)} to {iso_z(s.window_end) if s.window_end else '?'} (UTC)",
        f"  Key IDs:    {s.keys:,} (counted per batch; a key seen in several batches counts again)",
        f"  Failures:   {s.records:,} rejected call(s)",
        f"  Seen:       first {s.first_seen or '?'}, last {s.last_seen or '?'} (event time)",
        f"  Sources:    {len(s.sources):,} address(es); most records from:",
        *[f"    - {sanitise(ip, 80)}: {n:,} call(s)" for ip, n in top],
        f"  Sample:     {', '.join(redact(k) for k in s.sample) or '(none)'}",
        "",
        "WHY NO INCIDENTS",
        f"  A source may open {summary.per_source} new incident(s) per window and all sources together "
        f"{summary.overall}; these keys came after that. Addresses credfix has attributed to this "
        "account are never capped, so the account's own failing workloads still get incidents.",
        f"  {s.folded} incident(s) opened for these sources before the caps were reached: triaged, "
        "nothing changed, and not alerted one by one (this summary stands for them).",
        "",
        "WHAT TO DO NEXT",
        "  1. Nothing was changed: credfix acts only on failures attributed to the account.",
        "  2. If the sources are not yours, someone is trying key IDs against AWS (old keys leaked in "
        "commits or logs stay valid identifiers forever): check that none of the sampled keys is still "
        "Active (`aws iam get-access-key-last-used --access-key-id ...`).",
        "  3. If a source is yours (a NAT gateway or proxy), raise the caps "
        "(max_new_incidents_per_source / max_new_incidents) or look at the sampled keys.",
    ]
    return "\n".join(line[:240] for line in lines) + "\n"


def storm_message(summary: StormSummary) -> dict[str, Any]:
    """Keyword arguments for `sns.publish` (all but TopicArn)."""
    s = summary.record
    document = {
        "kind": "storm",
        "storm": {
            "window": iso_z(s.window),
            "window_end": iso_z(s.window_end) if s.window_end else None,
            "records": s.records,
            "keys": s.keys,
            "sources": dict(sorted(s.sources.items(), key=lambda kv: -kv[1])[:50]),
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
            "sample": [redact(k) for k in s.sample],
            "folded_incidents": s.folded,
        },
    }
    machine = json.dumps(document, separators=(",", ":"))
    structured = {
        "default": storm_subject(summary),
        "email": storm_text(summary),
        **{p: machine for p in ("email-json", "sqs", "https", "lambda")},
    }
    attrs = {
        "kind": "storm",
        "verdict": "storm",
        "severity": "high",
        "account": "unknown",
        "action_status": "none",
    }
    return {
        "Subject": storm_subject(summary),
        "Message": json.dumps(structured),
        "MessageStructure": "json",
        "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()},
    }
