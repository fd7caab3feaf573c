"""`python -m bench.run`: every measurement, bench/results.json, and a table on stdout.

Options: --runs N (cold-start runs per variant, default 10, at least 10 for the record),
--events N (storm size, default 20,000), --hostile-keys N (hostile storm size, default 100,000),
--hostile-sources N (its outside addresses, default 5), --only NAME[,NAME] (coldstart, storm,
incidents, hostile, logs, timing, eks; default all), --update-docs (rewrite the results table in
docs/performance.md between its markers).

With --only, the sections not re-run keep their figures from the existing bench/results.json
(each section records when it was measured), so the table always shows every section.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from bench import coldstart, cost, eks, hostile, incidents, logs, storm, timing
from bench.common import ROOT

RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
SECTIONS = ("coldstart", "storm", "incidents", "hostile", "logs", "timing", "eks")


def _configured_mb() -> dict[str, int]:
    """The memory sizes the stacks deploy (infra/home_stack.py, the forwarders' relay)."""
    from infra.forwarder_stacks import RELAY_MEMORY_MB
    from infra.home_stack import MEMORY_MB

    return {**MEMORY_MB, "relay": RELAY_MEMORY_MB}


LAMBDA_MIN_MB = 128


def recommended_mb(peak_rss_mb: float) -> int:
    """Peak RSS plus half again for headroom (bigger batches, larger incidents, the runtime's
    own ~30 MB outside the handler process), rounded up to 64 MB, never below 128 MB.

    Memory also buys CPU in Lambda (1,769 MB = one vCPU), so this is the floor for memory,
    not necessarily the cheapest setting for a CPU-bound batch."""
    return max(LAMBDA_MIN_MB, int(math.ceil(peak_rss_mb * 1.5 / 64) * 64))


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    cs = results.get("coldstart")
    if cs:
        for name, h in cs["handlers"].items():
            rows.append(
                (
                    f"cold start {name}",
                    f"{h['median_ms']} ms (no .pyc: {h['median_ms_without_pyc']} ms)",
                    f"{h['x_floor_same_clients']}x floor, {h['x_peer']}x peer; libraries alone "
                    f"{h['libraries_x_floor_same_clients']}x floor, credfix's own code {h['own_code_ms']} ms",
                    _verdict(h["meets_floor_target"] and h["meets_peer_target"]),
                )
            )
        rows.append(
            (
                "cold start floor / peer",
                f"sqs floor {cs['floor_sqs_ms']} ms; c7n {cs['peer_ms']} ms "
                f"(6 resources: {cs['peer_full_resource_set_ms']} ms)",
                f"c7n = {cs['peer_x_its_floor']}x its venv's sqs floor ({cs['peer_venv_floor_sqs_ms']} ms); "
                f"Powertools Tracer (X-Ray SDK) on the floor +{cs['tracer_added_ms']} ms "
                f"({cs['tracer_x_floor']}x): not used, Lambda active tracing instead",
                "",
            )
        )
    st = results.get("storm")
    if st:
        rows.append(
            (
                "storm: ingest CPU per event",
                f"{st['handler_cpu_us_per_event']} µs "
                f"(json.loads floor {st['floor_json_loads_cpu_us_per_event']} µs;"
                f" moto {st['moto_cpu_us_per_event']} µs)",
                f"{st['x_floor']}x floor",
                _verdict(st["meets_target"] and st["batch_item_failures"] == 0),
            )
        )
        rows.append(
            (
                "storm: one event per invocation (peer design)",
                f"{st['single_event_wall_ms_median']} ms wall, {st['single_event_cpu_ms_median']} ms CPU",
                f"{st['single_event_dynamodb_writes']} writes for {st['single_event_invocations']} events",
                _verdict(st["single_event_failures"] == 0),
            )
        )
        rows.append(
            (
                "storm: per 1,000 events",
                f"{st['dynamodb_writes_per_1000_events']} DynamoDB writes, "
                f"{st['lambda_invocations_per_1000_events']} invocations",
                f"batch item failures: {st['batch_item_failures']} of {st['events']}",
                _verdict(st["batch_item_failures"] == 0),
            )
        )
    inc = results.get("incidents")
    if inc:
        for name, s in inc["scenarios"].items():
            if "error" in s:
                rows.append((f"calls: {name}", "error", s["error"][:80], "✗"))
                continue
            primary = name == inc["primary"]
            ok = s["calls_total"] <= 8 and s["duplicates"] == 0 if primary else None
            rows.append(
                (
                    f"calls: {name}",
                    f"{s['calls_total']} (triage {s['calls_triage']}, act {s['calls_act']}), "
                    f"{s['duplicates']} duplicate",
                    f"verdict {s['verdict']}; {', '.join(s['actions']) or 'no action'}",
                    _verdict(ok) if ok is not None else "",
                )
            )
    cm = results.get("cost")
    if cm:
        rows.append(
            (
                "cost per 1M failure events",
                f"${cm['ours_usd_per_million_events']} (peer ${cm['peer_usd_per_million_events']})",
                f"{cm['x_peer']}x cheapest peer; {cm['x_peer_measured']}x peer doing the same work, "
                f"measured (${cm['peer_measured_usd_per_million_events']}: "
                f"{cm['inputs']['peer_measured_billed_ms_per_event']:.0f} ms billed per event)",
                _verdict(cm["meets_target"]),
            )
        )
    rows += hostile_rows(results.get("hostile"))
    lg = results.get("logs")
    if lg:
        rows.append(
            (
                f"runtime logs: intake CPU per line ({lg['lines_per_payload']:,}-line payload)",
                f"{lg['handler_cpu_us_per_line']} µs (gzip+json decode floor "
                f"{lg['floor_decode_cpu_us_per_line']} µs; recognising {lg['recognise_cpu_us_per_line']} µs)",
                f"{lg['x_floor']}x floor; {lg['payload_kb_compressed']} KB gzip "
                f"({lg['payload_kb_decoded']} KB); {lg['incidents']} incident, "
                f"{sum(lg['aws_calls_per_payload'].values())} AWS call per payload",
                _verdict(lg["meets_target"] and lg["incidents"] == 1),
            )
        )
    rows += timing_rows(results.get("timing"))
    rows += eks_rows(results.get("eks"), results.get("coldstart"))
    mem = results.get("memory")
    if mem:
        for name, m in mem.items():
            rows.append(
                (
                    f"memory {name}",
                    f"peak RSS {m['peak_rss_mb']} MB ({m['measured_on']})",
                    f"configured {m['configured_mb']} MB → recommend {m['recommended_mb']} MB",
                    "",
                )
            )
    header = ("measure", "value", "ratio / detail", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def hostile_rows(h: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    if not h:
        return []
    keys = f"{h['storm_keys']:,}"
    by = h["calls_per_storm_key_by_process"]
    tl = h["genuine_timeline"]
    legs = tl["legs_s"]
    ingest_leg = legs.get("ingest_batch_start -> opened_sent")
    windows = h["storm_summaries_per_window"]
    first = h.get("genuine_first_in_batch_seconds")
    records = h["records"]
    alerts = h["alerts_by_kind"]
    return [
        (
            "hostile storm: AWS calls per storm key",
            f"{h['calls_per_storm_key']} ({h['calls']['total']:,} calls / {keys} keys)",
            f"ingest {by.get('ingest')}, triage {by.get('triage-priority')} priority + "
            f"{by.get('triage-bulk')} bulk, act {by.get('act')}, verify {by.get('verify')}",
            _verdict(h["meets_calls_goal"]),
        ),
        (
            "hostile storm: alerts",
            f"{h['alerts_total']}: storm summary {', '.join(str(n) for n in windows.values()) or '0'} "
            f"per window ({len(windows)} window); genuine {h['genuine_act_alerts']} act + "
            f"{h['genuine_verify_alerts']} verify",
            f"+ {h['storm_key_incident_alerts']} for the "
            f"{h.get('storm_key_incidents', h['incidents_opened'] - 1)} storm keys the caps "
            f"let open incidents ({alerts.get('storm-key incident: remediated', 0)} act, "
            f"{alerts.get('storm-key incident: resolved', 0)} verify)",
            _verdict(h["meets_alerts_goal"]),
        ),
        (
            "hostile storm: genuine event → ecs:UpdateService",
            f"{h['genuine_seconds_to_update_service']} s (alone: {h['baseline_median_seconds']} s)",
            f"{h['time_ratio']}x; its ingest batch {ingest_leg} s ({tl['ingest_batch_calls']} calls); "
            f"first in its batch instead: {first} s ({h.get('genuine_first_in_batch_ratio')}x)",
            _verdict(h["meets_time_goal"]),
        ),
        (
            "hostile storm: records",
            f"{records['sent']:,} = {records['in_incidents']:,} in incidents + "
            f"{records['in_storm_records']:,} in storm records + {records['rejected_to_dlq']} rejected",
            f"{records['lost']} lost; {h['incidents_opened']} incidents, {h['bulk_lane_incidents']} via the "
            f"bulk lane; ingest peak RSS {h['ingest_peak_rss_mb']} MB",
            _verdict(h["nothing_lost"]),
        ),
    ]


def eks_rows(e: dict[str, Any] | None, cs: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """What EKS support costs: on top of the handler's cold start (no handler imports it at
    start-up), the bearer token, and one pod located (calls against the AWS and Kubernetes APIs)."""
    if not e:
        return []
    rows = []
    handlers = (cs or {}).get("handlers", {})
    for role in ("triage", "act"):
        added = e["imports"].get(f"{role} (compiled)")
        base = handlers.get(role, {}).get("median_ms")
        share = f"+{100 * added / base:.1f} % of its cold start ({base} ms)" if added and base else ""
        rows.append(
            (
                f"EKS: first EKS workload in {'an' if role == 'act' else 'a'} {role} process",
                f"+{added} ms (no .pyc: +{e['imports'].get(f'{role} (source)')} ms)",
                f"{share}; cold start itself +0 ms (no EKS module at start-up)",
                "",
            )
        )
    t = e["token"]
    rows.append(
        (
            "EKS: bearer token",
            f"first {t['first_token_ms']} ms, later {t['later_token_ms']} ms",
            f"{t['token_length']} characters; the cluster region's STS client + handlers "
            f"{t['sts_client_and_handlers_ms']} ms",
            "",
        )
    )
    p = e["locate_one_pod"]
    rows.append(
        (
            f"EKS: one pod located by its address ({p['cluster_pods']}-pod cluster)",
            f"{p['aws_calls']} AWS + {p['kubernetes_calls']} Kubernetes calls",
            f"{p['wall_ms']} ms wall on loopback",
            "",
        )
    )
    return rows


def timing_rows(t: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    if not t:
        return []
    windows = ", ".join(f"{name} {d['window_s']} s" for name, d in t["deployed"].items())
    manual = f"manual reference {t['manual_reference_seconds'] // 60} min (rotation 11:02, fix 11:15)"
    rows = []
    for name, label, detail in (
        (
            "preventive",
            "time to remediation: rotation event → ecs:UpdateService",
            f"batching windows: {windows}",
        ),
        ("reactive", "time to remediation: first failure event → ecs:UpdateService", manual),
    ):
        s = t[name]
        rows.append(
            (
                label,
                f"{s['median_seconds']} s (runs {', '.join(str(x) for x in s['runs_seconds'])})",
                f"goal {s['goal_seconds']:.0f} s; {s['x_faster_than_manual']}x faster than manual; {detail}",
                _verdict(s["meets_goal"]),
            )
        )
    return rows


def _verdict(ok: bool | None) -> str:
    return "✓" if ok else "✗"


def memory(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    st, inc, cs = results.get("storm"), results.get("incidents"), results.get("coldstart")
    if st:
        out["ingest"] = {"peak_rss_mb": st["peak_rss_mb"], "measured_on": f"{st['events']}-event storm"}
    lg = results.get("logs")
    if lg:
        out["logs"] = {
            "peak_rss_mb": lg["peak_rss_mb"],
            "measured_on": f"{lg['lines_per_payload']}-line payloads",
        }
    if inc:
        runs = [s for s in inc["scenarios"].values() if "error" not in s]
        for name in ("triage", "act", "verify"):
            peaks = [s[f"{name}_peak_rss_mb"] for s in runs if s.get(f"{name}_peak_rss_mb")]
            if peaks:
                out[name] = {"peak_rss_mb": max(peaks), "measured_on": f"{len(peaks)} incident scenarios"}
    if cs:
        for name, h in cs["handlers"].items():
            out.setdefault(name, {"peak_rss_mb": h["maxrss_mb_after_init"], "measured_on": "init only"})
    for name, m in out.items():
        m["configured_mb"] = _configured_mb().get(name)
        m["recommended_mb"] = recommended_mb(m["peak_rss_mb"])
    return out


def update_docs(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC} lacks the {BEGIN} / {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def _save(results: dict[str, Any]) -> None:
    """After every stage, so that a failing stage leaves the others' figures behind."""
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--events", type=int, default=storm.EVENTS)
    parser.add_argument("--hostile-keys", type=int, default=hostile.KEYS)
    parser.add_argument("--hostile-sources", type=int, default=hostile.SOURCES)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    unknown = wanted - set(SECTIONS)
    if unknown:
        parser.error(
            f"--only: unknown section(s) {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})"
        )
    started = time.monotonic()
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kept, measured = _previous(wanted)
    results: dict[str, Any] = {
        "when": when,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **kept,
    }
    saved_env = dict(os.environ)
    runs: dict[str, tuple[str, Any]] = {
        "coldstart": ("cold start", lambda: coldstart.measure(runs=args.runs)),
        "storm": ("storm", lambda: storm.measure(events=args.events)),
        "incidents": ("calls per incident", incidents.measure),
        "hostile": (
            f"hostile storm ({args.hostile_keys:,} keys, {args.hostile_sources} sources)",
            lambda: hostile.measure(keys=args.hostile_keys, sources=args.hostile_sources),
        ),
        "logs": ("runtime logs", logs.measure),
        "timing": ("time to remediation", timing.measure),
        "eks": ("EKS support", lambda: eks.measure(runs=args.runs)),
    }
    for name in SECTIONS:
        if name not in wanted:
            continue
        label, measure = runs[name]
        print(f"{label} …", flush=True)
        results[name] = measure()
        measured[name] = when
        if name == "storm":
            results["cost"] = cost.model(results["storm"], _configured_mb()["ingest"])
            measured["cost"] = when
        os.environ.clear()  # the local AWS sections set its endpoint and credentials
        os.environ.update(saved_env)
        _save({**results, "measured": measured})
    results["memory"] = memory(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["measured"] = {name: measured[name] for name in (*SECTIONS, "cost") if name in measured}
    _save(results)
    text = table(results)
    print(text)
    print(f"\n{RESULTS.relative_to(ROOT)} written in {results['seconds']} s")
    if args.update_docs:
        update_docs(f"{_measured_line(results, wanted)}\n\n{text}")


def _previous(wanted: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """With --only a subset, the other sections' figures from the existing results.json (in
    the file's order), and when each was measured (older files: their run's time)."""
    if wanted >= set(SECTIONS) or not RESULTS.exists():
        return {}, {}
    old: dict[str, Any] = json.loads(RESULTS.read_text())
    old_measured = old.get("measured") or {}
    kept: dict[str, Any] = {}
    measured: dict[str, str] = {}
    for name, value in old.items():
        section = "storm" if name == "cost" else name
        if section in SECTIONS and section not in wanted:
            kept[name] = value
            measured[name] = str(old_measured.get(name) or old.get("when") or "?")
    return kept, measured


def _measured_line(results: dict[str, Any], wanted: set[str]) -> str:
    line = f"Measured {results['when']} on {os.cpu_count()} CPUs ({results['seconds']} s run"
    if wanted >= set(SECTIONS):
        return line + ")."
    older: dict[str, list[str]] = {}
    for name in SECTIONS:
        if name in results and name not in wanted:
            older.setdefault(results["measured"].get(name, "?"), []).append(name)
    kept = "; ".join(f"{', '.join(names)} from the run of {when}" for when, names in sorted(older.items()))
    return f"{line}: {', '.join(n for n in SECTIONS if n in wanted)})" + (f"; {kept}." if kept else ".")


if __name__ == "__main__":
    main()
