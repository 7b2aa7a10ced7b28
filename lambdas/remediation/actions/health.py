"""EC2 health actions: reboot, stop/start, Auto Scaling health, and the recover alarm action.

Every action reads the instance's state before it acts and re-reads it after: a reboot is
never sent to a stopped instance, and a stop/start that does not end in `running` fails.
Stop and terminate require the instance's configuration to be in the evidence bucket first.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from remediation import instances, store
from remediation.actions.base import ActionFailed, NotApplicable, Outcome, Permission, action
from remediation.alarms import recover_action
from remediation.events import now

if TYPE_CHECKING:
    from remediation.engine import Run

INSTANCES = ("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*",)
GROUPS = (
    "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*",
)
ALARMS = ("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${NamePrefix}-i-*",)
DESCRIBE = Permission(("ec2:DescribeInstances",))
POLL_SECONDS = 5.0


def _wait_for(run: Run, instance_id: str, wanted: set[str], timeout: float) -> str:
    """Poll the instance's state until it is one of `wanted` or the timeout passes; return the last state."""
    from remediation import engine

    deadline = time.monotonic() + timeout
    current = instances.state(instance_id)
    while current not in wanted and time.monotonic() < deadline:
        engine.sleep(POLL_SECONDS)
        current = instances.state(instance_id)
    return current


@action(
    "inspect_instance_health",
    permissions=(
        Permission(("ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "autoscaling:DescribeAutoScalingInstances")),
    ),
    description="read the instance's state, tags, storage, Auto Scaling group and recovery support",
    mutating=False,
    repeatable=True,
)
def inspect_instance_health(run: Run, *, instance_id: str) -> Outcome:
    info = instances.describe(instance_id)
    if info is None:
        raise NotApplicable(f"instance {instance_id} no longer exists")
    detail = f"{info['state']}, {info['instance_type']}, {info['root_device_type']} root" + (
        f", in Auto Scaling group {info['auto_scaling_group']}" if info["auto_scaling_group"] else ""
    )
    return Outcome(detail=detail, after=info, data={"instance": info})


@action(
    "confirm_recover_action",
    permissions=(Permission(("cloudwatch:DescribeAlarms",), ALARMS),),
    description="confirm the system-check alarm carries the native recover action (CloudWatch recovers)",
    mutating=False,
    repeatable=True,
)
def confirm_recover_action(run: Run, *, alarm_name: str, partition: str, region: str) -> Outcome:
    found = instances.cloudwatch().describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm"])
    alarms = found.get("MetricAlarms", [])
    wanted = recover_action(partition, region)
    if not alarms:
        raise NotApplicable(f"alarm {alarm_name} does not exist")
    actions = alarms[0].get("AlarmActions", [])
    if wanted not in actions or not alarms[0].get("ActionsEnabled", True):
        raise NotApplicable(f"alarm {alarm_name} has no enabled recover action")
    return Outcome(
        detail=f"alarm action {wanted} recovers the instance onto healthy hardware",
        after={"alarm": alarm_name, "actions": actions},
        data={"recover_armed": True},
    )


@action(
    "reboot_instance",
    permissions=(Permission(("ec2:RebootInstances",), INSTANCES), DESCRIBE),
    description="reboot the instance (instance status check failed: the OS is impaired)",
    containment=True,
)
def reboot_instance(run: Run, *, instance_id: str) -> Outcome:
    before = instances.state(instance_id)
    if before != "running":
        raise NotApplicable(f"instance is {before}: a reboot needs a running instance")
    instances.ec2().reboot_instances(InstanceIds=[instance_id])
    after = instances.state(instance_id)
    if after not in ("running", "pending"):
        raise ActionFailed(f"instance is {after} after the reboot request")
    return Outcome(detail="reboot requested; instance still running (verified)", before=before, after=after)


@action(
    "stop_start_instance",
    permissions=(Permission(("ec2:StopInstances", "ec2:StartInstances"), INSTANCES), DESCRIBE),
    description="stop and start the EBS-backed instance, which moves it to new hardware",
    containment=True,
)
def stop_start_instance(run: Run, *, instance_id: str, ebs_backed: bool, timeout: float) -> Outcome:
    if not ebs_backed:
        raise NotApplicable("instance-store backed instances cannot be stopped and started")
    before = instances.state(instance_id)
    if before not in ("running", "stopped", "stopping"):
        raise NotApplicable(f"instance is {before}: not stopping and starting it")
    ec2 = instances.ec2()
    if before == "running":
        ec2.stop_instances(InstanceIds=[instance_id])
    stopped = _wait_for(run, instance_id, {"stopped"}, timeout / 2)
    forced = False
    if stopped != "stopped":
        # Impaired hardware can hang a clean stop: force it (like the console's "Force stop").
        ec2.stop_instances(InstanceIds=[instance_id], Force=True)
        forced = True
        stopped = _wait_for(run, instance_id, {"stopped"}, timeout / 2)
    if stopped != "stopped":
        raise ActionFailed(f"instance did not stop within {timeout:g} s (state {stopped})", code="StopTimeout")
    ec2.start_instances(InstanceIds=[instance_id])
    after = _wait_for(run, instance_id, {"running"}, timeout / 2)
    if after != "running":
        raise ActionFailed(f"instance is {after} after start (expected running)", code="StartTimeout")
    return Outcome(
        detail=f"{before} -> stopped{' (forced)' if forced else ''} -> running (verified)", before=before, after=after
    )


@action(
    "mark_unhealthy",
    permissions=(
        Permission(("autoscaling:SetInstanceHealth",), GROUPS),
        Permission(("autoscaling:DescribeAutoScalingInstances",)),
    ),
    description="mark the instance Unhealthy so its Auto Scaling group replaces it",
    containment=True,
)
def mark_unhealthy(run: Run, *, instance_id: str, group: str) -> Outcome:
    asg = instances.autoscaling()
    asg.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    found = asg.describe_auto_scaling_instances(InstanceIds=[instance_id]).get("AutoScalingInstances", [])
    health = found[0]["HealthStatus"].upper() if found else "GONE"
    if health not in ("UNHEALTHY", "GONE"):
        raise ActionFailed(f"instance health is {health} after marking it Unhealthy")
    return Outcome(detail=f"marked Unhealthy in {group}: the group replaces it", before="HEALTHY", after=health)


@action(
    "capture_instance_config",
    permissions=(Permission(("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces")),),
    description="write the instance's configuration (tags, volumes, network) to the evidence bucket",
    mutating=False,
    repeatable=True,
)
def capture_instance_config(run: Run, *, instance_id: str) -> Outcome:
    instance = instances.raw(instance_id)
    if instance is None:
        raise NotApplicable(f"instance {instance_id} no longer exists")
    ec2 = instances.ec2()
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"] if volume_ids else []
    eni_ids = [n["NetworkInterfaceId"] for n in instance.get("NetworkInterfaces", [])]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"] if eni_ids else []
    doc: dict[str, Any] = {"instance": instance, "volumes": volumes, "network_interfaces": enis, "captured_at": now()}
    key = store.put_evidence(run.settings, run.incident_id, "instance-configuration", doc)
    return Outcome(
        detail=f"{len(volumes)} volume(s), {len(enis)} interface(s) -> {key}", data={"instance_config_key": key}
    )


def _require_evidence(run: Run) -> None:
    if not run.state.get("instance_config_key"):
        raise NotApplicable("the instance's configuration was not captured: refusing to stop or terminate it")


@action(
    "stop_impaired_instance",
    permissions=(Permission(("ec2:StopInstances",), INSTANCES), DESCRIBE),
    description="stop the impaired instance (configured action; configuration captured first)",
    destructive=True,
    containment=True,
)
def stop_impaired_instance(run: Run, *, instance_id: str, timeout: float) -> Outcome:
    _require_evidence(run)
    before = instances.state(instance_id)
    if before in ("stopped", "stopping"):
        return Outcome(status="already_done", detail=f"instance already {before}", before=before, after=before)
    instances.ec2().stop_instances(InstanceIds=[instance_id])
    after = _wait_for(run, instance_id, {"stopped"}, timeout)
    if after not in ("stopped", "stopping"):
        raise ActionFailed(f"instance is {after} after the stop request")
    return Outcome(detail=f"{before} -> {after} (verified)", before=before, after=after)


@action(
    "terminate_impaired_instance",
    permissions=(Permission(("ec2:TerminateInstances",), INSTANCES), DESCRIBE),
    description="terminate the impaired instance (only when configured; configuration captured first)",
    destructive=True,
    containment=True,
)
def terminate_impaired_instance(run: Run, *, instance_id: str) -> Outcome:
    _require_evidence(run)
    before = instances.state(instance_id)
    if before in ("shutting-down", "terminated", "gone"):
        return Outcome(status="already_done", detail=f"instance already {before}", before=before, after=before)
    instances.ec2().terminate_instances(InstanceIds=[instance_id])
    after = instances.state(instance_id)
    if after not in ("shutting-down", "terminated", "gone"):
        raise ActionFailed(f"instance is {after} after the terminate request")
    return Outcome(detail=f"{before} -> {after} (verified)", before=before, after=after)
