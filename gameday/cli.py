"""`python -m gameday`: rehearse incidents offline against a simulated account."""

from __future__ import annotations

import argparse
import json
import sys
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
        for _ in range(args.repeat):
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gameday", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("replay", help="replay one event through the synthesized rules and real handlers")
    p.add_argument("event", help="path of a real-format EventBridge event (JSON)")
    p.add_argument("--seed", action="store_true", help="create what the event names in the simulated account first")
    p.add_argument("--repeat", type=int, default=1, help="deliver the event N times (shows escalation, dedup)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="context override")
    p.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    p.set_defaults(func=replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
