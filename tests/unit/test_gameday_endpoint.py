"""`gameday run --endpoint`: scenarios against a DEPLOYED stack, here one moto's CloudFormation created in-process.

`DeployedTarget(None)` reads the stack through boto3's default endpoints, which the `aws`
fixture's mock_aws answers: the same code path as against the deploy-local emulator,
without a server. The integration test (tests/integration/test_deploy_local.py) runs the
whole library against the real CLI deployment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from deploylocal.motoserver import moto_fixes
from gameday import cli, library
from gameday.endpoint import ContextMismatch, DeployedTarget, inventory
from gameday.expect import _evidence_check
from gameday.scenario import load
from gameday.world import World
from tests.unit.test_deploylocal import _create_stack

SCENARIOS = {load(p).name: load(p) for p in library.scenario_files()}
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


@pytest.fixture
def target(aws: None, template: dict[str, Any]) -> DeployedTarget:
    """The default configuration, deployed by moto's CloudFormation (context = cdk.json only)."""
    with moto_fixes():
        _create_stack(template)
    return DeployedTarget(None)


def _run(target: DeployedTarget, *names: str) -> Any:
    return target.run([SCENARIOS[n] for n in names])


def _describe(run: Any) -> str:
    return "\n".join(f"{r.name} {r.status} {r.reason} " + "; ".join(f"{c.what}: {c.actual}" for c in r.checks
                                                                     if not c.ok) for r in run.results)  # fmt: skip


def test_scenarios_pass_through_the_deployed_rules_and_leave_the_account_as_found(target: DeployedTarget) -> None:
    # GIVEN the account as deployed (the stack's own resources only)
    before = inventory(target.stack.client)

    # WHEN scenarios of every kind run: IAM, EC2 with an Auto Scaling group, a scheduled rule, a trail
    run = _run(target, "credential-user-key-contained", "credential-repeat-finding", "instance-compromised-isolated",
               "trail-delete-trail-recreated", "alarm-lifecycle-running-creates-alarms")  # fmt: skip

    # THEN each passed, routed by the deployed rules to the deployed functions
    assert [r.status for r in run.results] == ["passed"] * 5, _describe(run)
    contained = run.results[0]
    assert [(e["rule"][:27], e["function"][:18]) for s in contained.steps for e in s.results] == [
        ("GuardDutyCredentialFindings", "CredentialFunction")
    ]
    scheduled = next(s for s in run.results[3].steps if s.kind == "schedule")
    assert "TrailConfigRecorder" in scheduled.title
    # AND each scenario counted only its own notifications (1, and 1 for the repeat: the window)
    assert [len([n for s in r.steps for n in s.notifications]) for r in run.results[:2]] == [1, 1]
    # AND nothing a scenario or a playbook created is left (users, instances, isolation groups,
    # snapshots, alarms, trails and their buckets, the Auto Scaling group), the stack is untouched
    assert run.cleanup_problems == []
    assert inventory(target.stack.client) == before
    assert run.ok


def test_a_scenario_the_deployed_stack_cannot_show_is_skipped_with_the_fix(target: DeployedTarget) -> None:
    run = _run(target, "credential-dry-run", "instance-target-contained-when-configured",
               "credential-race-second-key", "credential-below-min-severity")  # fmt: skip

    assert [(r.name, r.status) for r in run.results] == [
        ("credential-dry-run", "skipped"), ("instance-target-contained-when-configured", "skipped"),
        ("credential-race-second-key", "skipped"), ("credential-below-min-severity", "passed"),
    ], _describe(run)  # fmt: skip
    reasons = [r.reason for r in run.results]
    assert reasons[0] == ("needs context credential.mode=dry_run (deployed: credential.mode=enforce); "
                          "deploy with -c credential.mode=dry_run")  # fmt: skip
    assert reasons[1] == ("needs context instance.minSeverity=1, instance.actOnTarget=true (deployed: "
                          "instance.minSeverity=7.0, instance.actOnTarget=false); "
                          "deploy with -c instance.minSeverity=1 -c instance.actOnTarget=true")  # fmt: skip
    assert reasons[2] == "attacker actions during the wait need the in-process simulator"
    assert run.skips == [(r.name, r.reason) for r in run.results[:3]]


def test_config_equal_to_the_deployed_context_runs(target: DeployedTarget, tmp_path: Path) -> None:
    # A scenario may pin a value the stack already has; only a difference skips it.
    text = SCENARIOS["credential-user-key-contained"].path.read_text()
    path = tmp_path / "pinned.yaml"
    path.write_text(
        text.replace("requires: [credential]", "requires: [credential]\nconfig:\n  credential.mode: enforce")
    )

    assert target.skip_reason(load(path)) is None


def test_schedule_step_without_a_deployed_scheduled_rule_is_skipped(target: DeployedTarget, tmp_path: Path) -> None:
    text = SCENARIOS["trail-delete-trail-recreated"].path.read_text()
    path = tmp_path / "no-such-schedule.yaml"
    path.write_text(text.replace('schedule: ""', "schedule: NoSuchRecorder"))

    assert target.skip_reason(load(path)) == "no deployed scheduled rule matching 'NoSuchRecorder' targets a function"


def test_a_stack_deployed_with_other_context_is_refused_by_name(target: DeployedTarget) -> None:
    wrong = DeployedTarget(None, context={"credential.mode": "dry_run"})

    with pytest.raises(ContextMismatch, match=r"credential\.mode=dry_run \(resources that differ: CredentialFunction"):
        wrong.check_context()
    target.check_context()  # the context it was deployed with passes


def test_evidence_written_before_the_scenario_does_not_count(aws: None) -> None:
    # GIVEN evidence under an incident id that a later scenario's finding maps to again
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="stack-evidence")
    s3.put_object(Bucket="stack-evidence", Key="incidents/credential-1/user-before-state.json", Body=b"{}")
    results = [{"result": {"incident_id": "credential-1"}}]
    world = World()

    assert _evidence_check(world, "user-before-state", results).ok  # written during this scenario

    world.started_at = datetime.now(UTC) + timedelta(seconds=2)  # a scenario that started after it
    check = _evidence_check(world, "user-before-state", results)
    assert not check.ok
    assert "only from before this scenario" in str(check.actual)


def test_cli_refuses_to_disable_a_playbook_of_a_deployed_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "--endpoint", "http://127.0.0.1:9", "--disable", "credential", "--quiet"])

    assert code == 2
    assert "--disable cannot change a deployed stack" in capsys.readouterr().err


def test_cli_runs_against_the_deployed_stack(target: DeployedTarget, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import gameday.endpoint

    # the CLI builds its own target for --endpoint; here it reads the in-process account
    monkeypatch.setattr(gameday.endpoint, "DeployedTarget", lambda endpoint, **kw: DeployedTarget(None, **kw))
    code = cli.main(["run", "--endpoint", "http://emulator", "--quiet", "--json", "--only", "credential-skip",
                     "--only", "credential-dry-run"])  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    totals = json.loads(captured.out)["totals"]
    assert totals == {"passed": 2, "failed": 0, "error": 0, "skipped": 3}
    assert (
        "Skipped against the deployed stack:\n  credential-dry-run: needs context credential.mode=dry_run"
        in captured.err
    )
