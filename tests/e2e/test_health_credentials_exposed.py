"""AWS Health AWS_RISK_CREDENTIALS_EXPOSED routed to the credential playbook, under moto."""

from __future__ import annotations

from typing import Any

import boto3

import gameday
from tests.conftest import fresh, load_event


def test_exposed_key_is_contained_like_a_guardduty_key_finding(sim: Any) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="compromised-user")
    key = iam.create_access_key(UserName="compromised-user")["AccessKey"]["AccessKeyId"]
    results = gameday.dispatch(fresh(load_event("health/risk_credentials_exposed", AKIAIOSFODNN7EXAMPLE=key)))
    assert [r["playbook"] for r in results] == ["credential"]
    assert results[0]["result"]["decision"] == "acted", results[0].get("error")
    assert results[0]["result"]["subject"]["principal"].endswith(":user/compromised-user")
    assert iam.list_access_keys(UserName="compromised-user")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "autoremediation-quarantine-deny-all" in iam.list_user_policies(UserName="compromised-user")["PolicyNames"]


def test_key_of_no_user_in_this_account_is_notified(sim: Any) -> None:
    results = gameday.dispatch(fresh(load_event("health/risk_credentials_exposed")))
    assert [r["result"]["decision"] for r in results] == ["notified"]
    assert [s["action"] for s in results[0]["result"]["steps"]] == ["lookup_key_owner"]
