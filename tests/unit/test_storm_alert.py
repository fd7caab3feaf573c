"""The storm summary alert (credfix.core.alerts.storm): one readable e-mail and a machine
document per window, key IDs redacted, every line bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from credfix.core.alerts.storm import storm_message, storm_subject, storm_text
from credfix.models.storm import StormRecord, StormSummary

SUMMARY = StormSummary(
    StormRecord(
        window=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        window_end=datetime(2026, 11, 30, 12, 15, tzinfo=UTC),
        records=100_000,
        keys=99_900,
        sources={"203.0.113.7": 60_000, "203.0.113.8": 40_000, "x\n" * 300: 1},
        first_seen="2026-11-30T12:00:01Z",
        last_seen="2026-11-30T12:00:59Z",
        sample=["AKIAY34FZKBOSTRM0001", "AKIAY34FZKBOSTRM0002"],
        alerted=False,
    ),
    per_source=20,
    overall=200,
)


def test_the_summary_reads_in_one_screen_and_redacts_key_ids() -> None:
    text = storm_text(SUMMARY)
    assert "99,900 (counted per batch" in text
    assert "203.0.113.7: 60,000 call(s)" in text
    assert "AKIA…0001" in text and "AKIAY34FZKBOSTRM0001" not in text
    assert "A source may open 20 new incident(s) per window and all sources together 200" in text
    assert "Nothing was changed" in text
    assert all(len(line) <= 240 for line in text.splitlines())
    assert "\n\n\n" not in text  # a forged address cannot add lines


def test_the_publish_request_has_a_subject_attributes_and_a_machine_document() -> None:
    request = storm_message(SUMMARY)
    assert request["Subject"] == storm_subject(SUMMARY)
    assert len(request["Subject"]) < 100 and request["Subject"].isascii()
    attrs = {k: v["StringValue"] for k, v in request["MessageAttributes"].items()}
    assert attrs == {
        "kind": "storm",
        "verdict": "storm",
        "severity": "high",
        "account": "unknown",
        "action_status": "none",
    }
    structured = json.loads(request["Message"])
    machine = json.loads(structured["sqs"])
    assert machine["storm"]["keys"] == 99_900
    assert machine["storm"]["sample"] == ["AKIA…0001", "AKIA…0002"]
