"""EventBridge patterns, built from the typed config (pure functions, tested exactly)."""

from __future__ import annotations

from typing import Any

from stacks.config import Config, type_matcher


def credential_pattern(config: Config) -> dict[str, Any]:
    """GuardDuty findings on access keys, of the configured types and severity."""
    cred = config.credential
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "resource": {"resourceType": ["AccessKey"]},
            "type": type_matcher(cred.finding_types),
            "severity": [{"numeric": [">=", cred.min_severity]}],
        },
    }
