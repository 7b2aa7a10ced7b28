"""`python -m deploylocal run`: the whole deploy-local path; exit 0 only if every check passed.

`python -m deploylocal serve` starts a fresh emulator and prints the environment to use it
by hand (`cdk deploy`, boto3, `DeployedStack`), until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from deploylocal.cdk import CdkMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploylocal", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run_parser = sub.add_parser("run", help="bootstrap, deploy, verify, rehearse, update, diff, destroy")
    serve_parser = sub.add_parser("serve", help="start an emulator and print its environment")
    for p in (run_parser, serve_parser):
        p.add_argument("--workdir", type=Path, default=None, help="logs, cdk.out, summary.json, moto.pid")
    args = parser.parse_args(argv)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)  # fake credentials only: never reach for a real account

    from deploylocal.run import DEFAULT_WORKDIR, run

    workdir = args.workdir or DEFAULT_WORKDIR
    if args.command == "serve":
        from deploylocal.emulator import Emulator

        with Emulator(workdir) as emulator:
            print(f"# moto pid {emulator.process.pid if emulator.process else '?'}; Ctrl-C stops it")
            for key, value in {**emulator.env(), "CDK_DISABLE_CLI_TELEMETRY": "true"}.items():
                print(f"export {key}={value}")
            sys.stdout.flush()
            try:
                while emulator.running:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    try:
        report = run(workdir, echo=lambda line: print(line, flush=True))
    except CdkMissing as exc:
        print(f"deploy-local: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"report: {workdir / 'summary.json'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
