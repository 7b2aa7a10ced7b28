"""What the health and alarm-lifecycle playbooks need to know about one EC2 instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from remediation import clients

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client

ASG_TAG = "aws:autoscaling:groupName"


def ec2() -> EC2Client:
    return clients.client("ec2")


def cloudwatch() -> CloudWatchClient:
    return clients.client("cloudwatch")


def autoscaling() -> AutoScalingClient:
    return clients.client("autoscaling")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def raw(instance_id: str) -> dict[str, Any] | None:
    """DescribeInstances of one instance, or None when EC2 no longer knows it."""
    try:
        reservations = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if error_code(exc) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return None
        raise
    found = [i for r in reservations for i in r["Instances"] if i["InstanceId"] == instance_id]
    return dict(found[0]) if found else None


def state(instance_id: str) -> str:
    found = raw(instance_id)
    return str(found["State"]["Name"]) if found else "gone"


def auto_scaling_group(instance_id: str, tags: dict[str, str]) -> str:
    """The instance's Auto Scaling group ('' when none): the group API is authoritative, the tag a hint."""
    found = autoscaling().describe_auto_scaling_instances(InstanceIds=[instance_id]).get("AutoScalingInstances", [])
    if found:
        return str(found[0]["AutoScalingGroupName"])
    return tags.get(ASG_TAG, "")


def describe(instance_id: str) -> dict[str, Any] | None:
    """Facts that decide what may be done to the instance (JSON-serializable)."""
    instance = raw(instance_id)
    if instance is None:
        return None
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    instance_type = instance.get("InstanceType", "")
    type_info: dict[str, Any] = {}
    if instance_type:
        types = ec2().describe_instance_types(InstanceTypes=[instance_type]).get("InstanceTypes", [])
        type_info = dict(types[0]) if types else {}
    root_device_type = instance.get("RootDeviceType", "ebs")
    ebs_backed = root_device_type == "ebs"
    instance_store = bool(type_info.get("InstanceStorageSupported", False)) or any(
        "Ebs" not in m for m in instance.get("BlockDeviceMappings", [])
    )
    group = auto_scaling_group(instance_id, tags)
    spot = instance.get("InstanceLifecycle") == "spot"
    type_supported = bool(type_info.get("AutoRecoverySupported", False))
    reasons = []
    if not type_supported:
        reasons.append(f"instance type {instance_type} does not support auto recovery")
    if not ebs_backed or instance_store:
        reasons.append("the instance has instance-store storage")
    if group:
        reasons.append(f"the instance belongs to Auto Scaling group {group}")
    if spot:
        reasons.append("Spot instances cannot be recovered")
    return {
        "instance_id": instance_id,
        "state": instance["State"]["Name"],
        "instance_type": instance_type,
        "tags": tags,
        "root_device_type": root_device_type,
        "ebs_backed": ebs_backed,
        "instance_store": instance_store,
        "auto_scaling_group": group,
        "recovery_supported": not reasons,
        "recovery_unsupported_because": "; ".join(reasons),
        "volumes": [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m],
    }
