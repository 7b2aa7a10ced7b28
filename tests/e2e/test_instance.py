"""Instance compromise: GuardDuty Instance findings routed through the synthesized rules, under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import gameday
from gameday.seeders import instance as seeder
from tests.conftest import fresh, load_event

REGION = "us-east-1"


def _event(name: str, ids: dict[str, Any]) -> dict[str, Any]:
    return seeder.rewrite(fresh(load_event(f"guardduty/{name}")), ids)


def _state(ids: dict[str, Any]) -> dict[str, Any]:
    """Everything the playbook could change, to compare before and after."""
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]
    attribute = ec2.describe_instance_attribute(InstanceId=ids["instance"], Attribute="disableApiTermination")
    return {
        "state": instance["State"]["Name"],
        "groups": {
            n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"]) for n in instance["NetworkInterfaces"]
        },
        "termination_protection": attribute["DisableApiTermination"]["Value"],
        "snapshots": ec2.describe_snapshots(Filters=[{"Name": "tag-key", "Values": ["AutoRemediationIncident"]}])[
            "Snapshots"
        ],
        "tags": sorted((t["Key"], t["Value"]) for t in instance.get("Tags", [])),
        "asg": [
            i["InstanceId"]
            for g in boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
            for i in g["Instances"]
        ],
    }


def _group(name: str) -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return dict(ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"][0])


@pytest.fixture
def seeded(sim: Any) -> dict[str, Any]:
    """A running instance with two interfaces and two volumes, in an ASG (min 1) and a target group."""
    return seeder.create_instance(interfaces=2)


def test_actor_instance_is_preserved_snapshotted_and_isolated(seeded: dict[str, Any]) -> None:
    # GIVEN an ACTOR finding on the seeded instance
    ids = seeded
    ec2 = boto3.client("ec2", region_name=REGION)
    asg = boto3.client("autoscaling", region_name=REGION)
    min_before = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ids["asg"]])["AutoScalingGroups"][0]["MinSize"]
    volumes = sorted(
        v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [ids["instance"]]}])[
            "Volumes"
        ]
    )
    assert len(volumes) == 2

    # WHEN it is routed through the stack's rules
    results = gameday.dispatch(_event("instance_actor_high", ids))

    # THEN exactly the instance playbook ran, without error
    assert [r["playbook"] for r in results] == ["instance"]
    result = results[0]
    assert "error" not in result, result.get("error")
    assert result["result"]["decision"] == "acted"
    incident = result["result"]["incident_id"]
    order = [s["action"] for s in result["result"]["steps"]]
    assert order.index("preserve_instance") < order.index("snapshot_volumes") < order.index("isolate_network")

    # every interface is on the (empty) isolation group of its VPC
    instance = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]
    assert len(instance["NetworkInterfaces"]) == 2
    isolation = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"autoremediation-isolation-{ids['vpc']}"]}]
    )["SecurityGroups"]
    assert len(isolation) == 1
    assert isolation[0]["IpPermissions"] == [] and isolation[0]["IpPermissionsEgress"] == []
    for interface in instance["NetworkInterfaces"]:
        assert [g["GroupId"] for g in interface["Groups"]] == [isolation[0]["GroupId"]]

    # termination protection on, shutdown = stop, volumes kept on termination
    attr = ec2.describe_instance_attribute
    assert attr(InstanceId=ids["instance"], Attribute="disableApiTermination")["DisableApiTermination"]["Value"]
    assert (
        attr(InstanceId=ids["instance"], Attribute="instanceInitiatedShutdownBehavior")[
            "InstanceInitiatedShutdownBehavior"
        ]["Value"]
        == "stop"
    )
    mappings = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"
    ]
    assert mappings and not any(m["Ebs"]["DeleteOnTermination"] for m in mappings)

    # one snapshot per volume, tagged with the incident; instance and volumes tagged too
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": volumes}])["Snapshots"]
    assert sorted(s["VolumeId"] for s in snapshots) == volumes
    for snapshot in snapshots:
        assert {"Key": "AutoRemediationIncident", "Value": incident} in snapshot["Tags"]
    for resource in [ids["instance"], *volumes]:
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource]}])["Tags"]
        assert any(t["Key"] == "AutoRemediationIncident" and t["Value"] == incident for t in tags)

    # its description (and console output) is in the evidence bucket
    bucket = gameday.simulation().resource("CoreEvidence").ref
    s3 = boto3.client("s3", region_name=REGION)
    body = s3.get_object(Bucket=bucket, Key=f"incidents/{incident}/instance-{ids['instance']}.json")["Body"].read()
    assert json.loads(body)["instance"]["InstanceId"] == ids["instance"]
    s3.head_object(Bucket=bucket, Key=f"incidents/{incident}/console-{ids['instance']}.json")

    # out of its Auto Scaling group, whose minimum is unchanged; out of the target group
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ids["asg"]])["AutoScalingGroups"][0]
    assert ids["instance"] not in [i["InstanceId"] for i in group["Instances"]]
    assert group["MinSize"] == min_before
    health = boto3.client("elbv2", region_name=REGION).describe_target_health(TargetGroupArn=ids["target_group"])
    assert ids["instance"] not in [
        h["Target"]["Id"] for h in health["TargetHealthDescriptions"] if h["TargetHealth"]["State"] != "draining"
    ]

    # the instance role's older sessions are revoked; the instance keeps running (no final action by default)
    policy = boto3.client("iam").get_role_policy(
        RoleName="app-role", PolicyName="autoremediation-revoke-older-sessions"
    )
    assert "aws:TokenIssueTime" in json.dumps(policy["PolicyDocument"])
    assert instance["State"]["Name"] == "running"
    assert not any(s["action"] in ("stop_instance", "terminate_instance") for s in result["result"]["steps"])


def test_isolation_group_is_created_once_per_vpc(seeded: dict[str, Any]) -> None:
    # GIVEN the instance was already isolated once
    first = gameday.dispatch(_event("instance_actor_high", seeded))
    assert first[0]["result"]["decision"] == "acted"
    # WHEN the finding is delivered again
    again = gameday.dispatch(_event("instance_actor_high", seeded))
    # THEN the same group is reused and the step reports it was already done
    ec2 = boto3.client("ec2", region_name=REGION)
    names = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert names.count(f"autoremediation-isolation-{seeded['vpc']}") == 1
    assert names.count(f"autoremediation-isolation-untrack-{seeded['vpc']}") == 1
    step = next(s for s in again[0]["result"]["steps"] if s["action"] == "isolate_network")
    assert step["status"] == "already_done"


def test_untracking_group_allows_all_traffic_both_ways(seeded: dict[str, Any]) -> None:
    """AWS leaves a flow untracked only if both directions allow all traffic from/to 0.0.0.0/0 and ::/0."""
    gameday.dispatch(_event("instance_actor_high", seeded))
    group = _group(f"autoremediation-isolation-untrack-{seeded['vpc']}")
    for rules in (group["IpPermissions"], group["IpPermissionsEgress"]):
        assert {r["IpProtocol"] for r in rules} == {"-1"}
        assert {c["CidrIp"] for r in rules for c in r["IpRanges"]} == {"0.0.0.0/0"}
        assert {c["CidrIpv6"] for r in rules for c in r["Ipv6Ranges"]} == {"::/0"}


def test_forensic_access_path_is_kept_when_configured(aws: None) -> None:
    overrides = {"instance.forensicAccessCidr": "192.0.2.0/28", "instance.forensicAccessPort": 2222}
    gameday.simulation(overrides)
    ids = seeder.create_instance(interfaces=1, auto_scaling=False, target_group=False)
    results = gameday.dispatch(_event("instance_actor_high", ids), overrides=overrides)
    assert results[0]["result"]["decision"] == "acted"
    group = _group(f"autoremediation-isolation-{ids['vpc']}")
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], [c["CidrIp"] for c in r["IpRanges"]])
        for r in group["IpPermissions"]
    ] == [("tcp", 2222, 2222, ["192.0.2.0/28"])]
    assert group["IpPermissionsEgress"] == []


@pytest.mark.parametrize(
    ("fixture", "tags", "decision"),
    [
        ("instance_target_bruteforce", {}, None),  # severity 2 is below 7: filtered by the rule itself
        ("instance_actor_sample", {}, "skipped"),
        ("instance_actor_archived", {}, "skipped"),
        ("instance_actor_high", {"AutoRemediation": "skip"}, "notified"),
    ],
)
def test_findings_that_must_change_nothing(sim: Any, fixture: str, tags: dict[str, str], decision: str | None) -> None:
    ids = seeder.create_instance(interfaces=2, tags=tags)
    before = _state(ids)
    results = gameday.dispatch(_event(fixture, ids))
    if decision is None:
        assert results == []
    else:
        assert [r["result"]["decision"] for r in results] == [decision]
    assert _state(ids) == before


def test_target_of_a_high_severity_finding_is_notified_not_contained(sim: Any) -> None:
    # GIVEN a TARGET finding above the severity threshold (a port probe victim, say)
    ids = seeder.create_instance(interfaces=1)
    event = _event("instance_target_bruteforce", ids)
    event["detail"]["severity"] = 8
    before = _state(ids)
    gameday.notifications()
    # WHEN routed
    results = gameday.dispatch(event)
    # THEN a notification, no change
    assert [r["result"]["decision"] for r in results] == ["notified"]
    assert "TARGET" in results[0]["result"]["reason"]
    assert _state(ids) == before
    assert len(gameday.notifications()) == 1


@pytest.mark.parametrize(("final", "expected"), [("stop", "stopped"), ("terminate", "terminated")])
def test_final_action_runs_only_when_configured(aws: None, final: str, expected: str) -> None:
    overrides = {"instance.finalAction": final}
    gameday.simulation(overrides)
    ids = seeder.create_instance(interfaces=1, auto_scaling=False)
    results = gameday.dispatch(_event("instance_actor_high", ids), overrides=overrides)
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    ec2 = boto3.client("ec2", region_name=REGION)
    state = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == expected
    steps = [s["action"] for s in results[0]["result"]["steps"]]
    assert steps[-1] == f"{final}_instance"
    # volumes survive termination (DeleteOnTermination was turned off first)
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "tag-key", "Values": ["AutoRemediationIncident"]}])[
        "Snapshots"
    ]
    assert len(snapshots) == 2
    for snapshot in snapshots:
        assert ec2.describe_volumes(VolumeIds=[snapshot["VolumeId"]])["Volumes"]


@pytest.fixture
def failing_snapshots(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """EC2 clients of the runtime fail CreateSnapshot; every EC2 operation called is recorded."""
    from remediation import clients

    calls: list[str] = []
    real = clients.client

    def fail(**kwargs: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "SnapshotCreationPerVolumeRateExceeded", "Message": "injected"}}, "CreateSnapshot"
        )

    def record(event_name: str, **kwargs: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    def client(service: str, region: str | None = None) -> Any:
        found = real(service, region)
        if service == "ec2" and not getattr(found, "_injected", False):
            found.meta.events.register("before-call.ec2.CreateSnapshot", fail)
            found.meta.events.register("before-call.ec2.*", record)
            found._injected = True
        return found

    monkeypatch.setattr(clients, "client", client)
    yield calls


def test_no_stop_when_a_snapshot_failed(aws: None, failing_snapshots: list[str]) -> None:
    overrides = {"instance.finalAction": "terminate"}
    gameday.simulation(overrides)
    ids = seeder.create_instance(interfaces=1, auto_scaling=False)
    gameday.notifications()
    results = gameday.dispatch(_event("instance_actor_high", ids), overrides=overrides)

    # the run fails (so Lambda retries) after recording and notifying
    assert results[0]["error"]["type"] == "RemediationFailed"
    assert "CreateSnapshot" in failing_snapshots
    assert "TerminateInstances" not in failing_snapshots and "StopInstances" not in failing_snapshots
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running"
    # containment still happened
    assert all(
        g["GroupName"].startswith("autoremediation-isolation-") and "untrack" not in g["GroupName"]
        for n in instance["NetworkInterfaces"]
        for g in n["Groups"]
    )
    notes = gameday.notifications()
    assert len(notes) == 1
    assert "EVIDENCE FAILED, terminate not run" in notes[0]["subject"]
    assert (
        "NOT run: evidence capture failed (snapshot_volumes (SnapshotCreationPerVolumeRateExceeded))"
        in (notes[0]["message"])
    )
