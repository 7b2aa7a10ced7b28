"""`python -m gameday replay EVENT --seed`: each real-format event shows its timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.cli import main

EVENTS = Path(__file__).resolve().parents[1] / "events"

CASES = {
    "guardduty/credential_user_high": ["decision: acted", "+ deactivate_access_key", "+ attach_quarantine_policy"],
    "guardduty/instance_actor_high": ["decision: acted", "+ snapshot_volumes", "+ isolate_network"],
    "cloudtrail/stop_logging": ["decision: acted", "+ restart_logging"],
    "cloudtrail/delete_trail": ["decision: acted", "+ recreate_trail"],
    "cloudtrail/update_trail_weaken": ["decision: acted", "+ restore_trail_config"],
    "cloudtrail/authorize_sg_ingress_ssh_world": ["decision: acted", "+ revoke_ingress_rules"],
    "signin/root_console_login": ["decision: notified", "WITHOUT MFA"],
    "health/risk_credentials_exposed": ["decision: acted", "+ lookup_key_owner", "+ deactivate_access_key"],
    "cloudwatch/alarm_system_check_alarm": ["decision: acted"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_replay_with_seed_prints_the_timeline(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(EVENTS / f"{name}.json"), "--seed"]) == 0
    out = capsys.readouterr().out
    for expected in CASES[name]:
        assert expected in out, out


def test_replayed_alarm_shows_the_escalation_path(capsys: pytest.CaptureFixture[str]) -> None:
    event = EVENTS / "cloudwatch/alarm_instance_check_alarm.json"
    assert main(["replay", str(event), "--seed", "--repeat", "4"]) == 0
    out = capsys.readouterr().out
    decisions = [line.strip() for line in out.splitlines() if line.strip().startswith("decision:")]
    assert [d.split("(")[1].split(" ")[0] for d in decisions[:3]] == ["reboot", "reboot", "persistent"]
    assert "+ stop_start_instance" in out and "needs a person" in decisions[3]


def test_redelivered_event_changes_nothing_new(capsys: pytest.CaptureFixture[str]) -> None:
    event = EVENTS / "guardduty/credential_user_high.json"
    assert main(["replay", str(event), "--seed", "--repeat", "2", "--redeliver"]) == 0
    out = capsys.readouterr().out
    assert out.count("+ deactivate_access_key") == 1
