"""`gameday plan`: generated from the stack's own config; tuned plans differ exactly where the config does."""

from __future__ import annotations

import dataclasses
import difflib
import json

import pytest

from gameday.plan import PLAYBOOK_SECTIONS, _step, context, plan
from stacks import rules
from stacks.config import SETTINGS, TRAIL_ACTOR_ACTIONS, Config, ConfigError, parse_context


def changed_lines(overrides: dict[str, object]) -> list[str]:
    default, tuned = plan().splitlines(), plan(overrides).splitlines()
    return [
        line
        for line in difflib.unified_diff(default, tuned, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_default_plan_lists_trigger_steps_notification_and_never() -> None:
    text = plan()
    assert "- Severity at least 7." in text
    assert "1. `deactivate_access_key`: deactivate the finding's access key (never delete it) _(containment)_" in text
    assert "(after waiting 5 s for IAM to propagate)" in text
    assert "e-mail subscribers: none configured" in text
    assert "- Not configured, so never done: `delete_login_profile`" in text
    for setting in SETTINGS:
        assert f"| `{setting.key}` |" in text


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"credential.minSeverity": 4}, ["Severity at least", '"numeric": [">=", ', "`credential.minSeverity`"]),
        ({"credential.recheckSeconds": 20}, ["for IAM to propagate", "`credential.recheckSeconds`"]),
        ({"core.notificationEmails": ["soc@example.com"]}, ["e-mail subscribers", "`core.notificationEmails`"]),
        (
            {"core.principalAllowList": ["arn:aws:iam::123456789012:user/break-glass"]},
            ["Principal allow-list", "`core.principalAllowList`"],
        ),
        (
            {"credential.findingTypes": ["UnauthorizedAccess:IAMUser/*"]},
            ["Finding types:", '{"source": ["aws.guardduty"]', "`credential.findingTypes`"],
        ),
    ],
)
def test_tuned_plan_differs_exactly_where_the_config_differs(
    overrides: dict[str, object], fragments: list[str]
) -> None:
    lines = changed_lines(overrides)
    assert lines
    for line in lines:
        assert any(f in line for f in fragments), line
    for fragment in fragments:
        assert any(fragment in line for line in lines), fragment


def test_added_action_moves_from_never_to_the_steps() -> None:
    actions = [
        "deactivate_access_key",
        "attach_quarantine_policy",
        "revoke_sessions",
        "capture_user_state",
        "lookup_cloudtrail",
        "recheck_new_credentials",
        "remove_from_groups",
    ]
    lines = changed_lines({"credential.actions": actions})
    step = "`remove_from_groups`: remove the user from its groups (recorded in the before-state) _(destructive)_"
    assert f"+7. {step}" in lines
    assert f"-- Not configured, so never done: {step}" in lines
    assert all(
        "remove_from_groups" in line or "recheck_new_credentials" in line or "`credential.actions`" in line
        for line in lines
    ), lines


def test_dry_run_mode_changes_the_mode_and_the_verb_only() -> None:
    lines = changed_lines({"credential.mode": "dry_run"})
    assert sorted(lines) == sorted(
        [
            "-Mode: **enforce**: the steps below are carried out, verified and reported.",
            "+Mode: **dry_run**: the steps below are recorded as planned and reported; nothing is changed.",
            "-These steps run:",
            "+These steps would run (recorded as planned):",
            '-| `credential.mode` | `"enforce"` |',
            '+| `credential.mode` | `"dry_run"` |',
        ]
    )


def test_every_config_section_has_a_plan_section() -> None:
    text = plan()
    for title in (
        "## Compromised IAM credentials (`credential`)",
        "## EC2 health (`health`)",
        "## Instance alarms (`monitoring`)",
        "## Compromised EC2 instance (`instance`)",
        "## Audit-trail tampering (`trail`)",
        "## Risky changes (`risky`)",
    ):
        assert title in text
    assert set(PLAYBOOK_SECTIONS) == {f.name for f in dataclasses.fields(Config)} - {"core", "raw"}
    # No playbook falls back to the generic settings table: that table's header appears nowhere.
    assert "| setting | value | effect |" not in text
    for name in PLAYBOOK_SECTIONS:
        assert f"## `{name}`" not in text


def test_every_rule_pattern_is_in_the_plan_exactly() -> None:
    config = parse_context(context())
    text = plan()
    for rule, pattern in [
        ("GuardDutyCredentialFindings", rules.credential_pattern(config)),
        ("HealthCredentialsExposed", rules.credentials_exposed_pattern(config)),
        ("HealthAlarmStateChanges", rules.health_alarm_pattern(config)),
        ("HealthEc2Events", rules.health_events_pattern()),
        ("AlarmLifecycleInstanceState", rules.instance_state_pattern()),
        ("GuardDutyInstanceFindings", rules.instance_pattern(config)),
        ("TrailTampering", rules.trail_tampering_pattern(config)),
        ("WorldOpenAdminIngress", rules.world_open_ingress_pattern(config)),
        ("RootConsoleSignIn", rules.root_sign_in_pattern(config)),
    ]:
        block = (
            f"<summary>EventBridge pattern of rule <code>{rule}</code></summary>\n\n```json\n{json.dumps(pattern)}\n```"
        )
        assert block in text, rule


def test_default_playbook_plans_show_the_configured_values() -> None:
    text = plan()
    assert "- Admin ports: 22, 3389." in text
    assert "After 2 reboot(s) within 60 min, the next failure instead: `stop_start_instance`" in text
    assert "- `StatusCheckFailed_System` ALARM (the host), configured `recover`:" in text
    assert "Alarmed instances: instances carrying the tag `AutoRemediationMonitor=true`." in text
    assert "- `CPUUtilization` average above 90 % over 3 period(s) of 300 s; notify only." in text
    assert "The isolation group admits nothing and allows no egress (no examiner CIDR configured)." in text
    assert "- Not configured, so never done: `terminate_instance`:" in text
    assert "- `DeleteTrail`: `recreate_trail`: recreate a deleted trail from its recorded configuration" in text
    assert "- Protected trails: every trail the recorder sees in the region" in text


INSTANCE_STEP = (
    "9. final: `stop_instance`: stop the instance (only after evidence succeeded): only if every evidence step "
    "(snapshot_volumes, capture_instance) succeeded; otherwise it is not run, the instance is left isolated and "
    "running for manual forensics and the notification says EVIDENCE FAILED _(destructive)_"
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"instance.finalAction": "stop"},
            [
                "+" + INSTANCE_STEP,
                "-- Not configured, so never done: `stop_instance`: stop the instance (only after evidence succeeded) "
                "_(destructive)_",
                '-| `instance.finalAction` | `"none"` |',
                '+| `instance.finalAction` | `"stop"` |',
            ],
        ),
        (
            {"risky.adminPorts": [22, 3389, 5432]},
            [
                "-- Admin ports: 22, 3389.",
                "+- Admin ports: 22, 3389, 5432.",
                "-2. No rule the call created opens an admin port (22, 3389) over TCP or UDP, or all traffic, to 0.0.0.0/0 "
                "or ::/0: skipped (egress rules and narrower sources are left alone).",
                "+2. No rule the call created opens an admin port (22, 3389, 5432) over TCP or UDP, or all traffic, to "
                "0.0.0.0/0 or ::/0: skipped (egress rules and narrower sources are left alone).",
                "-- World-open ingress on an admin port (22, 3389): `revoke_ingress_rules`: revoke exactly the world-open "
                "ingress rules an API call created (by rule id) _(containment)_.",
                "+- World-open ingress on an admin port (22, 3389, 5432): `revoke_ingress_rules`: revoke exactly the "
                "world-open ingress rules an API call created (by rule id) _(containment)_.",
                "-| `risky.adminPorts` | `[22, 3389]` |",
                "+| `risky.adminPorts` | `[22, 3389, 5432]` |",
            ],
        ),
        (
            {"instance.forensicAccessCidr": "203.0.113.0/24", "instance.forensicAccessPort": 2222},
            [
                "-5. contain: `isolate_network`: move every network interface to the isolation security group (two-step: "
                "untrack, then isolate) (skipped when the instance has no interface). First through the all-open "
                "untracking group, so tracked connections are cut too. The isolation group admits nothing and allows no "
                "egress (no examiner CIDR configured). _(containment, destructive)_",
                "+5. contain: `isolate_network`: move every network interface to the isolation security group (two-step: "
                "untrack, then isolate) (skipped when the instance has no interface). First through the all-open "
                "untracking group, so tracked connections are cut too. The isolation group admits only `203.0.113.0/24` "
                "on TCP port 2222 (examiner access) and allows no egress. _(containment, destructive)_",
                '-| `instance.forensicAccessCidr` | `""` |',
                '+| `instance.forensicAccessCidr` | `"203.0.113.0/24"` |',
                "-| `instance.forensicAccessPort` | `22` |",
                "+| `instance.forensicAccessPort` | `2222` |",
            ],
        ),
    ],
)
def test_tuned_playbook_plan_differs_exactly(overrides: dict[str, object], expected: list[str]) -> None:
    assert sorted(changed_lines(overrides)) == sorted(expected)


def test_health_instance_check_stop_changes_that_case_and_never_done() -> None:
    lines = changed_lines({"health.instanceCheckAction": "stop"})
    assert sorted(lines) == sorted(
        [
            "-- `StatusCheckFailed_Instance` ALARM (the operating system), configured `reboot`:",
            "-   1. `reboot_instance`: reboot the instance (instance status check failed: the OS is impaired); counted "
            "for 60 min _(containment)_",
            "-   2. After 2 reboot(s) within 60 min, the next failure instead: `stop_start_instance`: stop and start the "
            "EBS-backed instance, which moves it to new hardware (a stop that hangs is forced after 150 s; the step fails "
            "if the instance is not stopped after 300 s or not running 150 s after the start) _(containment)_; reported "
            "as PERSISTENT.",
            "-   3. If a stop/start within those 60 min did not help either, or the instance is instance-store backed: "
            "notify only (PERSISTENT, needs a person).",
            "-   4. If the reboot history cannot be read: reboot without escalation.",
            "+- `StatusCheckFailed_Instance` ALARM (the operating system), configured `stop`:",
            "+   1. `capture_instance_config`: write the instance's configuration (tags, volumes, network) to the "
            "evidence bucket _(read-only)_",
            "+   2. `stop_impaired_instance`: stop the impaired instance (configured action; configuration captured "
            "first) (waits up to 300 s for the stop), only if the configuration was captured _(containment, destructive)_",
            "-- Not configured, so never done: `stop_impaired_instance`: stop the impaired instance (configured action; "
            "configuration captured first) _(containment, destructive)_",
            "+- Not configured, so never done: `reboot_instance`: reboot the instance (instance status check failed: the "
            "OS is impaired) _(containment)_",
            '-| `health.instanceCheckAction` | `"reboot"` |',
            '+| `health.instanceCheckAction` | `"stop"` |',
        ]
    )


def test_trail_contain_actor_adds_the_actor_steps() -> None:
    lines = changed_lines({"trail.containActor": True})
    added = [line[1:] for line in lines if line.startswith("+")]
    assert (
        "1. `deactivate_access_key`: deactivate the finding's access key (never delete it) (only when the call "
        "was made with a long-term `AKIA` key) _(containment)_" in added
    )
    assert (
        "2. `attach_quarantine_policy`: attach an inline deny-all quarantine policy to the user _(containment)_"
        in added
    )
    assert (
        "An assumed role: `revoke_sessions`: deny every session token issued before now (aws:TokenIssueTime) "
        "_(containment)_" in added
    )
    removed = [line[1:] for line in lines if line.startswith("-")]
    assert sorted(r for r in removed if "never done" in r) == sorted(
        f"- The actor is not contained (`trail.containActor` is false), so never done: {step}"
        for step in (_step(a) for a in TRAIL_ACTOR_ACTIONS)
    )
    assert "- Not configured, so never done: " + _step("deactivate_all_access_keys") in added
    assert all(line.startswith("+") or "never done" in line or "`trail.containActor`" in line for line in lines)


@pytest.mark.parametrize(
    ("overrides", "old", "new"),
    [
        ({"monitoring.scope": "all"}, "`AutoRemediationMonitor=true`", "Alarmed instances: every instance."),
        ({"monitoring.tag": "Team=ops"}, "AutoRemediationMonitor=true", "Team=ops"),
    ],
)
def test_monitoring_scope_and_tag_change_the_trigger_text(overrides: dict[str, object], old: str, new: str) -> None:
    lines = changed_lines(overrides)
    table = [line for line in lines if line.startswith(("-| `monitoring.", "+| `monitoring."))]
    assert len(table) == 2
    text_lines = [line for line in lines if line not in table]
    assert text_lines
    assert all(old in line for line in text_lines if line.startswith("-")), text_lines
    assert any(new in line for line in text_lines if line.startswith("+")), text_lines
    section = plan(overrides).split("## Instance alarms (`monitoring`)")[1].split("\n## ")[0]
    assert old not in section


def test_modes_change_the_wording_of_every_playbook() -> None:
    for name, key in [
        ("health", "health"),
        ("monitoring", "monitoring"),
        ("instance", "instance"),
        ("trail", "trail"),
        ("risky", "risky"),
    ]:
        dry = changed_lines({f"{key}.mode": "dry_run"})
        assert "+These steps would run (recorded as planned):" in dry, name
        assert "-These steps run:" in dry, name
        assert "+Mode: **dry_run**: the steps below are recorded as planned and reported; nothing is changed." in dry
        notify = plan({f"{key}.mode": "notify"})
        assert "Mode `notify`: notify only" in notify, name
        off = changed_lines({f"{key}.mode": "off"})
        assert "+Nothing: the playbook is off." in off, name
        assert not any(line.startswith("+") and "These steps" in line for line in off), name


def test_bad_override_fails_like_synth() -> None:
    with pytest.raises(ConfigError, match=r"credential\.minSeverity"):
        plan({"credential.minSeverity": 11})
