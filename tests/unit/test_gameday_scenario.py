"""Scenario files: the schema, the built-in library's coverage, and precise errors for malformed files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from gameday import library
from gameday.scenario import SCHEMA_PATH, ScenarioError, load

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = {"credential", "instance", "health", "alarm_lifecycle", "trail", "risky_change"}

GOOD = """\
name: ok
description: fine
requires: [credential]
state:
  users:
    alice:
      access_keys: 2
events:
  - template: guardduty/credential_user_high
    with: {key: "alice#0"}
expect:
  keys: {"alice#0": Inactive}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    return path


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_library_loads_and_covers_every_playbook_mode_and_the_race() -> None:
    scenarios = [load(p) for p in library.scenario_files()]
    assert len(scenarios) >= 15
    assert len({s.name for s in scenarios}) == len(scenarios)
    assert {p for s in scenarios for p in s.requires} == PLAYBOOKS
    modes = {s.config.get("credential.mode") for s in scenarios}
    assert {"dry_run", "notify", "off"} <= modes
    race = [s for s in scenarios for e in s.events for a in e.get("during_wait", []) if "create_access_key" in a]
    assert race


def test_library_covers_every_credential_skip_and_notify_reason() -> None:
    reasons = {
        r["reason"] for p in library.scenario_files() for r in load(p).expect.get("results", []) if "reason" in r
    }
    wanted = (
        "mode is off",
        "sample finding",
        "archived finding",
        "allow-list",
        "protected tag",
        "root credentials",
        "belongs to this remediation stack",
        "service-linked",
        "mode is notify",
    )
    for reason in wanted:
        assert reason in reasons
    routed_out = {load(p).name for p in library.scenario_files() if load(p).expect.get("invocations") == 0}
    assert {"credential-below-min-severity", "credential-skip-type-not-configured"} <= routed_out


def test_good_scenario_loads(tmp_path: Path) -> None:
    scenario = load(write(tmp_path, GOOD))
    assert scenario.name == "ok"
    assert scenario.requires == ["credential"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'with: {key: "alice#0"}',
            "with: {key: bob}",
            r"my\.yaml:10: at events\[0\]\.with\.key: 'bob#0' is not declared; expected one of the declared keys: "
            r"alice#0, alice#1",
        ),
        (
            '{"alice#0": Inactive}',
            '{"alice#0": Disabled}',
            r"my\.yaml:12: at expect\.keys\.alice#0: 'Disabled' is not one of .*; "
            r"expected one of: Active, Inactive, absent",
        ),
        (
            "      access_keys: 2",
            "      acces_keys: 2",
            r"my\.yaml:7: at state\.users\.alice: Additional properties are not allowed \('acces_keys' was unexpected\); "
            r"expected only these keys: access_keys, console_login, .*",
        ),
        (
            "guardduty/credential_user_high",
            "guardduty/credential_user_hihg",
            r"my\.yaml:9: at events\[0\]\.template: no event template 'guardduty/credential_user_hihg'",
        ),
        (
            "  - template: guardduty/credential_user_high\n",
            "  - delay: 2\n",
            r"my\.yaml:9: at events\[0\]: .*; expected one step: exactly one of template, file, schedule or attack",
        ),
        ("name: ok", "name: Not OK", r"my\.yaml:1: at name: 'Not OK' does not match .*; expected text matching"),
        ("expect:\n  keys", "expectations:\n  keys", r"my\.yaml:1?\d?: at .*"),
        (
            "      access_keys: 2",
            "      access_keys: 3",
            r"at state\.users\.alice\.access_keys: 3 is greater than the maximum of 2",
        ),
        ("state:", "state: [", r"my\.yaml:\d+: not valid YAML"),
    ],
)
def test_malformed_scenario_names_file_path_and_expectation(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(tmp_path))
    assert re.search(expected, message), message


def test_unknown_top_level_key_names_the_allowed_keys(tmp_path: Path) -> None:
    allowed = "config, description, events, expect, name, requires, state"
    with pytest.raises(
        ScenarioError, match=rf"at \(top level\): .*'expectations' was unexpected.*only these keys: {allowed}"
    ):
        load(write(tmp_path, GOOD + "expectations: {}\n"))


def test_tutorial_in_the_readme_is_a_valid_scenario(tmp_path: Path) -> None:
    scenario = load(write(tmp_path, tutorial_yaml()))
    assert scenario.name == "ci-key-leaked"


def tutorial_yaml() -> str:
    """The YAML block after the `gameday-example` marker of README.md."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- gameday-example -->", 1)[1]
    return block.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_cli_run_rejects_a_malformed_file_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gameday.cli import main

    path = write(tmp_path, GOOD.replace('with: {key: "alice#0"}', "with: {key: bob}"))
    assert main(["run", str(path)]) == 2
    assert "my.yaml:10: at events[0].with.key: 'bob#0' is not declared" in capsys.readouterr().err


def test_cli_list_shows_scenarios_and_templates(capsys: pytest.CaptureFixture[str]) -> None:
    from gameday.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "credential-race-second-key" in out
    assert "[requires instance]" in out
    assert "guardduty/credential_user_high" in out
