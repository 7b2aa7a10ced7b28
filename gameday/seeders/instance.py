"""Seed a GuardDuty instance finding: VPC, subnet, instance with role profile, ENIs, volumes, ASG, target group."""

from __future__ import annotations

import json
from typing import Any

import boto3

REGION = "us-east-1"
PLACEHOLDER_INSTANCE = "i-0abc1234def567890"
PLACEHOLDERS = {
    "vpc": "vpc-0a1b2c3d4e5f60718",
    "subnet": "subnet-0a1b2c3d4e5f60718",
    "eni": "eni-0a1b2c3d4e5f60718",
    "sg": "sg-0a1b2c3d4e5f60718",
}
ROLE = "app-role"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def create_instance(
    *,
    interfaces: int = 1,
    extra_volumes: int = 1,
    auto_scaling: bool = True,
    target_group: bool = True,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A running instance the way a workload would have it; returns the ids moto generated."""
    ec2: Any = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="app-sg", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    iam: Any = boto3.client("iam", region_name=REGION)
    try:
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.create_instance_profile(InstanceProfileName=ROLE)
        iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName=ROLE)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    all_tags = {"Name": "app-server", "Environment": "prod", **(tags or {})}
    instance = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[sg],
        IamInstanceProfile={"Name": ROLE},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    for index in range(1, interfaces):
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[sg])["NetworkInterface"]["NetworkInterfaceId"]
        ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance_id, DeviceIndex=index)
    for index in range(extra_volumes):
        volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=4)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance_id, Device=f"/dev/sd{chr(ord('f') + index)}")
    out: dict[str, Any] = {
        "instance": instance_id,
        "vpc": vpc,
        "subnet": subnet,
        "sg": sg,
        "eni": instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
    }
    if auto_scaling:
        template = ec2.create_launch_template(
            LaunchTemplateName=f"app-{instance_id}", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        asg: Any = boto3.client("autoscaling", region_name=REGION)
        name = f"app-asg-{instance_id}"
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=1,
            MaxSize=4,
            DesiredCapacity=1,
            LaunchTemplate={"LaunchTemplateId": template},
            VPCZoneIdentifier=subnet,
        )
        asg.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=name)
        out["asg"] = name
    if target_group:
        elbv2: Any = boto3.client("elbv2", region_name=REGION)
        arn = elbv2.create_target_group(
            Name=f"app-{instance_id[-8:]}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": 80}])
        out["target_group"] = arn
    return out


def rewrite(event: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    """The event with the placeholder ids replaced by the ones moto generated."""
    text = json.dumps(event).replace(PLACEHOLDER_INSTANCE, ids["instance"])
    for kind, placeholder in PLACEHOLDERS.items():
        text = text.replace(placeholder, ids[kind])
    return dict(json.loads(text))


def seed(event: dict[str, Any]) -> dict[str, Any]:
    """Create the instance a GuardDuty Instance finding names (two interfaces, in an ASG and a target group)."""
    return rewrite(event, create_instance(interfaces=2))
