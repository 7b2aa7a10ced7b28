"""`make bench` (`python -m bench.run`): what a handler costs. Reports, never asserts.

For each playbook handler of the synthesized template:
- cold import: median over fresh processes of importing the handler, next to a bare
  `import boto3` measured in the same run (and the handler with tracing on, for scale);
- AWS calls per event: before the first containment call, and in total (fixtures the
  template routes to the handler, against seeded simulated resources);
- in-process time per event under moto (median);
- a burst of findings (default 1,000) under moto: throughput and duplicate actions.

Writes .bench/results.json and prints a table. Options: --runs N (import samples),
--events N (timed events), --burst N, --quick.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas"), str(ROOT / "tests")]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
for _k, _v in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[_k] = _v

OUT = ROOT / ".bench" / "results.json"
EVENTS = ROOT / "tests" / "events"


# --------------------------------------------------------------------------- import time


def _import_time(statement: str, runs: int, tracing: bool = False) -> float:
    code = (
        "import sys, time; sys.path.insert(0, 'lambdas'); t = time.perf_counter(); "
        f"{statement}; print(time.perf_counter() - t)"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true", "PYTHONDONTWRITEBYTECODE": "0"}
    samples = []
    for _ in range(runs):
        command = [sys.executable, "-c", code]  # our own interpreter and fixed code: no untrusted input
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)  # noqa: S603
        samples.append(float(done.stdout.strip().splitlines()[-1]) * 1000)
    return statistics.median(samples)


# --------------------------------------------------------------------------- events


def _routed(tpl: dict[str, Any]) -> dict[str, list[str]]:
    from gameday import template
    from gameday.patterns import matches

    out: dict[str, list[str]] = {}
    for path in sorted(EVENTS.rglob("*.json")):
        event = json.loads(path.read_text())
        for rule in template.rules(tpl):
            if rule.enabled and matches(rule.pattern, event):
                for fid in rule.targets:
                    out.setdefault(fid, []).append(str(path.relative_to(EVENTS).with_suffix("")))
    return out


def _containment_index(recorder: Any) -> int | None:
    from remediation.actions import REGISTRY

    for i, call in enumerate(recorder.calls):
        spec = REGISTRY.get(call.step)
        if spec is not None and spec.containment and call.mutating:
            return i
    return None


def _calls_per_fixture(sim: Any, fid: str, fixtures: list[str]) -> list[dict[str, Any]]:
    from gameday import calls, placeholders

    out = []
    for n, name in enumerate(fixtures):
        text = (EVENTS / f"{name}.json").read_text()
        event = placeholders.instance(text, tag=f"-c{n}")
        _fresh(event)
        recorder = calls.Recorder()
        with recorder.active():
            entry = sim.invoke(fid, event)
        first = _containment_index(recorder)
        target_calls = [c for c in recorder.calls if c.service not in calls.OWN_SERVICES]
        out.append(
            {
                "fixture": name,
                "decision": (entry.get("result") or {}).get("decision"),
                "calls_total": len(recorder.calls),
                "calls_before_containment": first,
                "service_calls_before_containment": None
                if first is None
                else sum(1 for c in recorder.calls[:first] if c.service not in calls.OWN_SERVICES),
                "first_call": f"{recorder.calls[0].service}:{recorder.calls[0].operation}" if recorder.calls else "",
                "first_service_call": f"{target_calls[0].service}:{target_calls[0].operation}" if target_calls else "",
                "sequence_head": [f"{c.service}:{c.operation}" for c in recorder.calls[:4]],
            }
        )
    return out


def _fresh(event: dict[str, Any]) -> None:
    """Times to now, as if just published (the finding's last-seen time too)."""
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event["time"] = stamp
    service = event.get("detail", {}).get("service") if isinstance(event.get("detail"), dict) else None
    if isinstance(service, dict) and "eventLastSeen" in service:
        service["eventLastSeen"] = stamp


def _time_per_event(sim: Any, fid: str, fixture: str, count: int) -> float:
    from gameday import placeholders

    text = (EVENTS / f"{fixture}.json").read_text()
    samples = []
    for n in range(count):
        event = placeholders.instance(text, tag=f"-t{n}")
        _fresh(event)
        started = time.perf_counter()
        sim.invoke(fid, event)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _burst(sim: Any, fid: str, fixture: str, total: int) -> dict[str, Any]:
    """`total` deliveries: findings x (original, re-delivery, 2 repeats, a re-delivered repeat), shuffled."""
    from gameday import placeholders
    from remediation.actions import REGISTRY

    per_finding = 5
    findings = max(total // per_finding, 1)
    text = (EVENTS / f"{fixture}.json").read_text()
    events: list[dict[str, Any]] = []
    for n in range(findings):
        original = placeholders.instance(text, tag=f"-b{n}")
        _fresh(original)
        repeats = []
        for count in (2, 3):
            again = json.loads(json.dumps(original))
            again["id"] = str(uuid.uuid4())
            if isinstance(again.get("detail", {}).get("service"), dict):
                again["detail"]["service"]["count"] = count
            repeats.append(again)
        events += [original, json.loads(json.dumps(original)), *repeats, json.loads(json.dumps(repeats[0]))]
    events = events[:total]
    random.Random(7).shuffle(events)  # noqa: S311  (a reproducible order, not a secret)

    import gameday

    gameday.notifications()
    decisions: Counter[str] = Counter()
    once: Counter[tuple[str, str, str]] = Counter()
    reasserted = 0
    started = time.perf_counter()
    for event in events:
        entry = sim.invoke(fid, event)
        result = entry.get("result") or {}
        decisions[result.get("decision", "error")] += 1
        for step in result.get("steps", []):
            spec = REGISTRY.get(step["action"])
            if spec is None or step["status"] not in ("succeeded", "already_done"):
                continue
            if spec.repeatable:
                reasserted += spec.mutating
            elif step["status"] == "succeeded":
                once[(result["incident_id"], step["action"], step["target"])] += 1
    elapsed = time.perf_counter() - started
    notifications = len(gameday.notifications())
    duplicates = sum(n - 1 for n in once.values())
    return {
        "fixture": fixture,
        "events": len(events),
        "distinct_findings": findings,
        "seconds": round(elapsed, 2),
        "events_per_second": round(len(events) / elapsed, 1),
        "decisions": dict(decisions),
        "duplicate_actions": duplicates,
        "once_only_actions": sum(once.values()),
        "containment_reasserted": reasserted,
        "notifications": notifications,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per import measurement")
    parser.add_argument("--events", type=int, default=30, help="timed events per handler")
    parser.add_argument("--burst", type=int, default=1000, help="deliveries in the burst")
    parser.add_argument("--quick", action="store_true", help="3 runs, 5 events, burst of 100")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.events, args.burst = 3, 5, 100

    from moto import mock_aws

    import gameday
    from gameday import template
    from remediation import engine

    tpl = template.synthesize()
    functions = template.functions(tpl)
    routed = _routed(tpl)
    boto3_ms = _import_time("import boto3", args.runs)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "import_boto3_ms": round(boto3_ms, 1),
        "runs": args.runs,
        "handlers": [],
    }
    engine.sleep = lambda seconds: None  # the propagation wait is configuration, not cost
    for fid, fn in sorted(functions.items()):
        module = fn.handler.rpartition(".")[0]
        handler_ms = _import_time(f"import {module}", args.runs)
        with_boto3 = _import_time(f"import boto3; import {module}", args.runs)
        traced = _import_time(f"import {module}", max(args.runs // 3, 1), tracing=True)
        row: dict[str, Any] = {
            "function": fid,
            "handler": fn.handler,
            "import_ms": round(handler_ms, 1),
            "import_ratio_to_boto3": round(handler_ms / boto3_ms, 2),
            "import_added_over_boto3_ms": round(with_boto3 - boto3_ms, 1),
            "import_with_tracing_ms": round(traced, 1),
        }
        fixtures = routed.get(fid, [])
        if fixtures:
            with mock_aws():
                sim = gameday.simulation()
                row["calls"] = _calls_per_fixture(sim, fid, fixtures)
                acting = [c for c in row["calls"] if c["calls_before_containment"] is not None]
                # The richest path (most calls) is the one to time and to burst.
                primary = max(acting, key=lambda c: c["calls_total"])["fixture"] if acting else fixtures[0]
                row["time_per_event_ms"] = round(_time_per_event(sim, fid, primary, args.events), 1)
                row["burst"] = _burst(sim, fid, primary, args.burst)
        results["handlers"].append(row)

    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nwritten: {OUT.relative_to(ROOT)}")
    return 0


def table(results: dict[str, Any]) -> str:
    lines = [f"bare `import boto3`: {results['import_boto3_ms']} ms (median of {results['runs']} fresh processes)", ""]
    lines.append(
        "| handler | import ms | / boto3 | added over boto3 ms | with tracing ms | ms/event | "
        "burst events/s | duplicate actions |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for h in results["handlers"]:
        burst = h.get("burst", {})
        lines.append(
            f"| {h['handler']} | {h['import_ms']} | {h['import_ratio_to_boto3']} | "
            f"{h['import_added_over_boto3_ms']} | {h['import_with_tracing_ms']} | "
            f"{h.get('time_per_event_ms', '-')} | "
            f"{burst.get('events_per_second', '-')} ({burst.get('events', 0)} events) | "
            f"{burst.get('duplicate_actions', '-')} |"
        )
    lines += [
        "",
        "| handler | fixture | decision | calls before containment (to the subject's service) | total | first calls |",
        "|---|---|---|---|---|---|",
    ]
    for h in results["handlers"]:
        for c in h.get("calls", []):
            before = (
                "-"
                if c["calls_before_containment"] is None
                else f"{c['calls_before_containment']} ({c['service_calls_before_containment']})"
            )
            lines.append(
                f"| {h['handler']} | {c['fixture']} | {c['decision']} | {before} | {c['calls_total']} | "
                f"{', '.join(c['sequence_head'])} |"
            )
    for h in results["handlers"]:
        if "burst" in h:
            b = h["burst"]
            lines += [
                "",
                f"burst ({h['handler']}): {b['events']} deliveries of {b['distinct_findings']} findings in "
                f"{b['seconds']} s; decisions {b['decisions']}; once-only actions {b['once_only_actions']}, "
                f"duplicates {b['duplicate_actions']}; containment re-asserted {b['containment_reasserted']} "
                f"times; notifications {b['notifications']}",
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
