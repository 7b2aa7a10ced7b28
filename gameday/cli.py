"""`python -m gameday`: rehearse incidents offline against a simulated account."""

from __future__ import annotations

import argparse
import json
import os
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
    out = sys.stderr if args.json else sys.stdout

    def show(index: int, total: int, result: runner.ScenarioResult) -> None:
        print(report.progress_line(index, total, result), file=out, flush=True)
        if not args.quiet and result.steps:
            print("\n".join("      " + line for line in result.timeline().splitlines()), file=out)
        if result.status in ("failed", "error"):
            print(report.failures_text(result), file=out)

    cleanup_problems: list[str] = []
    if args.endpoint:
        if args.disable:
            print("error: --disable cannot change a deployed stack; deploy with -c <mode key>=off", file=sys.stderr)
            return 2
        code, results, cleanup_problems = _run_deployed(args, overrides, scenarios, show, out)
        if code is not None:
            return code
    else:
        _quiet_runtime()
        results = []
        for index, scenario in enumerate(scenarios, 1):
            result = runner.run_scenario(scenario, overrides=overrides, check_requires=not args.ignore_requires)
            results.append(result)
            show(index, len(scenarios), result)
    print("", file=out)
    print(report.scorecard(results), file=out)
    skips = [r for r in results if r.status == "skipped"]
    if args.endpoint and skips:
        print("\nSkipped against the deployed stack:", file=out)
        print("\n".join(f"  {r.name}: {r.reason}" for r in skips), file=out)
    if cleanup_problems:
        print("\nCLEANUP FAILED (later scenarios may not have started from a clean account):", file=out)
        print("\n".join(f"  {p}" for p in cleanup_problems), file=out)
    if args.report:
        target = Path(args.report)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = report.html_report(results) if target.suffix in (".html", ".htm") else report.markdown(results)
        target.write_text(text)
        print(f"report written to {target}", file=out)
    if args.json:
        print(report.to_json(results))
    failed = report.failing(results) or bool(cleanup_problems) or (args.strict and bool(skips))
    return 1 if failed else 0


def _run_deployed(
    args: argparse.Namespace, context: dict[str, Any], scenarios: list[Any], show: Any, out: Any
) -> tuple[int | None, list[Any], list[str]]:
    """Run against the stack deployed behind --endpoint: (exit code if it cannot run, results, cleanup problems)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gameday.endpoint import ContextMismatch, DeployedTarget
    from gameday.remote import StackNotDeployed

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)  # fake credentials only (DeployedStack): never reach for a real account
    try:
        target = DeployedTarget(args.endpoint, stack_name=args.stack_name, context=context)
        target.check_context()
    except (ContextMismatch, StackNotDeployed, ClientError, BotoCoreError) as exc:
        print(f"error: {args.stack_name} at {args.endpoint}: {exc}", file=sys.stderr)
        return 2, [], []
    given = " ".join(f"{k}={v}" for k, v in context.items()) or "cdk.json only"
    print(f"against {args.stack_name} deployed at {args.endpoint} (context: {given}); playbooks: "
          f"{', '.join(sorted(target.playbooks))}", file=out, flush=True)  # fmt: skip
    run = target.run(scenarios, check_requires=not args.ignore_requires, on_result=show)
    return None, run.results, run.cleanup_problems


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
    p.add_argument("--endpoint", metavar="URL",
                   help="run against the stack DEPLOYED behind this emulator endpoint (its rules and "
                   "functions' environments; handlers in-process); --config then names the context "
                   "it was deployed with")  # fmt: skip
    p.add_argument("--stack-name", default="AutoRemediation", help="the deployed stack (with --endpoint)")
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
