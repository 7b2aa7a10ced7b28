"""The release command under moto: show, then reverse what an incident recorded."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from conftest import fresh, load_event

import gameday
from release import cli
from release.reversers import NOTHING_TO_REVERSE, REVERSERS

USER = "compromised-user"
ALL_STEPS = {
    "credential.actions": [
        "deactivate_access_key",
        "attach_quarantine_policy",
        "revoke_sessions",
        "capture_user_state",
        "detach_managed_policies",
        "delete_inline_policies",
        "remove_from_groups",
        "delete_login_profile",
        "lookup_cloudtrail",
        "recheck_new_credentials",
    ]
}
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _iam() -> Any:
    return boto3.client("iam", region_name="us-east-1")


def _state() -> dict[str, Any]:
    iam = _iam()
    return {
        "keys": {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]},
        "managed": sorted(p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=USER)["AttachedPolicies"]),
        "inline": sorted(iam.list_user_policies(UserName=USER)["PolicyNames"]),
        "groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=USER)["Groups"]),
    }


@pytest.fixture
def contained(aws: None) -> dict[str, Any]:
    """GIVEN a user with a managed and an inline policy, a group and a console login, contained."""
    sim = gameday.simulation(ALL_STEPS)
    iam = _iam()
    iam.create_user(UserName=USER)
    key = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    arn = iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(INLINE))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=USER, PolicyArn=arn)
    iam.put_user_policy(UserName=USER, PolicyName="inline-read", PolicyDocument=json.dumps(INLINE))
    iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName=USER)
    iam.create_login_profile(UserName=USER, Password="Initial-Passw0rd!")
    original = _state()
    entry = sim.invoke(
        "CredentialFunctionE8C59471", fresh(load_event("guardduty/credential_user_high", AKIAIOSFODNN7EXAMPLE=key))
    )
    assert entry["result"]["decision"] == "acted", entry
    env = sim.environment("CredentialFunctionE8C59471")
    return {
        "incident": entry["result"]["incident_id"],
        "original": original,
        "key": key,
        "args": ["--table", env["INCIDENT_TABLE"], "--bucket", env["EVIDENCE_BUCKET"], "--region", "us-east-1"],
    }


def _release(contained: dict[str, Any], *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main([contained["incident"], *contained["args"], *extra], out=out)
    return code, out.getvalue()


def test_show_changes_nothing(contained: dict[str, Any]) -> None:
    before = _state()
    code, text = _release(contained)
    assert code == 0 and "Nothing changed" in text
    assert "attach managed policy" in text and "add compromised-user back to group developers" in text
    assert "a password cannot be restored" in text
    assert _state() == before


def test_release_restores_the_before_state_and_keeps_keys_off_by_default(contained: dict[str, Any]) -> None:
    code, text = _release(contained, "--yes")
    assert code == 0, text
    now = _state()
    original = contained["original"]
    assert now["managed"] == original["managed"]
    assert now["inline"] == original["inline"]  # quarantine and revoke policies removed, inline-read back
    assert now["groups"] == original["groups"]
    assert now["keys"][contained["key"]] == "Inactive"  # only with --reactivate-keys
    doc = _iam().get_user_policy(UserName=USER, PolicyName="inline-read")["PolicyDocument"]
    assert doc["Statement"] == INLINE["Statement"]


def test_release_with_reactivate_keys_and_marks_the_incident_released(contained: dict[str, Any]) -> None:
    code, _ = _release(contained, "--yes", "--reactivate-keys")
    assert code == 0
    assert _state() == contained["original"] | {"keys": contained["original"]["keys"]}
    table = contained["args"][1]
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key={"pk": {"S": f"INCIDENT#{contained['incident']}"}, "sk": {"S": "META"}}
    )["Item"]
    assert item["status"]["S"] == "released" and item["released_by"]["S"].startswith("arn:")
    code, text = _release(contained, "--yes")
    assert code == 0 and "already released" in text


def test_table_and_bucket_come_from_the_stack_outputs(contained: dict[str, Any]) -> None:
    table, bucket = contained["args"][1], contained["args"][3]
    template = {
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"IncidentTableName": {"Value": table}, "EvidenceBucketName": {"Value": bucket}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="AutoRemediation", TemplateBody=json.dumps(template)
    )
    out = io.StringIO()
    assert cli.main([contained["incident"], "--region", "us-east-1"], out=out) == 0
    assert "Plan:" in out.getvalue()


def test_unknown_incident(contained: dict[str, Any]) -> None:
    out = io.StringIO()
    assert cli.main(["credential-0000000000000000", *contained["args"]], out=out) == 2


def test_every_mutating_action_has_a_reverser() -> None:
    from remediation.actions import REGISTRY

    missing = [n for n, s in REGISTRY.items() if s.mutating and n not in REVERSERS and n not in NOTHING_TO_REVERSE]
    assert missing == []


def _incident(table: str, incident_id: str, steps: list[dict[str, Any]], subject: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=table,
        Item={
            "pk": {"S": f"INCIDENT#{incident_id}"},
            "sk": {"S": "META"},
            "status": {"S": "contained"},
            "playbook": {"S": "instance"},
            "steps": {"S": json.dumps(steps)},
            "subject": {"S": json.dumps(subject)},
        },
    )


def test_instance_containment_contract_is_reversed(sim: Any) -> None:
    """The step names and before-states the instance playbook must record (docs/release.md)."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    isolation = ec2.create_security_group(GroupName="isolation", Description="iso", VpcId=vpc)["GroupId"]
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
    )
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[app]
    )["Instances"][0]
    iid, eni = instance["InstanceId"], instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # What the instance playbook did (simulated here): isolate, leave the group, protect.
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[isolation])
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    steps = [
        {"action": "enable_termination_protection", "target": iid, "status": "succeeded", "before": False},
        {"action": "isolate_instance", "target": iid, "status": "succeeded", "before": {eni: [app]}},
        {
            "action": "detach_from_asg",
            "target": iid,
            "status": "succeeded",
            "before": {"asg_name": "web", "min_size": 1, "desired_capacity": 1},
        },
    ]
    env = sim.environment("CredentialFunctionE8C59471")
    _incident(env["INCIDENT_TABLE"], "instance-0123456789abcdef", steps, {"instance_id": iid})

    out = io.StringIO()
    code = cli.main(
        [
            "instance-0123456789abcdef",
            "--yes",
            "--table",
            env["INCIDENT_TABLE"],
            "--bucket",
            env["EVIDENCE_BUCKET"],
            "--region",
            "us-east-1",
        ],
        out=out,
    )

    assert code == 0, out.getvalue()
    groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Groups"]
    assert [g["GroupId"] for g in groups] == [app]
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"]["Value"] is False
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert iid in [i["InstanceId"] for i in group["Instances"]]
    assert (group["MinSize"], group["DesiredCapacity"]) == (1, 1)
