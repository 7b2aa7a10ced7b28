"""EC2 health: real-format alarm and AWS Health events routed through the synthesized rules.

GIVEN an instance (and its alarms, created by the alarm-lifecycle function) in the
simulated account, WHEN the alarm's state-change event is dispatched, THEN the instance,
the alarm, the incident table and the notifications show what the playbook did.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

import gameday
from gameday.seeders.health import launch_instance, running_event, seed_alarm_event
from tests.conftest import load_event

PLACEHOLDER = "i-0abc1234def567890"
REGION = "us-east-1"


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def state(instance_id: str) -> str:
    return str(ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def monitored(instance_type: str = "t3.micro", tags: dict[str, str] | None = None, overrides: Any = None) -> str:
    """An instance with its alarms, created through the real lifecycle function."""
    instance_id = launch_instance(tags, instance_type)
    gameday.dispatch(running_event(instance_id), overrides=overrides)
    return instance_id


def event_for(name: str, instance_id: str) -> dict[str, Any]:
    return load_event(name, **{PLACEHOLDER: instance_id})


def health_result(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The health function's result among the dispatch entries (exactly one)."""
    found = [e for e in entries if e["playbook"] == "health"]
    assert len(found) == 1, entries
    assert "error" not in found[0], found[0].get("error")
    return dict(found[0]["result"])


def steps(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["action"], s["status"]) for s in result["steps"]]


def incident(sim: Any, incident_id: str) -> dict[str, Any]:
    table = sim.resource("CoreIncidents").ref
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table, Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}}
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def alarm(instance_id: str, metric: str) -> dict[str, Any]:
    name = f"autoremediation-{instance_id}-{metric}"
    found = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert found, f"alarm {name} missing"
    return dict(found[0])


# --------------------------------------------------------------------------- system check


def test_system_check_on_supported_instance_relies_on_the_recover_action(sim: Any) -> None:
    instance_id = monitored("t3.micro")
    gameday.notifications()

    result = health_result(gameday.dispatch(event_for("cloudwatch/alarm_system_check_alarm", instance_id)))

    assert f"arn:aws:automate:{REGION}:ec2:recover" in alarm(instance_id, "StatusCheckFailed_System")["AlarmActions"]
    assert result["decision"] == "acted"
    assert steps(result) == [("inspect_instance_health", "succeeded"), ("confirm_recover_action", "succeeded")]
    assert state(instance_id) == "running"
    recorded = incident(sim, result["incident_id"])
    assert recorded["status"] == "contained"
    assert json.loads(recorded["subject"])["instance_id"] == instance_id
    assert any("StatusCheckFailed_System" in n["subject"] for n in gameday.notifications())


def test_system_check_on_unsupported_instance_stops_and_starts(sim: Any) -> None:
    instance_id = monitored("m5d.large")  # instance store: no automatic recovery

    result = health_result(gameday.dispatch(event_for("cloudwatch/alarm_system_check_alarm", instance_id)))

    assert (
        f"arn:aws:automate:{REGION}:ec2:recover" not in alarm(instance_id, "StatusCheckFailed_System")["AlarmActions"]
    )
    assert ("stop_start_instance", "succeeded") in steps(result)
    assert "native recovery not possible" in result["reason"]
    stop_start = next(s for s in result["steps"] if s["action"] == "stop_start_instance")
    assert stop_start["detail"].startswith("running -> stopped -> running")
    assert state(instance_id) == "running"


@pytest.mark.parametrize("fixture", ["health/ec2_auto_recovery_failure", "health/ec2_simplified_auto_recovery_failure"])
def test_failed_automatic_recovery_falls_back_to_stop_start(sim: Any, fixture: str) -> None:
    instance_id = monitored("t3.micro")

    result = health_result(gameday.dispatch(event_for(fixture, instance_id)))

    assert steps(result) == [("inspect_instance_health", "succeeded"), ("stop_start_instance", "succeeded")]
    assert "automatic recovery failed" in result["reason"]
    assert state(instance_id) == "running"


def test_scheduled_retirement_notifies_by_default(sim: Any) -> None:
    instance_id = monitored("t3.micro")

    result = health_result(gameday.dispatch(event_for("health/ec2_scheduled_retirement", instance_id)))

    assert result["decision"] == "notified"
    assert "scheduled retirement" in result["reason"]
    assert result["steps"] == []


# --------------------------------------------------------------------------- instance check


def test_instance_check_reboots_then_escalates_to_stop_start_then_a_person(sim: Any) -> None:
    instance_id = monitored("t3.micro")
    # Each failure is a new alarm state change: a new event (a re-delivery would be ignored).
    path = [
        health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id)))
        for _ in range(4)
    ]

    actions = [[a for a, status in steps(r) if a != "inspect_instance_health" and status == "succeeded"] for r in path]
    assert actions == [["reboot_instance"], ["reboot_instance"], ["stop_start_instance"], []]
    assert path[1]["reason"].startswith("reboot 2 of 2")
    assert path[2]["reason"].startswith("persistent failure: 2 reboot(s)")
    assert path[3]["decision"] == "notified" and "needs a person" in path[3]["reason"]
    assert state(instance_id) == "running"


def test_auto_scaling_instance_is_marked_unhealthy_not_rebooted(sim: Any) -> None:
    client = ec2()
    image = next(
        i["ImageId"] for i in client.describe_images(Owners=["amazon"])["Images"] if i.get("RootDeviceType") == "ebs"
    )
    template = {"ImageId": image, "InstanceType": "t3.micro"}
    client.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=template)
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web-lt"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    instance_id = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]

    result = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id)))

    assert steps(result) == [("inspect_instance_health", "succeeded"), ("mark_unhealthy", "succeeded")]
    health = asg.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"][0]
    assert health["HealthStatus"].upper() == "UNHEALTHY"
    assert state(instance_id) == "running"


def test_protected_instance_is_watched_but_not_touched(sim: Any) -> None:
    instance_id = monitored("t3.micro", tags={"AutoRemediation": "skip"})

    result = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id)))
    system = health_result(gameday.dispatch(event_for("cloudwatch/alarm_system_check_alarm", instance_id)))

    assert result["decision"] == "notified" and "protected" in result["reason"]
    assert steps(result) == [("inspect_instance_health", "succeeded")]
    assert system["decision"] == "notified"
    # Watched: it has its alarms, but the system check carries no recover action.
    assert alarm(instance_id, "StatusCheckFailed_System")["AlarmActions"] == [sim.resource("CoreNotifications").ref]
    assert state(instance_id) == "running"


def test_stopped_instance_is_not_rebooted(sim: Any) -> None:
    instance_id = monitored("t3.micro")
    ec2().stop_instances(InstanceIds=[instance_id])

    result = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id)))

    assert result["decision"] == "notified"
    assert "instance is stopped" in result["reason"]
    assert state(instance_id) == "stopped"


# --------------------------------------------------------------------------- transitions and routing


def test_ok_closes_the_incident_and_notifies_recovery(sim: Any) -> None:
    instance_id = monitored("t3.micro")
    opened = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id)))
    gameday.notifications()

    closed = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_ok", instance_id)))
    again = health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_ok", instance_id)))

    assert closed["decision"] == "resolved"
    assert closed["incident_id"] == opened["incident_id"]
    assert incident(sim, opened["incident_id"])["status"] == "resolved"
    assert [n["subject"] for n in gameday.notifications()] == [
        f"[health] recovered: StatusCheckFailed_Instance OK on {instance_id}"
    ]
    assert again["decision"] == "skipped"  # closed exactly once


@pytest.mark.parametrize("fixture", ["cloudwatch/alarm_cpu_alarm", "cloudwatch/alarm_network_in_alarm"])
def test_metric_alarms_only_notify(sim: Any, fixture: str) -> None:
    instance_id = monitored("t3.micro")
    gameday.notifications()

    result = health_result(gameday.dispatch(event_for(fixture, instance_id)))

    assert result["decision"] == "notified"
    assert result["reason"] == "metric alarms only notify"
    assert result["steps"] == []
    assert state(instance_id) == "running"
    assert len(gameday.notifications()) == 1


@pytest.mark.parametrize(
    "fixture",
    ["cloudwatch/alarm_rds_cpu", "cloudwatch/alarm_foreign_prefix", "cloudwatch/alarm_instance_check_insufficient"],
)
def test_foreign_rds_and_insufficient_data_alarms_route_nowhere(sim: Any, fixture: str) -> None:
    instance_id = monitored("t3.micro")

    assert gameday.dispatch(event_for(fixture, instance_id)) == []
    assert state(instance_id) == "running"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("cloudwatch/alarm_foreign_prefix", "is not one of this stack's instance alarms"),
        ("cloudwatch/alarm_rds_cpu", "is not one of this stack's instance alarms"),
        ("cloudwatch/alarm_instance_check_insufficient", "INSUFFICIENT_DATA"),
    ],
)
def test_handler_ignores_what_the_rule_would_not_route(sim: Any, fixture: str, reason: str) -> None:
    """Defence in depth: invoked directly, the handler still changes nothing."""
    instance_id = monitored("t3.micro")
    function = next(f for f in sim.functions if f.startswith("HealthFunction"))

    entry = sim.invoke(function, event_for(fixture, instance_id))

    assert entry["result"]["decision"] == "skipped"
    assert reason in entry["result"]["reason"]
    assert state(instance_id) == "running"


def test_replay_seeder_rewrites_the_event_and_creates_the_alarms(sim: Any) -> None:
    event = seed_alarm_event(load_event("cloudwatch/alarm_instance_check_alarm"))

    instance_id = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"]
    assert instance_id != PLACEHOLDER and PLACEHOLDER not in json.dumps(event)
    assert event["detail"]["alarmName"] == f"autoremediation-{instance_id}-StatusCheckFailed_Instance"
    assert alarm(instance_id, "StatusCheckFailed_Instance")["Dimensions"] == [
        {"Name": "InstanceId", "Value": instance_id}
    ]
    first = health_result(gameday.dispatch(event))
    assert ("reboot_instance", "succeeded") in steps(first)


# --------------------------------------------------------------------------- configured terminate

TERMINATE = {"health.instanceCheckAction": "terminate"}


def test_terminate_records_the_configuration_first(aws: None) -> None:
    sim = gameday.simulation(TERMINATE)
    instance_id = monitored("t3.micro", overrides=TERMINATE)

    result = health_result(
        gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id), overrides=TERMINATE)
    )

    assert steps(result) == [
        ("inspect_instance_health", "succeeded"),
        ("capture_instance_config", "succeeded"),
        ("terminate_impaired_instance", "succeeded"),
    ]
    assert state(instance_id) in ("shutting-down", "terminated")
    bucket = sim.resource("CoreEvidence").ref
    key = f"incidents/{result['incident_id']}/instance-configuration.json"
    doc = json.loads(boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read())
    assert doc["instance"]["InstanceId"] == instance_id
    assert {"Key": "AutoRemediationMonitor", "Value": "true"} in doc["instance"]["Tags"]
    assert doc["volumes"] and doc["network_interfaces"]


def test_terminate_never_touches_a_protected_instance(aws: None) -> None:
    gameday.simulation(TERMINATE)
    instance_id = monitored("t3.micro", tags={"AutoRemediation": "skip"}, overrides=TERMINATE)

    result = health_result(
        gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id), overrides=TERMINATE)
    )

    assert result["decision"] == "notified"
    assert state(instance_id) == "running"


def test_dry_run_plans_without_acting_or_counting(aws: None) -> None:
    dry = {"health.mode": "dry_run"}
    gameday.simulation(dry)
    instance_id = monitored("t3.micro", overrides=dry)
    path = [
        health_result(gameday.dispatch(event_for("cloudwatch/alarm_instance_check_alarm", instance_id), overrides=dry))
        for _ in range(3)
    ]

    assert [r["decision"] for r in path] == ["dry_run"] * 3
    assert all(steps(r) == [("inspect_instance_health", "succeeded"), ("reboot_instance", "planned")] for r in path)
    assert state(instance_id) == "running"
