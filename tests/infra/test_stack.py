"""Template assertions on the stack synthesized with cdk.json's context (as `cdk synth` does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.catalog import RECORD_PERMISSIONS, REGISTRY
from stacks.config import ConfigError, parse_context
from stacks.constructs.playbook_function import protected_guardrail_actions

ROOT = Path(__file__).resolve().parents[2]


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def one(template: dict[str, Any], kind: str, prefix: str = "") -> dict[str, Any]:
    found = [v for k, v in resources(template, kind).items() if k.startswith(prefix)]
    assert len(found) == 1, (kind, prefix, len(found))
    return found[0]["Properties"]


def role_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role (which has no managed policies)."""
    found = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if any(r.get("Ref", "").startswith(role_prefix) for r in policy["Properties"].get("Roles", []))
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    role = next(v for k, v in resources(template, "AWS::IAM::Role").items() if k.startswith(role_prefix))
    assert "ManagedPolicyArns" not in role["Properties"]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def role_actions(template: dict[str, Any], role_prefix: str) -> set[str]:
    """Every IAM action allowed to the role; besides Allows, only the protected-tag Deny may appear."""
    granted: set[str] = set()
    for statement in role_statements(template, role_prefix):
        if statement["Effect"] == "Deny":
            assert statement["Sid"] == "NeverChangeProtectedResources", statement
            continue
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        granted.update(_actions(statement))
    return granted


def test_credential_rule_pattern_is_exact(template: dict[str, Any]) -> None:
    rule = one(template, "AWS::Events::Rule", "GuardDutyCredentialFindings")
    families = [
        "CredentialAccess",
        "DefenseEvasion",
        "Discovery",
        "Exfiltration",
        "Impact",
        "InitialAccess",
        "Persistence",
        "Policy",
        "PenTest",
        "PrivilegeEscalation",
        "Recon",
        "Stealth",
        "UnauthorizedAccess",
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "resource": {"resourceType": ["AccessKey"]},
            "type": [{"prefix": f"{family}:IAMUser/"} for family in families],
            "severity": [{"numeric": [">=", 7]}],
        },
    }
    assert rule["State"] == "ENABLED"
    assert rule["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("CredentialFunction")


def test_credential_role_holds_exactly_what_its_actions_declare(template: dict[str, Any]) -> None:
    config = parse_context(json.loads((ROOT / "cdk.json").read_text())["context"])
    declared = {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    actions = ("inspect_principal", "lookup_key_owner", *config.credential.all_actions, "restore_access_key")
    for name in actions:
        declared |= REGISTRY[name].iam_actions
    for permission in RECORD_PERMISSIONS:
        declared |= set(permission.actions)
    granted = role_actions(template, "CredentialRole")
    assert granted == declared
    assert {"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem"} <= granted
    denies = [s for s in role_statements(template, "CredentialRole") if s["Effect"] == "Deny"]
    assert denies == [
        {
            "Action": protected_guardrail_actions(actions),
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/{config.core.protected_tag_key}": config.core.protected_tag_value}
            },
            "Effect": "Deny",
            "Resource": "*",
            "Sid": "NeverChangeProtectedResources",
        }
    ]
    assert set(protected_guardrail_actions(actions)) <= granted
    assert not any("*" in action for action in granted)
    assert "iam:DeleteAccessKey" not in granted and "iam:DeleteUser" not in granted


def test_every_action_declares_permissions_and_no_wildcard_action() -> None:
    assert REGISTRY
    for spec in REGISTRY.values():
        assert spec.permissions, spec.name
        for permission in spec.permissions:
            assert permission.actions and permission.resources, spec.name
            assert all(":" in a and "*" not in a for a in permission.actions), spec.name


def test_storage_and_messaging_are_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    topic = one(template, "AWS::SNS::Topic")
    assert topic["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("CoreKey")
    assert one(template, "AWS::SQS::Queue")["SqsManagedSseEnabled"] is True
    table = one(template, "AWS::DynamoDB::Table")
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    evidence = one(template, "AWS::S3::Bucket", "CoreEvidence")
    rule = evidence["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert evidence["VersioningConfiguration"] == {"Status": "Enabled"}
    assert evidence["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert evidence["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365
    key = one(template, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    for kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for policy in resources(template, kind).values():
            document = policy["Properties"]["PolicyDocument"]
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in document["Statement"]
            ), kind


def test_function_uses_asset_layer_log_group_retries_and_failure_queue(template: dict[str, Any]) -> None:
    fn = one(template, "AWS::Lambda::Function", "CredentialFunction")
    assert fn["Handler"] == "handlers.credential.lambda_handler"
    assert fn["Runtime"] == "python3.14"
    assert "S3Key" in fn["Code"]
    assert fn["ReservedConcurrentExecutions"] == 5
    layer = fn["Layers"][0]["Fn::Sub"]
    assert layer.startswith(
        "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3"
    )
    env = fn["Environment"]["Variables"]
    assert env["MODE"] == "enforce" and env["PLAYBOOK"] == "credential"
    assert json.loads(env["PLAYBOOK_CONFIG"])["min_severity"] == 7
    assert fn["LoggingConfig"]["LogGroup"]["Ref"].startswith("CredentialLogs")
    logs = one(template, "AWS::Logs::LogGroup", "CredentialLogs")
    assert logs["RetentionInDays"] == 365
    invoke = one(template, "AWS::Lambda::EventInvokeConfig", "CredentialAsync")
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0].startswith("CoreFailureQueue")


def test_failures_and_queue_depth_alarm_the_topic(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    for metric in ("Errors", "ApproximateNumberOfMessagesVisible"):
        assert by_metric[metric]["AlarmActions"][0]["Ref"].startswith("CoreNotifications")
        assert by_metric[metric]["TreatMissingData"] == "notBreaching"


def test_context_tuning_changes_the_template() -> None:
    from gameday.template import synthesize

    tuned = synthesize(
        {"credential.minSeverity": "4", "credential.mode": "dry_run", "core.notificationEmails": "soc@example.com"}
    )
    rule = one(tuned, "AWS::Events::Rule", "GuardDutyCredentialFindings")
    assert rule["EventPattern"]["detail"]["severity"] == [{"numeric": [">=", 4]}]
    assert one(tuned, "AWS::Lambda::Function", "CredentialFunction")["Environment"]["Variables"]["MODE"] == "dry_run"
    assert one(tuned, "AWS::SNS::Subscription")["Endpoint"] == "soc@example.com"


def test_bad_context_fails_synthesis_naming_the_key() -> None:
    import app

    with pytest.raises(ConfigError, match=r"credential\.mode: 'kill' is not allowed"):
        app.build_app(overrides={"credential.mode": "kill"}, nag=False)


def test_cdk_nag_reports_no_unacknowledged_error(tmp_path: Path) -> None:
    """Synthesis with AwsSolutions checks fails on any unacknowledged finding."""
    import app

    assembly = app.build_app(outdir=str(tmp_path)).synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    failures = [v for plugin in report.get("pluginReports", []) for v in plugin.get("violations", [])]
    assert failures == []
    assert assembly.get_stack_by_name("AutoRemediation").template


def test_cfn_lint_is_clean(tmp_path: Path) -> None:
    import app

    app.build_app(outdir=str(tmp_path), nag=False).synth()
    template_file = tmp_path / "AutoRemediation.template.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(ROOT / ".cfnlintrc.yaml"),
            "--",
            str(template_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
