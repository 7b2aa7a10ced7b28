"""The whole deploy-local path, in order, with a report of every step.

bootstrap -> deploy -> verify -> rehearse -> the built-in game-day library against the
deployed stack -> (seed layer) -> deploy with changed context -> verify -> rehearse -> diff
-> empty buckets -> destroy -> assert nothing is left.
The emulator is a fresh moto server per run, stopped at the end whatever happened; once
the stack exists, destroy is attempted even when a later step failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from deploylocal import resources
from deploylocal.cdk import Cdk, Step, require_cli
from deploylocal.emulator import REGION, Emulator
from deploylocal.rehearse import Rehearsal, credential_compromise
from deploylocal.verify import Verification, verify
from gameday.endpoint import DeployedTarget, EndpointRun
from gameday.remote import DeployedStack

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "reports" / "deploy-local"
STACK = "AutoRemediation"
# Every command gets this: the data stores are RETAINed by default, which would make
# "destroy leaves nothing behind" impossible to show.
BASE_CONTEXT = {"core.retainData": "false"}
# The second deploy changes a playbook's mode; verification and rehearsal then show the change.
UPDATE_CONTEXT = {"credential.mode": "dry_run"}


@dataclass
class Report:
    workdir: Path
    endpoint: str = ""
    moto_pid: int | None = None
    steps: list[Step] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    rehearsals: list[Rehearsal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    leftover_checks: list[str] = field(default_factory=list)
    library: EndpointRun | None = None  # the built-in scenarios against the first deploy
    scorecard: str = ""
    errors: list[str] = field(default_factory=list)
    destroyed: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and self.destroyed
            and not self.leftovers
            and bool(self.steps)
            and all(s.ok for s in self.steps)
            and len(self.verifications) == 2
            and all(v.ok for v in self.verifications)
            and len(self.rehearsals) == 2
            and all(r.ok for r in self.rehearsals)
            and self.library is not None
            and self.library.ok
        )

    def steps_table(self) -> str:
        rows = [f"{'step':<12} {'result':<7} {'rc':>3} {'seconds':>8}  log"]
        for s in self.steps:
            rows.append(f"{s.name:<12} {'ok' if s.ok else 'FAIL':<7} {s.returncode:>3} {s.seconds:>8.1f}  {s.log}")
        return "\n".join(rows)

    def summary(self) -> str:
        parts = [
            f"deploy-local: {'PASS' if self.ok else 'FAIL'} in {self.seconds:.0f}s "
            f"(moto pid {self.moto_pid} on {self.endpoint}, stopped)",
            self.steps_table(),
        ]
        if self.leftovers or self.destroyed:
            parts.append(
                "After destroy: "
                + (
                    "nothing of the stack is left"
                    if not self.leftovers
                    else "LEFT BEHIND: " + "; ".join(self.leftovers)
                )
            )
        if self.library is not None:
            parts.append(self.library_summary())
        parts += [f"Note: {n}" for n in self.notes]
        parts += [f"ERROR: {e}" for e in self.errors]
        return "\n".join(parts)

    def library_summary(self) -> str:
        run = self.library
        if run is None:
            return "Game-day library against the deployed stack: did not run"
        c = run.counts
        verdict = "PASS" if run.ok else "FAIL"
        lines = [
            f"Game-day library against the deployed stack: {verdict} in {run.seconds:.0f}s ({c['passed']} "
            f"passed, {c['failed']} failed, {c['error']} error(s), {c['skipped']} skipped)"
        ]
        lines += [f"  SKIP {name}: {reason}" for name, reason in run.skips]
        lines += [f"  FAIL {r.name}: {r.reason}" for r in run.results if r.status in ("failed", "error")]
        lines += [f"  CLEANUP {p}" for p in run.cleanup_problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "endpoint": self.endpoint,
            "moto_pid": self.moto_pid,
            "steps": [
                {
                    "name": s.name,
                    "ok": s.ok,
                    "returncode": s.returncode,
                    "seconds": s.seconds,
                    "argv": s.argv,
                    "log": str(s.log),
                }
                for s in self.steps
            ],
            "verifications": [v.to_dict() for v in self.verifications],
            "rehearsals": [r.to_dict() for r in self.rehearsals],
            "library": self.library.to_dict() if self.library else None,
            "scorecard": self.scorecard,
            "destroyed": self.destroyed,
            "leftovers": self.leftovers,
            "leftover_checks": self.leftover_checks,
            "notes": self.notes,
            "errors": self.errors,
        }


def _clients(endpoint: str) -> Callable[[str], Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (emulator)
        region_name=REGION,
    )
    return lambda service: session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


def run(
    workdir: Path = DEFAULT_WORKDIR,
    *,
    stack_name: str = STACK,
    update_context: Mapping[str, str] = UPDATE_CONTEXT,
    echo: Callable[[str], None] = print,
) -> Report:
    """Run every step against a fresh emulator; never leaves the emulator running."""
    require_cli()
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(workdir)
    started = time.perf_counter()
    try:
        with Emulator(workdir) as emulator:
            report.endpoint = emulator.endpoint
            report.moto_pid = emulator.process.pid if emulator.process else None
            echo(f"emulator: moto pid {report.moto_pid} on {emulator.endpoint} (pid file {emulator.pid_file})")
            cdk = Cdk(env=emulator.env(), outdir=workdir / "cdk.out", logdir=workdir / "logs", context=BASE_CONTEXT)
            _cycle(report, cdk, emulator.endpoint, stack_name=stack_name, update=dict(update_context), echo=echo)
    except Exception as exc:  # the report must say what broke; the emulator is already stopped
        report.errors.append(f"{type(exc).__name__}: {exc}")
    report.seconds = round(time.perf_counter() - started, 1)
    (workdir / "summary.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


def _step(report: Report, step: Step, echo: Callable[[str], None]) -> bool:
    report.steps.append(step)
    echo(f"{step.name}: {'ok' if step.ok else 'FAILED'} (rc={step.returncode}, {step.seconds:.1f}s, log {step.log})")
    if not step.ok:
        tail = step.output().strip().splitlines()[-15:]
        echo("\n".join("    " + line for line in tail))
    return step.ok


def _template(cdk: Cdk, stack_name: str) -> dict[str, Any]:
    """The template the CLI synthesized for the last command (what it deployed)."""
    return dict(json.loads((cdk.outdir / f"{stack_name}.template.json").read_text()))


def _check(
    report: Report, endpoint: str, stack_name: str, template: dict[str, Any], *, label: str, echo: Callable[[str], None]
) -> None:
    stack = DeployedStack(stack_name, endpoint_url=endpoint)
    verification = verify(stack, template, label=label)
    report.verifications.append(verification)
    echo(verification.table())
    rehearsal = credential_compromise(stack)
    report.rehearsals.append(rehearsal)
    echo(rehearsal.table())


def _library(report: Report, endpoint: str, stack_name: str, *, echo: Callable[[str], None]) -> None:
    """Every built-in scenario against the deployed stack (`python -m gameday run --endpoint`'s code path)."""
    from gameday import library
    from gameday import report as scorecards
    from gameday.scenario import load

    try:
        target = DeployedTarget(endpoint, stack_name=stack_name, context=BASE_CONTEXT)
        target.check_context()
        scenarios = [load(path) for path in library.scenario_files()]
        echo(f"game-day library against the deployed stack: {len(scenarios)} scenarios")
        report.library = target.run(scenarios, on_result=lambda i, n, r: echo(scorecards.progress_line(i, n, r)))
    except Exception as exc:  # recorded; the update, diff and destroy still run
        report.errors.append(f"game-day library: {type(exc).__name__}: {exc}")
        return
    report.scorecard = scorecards.scorecard(report.library.results)
    echo(report.scorecard)
    for result in report.library.results:
        if result.status in ("failed", "error"):
            echo(scorecards.failures_text(result))
    echo(report.library_summary())


def _cycle(
    report: Report, cdk: Cdk, endpoint: str, *, stack_name: str, update: dict[str, str], echo: Callable[[str], None]
) -> None:
    clients = _clients(endpoint)
    if not _step(report, cdk.bootstrap(), echo):
        return
    deployed = False
    try:
        deployed = True  # from here on a (partial) stack may exist: always try to destroy it
        if not _step(report, cdk.deploy("deploy", stack_name, update=False), echo):
            return
        first = _template(cdk, stack_name)
        _check(report, endpoint, stack_name, first, label="deploy (create)", echo=echo)
        _library(report, endpoint, stack_name, echo=echo)

        seeded = resources.seed_layers(clients("lambda"), resources.template_layers(first))
        report.notes += [f"seeded AWS-managed layer in the emulator: {line}" for line in seeded]
        if not _step(report, cdk.deploy("update", stack_name, update=True, context=update), echo):
            return
        changed = ", ".join(f"{k}={v}" for k, v in update.items())
        label = f"update deploy ({changed})"
        _check(report, endpoint, stack_name, _template(cdk, stack_name), label=label, echo=echo)

        diff = cdk.diff("diff", stack_name, context=update)
        if diff.ok and "There were no differences" not in diff.output():
            diff.returncode, diff.notes = 1, ["expected 'There were no differences'"]
        _step(report, diff, echo)
    finally:
        if deployed:
            _destroy(report, cdk, clients, endpoint=endpoint, stack_name=stack_name, echo=echo)


def _destroy(
    report: Report,
    cdk: Cdk,
    clients: Callable[[str], Any],
    *,
    endpoint: str,
    stack_name: str,
    echo: Callable[[str], None],
) -> None:
    recorded: list[resources.Resource] = []
    try:
        stack = DeployedStack(stack_name, endpoint_url=endpoint)
        recorded = resources.inventory(stack)
        emptied = resources.empty_buckets(stack)
        report.notes.append("emptied before destroy: " + ", ".join(f"{b} ({n} versions)" for b, n in emptied.items()))
    except Exception as exc:  # a stack that never completed: destroy it anyway
        report.notes.append(f"no complete stack to empty before destroy ({type(exc).__name__}: {exc})")
    report.destroyed = _step(report, cdk.destroy(stack_name), echo)
    report.leftovers, report.leftover_checks = resources.leftovers(stack_name, clients, recorded)
    echo("after destroy, checked:\n" + "\n".join("  " + line for line in report.leftover_checks))
    echo("left behind: " + ("; ".join(report.leftovers) if report.leftovers else "nothing of the stack"))
