"""Repeats, bursts and faults, through the synthesized rules (credential playbook as the carrier).

The behaviour lives in the engine, so every playbook built on `Run` gets it.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

import gameday
from gameday import calls
from tests.conftest import fresh, load_event

USER = "compromised-user"


def _user(name: str = USER, tags: list[dict[str, str]] | None = None) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName=name, Tags=tags or [])
    return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


def _event(key: str, name: str = USER) -> dict[str, Any]:
    """A new finding (its own finding id and event id) on the user's key."""
    event = fresh(load_event("guardduty/credential_user_high", AKIAIOSFODNN7EXAMPLE=key, **{USER: name}))
    if name != USER:
        event["id"], event["detail"]["id"] = str(uuid.uuid4()), uuid.uuid4().hex
    return event


def _repeat(event: dict[str, Any], count: int) -> dict[str, Any]:
    """GuardDuty re-publishes the open finding: same finding id, new event id, higher count."""
    again = fresh(event)
    again["id"] = str(uuid.uuid4())
    again["detail"]["service"]["count"] = count
    return again


def _one(results: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(results) == 1, results
    return results[0]


def _key_status(key: str, name: str = USER) -> str:
    keys = boto3.client("iam", region_name="us-east-1").list_access_keys(UserName=name)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key))


def _evidence_versions(sim: Any, incident_id: str) -> int:
    bucket = sim.environment("CredentialFunctionE8C59471")["EVIDENCE_BUCKET"]
    versions = boto3.client("s3", region_name="us-east-1").list_object_versions(
        Bucket=bucket, Prefix=f"incidents/{incident_id}/user-before-state"
    )
    return len(versions.get("Versions", []))


def _items(sim: Any, prefix: str) -> list[dict[str, Any]]:
    table = sim.environment("CredentialFunctionE8C59471")["INCIDENT_TABLE"]
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith(prefix)]


# --------------------------------------------------------------------------- repeats


def test_redelivered_event_does_nothing_new(sim: Any) -> None:
    key = _user()
    event = _event(key)
    first = _one(gameday.dispatch(event))["result"]
    assert first["decision"] == "acted"
    gameday.notifications()

    recorder = calls.Recorder()
    with recorder.active():
        again = _one(gameday.dispatch(event))["result"]

    assert again["decision"] == "skipped" and "already delivered" in again["reason"]
    assert again["steps"] == []
    # The only call is the claim that found the duplicate: no IAM call, no record, no notification.
    assert [(c.service, c.operation) for c in recorder.calls] == [("dynamodb", "TransactWriteItems")]
    assert gameday.notifications() == []
    assert len(_items(sim, "INCIDENT#")) == 1


def test_repeated_finding_reasserts_containment_without_new_evidence_or_storm(sim: Any) -> None:
    key = _user()
    event = _event(key)
    first = _one(gameday.dispatch(event))["result"]
    assert len(gameday.notifications()) == 1
    # The attacker (or a well-meaning admin) turns the key back on; GuardDuty repeats the finding.
    boto3.client("iam", region_name="us-east-1").update_access_key(UserName=USER, AccessKeyId=key, Status="Active")

    results = [_one(gameday.dispatch(_repeat(event, count)))["result"] for count in (2, 3, 4)]

    assert _key_status(key) == "Inactive"  # containment re-asserted
    assert {r["incident_id"] for r in results} == {first["incident_id"]}
    steps = {s["action"]: s for s in results[0]["steps"]}
    assert steps["deactivate_access_key"]["status"] == "succeeded"
    assert steps["capture_user_state"]["status"] == "skipped"
    assert "earlier run" in steps["capture_user_state"]["detail"]
    assert _evidence_versions(sim, first["incident_id"]) == 1  # no new capture
    assert len(_items(sim, "INCIDENT#")) == 1  # no new incident
    assert gameday.notifications() == []  # unchanged incident: no update inside the window
    item = _items(sim, "INCIDENT#")[0]
    assert item["repeats"]["N"] == "3"
    assert item["event_id"]["S"] == event["id"]  # the first delivery stays the incident's origin


def test_unchanged_repeat_notifies_again_after_the_window(sim: Any) -> None:
    sim_zero = gameday.simulation({"core.repeatNotifyMinutes": 0})
    key = _user()
    event = _event(key)
    fid = "CredentialFunctionE8C59471"
    sim_zero.invoke(fid, event)
    sim_zero.invoke(fid, _repeat(event, 2))
    subjects = [n["subject"] for n in gameday.notifications()]
    assert len(subjects) == 2 and subjects[1].startswith("[credential] update: ")


def test_failed_run_is_retried_by_lambda_and_the_retry_completes_the_incident(sim: Any) -> None:
    key = _user()
    event = _event(key)
    fault = calls.Fault("iam", "PutUserPolicy", "revoke_sessions", "Throttling")
    recorder = calls.Recorder(faults=[fault])
    with recorder.active():
        failed = _one(gameday.dispatch(event))
    assert failed["error"]["type"] == "RemediationFailed"
    assert failed["result"]["decision"] == "partial"
    partial = [n for n in gameday.notifications() if "partial" in n["subject"]]
    assert partial and "revoke_sessions" in partial[0]["message"] and "[Throttling]" in partial[0]["message"]

    retry = _one(gameday.dispatch(event))  # Lambda's retry: the SAME event id
    assert retry.get("error") is None
    assert retry["result"]["decision"] == "acted"
    item = _items(sim, "INCIDENT#")[0]
    assert item["status"]["S"] == "contained"
    assert _evidence_versions(sim, retry["result"]["incident_id"]) == 1  # evidence not taken twice
    assert any("acted" in n["subject"] for n in gameday.notifications())  # status changed: notified


def test_released_incident_is_not_recontained_by_a_repeat(sim: Any) -> None:
    key = _user()
    event = _event(key)
    first = _one(gameday.dispatch(event))["result"]
    table = sim.environment("CredentialFunctionE8C59471")["INCIDENT_TABLE"]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"INCIDENT#{first['incident_id']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "released"}},
    )
    iam = boto3.client("iam", region_name="us-east-1")
    iam.update_access_key(UserName=USER, AccessKeyId=key, Status="Active")

    again = _one(gameday.dispatch(_repeat(event, 2)))["result"]

    assert again["decision"] == "notified" and "released" in again["reason"]
    assert _key_status(key) == "Active"


# --------------------------------------------------------------------------- circuit breaker

BREAKER = {
    "core.breakerLimit": 2,
    "credential.actions": [
        "deactivate_access_key",
        "attach_quarantine_policy",
        "capture_user_state",
        "remove_from_groups",
    ],
}


def test_circuit_breaker_turns_destructive_steps_into_notify_only_and_alerts_once(aws: None) -> None:
    sim = gameday.simulation(BREAKER)
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_group(GroupName="admins")
    results = []
    for n in range(4):
        name = f"user-{n}"
        key = _user(name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        results.append(sim.invoke("CredentialFunctionE8C59471", _event(key, name))["result"])

    steps = [{s["action"]: s for s in r["steps"]}["remove_from_groups"] for r in results]
    assert [s["status"] for s in steps] == ["succeeded", "succeeded", "skipped", "skipped"]
    assert "circuit breaker open" in steps[2]["detail"]
    assert iam.list_groups_for_user(UserName="user-3")["Groups"]  # not removed
    assert _key_status_of("user-3") == "Inactive"  # containment (not destructive) still ran
    alerts = [n for n in gameday.notifications() if n["subject"].startswith("[circuit breaker]")]
    assert len(alerts) == 1
    counter = _items(sim, "BREAKER#")
    assert len(counter) == 1 and counter[0]["count"]["N"] == "2"


def _key_status_of(name: str) -> str:
    keys = boto3.client("iam", region_name="us-east-1").list_access_keys(UserName=name)["AccessKeyMetadata"]
    return str(keys[0]["Status"])


def test_breaker_counts_with_one_conditional_update_per_destructive_action(sim: Any) -> None:
    """Atomicity is DynamoDB's: a single UpdateItem with ADD and a limit condition, no read-modify-write."""
    from remediation import ledger, settings

    env = sim.environment("CredentialFunctionE8C59471")
    functions = [settings.load({**env, "BREAKER_LIMIT": "3", "PLAYBOOK": name}) for name in ("credential", "instance")]
    recorder = calls.Recorder()
    with recorder.active():
        allowed = [ledger.take_destructive_slot(functions[i % 2])[0] for i in range(6)]
    assert allowed == [True, True, True, False, False, False]  # one counter per account, shared by playbooks
    assert {(c.service, c.operation) for c in recorder.calls} == {("dynamodb", "UpdateItem")}
    params = recorder.calls[0].params
    assert params["UpdateExpression"].startswith("ADD #n :one")
    assert params["ConditionExpression"] == "attribute_not_exists(#n) OR #n < :limit"
    assert params["Key"]["pk"]["S"].startswith("BREAKER#123456789012#")


# --------------------------------------------------------------------------- faults


def test_throttling_is_retried_with_backoff_not_lost(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.retries import standard

    from remediation import clients

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    key = _user()
    attempts: list[list[int]] = []

    def throttle(client: Any) -> None:
        if client.meta.service_model.service_name == "iam":
            attempts.append(calls.throttle_first(client, "UpdateAccessKey", times=3))

    clients.add_hook(throttle)
    try:
        result = _one(gameday.dispatch(_event(key)))["result"]
    finally:
        clients.remove_hook(throttle)
    step = next(s for s in result["steps"] if s["action"] == "deactivate_access_key")
    assert step["status"] == "succeeded"
    assert len(attempts[0]) == 4  # three throttled attempts, then success
    assert _key_status(key) == "Inactive"


def test_retry_configuration_is_standard_mode_with_bounded_timeouts() -> None:
    from remediation.clients import RETRY_CONFIG

    assert RETRY_CONFIG.retries["mode"] == "standard"
    assert RETRY_CONFIG.retries.get("total_max_attempts", 0) >= 5
    assert RETRY_CONFIG.connect_timeout <= 5 and RETRY_CONFIG.read_timeout <= 20


# --------------------------------------------------------------------------- act first, IAM guardrail


def test_containment_is_the_first_iam_call_for_an_iam_user(sim: Any) -> None:
    key = _user()
    recorder = calls.Recorder()
    with recorder.active():
        result = _one(gameday.dispatch(_event(key)))["result"]
    assert result["decision"] == "acted"
    sequence = [(c.service, c.operation) for c in recorder.calls]
    assert sequence[0] == ("dynamodb", "TransactWriteItems")  # the delivery claim (idempotency)
    assert sequence[1] == ("iam", "UpdateAccessKey")  # then containment, before any read


def test_protected_principal_is_refused_by_iam_and_left_untouched(sim: Any) -> None:
    key = _user("vip", tags=[{"Key": "AutoRemediation", "Value": "skip"}])
    result = _one(gameday.dispatch(_event(key, "vip")))["result"]
    assert result["decision"] == "notified"
    assert "protected tag" in result["reason"] and "enforced by IAM" in result["reason"]
    assert _key_status(key, "vip") == "Active"
    assert boto3.client("iam", region_name="us-east-1").list_user_policies(UserName="vip")["PolicyNames"] == []


def test_missing_guardrail_is_detected_and_the_change_undone(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from gameday import guardrails

    monkeypatch.setattr(guardrails, "deny_statements", lambda template, function_id: [])
    key = _user("vip", tags=[{"Key": "AutoRemediation", "Value": "skip"}])
    result = _one(gameday.dispatch(_event(key, "vip")))["result"]
    assert result["decision"] == "notified" and "Deny is missing" in result["reason"]
    assert [s["action"] for s in result["steps"]] == [
        "deactivate_access_key",
        "inspect_principal",
        "restore_access_key",
    ]
    assert _key_status(key, "vip") == "Active"


def test_template_denies_mutating_actions_on_protected_principals(template: dict[str, Any]) -> None:
    """Every function role carries one Deny of its changing actions on protected-tagged resources."""
    statements = {
        logical_id.split("RoleDefaultPolicy")[0]: s
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
    }
    denied = {
        "Credential": ["iam:DeleteLoginProfile", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:UpdateAccessKey"],
        "Instance": [
            "autoscaling:DetachInstances",
            "autoscaling:EnterStandby",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateSecurityGroup",
            "ec2:CreateSnapshot",
            "ec2:CreateTags",
            "ec2:ModifyInstanceAttribute",
            "ec2:ModifyNetworkInterfaceAttribute",
            "ec2:RevokeSecurityGroupEgress",
            "elasticloadbalancing:DeregisterTargets",
            "iam:PutRolePolicy",
        ],
        "Trail": [
            "cloudtrail:AddTags",
            "cloudtrail:CreateTrail",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:PutInsightSelectors",
            "cloudtrail:StartLogging",
            "cloudtrail:UpdateTrail",
        ],
        "RiskyChange": "ec2:RevokeSecurityGroupIngress",
        "Health": ["autoscaling:SetInstanceHealth", "ec2:RebootInstances", "ec2:StartInstances", "ec2:StopInstances"],
        "AlarmLifecycle": ["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm", "iam:CreateServiceLinkedRole"],
    }
    functions = {
        lid.split("Function")[0] for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    }
    assert set(denied) <= functions  # one Deny per playbook function, no other Deny anywhere
    assert statements == {
        role: {
            "Action": actions,
            "Condition": {"StringEquals": {"aws:ResourceTag/AutoRemediation": "skip"}},
            "Effect": "Deny",
            "Resource": "*",
            "Sid": "NeverChangeProtectedResources",
        }
        for role, actions in denied.items()
    }


def test_functions_receive_reliability_settings(template: dict[str, Any]) -> None:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            env = resource["Properties"]["Environment"]["Variables"]
            assert env["BREAKER_LIMIT"] == "20" and env["BREAKER_WINDOW_MINUTES"] == "60"
            assert env["REPEAT_NOTIFY_MINUTES"] == "60"
            assert int(env["FUNCTION_TIMEOUT"]) == resource["Properties"]["Timeout"]
            assert resource["Properties"]["ReservedConcurrentExecutions"] == 5
