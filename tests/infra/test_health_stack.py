"""Template assertions for EC2 health: rules, schedule, synth-time alarms, dashboard, least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gameday.plan import context
from gameday.template import synthesize
from stacks import rules
from stacks.config import ConfigError, parse_context
from stacks.constructs.playbook_function import protected_guardrail_actions


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def policy_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    policies = [p for lid, p in resources(template, "AWS::IAM::Policy").items() if lid.startswith(role_prefix)]
    assert len(policies) == 1
    return list(policies[0]["Properties"]["PolicyDocument"]["Statement"])


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    """The actions the statements ALLOW (the protected-tag Deny grants nothing)."""
    out: set[str] = set()
    for statement in statements:
        if statement["Effect"] != "Allow":
            assert statement["Sid"] == "NeverChangeProtectedResources", statement
            continue
        action = statement["Action"]
        out.update([action] if isinstance(action, str) else action)
    return out


def guardrail(statements: list[dict[str, Any]]) -> dict[str, Any]:
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert len(denies) == 1
    return denies[0]


GUARDRAIL_CONDITION = {"StringEquals": {"aws:ResourceTag/AutoRemediation": "skip"}}


def rule(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = [r for lid, r in resources(template, "AWS::Events::Rule").items() if lid.startswith(prefix)]
    assert len(found) == 1
    return dict(found[0]["Properties"])


def test_alarm_rule_matches_only_the_stacks_ec2_alarms(template: dict[str, Any]) -> None:
    props = rule(template, "HealthAlarmStateChanges")
    assert props["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": "autoremediation-i-"}],
            "state": {"value": ["ALARM", "OK"]},
            "configuration": {"metrics": {"metricStat": {"metric": {"namespace": ["AWS/EC2"]}}}},
        },
    }
    assert props["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("HealthFunction")


def test_health_events_rule(template: dict[str, Any]) -> None:
    assert rule(template, "HealthEc2Events")["EventPattern"] == rules.health_events_pattern()
    assert rules.health_events_pattern()["detail"]["eventTypeCode"] == [
        "AWS_EC2_INSTANCE_AUTO_RECOVERY_FAILURE",
        "AWS_EC2_SIMPLIFIED_AUTO_RECOVERY_FAILURE",
        "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
    ]


def test_lifecycle_rules_state_change_and_daily_schedule(template: dict[str, Any]) -> None:
    assert rule(template, "AlarmLifecycleInstanceState")["EventPattern"] == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running", "terminated"]},
    }
    schedule = rule(template, "AlarmLifecycleReconcile")
    assert schedule["ScheduleExpression"] == "cron(17 3 * * ? *)"
    assert schedule["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("AlarmLifecycleFunction")


def test_health_role_is_least_privilege(template: dict[str, Any]) -> None:
    statements = policy_statements(template, "HealthRole")
    granted = actions_of(statements)
    assert not any(a.startswith("iam:") for a in granted)
    assert "ec2:TerminateInstances" not in granted
    assert guardrail(statements) == {
        "Action": protected_guardrail_actions(parse_context(context()).health.all_actions),
        "Condition": GUARDRAIL_CONDITION,
        "Effect": "Deny",
        "Resource": "*",
        "Sid": "NeverChangeProtectedResources",
    }
    assert {
        "ec2:RebootInstances",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "autoscaling:SetInstanceHealth",
        "cloudwatch:DescribeAlarms",
    } <= granted
    ec2_write = next(s for s in statements if "ec2:RebootInstances" in s["Action"])
    assert ec2_write["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}
    alarms = next(s for s in statements if s["Action"] == "cloudwatch:DescribeAlarms")
    assert alarms["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:autoremediation-i-*"
    }


def test_terminate_is_granted_only_when_configured() -> None:
    template = synthesize({"health.instanceCheckAction": "terminate"})
    statements = policy_statements(template, "HealthRole")
    allows = [s for s in statements if s["Effect"] == "Allow"]
    terminate = [s for s in allows if "ec2:TerminateInstances" in s["Action"]]
    assert len(terminate) == 1
    assert terminate[0]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"
    }
    assert not any(a.startswith("iam:") for a in actions_of(statements))
    # and a protected instance is never terminated: the Deny covers it too
    health = parse_context(context({"health.instanceCheckAction": "terminate"})).health
    assert guardrail(statements) == {
        "Action": protected_guardrail_actions(health.all_actions),
        "Condition": GUARDRAIL_CONDITION,
        "Effect": "Deny",
        "Resource": "*",
        "Sid": "NeverChangeProtectedResources",
    }
    assert "ec2:TerminateInstances" in guardrail(statements)["Action"]
    # not configured: neither allowed nor (pointlessly) denied
    default = policy_statements(synthesize(), "HealthRole")
    assert "ec2:TerminateInstances" not in actions_of(default)
    assert "ec2:TerminateInstances" not in guardrail(default)["Action"]


def test_lifecycle_role_manages_only_prefixed_alarms(template: dict[str, Any]) -> None:
    statements = policy_statements(template, "AlarmLifecycleRole")
    alarm_write = next(s for s in statements if "cloudwatch:PutMetricAlarm" in s["Action"])
    assert sorted(alarm_write["Action"]) == [
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
    ]
    assert alarm_write["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:autoremediation-i-*"
    }
    slr = next(s for s in statements if s["Action"] == "iam:CreateServiceLinkedRole")
    assert slr["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/events.amazonaws.com/"
        "AWSServiceRoleForCloudWatchEvents"
    }
    granted = actions_of(statements)
    assert not granted & {"ec2:RebootInstances", "ec2:StopInstances", "ec2:TerminateInstances"}
    assert [a for a in granted if a.startswith("iam:")] == ["iam:CreateServiceLinkedRole"]


def test_dashboard_shows_fleet_status_checks_remediations_errors_and_queue(template: dict[str, Any]) -> None:
    dashboards = resources(template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    for needle in (
        "CPUUtilization",
        "EBSReadOps",
        "DiskWriteOps",
        "NetworkIn",
        "NetworkOut",
        "StatusCheckFailed_System",
        "StatusCheckFailed_Instance",
        "Remediations by playbook and outcome",
        "AutoRemediation",
        "ActionsFailed",
        "Function errors",
        "ApproximateNumberOfMessagesVisible",
        "HealthFunction",
        "AlarmLifecycleFunction",
        "CredentialFunction",
    ):
        assert needle in body, needle


def test_listed_instances_get_alarms_at_synth_time_and_no_lifecycle_function() -> None:
    template = synthesize({"monitoring.scope": "list", "monitoring.instanceIds": ["i-0abc1234def567890"]})
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if "AlarmName" in a["Properties"]
    }
    name = "autoremediation-i-0abc1234def567890-"
    assert sorted(n for n in alarms if n.startswith(name)) == sorted(
        name + m
        for m in (
            "StatusCheckFailed_System",
            "StatusCheckFailed_Instance",
            "CPUUtilization",
            "EBSReadOps",
            "EBSWriteOps",
            "NetworkIn",
            "NetworkOut",
        )
    )
    system = alarms[name + "StatusCheckFailed_System"]
    assert system["Dimensions"] == [{"Name": "InstanceId", "Value": "i-0abc1234def567890"}]
    assert system["TreatMissingData"] == "missing"
    assert {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":automate:", {"Ref": "AWS::Region"}, ":ec2:recover"]]
    } in system["AlarmActions"]
    assert not [lid for lid in resources(template, "AWS::Lambda::Function") if lid.startswith("AlarmLifecycle")]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"health.systemCheckAction": "explode"}, "allowed values: recover, reboot, stop, terminate, notify"),
        ({"monitoring.scope": "list"}, "monitoring.instanceIds: scope list needs at least one instance id"),
        ({"monitoring.instanceIds": ["i-123"]}, "monitoring.instanceIds[0]: 'i-123' is not an EC2 instance id"),
        ({"monitoring.cpuAlarm": {"threshold": 80}}, "missing: periodSeconds, evaluationPeriods"),
        (
            {"monitoring.cpuAlarm": {"threshold": 80, "periodSeconds": 7, "evaluationPeriods": 1}},
            "monitoring.cpuAlarm.periodSeconds: 7 is not allowed",
        ),
        ({"health.rebootsBeforeStopStart": 0}, "health.rebootsBeforeStopStart: 0 is out of range"),
    ],
)
def test_bad_context_fails_naming_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_context(context)
