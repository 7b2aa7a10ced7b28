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


def health_alarm_pattern(config: Config) -> dict[str, Any]:
    """State changes of the stack's own per-instance EC2 alarms (name prefix `<prefix>-i-`).

    INSUFFICIENT_DATA is not routed: no data is not a failure. RDS or other teams' alarms
    never match: the name prefix and the AWS/EC2 namespace both have to.
    """
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": f"{config.core.name_prefix}-i-"}],
            "state": {"value": ["ALARM", "OK"]},
            "configuration": {"metrics": {"metricStat": {"metric": {"namespace": ["AWS/EC2"]}}}},
        },
    }


def health_events_pattern() -> dict[str, Any]:
    """AWS Health EC2 events the playbook acts on: failed automatic recovery, scheduled retirement."""
    return {
        "source": ["aws.health"],
        "detail-type": ["AWS Health Event"],
        "detail": {
            "service": ["EC2"],
            "eventTypeCode": [
                "AWS_EC2_INSTANCE_AUTO_RECOVERY_FAILURE",
                "AWS_EC2_SIMPLIFIED_AUTO_RECOVERY_FAILURE",
                "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
            ],
        },
    }


def instance_state_pattern() -> dict[str, Any]:
    """EC2 instances starting (alarms created) or terminated (alarms deleted)."""
    return {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running", "terminated"]},
    }
