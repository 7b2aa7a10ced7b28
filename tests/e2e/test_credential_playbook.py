"""Credential compromise end to end: real-format GuardDuty events routed through the
synthesized rules to the real handler, against a moto account."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

import gameday
from remediation import engine
from tests.conftest import fresh, load_event

USER = "compromised-user"
PLACEHOLDER_KEY = "AKIAIOSFODNN7EXAMPLE"
QUARANTINE = {"autoremediation-quarantine-deny-all", "autoremediation-revoke-older-sessions"}


def make_user(tags: dict[str, str] | None = None) -> tuple[str, str]:
    """A user with two Active keys: the one the finding names, and a legitimate one."""
    iam = boto3.client("iam")
    iam.create_user(UserName=USER, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    bad = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    good = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    return bad, good


def key_status(user: str = USER) -> dict[str, str]:
    keys = boto3.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


def inline_policies(user: str = USER) -> set[str]:
    return set(boto3.client("iam").list_user_policies(UserName=user)["PolicyNames"])


def finding(name: str, key: str) -> dict[str, Any]:
    return fresh(load_event(f"guardduty/{name}", **{PLACEHOLDER_KEY: key}))


def only(results: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(results) == 1, results
    entry = results[0]
    assert entry["playbook"] == "credential"
    return dict(entry["result"])


def incident_items(sim: Any) -> list[dict[str, Any]]:
    table = sim.resource("CoreIncidents").ref
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith("INCIDENT#")]


def evidence_keys(sim: Any) -> list[str]:
    bucket = sim.resource("CoreEvidence").ref
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_iam_user_finding_contains_the_key_and_keeps_evidence(sim: Any) -> None:
    bad, good = make_user()

    result = only(gameday.dispatch(finding("credential_user_high", bad)))

    assert result["decision"] == "acted"
    assert key_status() == {bad: "Inactive", good: "Active"}
    assert inline_policies() == QUARANTINE
    revoke = boto3.client("iam").get_user_policy(UserName=USER, PolicyName="autoremediation-revoke-older-sessions")
    assert "aws:TokenIssueTime" in json.dumps(revoke["PolicyDocument"])
    # the first mutating call is the key deactivation
    mutating = [s["action"] for s in result["steps"] if s["action"] not in ("inspect_principal",)]
    assert mutating[0] == "deactivate_access_key"
    incident = result["incident_id"]
    assert f"incidents/{incident}/user-before-state.json" in evidence_keys(sim)
    items = incident_items(sim)
    assert len(items) == 1
    assert items[0]["status"]["S"] == "contained"
    assert items[0]["subject"]["S"].count(bad) == 1
    notes = gameday.notifications()
    assert len(notes) == 1
    assert USER in notes[0]["message"] and bad in notes[0]["message"]
    assert result["time_to_contain_ms"] is not None


def test_configured_removals_record_the_before_state_first(aws: None) -> None:
    overrides = {
        "credential.actions": json.dumps(
            [
                "deactivate_access_key",
                "attach_quarantine_policy",
                "revoke_sessions",
                "capture_user_state",
                "detach_managed_policies",
                "delete_inline_policies",
                "remove_from_groups",
                "delete_login_profile",
            ]
        )
    }
    sim = gameday.simulation(overrides)
    iam = boto3.client("iam")
    bad, good = make_user()
    managed = iam.create_policy(
        PolicyName="app-read",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=USER, PolicyArn=managed)
    iam.put_user_policy(
        UserName=USER,
        PolicyName="legacy-inline",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
        ),
    )
    iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName=USER)
    iam.create_login_profile(UserName=USER, Password="Str0ng-Passw0rd!")

    result = only(sim.dispatch(finding("credential_user_high", bad)))

    assert result["decision"] == "acted", result
    assert iam.list_attached_user_policies(UserName=USER)["AttachedPolicies"] == []
    assert inline_policies() == QUARANTINE
    assert iam.list_groups_for_user(UserName=USER)["Groups"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=USER)
    assert key_status() == {bad: "Inactive", good: "Active"}
    bucket = sim.resource("CoreEvidence").ref
    state = json.loads(
        boto3.client("s3")
        .get_object(Bucket=bucket, Key=f"incidents/{result['incident_id']}/user-before-state.json")["Body"]
        .read()
    )
    assert [p["PolicyArn"] for p in state["attached_policies"]] == [managed]
    assert "legacy-inline" in state["inline_policies"]
    assert state["groups"] == ["developers"]
    assert state["login_profile"]["UserName"] == USER


def test_attacker_key_created_during_the_recheck_window_ends_inactive(sim: Any, monkeypatch: Any) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName=USER)
    bad = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    created: list[str] = []

    def attacker_moves(seconds: float) -> None:
        created.append(boto3.client("iam").create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"])

    monkeypatch.setattr(engine, "sleep", attacker_moves)
    result = only(gameday.dispatch(finding("credential_user_high", bad)))

    assert len(created) == 1
    assert key_status() == {bad: "Inactive", created[0]: "Inactive"}
    recheck = next(s for s in result["steps"] if s["action"] == "recheck_new_credentials")
    assert recheck["status"] == "succeeded" and created[0] in recheck["detail"]


def test_assumed_role_sessions_are_revoked_and_nothing_else(sim: Any) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument="{}")
    result = only(gameday.dispatch(fresh(load_event("guardduty/credential_assumed_role"))))

    assert result["decision"] == "acted"
    assert iam.list_role_policies(RoleName="app-role")["PolicyNames"] == ["autoremediation-revoke-older-sessions"]
    document = iam.get_role_policy(RoleName="app-role", PolicyName="autoremediation-revoke-older-sessions")
    assert document["PolicyDocument"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert [s["action"] for s in result["steps"]] == ["inspect_principal", "revoke_sessions"]


def test_service_linked_role_is_never_modified(sim: Any) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="app-role", Path="/aws-service-role/", AssumeRolePolicyDocument="{}")
    result = only(gameday.dispatch(fresh(load_event("guardduty/credential_assumed_role"))))
    assert result["decision"] == "notified"
    assert "service-linked" in result["reason"]
    assert iam.list_role_policies(RoleName="app-role")["PolicyNames"] == []


def test_root_is_notify_only(sim: Any) -> None:
    result = only(gameday.dispatch(fresh(load_event("guardduty/credential_root_high"))))
    assert result["decision"] == "notified"
    assert "root" in result["reason"]
    assert result["steps"] == []
    assert len(gameday.notifications()) == 1


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [("credential_user_sample", "sample finding"), ("credential_user_archived", "archived finding")],
)
def test_sample_and_archived_findings_change_nothing(sim: Any, fixture: str, reason: str) -> None:
    bad, good = make_user()
    result = only(gameday.dispatch(finding(fixture, bad)))
    assert result["decision"] == "skipped"
    assert reason in result["reason"]
    assert key_status() == {bad: "Active", good: "Active"}
    assert inline_policies() == set()
    assert incident_items(sim) == []
    assert gameday.notifications() == []


def test_low_severity_is_not_routed_and_the_handler_would_skip_it(sim: Any) -> None:
    bad, good = make_user()
    event = finding("credential_user_tor", bad)
    assert gameday.dispatch(event) == []
    function = next(fid for fid in sim.functions if fid.startswith("CredentialFunction"))
    result = sim.invoke(function, event)["result"]
    assert result["decision"] == "skipped"
    assert "severity 5 is below the minimum 7" in result["reason"]
    assert key_status() == {bad: "Active", good: "Active"}


def test_protected_user_is_notified_not_touched(sim: Any) -> None:
    bad, good = make_user(tags={"AutoRemediation": "skip"})
    result = only(gameday.dispatch(finding("credential_user_high", bad)))
    assert result["decision"] == "notified"
    assert "protected tag" in result["reason"]
    assert key_status() == {bad: "Active", good: "Active"}
    assert inline_policies() == set()
    assert len(gameday.notifications()) == 1


def test_allow_listed_principal_is_notified_not_touched(aws: None) -> None:
    overrides = {"core.principalAllowList": json.dumps([f"arn:aws:iam::123456789012:user/{USER}"])}
    sim = gameday.simulation(overrides)
    bad, good = make_user()
    result = only(sim.dispatch(finding("credential_user_high", bad)))
    assert result["decision"] == "notified"
    assert "allow-list" in result["reason"]
    assert key_status() == {bad: "Active", good: "Active"}


def test_dry_run_records_exactly_what_it_would_do(aws: None) -> None:
    sim = gameday.simulation({"credential.mode": "dry_run"})
    bad, good = make_user()
    result = only(sim.dispatch(finding("credential_user_high", bad)))
    assert result["decision"] == "dry_run"
    planned = [s["action"] for s in result["steps"] if s["status"] == "planned"]
    assert planned == [
        "deactivate_access_key",
        "attach_quarantine_policy",
        "revoke_sessions",
        "recheck_new_credentials",
    ]
    assert key_status() == {bad: "Active", good: "Active"}
    assert inline_policies() == set()
    items = incident_items(sim)
    assert [i["status"]["S"] for i in items] == ["dry_run"]
    assert "dry_run" in gameday.notifications()[0]["subject"]


@pytest.mark.parametrize(("mode", "decision"), [("notify", "notified"), ("off", "skipped")])
def test_notify_and_off_modes_change_nothing(aws: None, mode: str, decision: str) -> None:
    sim = gameday.simulation({"credential.mode": mode})
    bad, good = make_user()
    result = only(sim.dispatch(finding("credential_user_high", bad)))
    assert result["decision"] == decision
    assert key_status() == {bad: "Active", good: "Active"}
    assert inline_policies() == set()
    assert len(gameday.notifications()) == (1 if mode == "notify" else 0)


def _drop(event: dict[str, Any], *path: str) -> dict[str, Any]:
    node = event
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return event


def _set(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


BAD_INPUT = {
    "missing key id": (
        lambda e: _drop(e, "detail", "resource", "accessKeyDetails", "accessKeyId"),
        "accessKeyId: required field is missing",
    ),
    "severity as text": (lambda e: _set(e, "8", "detail", "severity"), "severity: expected a number"),
    "key id is not a key id": (
        lambda e: _set(e, "AKIA*", "detail", "resource", "accessKeyDetails", "accessKeyId"),
        "is not an access key id",
    ),
    "user name with a wildcard": (
        lambda e: _set(e, "*", "detail", "resource", "accessKeyDetails", "userName"),
        "userName: '*' is not a valid value",
    ),
    "resource is a list": (lambda e: _set(e, [], "detail", "resource", "accessKeyDetails"), "expected an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_rejected_with_a_clear_error_and_no_change(sim: Any, case: str, capsys: Any) -> None:
    bad, good = make_user()
    mutate, message = BAD_INPUT[case]
    event = mutate(finding("credential_user_high", bad))
    function = next(fid for fid in sim.functions if fid.startswith("CredentialFunction"))
    entry = sim.invoke(function, event)
    assert "error" not in entry
    assert entry["result"]["decision"] == "rejected"
    assert message in entry["result"]["reason"]
    assert any(
        isinstance(log, dict) and log.get("level") == "ERROR" and log.get("message") == "rejected invalid event"
        for log in entry["logs"]
    )
    assert any("InvalidEvents" in json.dumps(log) for log in entry["logs"])  # the EMF metric line
    assert key_status() == {bad: "Active", good: "Active"}
    assert inline_policies() == set()
    assert incident_items(sim) == []


def test_non_guardduty_source_is_rejected(sim: Any) -> None:
    bad, good = make_user()
    event = finding("credential_user_high", bad)
    event["source"] = "custom.attacker"
    function = next(fid for fid in sim.functions if fid.startswith("CredentialFunction"))
    assert gameday.dispatch(event) == []  # the rule does not route it
    result = sim.invoke(function, event)["result"]
    assert result["decision"] == "rejected"
    assert "source: 'custom.attacker' is not accepted" in result["reason"]
    assert key_status() == {bad: "Active", good: "Active"}
