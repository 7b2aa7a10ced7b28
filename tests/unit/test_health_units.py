"""Lowest layer of EC2 health: alarm names and definitions, event models, attempt counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from remediation import alarms, store
from remediation.ec2_events import AlarmStateChange, HealthEc2Event
from remediation.events import InvalidEvent
from remediation.settings import Settings
from tests.conftest import load_event

OPTIONS = {
    "metric_alarms": ["cpu", "disk", "network"],
    "status_check": {"periodSeconds": 60, "evaluationPeriods": 2},
    "cpu": {"threshold": 90.0, "periodSeconds": 300, "evaluationPeriods": 3},
    "disk": {"threshold": 1000.0, "periodSeconds": 300, "evaluationPeriods": 3},
    "network": {"threshold": 5e9, "periodSeconds": 300, "evaluationPeriods": 3},
}


def test_alarm_names_round_trip_and_reject_others() -> None:
    name = alarms.alarm_name("autoremediation", "i-0abc1234def567890", "StatusCheckFailed_System")
    assert name == "autoremediation-i-0abc1234def567890-StatusCheckFailed_System"
    assert alarms.parse_alarm_name("autoremediation", name) == ("i-0abc1234def567890", "StatusCheckFailed_System")
    assert alarms.parse_alarm_name("autoremediation", "someone-else-i-0abc1234def567890-CPUUtilization") is None
    assert alarms.parse_alarm_name("autoremediation", "rds-prod-cpu") is None
    assert alarms.parse_alarm_name("autoremediation", "autoremediation-i-XYZ-CPUUtilization") is None


def test_recover_action_uses_the_partition() -> None:
    target = alarms.Target("i-0abc1234def567890", recover=True, instance_store=False)
    defs = alarms.definitions(
        prefix="p",
        target=target,
        partition="aws-cn",
        region="cn-north-1",
        topic_arn="arn:aws-cn:sns:cn-north-1:123456789012:t",
        options=OPTIONS,
    )
    system = next(d for d in defs if d["MetricName"] == "StatusCheckFailed_System")
    assert system["AlarmActions"] == [
        "arn:aws-cn:sns:cn-north-1:123456789012:t",
        "arn:aws-cn:automate:cn-north-1:ec2:recover",
    ]
    assert [d["MetricName"] for d in defs if "recover" in str(d["AlarmActions"])] == ["StatusCheckFailed_System"]


def test_only_enabled_metric_alarms_are_defined() -> None:
    target = alarms.Target("i-0abc1234def567890", recover=False, instance_store=True)
    defs = alarms.definitions(
        prefix="p",
        target=target,
        partition="aws",
        region="us-east-1",
        topic_arn="arn:t",
        options={**OPTIONS, "metric_alarms": ["disk"]},
    )
    assert [d["MetricName"] for d in defs] == [
        "StatusCheckFailed_System",
        "StatusCheckFailed_Instance",
        "DiskReadOps",
        "DiskWriteOps",
    ]


def test_drift_detection_ignores_order_and_number_types() -> None:
    target = alarms.Target("i-0abc1234def567890", recover=True, instance_store=False)
    wanted = alarms.definitions(
        prefix="p", target=target, partition="aws", region="us-east-1", topic_arn="arn:t", options=OPTIONS
    )[0]
    same = {**wanted, "AlarmActions": list(reversed(wanted["AlarmActions"])), "Threshold": 1}
    assert alarms.drifted(same, wanted) == []
    assert alarms.drifted({**wanted, "AlarmActions": ["arn:t"]}, wanted) == ["AlarmActions"]


def test_alarm_event_model_reads_the_documented_fields() -> None:
    event = AlarmStateChange.parse(load_event("cloudwatch/alarm_system_check_alarm"))
    assert event.alarm_name == "autoremediation-i-0abc1234def567890-StatusCheckFailed_System"
    assert (event.state, event.previous_state) == ("ALARM", "OK")
    assert (event.namespace, event.metric_name) == ("AWS/EC2", "StatusCheckFailed_System")
    assert event.dimensions == {"InstanceId": "i-0abc1234def567890"}
    assert event.partition == "aws"
    assert event.changed_at == datetime(2024, 5, 14, 9, 11, 12, 883000, tzinfo=UTC)


def test_alarm_event_with_unknown_state_is_invalid() -> None:
    event = load_event("cloudwatch/alarm_instance_check_alarm")
    event["detail"]["state"]["value"] = "BROKEN"
    with pytest.raises(InvalidEvent, match=r"detail.state.value"):
        AlarmStateChange.parse(event)


def test_health_event_model_validates_instance_ids() -> None:
    event = HealthEc2Event.parse(load_event("health/ec2_scheduled_retirement"))
    assert event.instance_ids == ("i-0abc1234def567890",)
    assert event.start_time == datetime(2024, 5, 28, tzinfo=UTC)
    bad = load_event("health/ec2_auto_recovery_failure")
    bad["detail"]["affectedEntities"][0]["entityValue"] = "i-0abc; rm -rf /"
    with pytest.raises(InvalidEvent, match=r"detail.affectedEntities\[0\].entityValue"):
        HealthEc2Event.parse(bad)


@pytest.fixture
def table(aws: None) -> Settings:
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="incidents",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return Settings(
        playbook="health",
        mode="enforce",
        stack_name="s",
        name_prefix="autoremediation",
        protected_tag_key="AutoRemediation",
        protected_tag_value="skip",
        principal_allow_list=(),
        incident_table="incidents",
        evidence_bucket="b",
        topic_arn="arn:aws:sns:us-east-1:1:t",
    )


def test_attempts_count_only_within_the_window(table: Settings) -> None:
    start = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    counts = [
        store.record_attempt(table, "i-0abc1234def567890", "reboot", 3600, at=start + timedelta(minutes=m))
        for m in (0, 20, 50, 90)
    ]
    assert counts == [1, 2, 3, 2]  # at 90 min the first two fell out of the hour
    assert store.recent_attempts(table, "i-0abc1234def567890", "reboot", 3600, at=start + timedelta(minutes=95)) == 2
    assert store.recent_attempts(table, "i-0abc1234def567890", "stop_start", 3600) == 0


def test_attempt_write_is_conditional_on_the_version(table: Settings, monkeypatch: Any) -> None:
    """A concurrent writer between read and write makes the first try fail; the retry keeps both."""
    real_put = store.clients.dynamodb().put_item
    raced = {"done": False}

    def racing_put(**kwargs: Any) -> Any:
        if not raced["done"]:
            raced["done"] = True
            store.record_attempt(table, "i-0abc1234def567890", "reboot", 3600)  # the other invocation
        return real_put(**kwargs)

    monkeypatch.setattr(store.clients.dynamodb(), "put_item", racing_put)
    assert store.record_attempt(table, "i-0abc1234def567890", "reboot", 3600) == 2


def test_open_incident_closes_exactly_once(table: Settings) -> None:
    store.open_incident(table, "i-0abc1234def567890", "StatusCheckFailed_Instance", "health-1")
    assert store.claim_open_incident(table, "i-0abc1234def567890", "StatusCheckFailed_Instance") == "health-1"
    assert store.claim_open_incident(table, "i-0abc1234def567890", "StatusCheckFailed_Instance") is None
