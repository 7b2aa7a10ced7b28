"""The release command under moto: show, then reverse what an incident recorded."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

import gameday
from gameday.seeders import instance as seeder
from release import cli
from release.reversers import NOT_REVERSIBLE, READ_ONLY, REVERSERS
from tests.conftest import fresh, load_event

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


def test_every_action_is_reversed_kept_with_a_reason_or_read_only() -> None:
    """Meta: each registered action is in exactly one of REVERSERS, NOT_REVERSIBLE, READ_ONLY, matching its kind."""
    from remediation.actions import REGISTRY

    for name, spec in REGISTRY.items():
        homes = [name in REVERSERS, name in NOT_REVERSIBLE, name in READ_ONLY]
        assert sum(homes) == 1, (name, homes)
        assert (name in READ_ONLY) == (not spec.mutating), name
    for name, reason in NOT_REVERSIBLE.items():
        assert len(reason) > 20, name  # an actual reason, not a placeholder
    # no entry for an action that does not exist (a renamed action would lose its reverser silently)
    assert set(REVERSERS) | set(NOT_REVERSIBLE) | READ_ONLY == set(REGISTRY)


# ----------------------------------------------------------------------------- instance

REGION = "us-east-1"


def _instance_state(ids: dict[str, Any]) -> dict[str, Any]:
    """Everything the instance playbook changes that release puts back."""
    ec2 = boto3.client("ec2", region_name=REGION)
    iid = ids["instance"]
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]

    def attribute(name: str) -> Any:
        found = ec2.describe_instance_attribute(InstanceId=iid, Attribute=name)
        return found[name[0].upper() + name[1:]]["Value"]

    group = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=[ids["asg"]]
    )["AutoScalingGroups"][0]
    health = boto3.client("elbv2", region_name=REGION).describe_target_health(TargetGroupArn=ids["target_group"])
    profile = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [iid]}, {"Name": "state", "Values": ["associated"]}]
    )["IamInstanceProfileAssociations"]
    return {
        "state": instance["State"]["Name"],
        "groups": {n["NetworkInterfaceId"]: [g["GroupId"] for g in n["Groups"]] for n in instance["NetworkInterfaces"]},
        "termination_protection": attribute("disableApiTermination"),
        "shutdown": attribute("instanceInitiatedShutdownBehavior"),
        "delete_on_termination": {
            m["DeviceName"]: m["Ebs"]["DeleteOnTermination"] for m in instance["BlockDeviceMappings"] if "Ebs" in m
        },
        "in_asg": iid in [i["InstanceId"] for i in group["Instances"]],
        "asg_min": group["MinSize"],
        "targets": sorted((t["Target"]["Id"], t["Target"]["Port"]) for t in health["TargetHealthDescriptions"]),
        "role_policies": sorted(_iam().list_role_policies(RoleName=seeder.ROLE)["PolicyNames"]),
        "profile": [a["IamInstanceProfile"]["Arn"] for a in profile],
        # Elastic IP allocation -> the interface it is associated with (moto leaves InstanceId empty for those)
        "addresses": {
            a["AllocationId"]: a.get("NetworkInterfaceId", "") for a in ec2.describe_addresses()["Addresses"]
        },
    }


def _contain_instance(overrides: dict[str, Any] | None = None, *, elastic_ip: bool = False) -> dict[str, Any]:
    """GIVEN the seeded instance (two interfaces, two volumes, an ASG, a target group) contained by the playbook."""
    sim = gameday.simulation(overrides)
    ids = seeder.create_instance(interfaces=2)
    if elastic_ip:
        ec2 = boto3.client("ec2", region_name=REGION)
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=allocation, InstanceId=ids["instance"])
    original = _instance_state(ids)
    event = seeder.rewrite(fresh(load_event("guardduty/instance_actor_high")), ids)
    results = gameday.dispatch(event, overrides=overrides)
    assert [r["playbook"] for r in results] == ["instance"], results
    result = results[0]
    assert "error" not in result and result["result"]["decision"] == "acted", result
    env = sim.environment(result["function"])
    contained = _instance_state(ids)
    # the containment took: every interface moved off its groups, protection on, out of the group and targets
    assert all(contained["groups"][eni] != groups for eni, groups in original["groups"].items())
    assert contained["termination_protection"] is True and not contained["in_asg"] and contained["targets"] == []
    return {
        "ids": ids,
        "incident": result["result"]["incident_id"],
        "steps": {s["action"]: s["status"] for s in result["result"]["steps"]},
        "original": original,
        "args": ["--table", env["INCIDENT_TABLE"], "--bucket", env["EVIDENCE_BUCKET"], "--region", REGION],
    }


def _incident_item(table: str, incident_id: str) -> dict[str, Any]:
    return dict(
        boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=table, Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}}
        )["Item"]
    )


def test_release_puts_a_contained_instance_back(aws: None) -> None:
    contained = _contain_instance()
    original = contained["original"]
    assert original["termination_protection"] is False and original["in_asg"]
    assert original["delete_on_termination"]["/dev/xvda"] is True

    # WHEN the operator releases the incident
    code, text = _release(contained, "--yes")

    # THEN every change the playbook made is back to its recorded before-state
    assert code == 0, text
    now = _instance_state(contained["ids"])
    assert now["groups"] == original["groups"]  # each ENI with its own original groups
    assert now["termination_protection"] is False
    assert now["shutdown"] == original["shutdown"]
    assert now["delete_on_termination"] == original["delete_on_termination"]
    assert now["in_asg"] and now["asg_min"] == original["asg_min"]
    assert now["targets"] == original["targets"] == [(contained["ids"]["instance"], 80)]
    assert now["role_policies"] == original["role_policies"]  # the revoke-older-sessions policy is gone
    # evidence stays: snapshots and incident tags are reported as kept, not undone
    assert "snapshots are evidence" in text and "evidence markers" in text
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.describe_snapshots(Filters=[{"Name": "tag-key", "Values": ["AutoRemediationIncident"]}])["Snapshots"]
    item = _incident_item(contained["args"][1], contained["incident"])
    assert item["status"]["S"] == "released"
    log = {(e["action"], e["result"]) for e in json.loads(item["release_log"]["S"])}
    assert ("isolate_network", "done") in log and ("snapshot_volumes", "kept") in log


def test_release_shows_the_instance_plan_without_changing_anything(aws: None) -> None:
    contained = _contain_instance()
    before = _instance_state(contained["ids"])
    code, text = _release(contained)
    assert code == 0 and "Nothing changed" in text
    for eni, groups in contained["original"]["groups"].items():
        assert f"restore security groups {groups} on {eni}" in text
    assert f"set termination protection of {contained['ids']['instance']} back to False" in text
    assert f"attach {contained['ids']['instance']} to Auto Scaling group {contained['ids']['asg']} again" in text
    assert _instance_state(contained["ids"]) == before
    assert _incident_item(contained["args"][1], contained["incident"])["status"]["S"] != "released"


def test_release_undoes_the_optional_instance_steps(aws: None) -> None:
    """Elastic IP, quarantine instance profile and the final stop are reversed too."""
    overrides = {
        "instance.disassociateElasticIp": True,
        "instance.quarantineInstanceProfile": True,
        "instance.finalAction": "stop",
    }
    # the stack's quarantine role and profile (CloudFormation creates them; the simulator provisions no IAM)
    quarantine = "AutoRemediation-quarantined-instance"
    _iam().create_role(RoleName=quarantine, AssumeRolePolicyDocument=json.dumps(seeder.TRUST))
    _iam().create_instance_profile(InstanceProfileName=quarantine)
    _iam().add_role_to_instance_profile(InstanceProfileName=quarantine, RoleName=quarantine)
    contained = _contain_instance(overrides, elastic_ip=True)
    for step in ("disassociate_elastic_ip", "replace_instance_profile", "stop_instance"):
        assert contained["steps"][step] == "succeeded", contained["steps"]
    original = contained["original"]
    assert original["addresses"] and original["profile"] and original["state"] == "running"
    assert all(original["addresses"].values()) and not any(_instance_state(contained["ids"])["addresses"].values())

    code, text = _release(contained, "--yes")

    assert code == 0, text
    now = _instance_state(contained["ids"])
    assert now["addresses"] == original["addresses"]
    assert now["profile"] == original["profile"]
    assert now["state"] in ("pending", "running")
    assert now["groups"] == original["groups"] and now["in_asg"]


# ----------------------------------------------------------------------------- risky change


def test_revoked_world_open_rule_is_only_reopened_on_request(aws: None) -> None:
    from gameday.seeders import risky

    sim = gameday.simulation()
    event = risky.seed(fresh(load_event("cloudtrail/authorize_sg_ingress_ssh_world")))
    result = gameday.dispatch(event)[0]
    assert result["result"]["decision"] == "acted", result
    group = result["result"]["steps"][-1]["target"].rsplit("/", 1)[-1]
    env = sim.environment(result["function"])
    contained = {
        "incident": result["result"]["incident_id"],
        "args": ["--table", env["INCIDENT_TABLE"], "--bucket", env["EVIDENCE_BUCKET"], "--region", REGION],
    }
    ec2 = boto3.client("ec2", region_name=REGION)

    def world_ssh() -> list[dict[str, Any]]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"] and r.get("CidrIpv4") == "0.0.0.0/0"]

    assert world_ssh() == []
    code, text = _release(contained)
    assert code == 0 and "stays revoked" in text and "--reopen-ingress" in text
    code, text = _release(contained, "--yes", "--reopen-ingress")
    assert code == 0, text
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in world_ssh()] == [("tcp", 22, 22)]
