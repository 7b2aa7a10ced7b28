"""The resources the event fixtures name, created in the simulated account.

Fixtures use placeholder ids (tests/events/README.md); moto generates its own. `seed()`
creates one of each placeholder resource and returns the replacements to apply to a
fixture's text, so any fixture can be dispatched against real simulated resources.
Playbooks that need more (a load balancer, an Auto Scaling group) add a seeder with
`@seeder`.

Seeded today: the IAM user with a key and the role (`compromised-user`, the AKIA key,
`app-role`); a VPC, subnet, security group and an EBS-backed, monitored instance in a target
group, with the role's instance profile when the fixture names `app-role`; the instance's
alarms, created by the stack's alarm-lifecycle function; a logging trail whose configuration
the stack's scheduled recorder has on record. `instance()` then runs the `@finisher` steps on
the rewritten event: the trail tampering the CloudTrail record reports is applied, the
ingress rules an `AuthorizeSecurityGroupIngress` record reports are created (their real
rule ids written in), and an alarm's OK transition is preceded by its ALARM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from gameday import account

Seeder = Callable[[dict[str, str], str], None]
SEEDERS: list[tuple[tuple[str, ...], Seeder]] = []


def seeder(*needs: str) -> Callable[[Seeder], Seeder]:
    """Register a seeder, run when a fixture's text contains one of `needs` (all if empty)."""

    def register(fn: Seeder) -> Seeder:
        SEEDERS.append((needs, fn))
        return fn

    return register


@seeder("compromised-user", "AKIAIOSFODNN7EXAMPLE", "app-role")
def _iam(out: dict[str, str], tag: str) -> None:
    iam = boto3.client("iam", region_name=account.REGION)
    user, role = f"compromised-user{tag}", f"app-role{tag}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    out.update({"AKIAIOSFODNN7EXAMPLE": key, "compromised-user": user, "app-role": role})
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))


@seeder("i-0abc1234def567890", "sg-0a1b2c3d4e5f60718", "vpc-0a1b2c3d4e5f60718")
def _ec2(out: dict[str, str], tag: str) -> None:
    """VPC, subnet, group with one legitimate rule, and an EBS-backed instance in a target group.

    The instance's group is given on its interface (as AWS reports it): moto otherwise keeps
    a launch-time copy of the groups on the instance and adds it to every interface.
    With the `app-role` placeholder seeded, the instance runs with that role's profile.
    """
    ec2: Any = boto3.client("ec2", region_name=account.REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{account.REGION}a")
    subnet_id = subnet["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"app{tag}", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
    )
    extra: dict[str, Any] = {}
    if "app-role" in out:
        iam = boto3.client("iam", region_name=account.REGION)
        iam.create_instance_profile(InstanceProfileName=out["app-role"])
        iam.add_role_to_instance_profile(InstanceProfileName=out["app-role"], RoleName=out["app-role"])
        extra["IamInstanceProfile"] = {"Name": out["app-role"]}
    instance = ec2.run_instances(
        ImageId=_ebs_image(ec2),
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [group]}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "AutoRemediationMonitor", "Value": "true"}]}],
        **extra,
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    elbv2: Any = boto3.client("elbv2", region_name=account.REGION)
    target_group = elbv2.create_target_group(
        Name=f"app-{instance_id[-12:]}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": instance_id, "Port": 80}])
    out.update(
        {
            "i-0abc1234def567890": instance_id,
            "vpc-0a1b2c3d4e5f60718": vpc,
            "subnet-0a1b2c3d4e5f60718": subnet_id,
            "sg-0a1b2c3d4e5f60718": group,
            "eni-0a1b2c3d4e5f60718": instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
        }
    )


_IMAGES: dict[str, str] = {}


def _ebs_image(ec2: Any) -> str:
    if "ebs" not in _IMAGES:
        images = ec2.describe_images(Owners=["amazon"])["Images"]
        _IMAGES["ebs"] = next(i["ImageId"] for i in images if i.get("RootDeviceType") == "ebs")
    return _IMAGES["ebs"]


@seeder("autoremediation-i-0abc1234def567890")
def _alarms(out: dict[str, str], tag: str) -> None:
    """The instance's alarms, created the way the stack does: its `running` event through the rules."""
    import gameday
    from gameday.seeders.health import running_event

    gameday.dispatch(running_event(out["i-0abc1234def567890"]))


@seeder("management-trail")
def _trail(out: dict[str, str], tag: str) -> None:
    """A trail the way a security team has it, logging, with its configuration on record."""
    from gameday.seeders import trail

    bucket = f"trail-logs-{account.ACCOUNT}{tag}"
    boto3.client("s3", region_name=account.REGION).create_bucket(Bucket=bucket)
    name = f"management-trail{tag}"
    cloudtrail: Any = boto3.client("cloudtrail", region_name=account.REGION)
    arn = cloudtrail.create_trail(
        Name=name,
        S3BucketName=bucket,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        IncludeGlobalServiceEvents=True,
        TagsList=[{"Key": "owner", "Value": "security"}],
    )["TrailARN"]
    cloudtrail.start_logging(Name=arn)
    trail.record()
    out["management-trail"] = name


Finisher = Callable[[Any], Any]
FINISHERS: list[tuple[tuple[str, ...], Finisher]] = []


def finisher(*needs: str) -> Callable[[Finisher], Finisher]:
    """Register a step run on the rewritten event: make the call it records, set up what it presumes."""

    def register(fn: Finisher) -> Finisher:
        FINISHERS.append((needs, fn))
        return fn

    return register


@finisher("management-trail")
def _tamper(event: Any) -> Any:
    """The tampering the CloudTrail record reports has happened (unless the call failed)."""
    from gameday.seeders import trail

    if isinstance(event, dict) and event.get("source") == "aws.cloudtrail":
        trail.tamper(event)
    return event


@finisher("AuthorizeSecurityGroupIngress")
def _authorize(event: Any) -> Any:
    """The rules the call created exist, and the event names their real ids."""
    from gameday.seeders import risky

    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or detail.get("eventName") != "AuthorizeSecurityGroupIngress":
        return event
    group = str((detail.get("requestParameters") or {}).get("groupId", ""))
    with_placeholder = json.loads(json.dumps(event).replace(group, risky.PLACEHOLDER_GROUP))
    return risky.authorize(with_placeholder, group)


@finisher("autoremediation-i-0abc1234def567890")
def _opened(event: Any) -> Any:
    """An OK transition closes what an ALARM opened: the ALARM comes first."""
    import copy
    import uuid

    import gameday

    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or (detail.get("state") or {}).get("value") != "OK":
        return event
    alarm = copy.deepcopy(event)
    alarm["id"] = str(uuid.uuid4())
    alarm["detail"]["state"], alarm["detail"]["previousState"] = detail["previousState"], detail["state"]
    gameday.dispatch(alarm)
    return event


def seed(text: str = "", *, tag: str = "") -> dict[str, str]:
    """Create the placeholder resources `text` names (all if empty); return {placeholder: real id}.

    A `tag` makes names unique ("-3"), so one account can hold many independent copies.
    """
    out: dict[str, str] = {}
    for needs, fn in SEEDERS:
        if not text or not needs or any(n in text for n in needs):
            fn(out, tag)
    return out


def instance(text: str, *, tag: str = "") -> Any:
    """A fixture made unique: its resources seeded with `tag`, fresh event and finding ids."""
    import uuid

    event = apply(text, seed(text, tag=tag))
    event["id"] = str(uuid.uuid4())
    detail = event.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("id"), str):
        detail["id"] = uuid.uuid4().hex  # GuardDuty finding id: the incident key
    if isinstance(detail, dict) and isinstance(detail.get("eventID"), str):
        detail["eventID"] = str(uuid.uuid4())  # CloudTrail record id: the incident key
    for needs, fn in FINISHERS:
        if any(n in text for n in needs):
            event = fn(event)
    return event


def apply(text: str, replacements: dict[str, str]) -> Any:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.loads(text)
