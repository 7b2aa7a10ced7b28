"""Alarm lifecycle: the monitored instances' alarms follow the instances (real function, simulated account)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3

import gameday
from gameday.seeders.health import launch_instance, running_event
from tests.conftest import load_event

REGION = "us-east-1"
PLACEHOLDER = "i-0abc1234def567890"


def alarms(prefix: str = "autoremediation-i-") -> dict[str, dict[str, Any]]:
    found = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


def lifecycle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    found = [e for e in entries if e["playbook"] == "alarm_lifecycle"]
    assert len(found) == 1, entries
    assert "error" not in found[0], found[0].get("error")
    return dict(found[0]["result"])


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),  # every scheduled run is its own event
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-05-15T03:17:00Z",
        "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/AutoRemediation-AlarmLifecycleReconcile"],
        "detail": {},
    }


def test_running_tagged_instance_gets_exactly_its_alarms(sim: Any) -> None:
    instance_id = launch_instance()
    topic = sim.resource("CoreNotifications").ref

    result = lifecycle(gameday.dispatch(running_event(instance_id)))

    assert [(s["action"], s["status"]) for s in result["steps"]] == [
        ("inspect_instance_health", "succeeded"),
        ("put_instance_alarms", "succeeded"),
    ]
    found = alarms()
    name = f"autoremediation-{instance_id}-"
    assert sorted(found) == sorted(
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
    expected = {
        # metric: (statistic, period, evaluations, threshold, operator, missing data, actions)
        "StatusCheckFailed_System": (
            "Maximum",
            60,
            2,
            1.0,
            "GreaterThanOrEqualToThreshold",
            "missing",
            [topic, f"arn:aws:automate:{REGION}:ec2:recover"],
        ),
        "StatusCheckFailed_Instance": ("Maximum", 60, 2, 1.0, "GreaterThanOrEqualToThreshold", "missing", [topic]),
        "CPUUtilization": ("Average", 300, 3, 90.0, "GreaterThanThreshold", "notBreaching", [topic]),
        "EBSReadOps": ("Sum", 300, 3, 300000.0, "GreaterThanThreshold", "notBreaching", [topic]),
        "EBSWriteOps": ("Sum", 300, 3, 300000.0, "GreaterThanThreshold", "notBreaching", [topic]),
        "NetworkIn": ("Sum", 300, 3, 5e9, "GreaterThanThreshold", "notBreaching", [topic]),
        "NetworkOut": ("Sum", 300, 3, 5e9, "GreaterThanThreshold", "notBreaching", [topic]),
    }
    for metric, (stat, period, evaluations, threshold, operator, missing, actions) in expected.items():
        got = found[name + metric]
        assert got["Namespace"] == "AWS/EC2" and got["MetricName"] == metric
        assert got["Dimensions"] == [{"Name": "InstanceId", "Value": instance_id}]
        assert (got["Statistic"], got["Period"], got["EvaluationPeriods"], got["Threshold"]) == (
            stat,
            period,
            evaluations,
            threshold,
        )
        assert (got["ComparisonOperator"], got["TreatMissingData"]) == (operator, missing)
        assert sorted(got["AlarmActions"]) == sorted(actions), metric
    # Idempotent: a second start changes nothing.
    again = lifecycle(gameday.dispatch(running_event(instance_id)))
    assert again["steps"][-1]["status"] == "already_done"
    assert sorted(alarms()) == sorted(found)


def test_untagged_instance_gets_no_alarms(sim: Any) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    result = lifecycle(gameday.dispatch(running_event(instance_id)))

    assert result["decision"] == "skipped"
    assert alarms() == {}


def test_instance_store_instance_watches_disk_ops_and_gets_no_recover_action(sim: Any) -> None:
    instance_id = launch_instance(instance_type="m5d.large")

    lifecycle(gameday.dispatch(running_event(instance_id)))

    found = alarms()
    assert f"autoremediation-{instance_id}-DiskReadOps" in found
    assert f"autoremediation-{instance_id}-DiskWriteOps" in found
    assert f"autoremediation-{instance_id}-EBSReadOps" not in found
    system = found[f"autoremediation-{instance_id}-StatusCheckFailed_System"]
    assert system["AlarmActions"] == [sim.resource("CoreNotifications").ref]


def test_terminated_instance_loses_its_alarms(sim: Any) -> None:
    keep, gone = launch_instance(), launch_instance()
    for instance_id in (keep, gone):
        gameday.dispatch(running_event(instance_id))
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[gone])

    result = lifecycle(gameday.dispatch(load_event("ec2/instance_terminated", **{PLACEHOLDER: gone})))

    assert result["steps"][-1]["action"] == "delete_instance_alarms"
    assert all(name.startswith(f"autoremediation-{keep}-") for name in alarms())
    assert len(alarms()) == 7


def test_reconcile_repairs_drift(sim: Any) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION)
    tracked = launch_instance()
    gameday.dispatch(running_event(tracked))
    missed = launch_instance()  # its running event was lost
    cpu = f"autoremediation-{tracked}-CPUUtilization"
    cw.put_metric_alarm(**{**_definition(cpu), "Threshold": 99.0})  # someone edited it by hand
    orphan = "autoremediation-i-0123456789abcdef0-CPUUtilization"  # instance long gone
    cw.put_metric_alarm(**{**_definition(cpu), "AlarmName": orphan})
    foreign = "someone-else-i-0123456789abcdef0-CPUUtilization"
    cw.put_metric_alarm(**{**_definition(cpu), "AlarmName": foreign})
    function = next(f for f in sim.functions if f.startswith("AlarmLifecycleFunction"))
    gameday.notifications()

    entry = sim.invoke(function, scheduled_event())

    result = entry["result"]
    assert result["decision"] == "acted" and result["reason"] == "alarm drift repaired"
    found = alarms()
    assert found[cpu]["Threshold"] == 90.0
    assert len([n for n in found if n.startswith(f"autoremediation-{missed}-")]) == 7
    assert orphan not in found
    assert foreign in alarms("someone-else-")
    assert len(gameday.notifications()) == 1
    # A second reconcile finds nothing to do and stays quiet.
    quiet = sim.invoke(function, scheduled_event())["result"]
    assert quiet["steps"][0]["status"] == "already_done"
    assert gameday.notifications() == []


def _definition(name: str) -> dict[str, Any]:
    found = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    keys = (
        "AlarmName",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "AlarmActions",
    )
    return {k: found[k] for k in keys}
