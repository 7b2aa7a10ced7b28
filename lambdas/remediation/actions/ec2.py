"""EC2 actions of the instance-compromise playbook.

Order matters and is decided by the playbook: preserve (termination protection, keep
volumes, tag), evidence (snapshots, description, console output, flow logs), contain
(isolation security groups, Auto Scaling, target groups, Elastic IP, instance role), and
only after evidence succeeded the configured stop or terminate. Every step records the
state it changed, so `release` can put the instance back.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from remediation import clients, store
from remediation.actions.base import ActionFailed, NotApplicable, Outcome, Permission, action
from remediation.events import now

if TYPE_CHECKING:
    from remediation.engine import Run

ARN = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
INSTANCES = (f"{ARN}:instance/*",)
VOLUMES = (f"{ARN}:volume/*",)
SNAPSHOTS = ("arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*",)
INTERFACES = (f"{ARN}:network-interface/*",)
GROUPS = (f"{ARN}:security-group/*",)
VPCS = (f"{ARN}:vpc/*",)
FLOW_LOGS = (f"{ARN}:vpc-flow-log/*",)
ELASTIC_IPS = (f"{ARN}:elastic-ip/*",)
AUTO_SCALING_GROUPS = ("arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*",)
TARGET_GROUPS = ("arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/*",)
INSTANCE_PROFILES = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/*",)
ROLES = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*",)
QUARANTINE_ROLE = ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-quarantined-instance",)

INCIDENT_TAG = "AutoRemediationIncident"
WORLD = ("0.0.0.0/0", "::/0")


def ec2() -> Any:
    return clients.client("ec2")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def isolation_group_name(run: Run, vpc_id: str) -> str:
    return f"{run.settings.name_prefix}-isolation-{vpc_id}"


def untrack_group_name(run: Run, vpc_id: str) -> str:
    return f"{run.settings.name_prefix}-isolation-untrack-{vpc_id}"


def describe(instance_id: str) -> dict[str, Any]:
    reservations = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"]
    found = [i for r in reservations for i in r["Instances"]]
    if not found:
        raise NotApplicable(f"instance {instance_id} not found")
    return dict(found[0])


@action(
    "inspect_instance",
    permissions=(
        Permission(("ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances")),
        Permission(("iam:GetInstanceProfile",), INSTANCE_PROFILES),
    ),
    description="read the instance's live state: tags, interfaces, volumes, Auto Scaling group, instance role",
    mutating=False,
    repeatable=True,
)
def inspect_instance(run: Run, *, instance_id: str) -> Outcome:
    info = describe(instance_id)
    tags = {t["Key"]: t["Value"] for t in info.get("Tags", [])}
    interfaces = [
        {
            "id": n["NetworkInterfaceId"],
            "vpc": n.get("VpcId", info.get("VpcId", "")),
            "groups": [g["GroupId"] for g in n.get("Groups", [])],
            "public_ip": n.get("Association", {}).get("PublicIp", ""),
        }
        for n in info.get("NetworkInterfaces", [])
    ]
    volumes = [m["Ebs"]["VolumeId"] for m in info.get("BlockDeviceMappings", []) if "Ebs" in m]
    groups = clients.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance_id])
    asg = next((g["AutoScalingGroupName"] for g in groups.get("AutoScalingInstances", [])), "")
    role = ""
    profile_arn = info.get("IamInstanceProfile", {}).get("Arn", "")
    if profile_arn:
        profile_name = profile_arn.rsplit("/", 1)[-1]
        try:
            profile = clients.iam().get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
            role = next((r["RoleName"] for r in profile.get("Roles", [])), "")
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    state = info.get("State", {}).get("Name", "")
    detail = f"{state}, {len(interfaces)} interface(s), {len(volumes)} volume(s)" + (f", ASG {asg}" if asg else "")
    data = {
        "instance": info,
        "tags": tags,
        "interfaces": interfaces,
        "volumes": volumes,
        "asg": asg,
        "role": role,
        "profile_arn": profile_arn,
    }
    return Outcome(detail=detail, data=data)


def _attribute(instance_id: str, name: str) -> Any:
    value = ec2().describe_instance_attribute(InstanceId=instance_id, Attribute=name)
    return value.get(name[0].upper() + name[1:], {}).get("Value")


def _delete_on_termination(instance_id: str) -> dict[str, bool]:
    return {
        m["DeviceName"]: bool(m["Ebs"].get("DeleteOnTermination"))
        for m in describe(instance_id).get("BlockDeviceMappings", [])
        if "Ebs" in m
    }


@action(
    "preserve_instance",
    permissions=(
        Permission(("ec2:ModifyInstanceAttribute",), INSTANCES),
        Permission(("ec2:DescribeInstanceAttribute",)),
    ),
    description="enable termination protection, set shutdown behaviour to stop, keep volumes on termination",
    repeatable=True,
)
def preserve_instance(run: Run, *, instance_id: str) -> Outcome:
    client = ec2()
    before = {
        "disableApiTermination": _attribute(instance_id, "disableApiTermination"),
        "instanceInitiatedShutdownBehavior": _attribute(instance_id, "instanceInitiatedShutdownBehavior"),
        "deleteOnTermination": _delete_on_termination(instance_id),
    }
    client.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
    client.modify_instance_attribute(InstanceId=instance_id, InstanceInitiatedShutdownBehavior={"Value": "stop"})
    keep = [
        {"DeviceName": d, "Ebs": {"DeleteOnTermination": False}} for d, v in before["deleteOnTermination"].items() if v
    ]
    if keep:
        client.modify_instance_attribute(InstanceId=instance_id, BlockDeviceMappings=keep)
    after = {
        "disableApiTermination": _attribute(instance_id, "disableApiTermination"),
        "instanceInitiatedShutdownBehavior": _attribute(instance_id, "instanceInitiatedShutdownBehavior"),
        "deleteOnTermination": _delete_on_termination(instance_id),
    }
    if (
        after["disableApiTermination"] is not True
        or after["instanceInitiatedShutdownBehavior"] != "stop"
        or any(after["deleteOnTermination"].values())
    ):
        raise ActionFailed(f"instance attributes did not take: {after}")
    status = "already_done" if before == after else "succeeded"
    return Outcome(
        status=status,
        detail="termination protection on, shutdown=stop, volumes kept (verified)",
        before=before,
        after=after,
    )


@action(
    "tag_incident",
    permissions=(Permission(("ec2:CreateTags",), (*INSTANCES, *VOLUMES)),),
    description="tag the instance and its volumes with the incident id",
    repeatable=True,
)
def tag_incident(run: Run, *, instance_id: str, volumes: list[str]) -> Outcome:
    ec2().create_tags(Resources=[instance_id, *volumes], Tags=[{"Key": INCIDENT_TAG, "Value": run.incident_id}])
    return Outcome(
        detail=f"{INCIDENT_TAG}={run.incident_id} on {1 + len(volumes)} resource(s)",
        after={"resources": [instance_id, *volumes]},
    )


@action(
    "snapshot_volumes",
    permissions=(
        Permission(("ec2:CreateSnapshot",), (*VOLUMES, *SNAPSHOTS)),
        Permission(("ec2:CreateTags",), SNAPSHOTS),
    ),
    description="snapshot every attached EBS volume, tagged with the incident",
)
def snapshot_volumes(run: Run, *, instance_id: str, volumes: list[str]) -> Outcome:
    """Snapshots are point-in-time when CreateSnapshot returns; completion is not awaited."""
    if not volumes:
        raise NotApplicable("no EBS volumes attached (instance-store only): nothing to snapshot")
    snapshots: dict[str, str] = {}
    for volume in volumes:
        snapshot = ec2().create_snapshot(
            VolumeId=volume,
            Description=f"Evidence of {run.incident_id}: {volume} of {instance_id}",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [
                        {"Key": INCIDENT_TAG, "Value": run.incident_id},
                        {"Key": "SourceInstance", "Value": instance_id},
                        {"Key": "SourceVolume", "Value": volume},
                    ],
                }
            ],
        )
        snapshots[volume] = snapshot["SnapshotId"]
    return Outcome(
        detail=f"{len(snapshots)} snapshot(s): {', '.join(snapshots.values())}",
        after=snapshots,
        data={"snapshots": snapshots},
    )


@action(
    "capture_instance",
    permissions=(Permission(("ec2:GetConsoleOutput",), INSTANCES),),
    description="store the instance's full description and console output in the evidence bucket",
    mutating=False,
)
def capture_instance(run: Run, *, instance_id: str) -> Outcome:
    info = run.state.get("instance") or describe(instance_id)
    console: dict[str, Any] = {}
    try:
        raw = ec2().get_console_output(InstanceId=instance_id, Latest=True)
        output = raw.get("Output", "")
        try:
            text = base64.b64decode(output).decode("utf-8", "replace") if output else ""
        except ValueError:
            text = output
        console = {"timestamp": raw.get("Timestamp"), "output": text}
    except ClientError as exc:
        # Latest=True is for Nitro instances only; fall back to the buffered output.
        if _code(exc) not in ("UnsupportedOperation", "InvalidParameterCombination"):
            raise
        raw = ec2().get_console_output(InstanceId=instance_id)
        console = {"timestamp": raw.get("Timestamp"), "output": raw.get("Output", "")}
    key = store.put_evidence(
        run.settings,
        run.incident_id,
        f"instance-{instance_id}",
        {"instance": info, "tags": run.state.get("tags", {}), "captured_at": now()},
    )
    console_key = store.put_evidence(run.settings, run.incident_id, f"console-{instance_id}", console)
    return Outcome(
        detail=f"description -> {key}; console output -> {console_key}",
        data={"description_key": key, "console_key": console_key},
    )


@action(
    "enable_flow_logs",
    permissions=(
        Permission(("ec2:CreateFlowLogs",), (*INTERFACES, *FLOW_LOGS)),
        Permission(("ec2:DescribeFlowLogs", "logs:CreateLogDelivery", "logs:DeleteLogDelivery")),
    ),
    description="turn on VPC flow logs for the instance's network interfaces (to the evidence bucket)",
)
def enable_flow_logs(run: Run, *, interfaces: list[str], partition: str) -> Outcome:
    existing = ec2().describe_flow_logs(Filters=[{"Name": "resource-id", "Values": interfaces}])["FlowLogs"]
    covered = {f["ResourceId"] for f in existing}
    todo = [i for i in interfaces if i not in covered]
    if not todo:
        return Outcome(status="already_done", detail="flow logs already on", before=sorted(covered))
    destination = f"arn:{partition}:s3:::{run.settings.evidence_bucket}/flow-logs/{run.incident_id}/"
    response = ec2().create_flow_logs(
        ResourceIds=todo,
        ResourceType="NetworkInterface",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=destination,
    )
    if response.get("Unsuccessful"):
        raise ActionFailed(f"flow logs not created: {response['Unsuccessful']}", "FlowLogsUnsuccessful")
    return Outcome(
        detail=f"flow logs on {todo} -> {destination}", before=sorted(covered), after=response.get("FlowLogIds", [])
    )


def _group(run: Run, name: str, vpc_id: str, *, all_open: bool) -> str:
    """The per-VPC group by name, created if missing (idempotent), with exactly the intended rules."""
    client = ec2()
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    found = client.describe_security_groups(Filters=filters)["SecurityGroups"]
    if found:
        return str(found[0]["GroupId"])
    try:
        group_id = str(
            client.create_security_group(
                GroupName=name,
                VpcId=vpc_id,
                Description="Auto-remediation: isolates compromised instances"
                if not all_open
                else "Auto-remediation: transient all-open group that makes connections untracked before isolation",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": name}]}],
            )["GroupId"]
        )
    except ClientError as exc:
        if _code(exc) != "InvalidGroup.Duplicate":
            raise
        return _group(run, name, vpc_id, all_open=all_open)  # created concurrently by another invocation
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
    if all_open:
        # Untracked only if both directions allow all traffic to/from 0.0.0.0/0 and ::/0.
        client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=everything)
        client.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
        )
    else:
        client.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        cidr, port = (
            run.settings.options.get("forensic_access_cidr", ""),
            run.settings.options.get("forensic_access_port", 22),
        )
        if cidr:
            ranges = (
                {"Ipv6Ranges": [{"CidrIpv6": cidr}]}
                if ":" in cidr
                else {"IpRanges": [{"CidrIp": cidr, "Description": "forensic access"}]}
            )
            client.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **ranges}]
            )
    return group_id


@action(
    "isolate_network",
    permissions=(
        Permission(("ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces")),
        Permission(("ec2:CreateSecurityGroup",), (*VPCS, *GROUPS)),
        Permission(("ec2:CreateTags",), GROUPS),
        Permission(
            ("ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress"),
            GROUPS,
        ),
        Permission(("ec2:ModifyNetworkInterfaceAttribute",), (*INTERFACES, *GROUPS)),
    ),
    description="move every network interface to the isolation security group (two-step: untrack, then isolate)",
    containment=True,
    destructive=True,
)
def isolate_network(run: Run, *, interfaces: list[dict[str, Any]]) -> Outcome:
    client = ec2()
    untrack = bool(run.settings.options.get("untrack_first", True))
    before = {i["id"]: i["groups"] for i in interfaces}
    after: dict[str, list[str]] = {}
    for interface in interfaces:
        vpc = interface["vpc"]
        isolation = _group(run, isolation_group_name(run, vpc), vpc, all_open=False)
        if interface["groups"] == [isolation]:
            after[interface["id"]] = [isolation]
            continue
        if untrack:
            # Tracked flows survive a group change; untracked ones do not. Make them untracked, then cut.
            transient = _group(run, untrack_group_name(run, vpc), vpc, all_open=True)
            client.modify_network_interface_attribute(NetworkInterfaceId=interface["id"], Groups=[transient])
        client.modify_network_interface_attribute(NetworkInterfaceId=interface["id"], Groups=[isolation])
    ids = [i["id"] for i in interfaces]
    for eni in client.describe_network_interfaces(NetworkInterfaceIds=ids)["NetworkInterfaces"]:
        after[eni["NetworkInterfaceId"]] = [g["GroupId"] for g in eni.get("Groups", [])]
    expected = {i["id"]: _group(run, isolation_group_name(run, i["vpc"]), i["vpc"], all_open=False) for i in interfaces}
    wrong = {eni: groups for eni, groups in after.items() if groups != [expected[eni]]}
    if wrong:
        raise ActionFailed(f"interfaces not isolated: {wrong}")
    status = "already_done" if before == after else "succeeded"
    return Outcome(
        status=status,
        detail=f"{len(ids)} interface(s) on the isolation group" + (" (via the untracking group)" if untrack else ""),
        before=before,
        after=after,
    )


@action(
    "leave_auto_scaling_group",
    permissions=(
        Permission(("autoscaling:DescribeAutoScalingGroups",)),
        Permission(("autoscaling:DetachInstances", "autoscaling:EnterStandby"), AUTO_SCALING_GROUPS),
    ),
    description="take the instance out of its Auto Scaling group (detach or standby) without lowering the minimum",
    containment=True,
    destructive=True,
)
def leave_auto_scaling_group(run: Run, *, instance_id: str, group: str) -> Outcome:
    client = clients.client("autoscaling")
    found = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not found:
        raise NotApplicable(f"Auto Scaling group {group} not found")
    before = {k: found[0][k] for k in ("MinSize", "MaxSize", "DesiredCapacity")}
    members = {i["InstanceId"]: i.get("LifecycleState") for i in found[0].get("Instances", [])}
    if instance_id not in members:
        return Outcome(status="already_done", detail=f"not in {group}", before=before, after=before)
    mode = str(run.settings.options.get("auto_scaling", "detach"))
    # ShouldDecrementDesiredCapacity=False: the group keeps its size and launches a replacement.
    if mode == "standby":
        client.enter_standby(
            InstanceIds=[instance_id], AutoScalingGroupName=group, ShouldDecrementDesiredCapacity=False
        )
    else:
        client.detach_instances(
            InstanceIds=[instance_id], AutoScalingGroupName=group, ShouldDecrementDesiredCapacity=False
        )
    now_group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    after = {k: now_group[k] for k in ("MinSize", "MaxSize", "DesiredCapacity")}
    state = {i["InstanceId"]: i.get("LifecycleState") for i in now_group.get("Instances", [])}.get(instance_id)
    if mode == "detach" and state not in (None, "Detaching", "Detached"):
        raise ActionFailed(f"instance still {state} in {group}")
    if mode == "standby" and state not in ("Standby", "EnteringStandby"):
        raise ActionFailed(f"instance is {state} in {group}, not in standby")
    if after["MinSize"] != before["MinSize"]:
        raise ActionFailed(f"group minimum changed {before['MinSize']} -> {after['MinSize']}")
    return Outcome(
        detail=f"{'standby in' if mode == 'standby' else 'detached from'} {group}; minimum "
        f"{after['MinSize']} unchanged",
        before={"group": group, "instance": instance_id, **before, "member": members[instance_id]},
        after={"group": group, "instance": instance_id, **after, "member": state},
    )


def _serving(health: dict[str, Any], instance_id: str) -> bool:
    """Registered and not on its way out (draining targets are already deregistered)."""
    return bool(health["Target"]["Id"] == instance_id and health.get("TargetHealth", {}).get("State") != "draining")


@action(
    "deregister_targets",
    permissions=(
        Permission(("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth")),
        Permission(("elasticloadbalancing:DeregisterTargets",), TARGET_GROUPS),
    ),
    description="deregister the instance from every target group it is registered in",
    containment=True,
)
def deregister_targets(run: Run, *, instance_id: str) -> Outcome:
    client = clients.client("elbv2")
    removed: dict[str, list[dict[str, Any]]] = {}
    for page in client.get_paginator("describe_target_groups").paginate():
        for group in page["TargetGroups"]:
            if group.get("TargetType", "instance") != "instance":
                continue
            arn = group["TargetGroupArn"]
            health = client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            targets = [
                {"Id": h["Target"]["Id"], "Port": h["Target"]["Port"]} for h in health if _serving(h, instance_id)
            ]
            if targets:
                client.deregister_targets(TargetGroupArn=arn, Targets=targets)
                removed[arn] = targets
    if not removed:
        return Outcome(status="already_done", detail="in no target group")
    for arn in removed:
        health = client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        left = [h for h in health if _serving(h, instance_id)]
        if left:
            raise ActionFailed(f"still registered in {arn}")
    return Outcome(detail=f"deregistered from {len(removed)} target group(s)", before=removed, after={})


@action(
    "disassociate_elastic_ip",
    permissions=(
        Permission(("ec2:DescribeAddresses",)),
        Permission(("ec2:DisassociateAddress",), (*ELASTIC_IPS, *INTERFACES)),
    ),
    description="disassociate Elastic IPs from the instance (the allocation is kept)",
    containment=True,
)
def disassociate_elastic_ip(run: Run, *, instance_id: str) -> Outcome:
    client = ec2()
    addresses = client.describe_addresses(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["Addresses"]
    if not addresses:
        return Outcome(status="already_done", detail="no Elastic IP")
    before = [
        {k: a.get(k) for k in ("PublicIp", "AllocationId", "AssociationId", "NetworkInterfaceId", "PrivateIpAddress")}
        for a in addresses
    ]
    for address in addresses:
        client.disassociate_address(AssociationId=address["AssociationId"])
    left = client.describe_addresses(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["Addresses"]
    if left:
        raise ActionFailed(f"still associated: {[a['PublicIp'] for a in left]}")
    return Outcome(detail=f"disassociated {[a['PublicIp'] for a in before]}", before=before, after=[])


@action(
    "replace_instance_profile",
    permissions=(
        Permission(("ec2:DescribeIamInstanceProfileAssociations",)),
        Permission(("ec2:ReplaceIamInstanceProfileAssociation", "ec2:AssociateIamInstanceProfile"), INSTANCES),
        Permission(("iam:PassRole",), QUARANTINE_ROLE),
    ),
    description="replace the instance profile with the stack's permission-less quarantine profile",
    containment=True,
)
def replace_instance_profile(run: Run, *, instance_id: str, profile_arn: str) -> Outcome:
    client = ec2()
    associations = client.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}, {"Name": "state", "Values": ["associated"]}]
    )["IamInstanceProfileAssociations"]
    before = associations[0]["IamInstanceProfile"]["Arn"] if associations else None
    if before == profile_arn:
        return Outcome(status="already_done", detail="quarantine profile already attached", before=before, after=before)
    if associations:
        client.replace_iam_instance_profile_association(
            IamInstanceProfile={"Arn": profile_arn}, AssociationId=associations[0]["AssociationId"]
        )
    else:
        client.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile_arn}, InstanceId=instance_id)
    return Outcome(detail=f"{before} -> {profile_arn}", before=before, after=profile_arn)


@action(
    "revoke_instance_role_sessions",
    permissions=(Permission(("iam:PutRolePolicy", "iam:GetRolePolicy"), ROLES),),
    description="deny the instance role's sessions issued before now (stolen instance credentials stop working)",
    containment=True,
)
def revoke_instance_role_sessions(run: Run, *, role: str) -> Outcome:
    from remediation.actions.iam import revoke_sessions

    return revoke_sessions(run, kind="role", name=role)


@action(
    "stop_instance",
    permissions=(Permission(("ec2:StopInstances",), INSTANCES),),
    description="stop the instance (only after evidence succeeded)",
    destructive=True,
)
def stop_instance(run: Run, *, instance_id: str) -> Outcome:
    state = describe(instance_id).get("State", {}).get("Name")
    if state in ("stopping", "stopped"):
        return Outcome(status="already_done", detail=f"already {state}", before=state, after=state)
    response = ec2().stop_instances(InstanceIds=[instance_id])
    after = response["StoppingInstances"][0]["CurrentState"]["Name"]
    if after not in ("stopping", "stopped"):
        raise ActionFailed(f"instance is {after} after StopInstances")
    return Outcome(detail=f"{state} -> {after}", before=state, after=after)


@action(
    "terminate_instance",
    permissions=(Permission(("ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"), INSTANCES),),
    description="terminate the instance, keeping its volumes and snapshots (only after evidence succeeded)",
    destructive=True,
)
def terminate_instance(run: Run, *, instance_id: str) -> Outcome:
    state = describe(instance_id).get("State", {}).get("Name")
    if state in ("shutting-down", "terminated"):
        return Outcome(status="already_done", detail=f"already {state}", before=state, after=state)
    # The playbook turned termination protection on to preserve evidence; evidence is now safe.
    ec2().modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    response = ec2().terminate_instances(InstanceIds=[instance_id])
    after = response["TerminatingInstances"][0]["CurrentState"]["Name"]
    if after not in ("shutting-down", "terminated"):
        raise ActionFailed(f"instance is {after} after TerminateInstances")
    return Outcome(detail=f"{state} -> {after}; volumes kept (DeleteOnTermination=false)", before=state, after=after)


@action(
    "inspect_security_group",
    permissions=(Permission(("ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules")),),
    description="read the security group's tags and the rules an API call created",
    mutating=False,
    repeatable=True,
)
def inspect_security_group(run: Run, *, group_id: str, rule_ids: list[str]) -> Outcome:
    client = ec2()
    groups = client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    if not groups:
        raise NotApplicable(f"security group {group_id} not found")
    tags = {t["Key"]: t["Value"] for t in groups[0].get("Tags", [])}
    rules = client.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    present = [r for r in rules if r["SecurityGroupRuleId"] in rule_ids]
    return Outcome(
        detail=f"{len(present)} of {len(rule_ids)} rule(s) still present, {len(rules)} rule(s) in all",
        data={"group_tags": tags, "group_rules": rules, "present_rules": present},
    )


@action(
    "revoke_ingress_rules",
    permissions=(
        Permission(("ec2:RevokeSecurityGroupIngress",), GROUPS),
        Permission(("ec2:DescribeSecurityGroupRules",)),
    ),
    description="revoke exactly the world-open ingress rules an API call created (by rule id)",
    containment=True,
)
def revoke_ingress_rules(run: Run, *, group_id: str, rules: list[dict[str, Any]]) -> Outcome:
    client = ec2()
    ids = [r["SecurityGroupRuleId"] for r in rules]
    try:
        client.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=ids)
    except ClientError as exc:
        if _code(exc) not in ("InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound"):
            raise
        return Outcome(status="already_done", detail=f"rule(s) {ids} no longer exist", before=rules, after=[])
    left = client.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    still = [r["SecurityGroupRuleId"] for r in left if r["SecurityGroupRuleId"] in ids]
    if still:
        raise ActionFailed(f"rule(s) still present: {still}")
    return Outcome(
        detail=f"revoked {ids}; {len(left)} other rule(s) untouched",
        before=rules,
        after=[r["SecurityGroupRuleId"] for r in left],
    )
