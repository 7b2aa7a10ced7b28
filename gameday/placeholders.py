"""The resources the event fixtures name, created in the simulated account.

Fixtures use placeholder ids (tests/events/README.md); moto generates its own. `seed()`
creates one of each placeholder resource and returns the replacements to apply to a
fixture's text, so any fixture can be dispatched against real simulated resources.
Playbooks that need more (a load balancer, an Auto Scaling group) add a seeder with
`@seeder`.
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
    ec2 = boto3.client("ec2", region_name=account.REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"app{tag}", Description="app", VpcId=vpc)["GroupId"]
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
        SecurityGroupIds=[group],
    )["Instances"][0]
    out.update(
        {
            "i-0abc1234def567890": instance["InstanceId"],
            "vpc-0a1b2c3d4e5f60718": vpc,
            "subnet-0a1b2c3d4e5f60718": subnet,
            "sg-0a1b2c3d4e5f60718": group,
            "eni-0a1b2c3d4e5f60718": instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
        }
    )


@seeder("management-trail")
def _trail(out: dict[str, str], tag: str) -> None:
    bucket = f"trail-logs-{account.ACCOUNT}{tag}"
    boto3.client("s3", region_name=account.REGION).create_bucket(Bucket=bucket)
    name = f"management-trail{tag}"
    boto3.client("cloudtrail", region_name=account.REGION).create_trail(Name=name, S3BucketName=bucket)
    out["management-trail"] = name


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
        detail["id"] = uuid.uuid4().hex
    return event


def apply(text: str, replacements: dict[str, str]) -> Any:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.loads(text)
