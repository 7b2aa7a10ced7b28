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


def instance_pattern(config: Config) -> dict[str, Any]:
    """GuardDuty findings on EC2 instances, of the configured types and severity."""
    inst = config.instance
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "resource": {"resourceType": ["Instance"]},
            "type": type_matcher(inst.finding_types),
            "severity": [{"numeric": [">=", inst.min_severity]}],
        },
    }


CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
TRAIL_TAMPERING_CALLS = ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")


def trail_tampering_pattern(config: Config) -> dict[str, Any]:
    """CloudTrail calls that stop, delete or weaken a trail (failed calls included: the handler notifies)."""
    del config
    return {
        "source": ["aws.cloudtrail"],
        "detail-type": [CLOUDTRAIL_API_CALL],
        "detail": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": list(TRAIL_TAMPERING_CALLS)},
    }


def world_open_ingress_pattern(config: Config) -> dict[str, Any]:
    """AuthorizeSecurityGroupIngress calls naming 0.0.0.0/0 or ::/0 (ports and errorCode are checked in code)."""
    del config
    return {
        "source": ["aws.ec2"],
        "detail-type": [CLOUDTRAIL_API_CALL],
        "detail": {
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": ["AuthorizeSecurityGroupIngress"],
            "errorCode": [{"exists": False}],
            "$or": [
                {"requestParameters": {"ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}},
                {"requestParameters": {"ipPermissions": {"items": {"ipv6Ranges": {"items": {"cidrIpv6": ["::/0"]}}}}}},
            ],
        },
    }


def root_sign_in_pattern(config: Config) -> dict[str, Any]:
    """Console sign-ins of the root user (successful or not)."""
    del config
    return {
        "source": ["aws.signin"],
        "detail-type": ["AWS Console Sign In via CloudTrail"],
        "detail": {"eventName": ["ConsoleLogin"], "userIdentity": {"type": ["Root"]}},
    }


def credentials_exposed_pattern(config: Config) -> dict[str, Any]:
    """AWS Health: an access key of this account was found exposed publicly."""
    del config
    return {
        "source": ["aws.health"],
        "detail-type": ["AWS Health Event"],
        "detail": {"service": ["RISK"], "eventTypeCode": ["AWS_RISK_CREDENTIALS_EXPOSED"]},
    }
