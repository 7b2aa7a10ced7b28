"""Context parsing: defaults, overrides from -c strings, and precise errors."""

from __future__ import annotations

import pytest

from stacks.config import DEFAULT_CREDENTIAL_ACTIONS, SETTINGS, ConfigError, parse_context, reference_table


def test_defaults_parse_to_the_documented_values() -> None:
    config = parse_context({})
    assert config.credential.mode == "enforce"
    assert config.credential.min_severity == 7.0
    assert config.credential.actions == DEFAULT_CREDENTIAL_ACTIONS
    assert (config.core.protected_tag_key, config.core.protected_tag_value) == ("AutoRemediation", "skip")
    assert config.core.principal_allow_list == ()


def test_cli_strings_are_parsed_like_json_values() -> None:
    config = parse_context(
        {
            "credential.minSeverity": "4.5",
            "credential.actions": "deactivate_access_key,attach_quarantine_policy",
            "core.principalAllowList": '["arn:aws:iam::123456789012:user/break-glass"]',
            "core.retainData": "false",
        }
    )
    assert config.credential.min_severity == 4.5
    assert config.credential.actions == ("deactivate_access_key", "attach_quarantine_policy")
    assert config.core.principal_allow_list == ("arn:aws:iam::123456789012:user/break-glass",)
    assert config.core.retain_data is False


def test_unknown_key_names_the_key_and_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match=r"credentail\.mode \(did you mean credential\.mode\?\)"):
        parse_context({"credentail.mode": "enforce"})


def test_cdk_keys_are_not_ours_and_are_ignored() -> None:
    parse_context({"@aws-cdk/core:newStyleStackSynthesis": True, "acknowledged-issue-numbers": [1]})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "credential.mode",
            "kill",
            r"credential\.mode: 'kill' is not allowed; allowed values: off, notify, dry_run, enforce",
        ),
        ("credential.minSeverity", "high", r"credential\.minSeverity: expected a number from 0 to 10"),
        ("credential.minSeverity", 11, r"credential\.minSeverity: 11 is out of range"),
        ("core.logRetentionDays", 366, r"core\.logRetentionDays: 366 is not allowed; allowed values: 1, 3, 5"),
        ("credential.actions", ["delete_user"], r"credential\.actions\[0\]: 'delete_user' is not allowed"),
        ("credential.actions", [], r"credential\.actions: needs at least 1 entry"),
        ("core.protectedTag", "novalue", r"core\.protectedTag: 'novalue' is not a tag written Key=Value"),
        ("core.notificationEmails", ["not-an-address"], r"core\.notificationEmails\[0\]: 'not-an-address'"),
        ("core.principalAllowList", ["bob"], r"core\.principalAllowList\[0\]: 'bob' is not an IAM or STS ARN"),
        ("core.retainData", "maybe", r"core\.retainData: expected true or false"),
        ("credential.actionsByFindingType", "[1]", r"credential\.actionsByFindingType: expected an object"),
    ],
)
def test_wrong_values_fail_naming_key_and_allowed_values(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_context({key: value})


def test_all_actions_include_per_type_overrides_and_role_revocation() -> None:
    config = parse_context(
        {
            "credential.actions": ["deactivate_access_key"],
            "credential.actionsByFindingType": {"Exfiltration:IAMUser/*": ["deactivate_all_access_keys"]},
        }
    )
    assert config.credential.all_actions == ("deactivate_access_key", "deactivate_all_access_keys", "revoke_sessions")


def test_reference_table_documents_every_setting() -> None:
    table = reference_table()
    for setting in SETTINGS:
        assert f"`{setting.key}`" in table
