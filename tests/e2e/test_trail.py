"""Audit-trail tampering: CloudTrail API calls routed through the synthesized rules, under moto."""

from __future__ import annotations

import json
from typing import Any

import boto3

import gameday
from gameday.seeders import trail as seeder
from tests.conftest import fresh, load_event

REGION = "us-east-1"
NAME = "management-trail"


def _trail() -> dict[str, Any]:
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    trails = cloudtrail.describe_trails(trailNameList=[NAME])["trailList"]
    assert trails, "trail does not exist"
    return {
        "trail": trails[0],
        "logging": cloudtrail.get_trail_status(Name=NAME)["IsLogging"],
        "selectors": cloudtrail.get_event_selectors(TrailName=NAME)["EventSelectors"],
    }


def _recorded(sim: Any) -> dict[str, Any]:
    table = sim.resource("CoreIncidents").ref
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table, Key={"pk": {"S": f"TRAIL#{NAME}"}, "sk": {"S": "CONFIG"}}
    )["Item"]
    return dict(json.loads(item["config"]["S"]))


def test_recorder_keeps_the_configuration(sim: Any) -> None:
    seeder.create_trail()
    result = seeder.record()
    assert result["result"]["decision"] == "recorded", result
    config = _recorded(sim)
    assert config["trail"]["IsMultiRegionTrail"] is True and config["trail"]["LogFileValidationEnabled"] is True
    assert config["logging"] is True and config["tags"] == [{"Key": "owner", "Value": "security"}]


def test_stopped_trail_is_logging_again(sim: Any) -> None:
    event = fresh(load_event("cloudtrail/stop_logging"))
    seeder.seed(event)
    assert _trail()["logging"] is False
    results = gameday.dispatch(event)
    assert [r["playbook"] for r in results] == ["trail"]
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    assert _trail()["logging"] is True
    step = results[0]["result"]["steps"][0]
    assert (step["action"], step["before"], step["after"]) == ("restart_logging", False, True)


def test_deleted_trail_exists_again_with_its_recorded_configuration(sim: Any) -> None:
    event = fresh(load_event("cloudtrail/delete_trail"))
    seeder.seed(event)
    assert boto3.client("cloudtrail", region_name=REGION).describe_trails()["trailList"] == []
    results = gameday.dispatch(event)
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    now = _trail()
    assert now["logging"] is True
    recorded = _recorded(sim)["trail"]
    for field in ("S3BucketName", "IsMultiRegionTrail", "LogFileValidationEnabled", "IncludeGlobalServiceEvents"):
        assert now["trail"][field] == recorded[field], field
    tags = boto3.client("cloudtrail", region_name=REGION).list_tags(ResourceIdList=[now["trail"]["TrailARN"]])
    assert tags["ResourceTagList"][0]["TagsList"] == [{"Key": "owner", "Value": "security"}]


def test_weakened_trail_is_restored(sim: Any) -> None:
    event = fresh(load_event("cloudtrail/update_trail_weaken"))
    seeder.seed(event)
    assert _trail()["trail"]["IsMultiRegionTrail"] is False
    results = gameday.dispatch(event)
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    trail = _trail()["trail"]
    assert trail["IsMultiRegionTrail"] is True and trail["LogFileValidationEnabled"] is True
    assert "multi-region turned off" in results[0]["result"]["steps"][0]["detail"]


def test_management_events_turned_off_are_restored(sim: Any) -> None:
    event = fresh(load_event("cloudtrail/put_event_selectors_weaken"))
    seeder.seed(event)
    assert _trail()["selectors"][0]["IncludeManagementEvents"] is False
    results = gameday.dispatch(event)
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    assert all(s["IncludeManagementEvents"] for s in _trail()["selectors"])


def test_failed_stop_logging_changes_nothing(sim: Any) -> None:
    # GIVEN a trail that is (legitimately) not logging, and a FAILED StopLogging call
    seeder.create_trail()
    seeder.record()
    boto3.client("cloudtrail", region_name=REGION).stop_logging(Name=NAME)
    before = _trail()
    gameday.notifications()
    # WHEN routed (the rule admits failed calls so that the attempt is notified)
    results = gameday.dispatch(fresh(load_event("cloudtrail/stop_logging_failed")))
    # THEN the handler changed nothing: it did not even start logging the stopped trail
    assert [r["result"]["decision"] for r in results] == ["notified"]
    assert results[0]["result"]["steps"] == []
    assert "AccessDenied" in results[0]["result"]["reason"]
    assert _trail() == before
    assert "FAILED attempt" in gameday.notifications()[0]["subject"]


def test_unprotected_trail_is_left_alone(aws: None) -> None:
    overrides = {"trail.protectedTrails": ["org-trail"]}
    gameday.simulation(overrides)
    seeder.create_trail()
    boto3.client("cloudtrail", region_name=REGION).stop_logging(Name=NAME)
    results = gameday.dispatch(fresh(load_event("cloudtrail/stop_logging")), overrides=overrides)
    assert results[0]["result"]["decision"] == "skipped"
    assert _trail()["logging"] is False


def test_actor_is_contained_when_configured(aws: None) -> None:
    overrides = {"trail.containActor": True}
    iam = boto3.client("iam")
    iam.create_user(UserName="compromised-user")
    key = iam.create_access_key(UserName="compromised-user")["AccessKey"]["AccessKeyId"]
    event = fresh(load_event("cloudtrail/stop_logging", AKIAIOSFODNN7EXAMPLE=key))
    gameday.simulation(overrides)
    seeder.create_trail()
    seeder.record(overrides)
    seeder.tamper(event)
    results = gameday.dispatch(event, overrides=overrides)
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    assert _trail()["logging"] is True
    assert iam.list_access_keys(UserName="compromised-user")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "autoremediation-quarantine-deny-all" in iam.list_user_policies(UserName="compromised-user")["PolicyNames"]


def test_recorder_never_records_a_weakened_trail_as_baseline(sim: Any) -> None:
    seeder.create_trail()
    seeder.record()
    boto3.client("cloudtrail", region_name=REGION).update_trail(Name=NAME, IsMultiRegionTrail=False)
    gameday.notifications()
    result = seeder.record()
    assert result["result"]["decision"] == "notified"
    assert _recorded(sim)["trail"]["IsMultiRegionTrail"] is True
