"""Seed the simulated account for a replayed CloudWatch alarm (or AWS Health EC2) event.

`seed_alarm_event(event)` runs inside an active moto `mock_aws()`: it launches an
EBS-backed instance of a type that supports automatic recovery, tagged for monitoring,
creates its alarms by routing an EC2 `running` state change through the synthesized rules
to the real alarm-lifecycle function, and returns the event with the instance id rewritten
to the simulated one. Dispatching the returned event again and again shows the instance's
path: reboot, reboot, then stop/start (escalation), then a hand-over to a person.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

from gameday import account

INSTANCE_ID = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?")
INSTANCE_TYPE = "t3.micro"  # AutoRecoverySupported, EBS-only
MONITOR_TAG = ("AutoRemediationMonitor", "true")


def _named_instance(event: dict[str, Any]) -> str:
    detail = event.get("detail", {})
    for text in (
        detail.get("alarmName", ""),
        json.dumps(detail.get("affectedEntities", [])),
        json.dumps(event.get("resources", [])),
    ):
        found = INSTANCE_ID.search(str(text))
        if found:
            return found.group(0)
    raise ValueError("the event names no EC2 instance id")


def launch_instance(tags: dict[str, str] | None = None, instance_type: str = INSTANCE_TYPE) -> str:
    """An EBS-backed instance in the simulated account, tagged for monitoring (plus `tags`)."""
    ec2: Any = boto3.client("ec2", region_name=account.REGION)
    image = next(
        i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"] if i.get("RootDeviceType") == "ebs"
    )
    all_tags = {MONITOR_TAG[0]: MONITOR_TAG[1], **(tags or {})}
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}],
    )["Instances"][0]
    return str(instance["InstanceId"])


def running_event(instance_id: str) -> dict[str, Any]:
    """The EC2 state-change event EventBridge publishes when the instance starts."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": account.ACCOUNT,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "region": account.REGION,
        "resources": [f"arn:{account.PARTITION}:ec2:{account.REGION}:{account.ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": "running"},
    }


def seed_alarm_event(event: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create the instance the event names and its alarms; return the event rewritten to it."""
    import gameday

    placeholder = _named_instance(event)
    instance_id = launch_instance()
    gameday.dispatch(running_event(instance_id), overrides=overrides)  # the lifecycle function creates the alarms
    return dict(json.loads(json.dumps(copy.deepcopy(event)).replace(placeholder, instance_id)))
