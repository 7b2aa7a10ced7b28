"""Seed a risky-change event: the security group and the world-open rule the call created.

For `AuthorizeSecurityGroupIngress` the group gets an unrelated rule first (it must survive),
then the call's permissions are authorized; the group id and the new rule ids moto generated
are written into the event. Console sign-ins need nothing seeded.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

REGION = "us-east-1"
PLACEHOLDER_GROUP = "sg-0a1b2c3d4e5f60718"
PLACEHOLDER_RULE = "sgr-0123456789abcdef0"


def _permissions(request: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in request["ipPermissions"]["items"]:
        permission: dict[str, Any] = {"IpProtocol": item["ipProtocol"]}
        if "fromPort" in item:
            permission.update(FromPort=item["fromPort"], ToPort=item["toPort"])
        v4 = [{"CidrIp": r["cidrIp"]} for r in (item.get("ipRanges") or {}).get("items", [])]
        v6 = [{"CidrIpv6": r["cidrIpv6"]} for r in (item.get("ipv6Ranges") or {}).get("items", [])]
        if v4:
            permission["IpRanges"] = v4
        if v6:
            permission["Ipv6Ranges"] = v6
        out.append(permission)
    return out


def create_group(tags: dict[str, str] | None = None) -> dict[str, str]:
    """A group with one unrelated, legitimate rule (HTTPS from the VPC)."""
    ec2: Any = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
    group = ec2.create_security_group(
        GroupName="app-sg", Description="app", VpcId=vpc, **({"TagSpecifications": spec} if tags else {})
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
    )
    return {"group": group, "vpc": vpc}


def authorize(event: dict[str, Any], group: str) -> dict[str, Any]:
    """Make the call the event records; return the event with the real group and rule ids."""
    ec2: Any = boto3.client("ec2", region_name=REGION)

    def rule_ids() -> set[str]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        return {r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]}

    before = rule_ids()
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=_permissions(event["detail"]["requestParameters"])
    )
    created = sorted(rule_ids() - before)
    out = json.loads(json.dumps(event).replace(PLACEHOLDER_GROUP, group))
    items = out["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
    for item, rule in zip(items, created, strict=True):
        item["securityGroupRuleId"] = rule
    return dict(out)


def seed(event: dict[str, Any], *, tags: dict[str, str] | None = None) -> dict[str, Any]:
    if event["detail"].get("eventName") != "AuthorizeSecurityGroupIngress":
        return event
    return authorize(event, create_group(tags)["group"])
