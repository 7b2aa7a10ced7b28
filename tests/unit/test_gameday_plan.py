"""`gameday plan`: generated from the stack's own config; tuned plans differ exactly where the config does."""

from __future__ import annotations

import difflib

import pytest

from gameday.plan import PLAYBOOK_SECTIONS, plan
from stacks.config import SETTINGS, ConfigError


def changed_lines(overrides: dict[str, object]) -> list[str]:
    default, tuned = plan().splitlines(), plan(overrides).splitlines()
    return [line for line in difflib.unified_diff(default, tuned, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]  # fmt: skip


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
        ({"core.principalAllowList": ["arn:aws:iam::123456789012:user/break-glass"]},
         ["Principal allow-list", "`core.principalAllowList`"]),
        ({"credential.findingTypes": ["UnauthorizedAccess:IAMUser/*"]},
         ["Finding types:", '{"source": ["aws.guardduty"]', "`credential.findingTypes`"]),
    ],
)  # fmt: skip
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
    actions = ["deactivate_access_key", "attach_quarantine_policy", "revoke_sessions", "capture_user_state",
               "lookup_cloudtrail", "recheck_new_credentials", "remove_from_groups"]  # fmt: skip
    lines = changed_lines({"credential.actions": actions})
    assert "+7. `remove_from_groups`: remove the user from its groups (recorded in the before-state)" in lines
    assert "-- Not configured, so never done: `remove_from_groups`: remove the user from its groups (recorded in the " \
           "before-state)" in lines  # fmt: skip
    assert all("remove_from_groups" in line or "recheck_new_credentials" in line or "`credential.actions`" in line
               for line in lines), lines  # fmt: skip


def test_dry_run_mode_changes_the_mode_and_the_verb_only() -> None:
    lines = changed_lines({"credential.mode": "dry_run"})
    assert sorted(lines) == sorted([
        "-Mode: **enforce**: the steps below are carried out, verified and reported.",
        "+Mode: **dry_run**: the steps below are recorded as planned and reported; nothing is changed.",
        "-These steps run:", "+These steps would run (recorded as planned):",
        '-| `credential.mode` | `"enforce"` |', '+| `credential.mode` | `"dry_run"` |',
    ])  # fmt: skip


def test_every_config_section_has_a_plan_section() -> None:
    text = plan()
    assert "## Compromised IAM credentials (`credential`)" in text
    assert set(PLAYBOOK_SECTIONS) >= {"credential"}


def test_bad_override_fails_like_synth() -> None:
    with pytest.raises(ConfigError, match=r"credential\.minSeverity"):
        plan({"credential.minSeverity": 11})
