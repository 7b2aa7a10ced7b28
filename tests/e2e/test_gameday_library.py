"""The built-in game-day library through the synthesized rules and the real handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gameday import library
from gameday.runner import run_scenario
from gameday.scenario import Scenario, load

SCENARIOS = {load(p).name: load(p) for p in library.scenario_files()}
CREDENTIAL = sorted(n for n, s in SCENARIOS.items() if s.requires == ["credential"]
                    and not any(e.get("requires_route") for e in s.events))  # fmt: skip
OTHERS = sorted(n for n, s in SCENARIOS.items() if n not in CREDENTIAL)


def describe(result: Any) -> str:
    return result.reason + "\n" + "\n".join(f"{c.what}: {c.expected} != {c.actual}" for c in result.checks if not c.ok)


@pytest.mark.parametrize("name", CREDENTIAL)
def test_builtin_scenario_passes(name: str) -> None:
    result = run_scenario(SCENARIOS[name])
    assert result.status == "passed", describe(result)
    assert result.checks and all(c.ok for c in result.checks)


@pytest.mark.parametrize(
    "name",
    ["credential-user-key-contained", "credential-race-second-key", "credential-full-lockdown",
     "credential-dry-run", "credential-notify-mode", "credential-skip-sample", "credential-assumed-role-sessions"],
)  # fmt: skip
def test_expectations_fail_when_the_playbook_does_nothing(name: str) -> None:
    result = run_scenario(SCENARIOS[name], overrides={"credential.mode": "off"})
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


@pytest.mark.parametrize("name", OTHERS)
def test_other_playbooks_scenarios_skip_until_deployed(name: str) -> None:
    result = run_scenario(SCENARIOS[name])
    assert result.status == "skipped"
    assert result.reason.startswith(("playbook not deployed: ", "no rule routes "))


@pytest.mark.parametrize("name", OTHERS)
def test_other_playbooks_scenarios_build_their_state_and_evaluate(name: str) -> None:
    """Without their playbook the state, attacker moves and expectations all run (and fail or hold trivially)."""
    result = run_scenario(SCENARIOS[name], check_requires=False)
    assert result.status in ("passed", "failed"), describe(result)
    assert result.checks


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


def test_tutorial_scenario_from_the_docs_runs(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "gameday.md").read_text()
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
