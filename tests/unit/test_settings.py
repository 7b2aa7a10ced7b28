"""The function side re-validates its environment at cold start."""

from __future__ import annotations

import pytest

from remediation.settings import SettingsError, load

GOOD = {
    "PLAYBOOK": "credential",
    "MODE": "enforce",
    "STACK_NAME": "AutoRemediation",
    "NAME_PREFIX": "autoremediation",
    "PROTECTED_TAG_KEY": "AutoRemediation",
    "PROTECTED_TAG_VALUE": "skip",
    "INCIDENT_TABLE": "t",
    "EVIDENCE_BUCKET": "b",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "PLAYBOOK_CONFIG": '{"a": 1}',
}


def test_valid_environment_loads() -> None:
    settings = load(GOOD)
    assert settings.mode == "enforce"
    assert settings.option("a") == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MODE": "yolo"}, "MODE='yolo' is not one of"),
        ({"TOPIC_ARN": "topic"}, "TOPIC_ARN='topic' is not an ARN"),
        ({"PLAYBOOK_CONFIG": "{"}, "PLAYBOOK_CONFIG is not valid JSON"),
        ({"PLAYBOOK_CONFIG": "[]"}, "PLAYBOOK_CONFIG must be a JSON dict"),
        ({"PRINCIPAL_ALLOW_LIST": '"x"'}, "PRINCIPAL_ALLOW_LIST must be a JSON list"),
        ({"INCIDENT_TABLE": ""}, "missing environment variable"),
    ],
)
def test_bad_environment_fails_loudly(change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load({**GOOD, **change})
