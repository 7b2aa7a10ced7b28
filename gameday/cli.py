"""`python -m gameday`: rehearse incidents offline against a simulated account."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def replay(args: argparse.Namespace) -> int:
    """Replay one event file (optionally seeding what it names) and print the timeline."""
    from moto import mock_aws

    import gameday
    from gameday import seed as seeding
    from gameday.timeline import format_event

    event = json.loads(Path(args.event).read_text())
    overrides = _overrides(args.config)
    with mock_aws():
        _quiet_runtime()
        sim = gameday.simulation(overrides)
        del sim
        if args.seed:
            try:
                event = seeding.seed(event)
            except seeding.NoSeeder as exc:
                print(f"cannot seed: {exc}", file=sys.stderr)
                return 2
        runs = []
        for n in range(args.repeat):
            if n and not args.redeliver:
                # Another occurrence (a new alarm state change, a re-published finding): a new event id.
                event = {**event, "id": str(uuid.uuid4())}
            results = gameday.dispatch(event, overrides=overrides)
            runs.append(results)
            print(format_event(event, results, gameday.notifications()))
        if args.json:
            print(json.dumps([[{k: v for k, v in r.items() if k != "logs"} for r in rs] for rs in runs], indent=2))
    failed = any(r.get("error") and r["error"]["type"] != "RemediationFailed" for rs in runs for r in rs)
    return 1 if failed else 0


def _quiet_runtime() -> None:
    """The propagation wait is simulated: no real sleeping on a game day."""
    from gameday.simulator import LAMBDAS

    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    from remediation import engine

    engine.sleep = lambda seconds: None


def _scenario_paths(paths: list[str]) -> list[Path]:
    from gameday import library

    if not paths:
        return library.scenario_files()
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        out.extend(sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml")) if path.is_dir() else [path])
    return out


def run(args: argparse.Namespace) -> int:
    """Run scenarios, print progress, timelines and the scorecard; write the report."""
    from gameday import report, runner
    from gameday.scenario import ScenarioError, load

    overrides = _overrides(args.config)
    for playbook in args.disable:
        overrides[runner.mode_key(playbook)] = "off"
    scenarios = []
    for path in _scenario_paths(args.paths):
        try:
            scenarios.append(load(path))
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.only:
        scenarios = [s for s in scenarios if any(word in s.name for word in args.only)]
    _quiet_runtime()
    results = []
    out = sys.stderr if args.json else sys.stdout
    for index, scenario in enumerate(scenarios, 1):
        result = runner.run_scenario(scenario, overrides=overrides, check_requires=not args.ignore_requires)
        results.append(result)
        print(report.progress_line(index, len(scenarios), result), file=out, flush=True)
        if not args.quiet and result.steps:
            print("\n".join("      " + line for line in result.timeline().splitlines()), file=out)
        if result.status in ("failed", "error"):
            print(report.failures_text(result), file=out)
    print("", file=out)
    print(report.scorecard(results), file=out)
    if args.report:
        target = Path(args.report)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = report.html_report(results) if target.suffix in (".html", ".htm") else report.markdown(results)
        target.write_text(text)
        print(f"report written to {target}", file=out)
    if args.json:
        print(report.to_json(results))
    failed = report.failing(results) or (args.strict and any(r.status == "skipped" for r in results))
    return 1 if failed else 0


def plan_command(args: argparse.Namespace) -> int:
    from gameday.plan import plan
    from stacks.config import ConfigError

    try:
        text = plan(_overrides(args.config))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from gameday import library
    from gameday.scenario import ScenarioError, load

    print("Built-in scenarios:")
    for path in library.scenario_files():
        try:
            s = load(path)
        except ScenarioError as exc:
            print(f"  (invalid) {exc}")
            continue
        needs = f"  [requires {', '.join(s.requires)}]" if s.requires else ""
        print(f"  {s.name:<46} {s.label}{needs}")
    print()
    print("Event templates (use as `template: NAME`):")
    for name in library.templates():
        print(f"  {name:<46} {library.describe(name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gameday", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("replay", help="replay one event through the synthesized rules and real handlers")
    p.add_argument("event", help="path of a real-format EventBridge event (JSON)")
    p.add_argument("--seed", action="store_true", help="create what the event names in the simulated account first")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="N occurrences of the event, each with a new event id (shows escalation, repeat handling)",
    )
    p.add_argument(
        "--redeliver",
        action="store_true",
        help="with --repeat: re-deliver the same event id (EventBridge's at-least-once delivery: nothing new happens)",
    )
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="context override")
    p.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    p.set_defaults(func=replay)

    p = commands.add_parser("run", help="run scenarios (default: the built-in library) and print the scorecard")
    p.add_argument("paths", nargs="*", help="scenario files or folders (default: the built-in library)")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="context override, wins over a scenario's own config",
    )
    p.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="PLAYBOOK",
        help="run with this playbook's mode off (what the scenarios see without it)",
    )
    p.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="only scenarios whose name contains TEXT"
    )
    p.add_argument("--report", metavar="FILE.md|FILE.html", help="also write the report (HTML or Markdown)")
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    p.add_argument("--quiet", action="store_true", help="no timelines, only progress and scorecard")
    p.add_argument(
        "--ignore-requires",
        action="store_true",
        help="run scenarios whose playbooks are not deployed (their state and attacker moves run; "
        "their expectations fail)",
    )
    p.add_argument("--strict", action="store_true", help="a skipped scenario fails the run too")
    p.set_defaults(func=run)

    p = commands.add_parser("plan", help="print the response plan the current configuration implies (Markdown)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="context override")
    p.add_argument("--output", metavar="FILE.md", help="write to a file instead of stdout")
    p.set_defaults(func=plan_command)

    p = commands.add_parser("list", help="list the built-in scenarios and event templates")
    p.set_defaults(func=list_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
