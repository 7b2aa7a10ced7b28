"""The built-in game-day library through the synthesized rules and the real handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gameday import library
from gameday.runner import run_scenario
from gameday.scenario import Scenario, load

SCENARIOS = {load(p).name: load(p) for p in library.scenario_files()}
ALL = sorted(SCENARIOS)


def describe(result: Any) -> str:
    return result.reason + "\n" + "\n".join(f"{c.what}: {c.expected} != {c.actual}" for c in result.checks if not c.ok)


@pytest.mark.parametrize("name", ALL)
def test_builtin_scenario_passes(name: str) -> None:
    result = run_scenario(SCENARIOS[name])
    assert result.status == "passed", describe(result)
    assert result.checks and all(c.ok for c in result.checks)


@pytest.mark.parametrize(
    ("name", "mode_key"),
    [
        ("credential-user-key-contained", "credential.mode"),
        ("credential-race-second-key", "credential.mode"),
        ("credential-full-lockdown", "credential.mode"),
        ("credential-dry-run", "credential.mode"),
        ("credential-notify-mode", "credential.mode"),
        ("credential-skip-sample", "credential.mode"),
        ("credential-assumed-role-sessions", "credential.mode"),
        ("instance-compromised-isolated", "instance.mode"),
        ("trail-stop-logging-restarted", "trail.mode"),
        ("trail-delete-trail-recreated", "trail.mode"),
        ("risky-change-ssh-world-revoked", "risky.mode"),
        ("health-instance-check-reboot", "health.mode"),
        ("alarm-lifecycle-running-creates-alarms", "monitoring.mode"),
    ],
)
def test_expectations_fail_when_the_playbook_does_nothing(name: str, mode_key: str) -> None:
    result = run_scenario(SCENARIOS[name], overrides={mode_key: "off"})
    assert result.status == "failed"
    failed = [c.what for c in result.checks if not c.ok]
    assert any(w.startswith("result") for w in failed), failed


def test_race_attacker_key_is_caught_and_timeline_shows_the_move() -> None:
    result = run_scenario(SCENARIOS["credential-race-second-key"])
    (step,) = result.steps
    assert any("created access key" in line for line in step.attacker)
    assert "attacker during the wait" in result.timeline()
    assert result.contain_times


def test_race_fails_when_the_recheck_is_not_configured() -> None:
    actions = "deactivate_access_key,attach_quarantine_policy,revoke_sessions"
    result = run_scenario(SCENARIOS["credential-race-second-key"], overrides={"credential.actions": actions})
    failed = {c.what.split(" (")[0] for c in result.checks if not c.ok}
    assert "the attacker moved during the playbook's wait" in failed


def test_injected_dispatch_runs_the_same_scenario() -> None:
    """A deployed stack's `dispatch(event)` plugs in; here the simulator's own, inside a caller's account."""
    from moto import mock_aws

    import gameday
    from gameday.runner import _instant_waits

    calls: list[dict[str, Any]] = []

    def dispatch(event: dict[str, Any]) -> list[dict[str, Any]]:
        calls.append(event)
        return gameday.dispatch(event)

    with mock_aws(), _instant_waits():
        gameday.simulation()
        result = run_scenario(SCENARIOS["credential-user-key-contained"], dispatch=dispatch, playbooks={"credential"})
    assert result.status == "passed", describe(result)
    assert len(calls) == 1


def test_injected_dispatch_cannot_race_and_says_so() -> None:
    result = run_scenario(SCENARIOS["credential-race-second-key"], dispatch=lambda event: [], playbooks={"credential"})
    assert result.status == "skipped"
    assert "in-process simulator" in result.reason


def test_tutorial_scenario_from_the_readme_runs(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = docs.split("<!-- gameday-example -->", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "ci-key.yaml"
    path.write_text(block)
    result = run_scenario(load(path))
    assert result.status == "passed", describe(result)


def scenario(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load(path)


def test_failed_expectation_reports_expected_and_actual(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """\
name: wrong
description: expects the opposite of what happens
requires: [credential]
state: {users: {alice: {access_keys: 1}}}
events: [{template: guardduty/credential_user_high, with: {key: alice}}]
expect: {keys: {"alice#0": Active}}
""",
    )
    result = run_scenario(s)
    assert result.status == "failed"
    (check,) = result.checks
    assert (check.expected, check.actual, check.ok) == ("Active", "Inactive", False)


def test_cli_run_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from gameday.cli import main

    good = str(library.SCENARIOS_DIR / "credential" / "user-key-contained.yaml")
    assert main(["run", good, "--json", "--report", str(tmp_path / "r.md")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["passed"] == 1
    (scenario,) = data["scenarios"]
    assert scenario["expectations_met"] == scenario["expectations"] > 0
    assert all(ms >= 0 for ms in scenario["time_to_contain_ms"].values())
    assert scenario["time_to_contain_ms"]
    assert "## credential-user-key-contained" in (tmp_path / "r.md").read_text()
    assert main(["run", good, "--disable", "credential", "--quiet"]) == 1
