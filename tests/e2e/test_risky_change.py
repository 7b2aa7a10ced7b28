"""Risky changes: world-open admin ingress and root console sign-in, routed through the synthesized rules."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import gameday
from gameday.seeders import risky as seeder
from tests.conftest import fresh, load_event

REGION = "us-east-1"


def _rules(group: str) -> list[tuple[str, Any, Any, str]]:
    rules = boto3.client("ec2", region_name=REGION).describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group]}]
    )["SecurityGroupRules"]
    return sorted(
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4") or r.get("CidrIpv6", ""))
        for r in rules
        if not r["IsEgress"]
    )


@pytest.mark.parametrize(
    ("fixture", "cidr", "port"),
    [("authorize_sg_ingress_ssh_world", "0.0.0.0/0", 22), ("authorize_sg_ingress_rdp_ipv6", "::/0", 3389)],
)
def test_world_open_admin_rule_is_revoked_and_other_rules_remain(sim: Any, fixture: str, cidr: str, port: int) -> None:
    group = seeder.create_group()["group"]
    event = seeder.authorize(fresh(load_event(f"cloudtrail/{fixture}")), group)
    rule_id = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"]
    assert ("tcp", port, port, cidr) in _rules(group)

    results = gameday.dispatch(event)

    assert [r["playbook"] for r in results] == ["risky_change"]
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    assert _rules(group) == [("tcp", 443, 443, "10.0.0.0/16")]
    revoke = results[0]["result"]["steps"][-1]
    assert revoke["action"] == "revoke_ingress_rules" and revoke["before"][0]["SecurityGroupRuleId"] == rule_id


def test_world_open_https_is_not_an_admin_port(sim: Any) -> None:
    group = seeder.create_group()["group"]
    event = seeder.authorize(fresh(load_event("cloudtrail/authorize_sg_ingress_https_world")), group)
    before = _rules(group)
    results = gameday.dispatch(event)
    assert [r["result"]["decision"] for r in results] == ["skipped"]
    assert _rules(group) == before


def test_protected_group_is_left_open_and_notified(sim: Any) -> None:
    group = seeder.create_group(tags={"AutoRemediation": "skip"})["group"]
    event = seeder.authorize(fresh(load_event("cloudtrail/authorize_sg_ingress_ssh_world")), group)
    before = _rules(group)
    gameday.notifications()
    results = gameday.dispatch(event)
    assert [r["result"]["decision"] for r in results] == ["notified"]
    assert _rules(group) == before
    assert len(gameday.notifications()) == 1


def test_only_the_rule_the_call_created_is_revoked(sim: Any) -> None:
    """A pre-existing identical rule id elsewhere is not touched: revocation is by the call's rule id."""
    group = seeder.create_group()["group"]
    other = seeder.create_group()["group"]
    seeder.authorize(fresh(load_event("cloudtrail/authorize_sg_ingress_ssh_world")), other)
    event = seeder.authorize(fresh(load_event("cloudtrail/authorize_sg_ingress_ssh_world")), group)
    gameday.dispatch(event)
    assert ("tcp", 22, 22, "0.0.0.0/0") in _rules(other)
    assert ("tcp", 22, 22, "0.0.0.0/0") not in _rules(group)


@pytest.mark.parametrize(
    ("fixture", "flag"), [("root_console_login", "WITHOUT MFA"), ("root_console_login_mfa", "with MFA")]
)
def test_root_console_sign_in_is_notified_with_mfa_flag(sim: Any, fixture: str, flag: str) -> None:
    gameday.notifications()
    results = gameday.dispatch(fresh(load_event(f"signin/{fixture}")))
    assert [(r["playbook"], r["result"]["decision"]) for r in results] == [("risky_change", "notified")]
    notes = gameday.notifications()
    assert len(notes) == 1 and flag in notes[0]["subject"]
