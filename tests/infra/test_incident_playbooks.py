"""Template assertions for the instance, trail and risky-change playbooks: exact patterns and permissions."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.catalog import permissions_for
from stacks.config import parse_context
from stacks.constructs.playbook_function import protected_guardrail_actions

EVIDENCE = "@evidence"
TABLE = "@table"
TOPIC = "@topic"
KEY = "@key"
QUEUE = "@queue"
LOGS = "@logs"
E = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
ROLE = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
USER = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"
ASG = "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*"
SNAPSHOT = "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*"
TRAIL = "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"

RECORD = {
    ("logs:CreateLogStream", LOGS),
    ("logs:PutLogEvents", LOGS),
    ("dynamodb:ConditionCheckItem", TABLE),
    ("dynamodb:DeleteItem", TABLE),
    ("dynamodb:GetItem", TABLE),
    ("dynamodb:PutItem", TABLE),
    ("dynamodb:UpdateItem", TABLE),
    ("s3:PutObject", EVIDENCE),
    ("sns:Publish", TOPIC),
    ("kms:Decrypt", KEY),
    ("kms:GenerateDataKey", KEY),
    ("sqs:GetQueueAttributes", QUEUE),
    ("sqs:GetQueueUrl", QUEUE),
    ("sqs:SendMessage", QUEUE),
}


def _resource(value: Any, resources: dict[str, Any]) -> str:
    """A readable token for a policy resource: Fn::Sub text, `*`, or @table/@evidence/... for stack resources."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    if "Fn::Join" in value:
        inner = value["Fn::Join"][1][0]
        return _resource(inner, resources) if inner != value else "?"
    logical = value.get("Ref") or value.get("Fn::GetAtt", [""])[0]
    kind = resources[logical]["Type"]
    return {
        "AWS::DynamoDB::Table": TABLE,
        "AWS::S3::Bucket": EVIDENCE,
        "AWS::SNS::Topic": TOPIC,
        "AWS::KMS::Key": KEY,
        "AWS::SQS::Queue": QUEUE,
        "AWS::Logs::LogGroup": LOGS,
    }.get(kind, logical)


def _statements(template: dict[str, Any], construct: str) -> list[dict[str, Any]]:
    found = [
        s
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and lid.startswith(f"{construct}RoleDefaultPolicy")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert found, f"no policy for {construct}"
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(template: dict[str, Any], construct: str) -> set[tuple[str, str]]:
    """Every (IAM action, resource) pair the playbook function's role is allowed.

    The only other statement a role may hold is the protected-tag Deny (see `guardrail`):
    no Allow carries a condition, and no second Deny hides anywhere.
    """
    resources = template["Resources"]
    pairs: set[tuple[str, str]] = set()
    denies = 0
    for statement in _statements(template, construct):
        if statement["Effect"] == "Deny":
            assert statement.get("Sid") == GUARDRAIL_SID, statement
            denies += 1
            continue
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        pairs |= {
            (a, _resource(r, resources)) for a in _list(statement["Action"]) for r in _list(statement["Resource"])
        }
    assert denies <= 1, construct
    assert pairs, f"no policy for {construct}"
    return pairs


GUARDRAIL_SID = "NeverChangeProtectedResources"
GUARDRAIL_CONDITION = {"StringEquals": {"aws:ResourceTag/AutoRemediation": "skip"}}


def guardrail(template: dict[str, Any], construct: str) -> dict[str, Any]:
    """The role's one Deny statement, its actions as a sorted list."""
    denies = [s for s in _statements(template, construct) if s["Effect"] == "Deny"]
    assert len(denies) == 1, (construct, denies)
    return denies[0] | {"Action": sorted(_list(denies[0]["Action"]))}


def expected_guardrail(actions: list[str], allowed: set[tuple[str, str]]) -> dict[str, Any]:
    """Deny of exactly the changing IAM actions of the mutating steps, on resources with the protected tag."""
    denied = protected_guardrail_actions(actions)
    assert denied and set(denied) <= {a for a, _ in allowed}  # denies only what the role could do
    return {
        "Action": denied,
        "Condition": GUARDRAIL_CONDITION,
        "Effect": "Deny",
        "Resource": "*",
        "Sid": GUARDRAIL_SID,
    }


def pattern(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = [
        r for lid, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule" and lid.startswith(prefix)
    ]
    assert len(found) == 1, prefix
    return dict(found[0]["Properties"]["EventPattern"])


def declared(actions: list[str]) -> set[tuple[str, str]]:
    return {(a, r) for p in permissions_for(actions) for a in p.actions for r in p.resources}


# ----------------------------------------------------------------------------- instance


def test_instance_rule_pattern(template: dict[str, Any]) -> None:
    config = parse_context({})
    assert pattern(template, "GuardDutyInstanceFindings") == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "resource": {"resourceType": ["Instance"]},
            "type": [{"prefix": t[:-1]} for t in config.instance.finding_types],
            "severity": [{"numeric": [">=", 7]}],
        },
    }
    assert {"prefix": "Backdoor:EC2/"} in pattern(template, "GuardDutyInstanceFindings")["detail"]["type"]


INSTANCE_ACTIONS = [
    "inspect_instance",
    "preserve_instance",
    "tag_incident",
    "snapshot_volumes",
    "capture_instance",
    "isolate_network",
    "leave_auto_scaling_group",
    "deregister_targets",
    "revoke_instance_role_sessions",
]
INSTANCE_DEFAULT = RECORD | {
    ("autoscaling:DescribeAutoScalingGroups", "*"),
    ("autoscaling:DescribeAutoScalingInstances", "*"),
    ("ec2:DescribeInstanceAttribute", "*"),
    ("ec2:DescribeInstances", "*"),
    ("ec2:DescribeNetworkInterfaces", "*"),
    ("ec2:DescribeSecurityGroups", "*"),
    ("elasticloadbalancing:DescribeTargetGroups", "*"),
    ("elasticloadbalancing:DescribeTargetHealth", "*"),
    ("autoscaling:DetachInstances", ASG),
    ("autoscaling:EnterStandby", ASG),
    ("ec2:GetConsoleOutput", f"{E}:instance/*"),
    ("ec2:ModifyInstanceAttribute", f"{E}:instance/*"),
    ("ec2:CreateTags", f"{E}:instance/*"),
    ("ec2:CreateTags", f"{E}:volume/*"),
    ("ec2:CreateTags", "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*"),
    ("ec2:CreateTags", f"{E}:security-group/*"),
    ("ec2:CreateSnapshot", f"{E}:volume/*"),
    ("ec2:CreateSnapshot", SNAPSHOT),
    ("ec2:ModifyNetworkInterfaceAttribute", f"{E}:network-interface/*"),
    ("ec2:ModifyNetworkInterfaceAttribute", f"{E}:security-group/*"),
    ("ec2:AuthorizeSecurityGroupIngress", f"{E}:security-group/*"),
    ("ec2:AuthorizeSecurityGroupEgress", f"{E}:security-group/*"),
    ("ec2:RevokeSecurityGroupEgress", f"{E}:security-group/*"),
    ("ec2:CreateSecurityGroup", f"{E}:security-group/*"),
    ("ec2:CreateSecurityGroup", f"{E}:vpc/*"),
    (
        "elasticloadbalancing:DeregisterTargets",
        "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/*",
    ),
    ("iam:GetInstanceProfile", "arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/*"),
    ("iam:GetRolePolicy", ROLE),
    ("iam:PutRolePolicy", ROLE),
}


def test_instance_role_has_exactly_its_permissions(template: dict[str, Any]) -> None:
    assert granted(template, "Instance") == INSTANCE_DEFAULT
    assert guardrail(template, "Instance") == expected_guardrail(INSTANCE_ACTIONS, INSTANCE_DEFAULT)
    assert guardrail(template, "Instance")["Action"] == [
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
    ]
    # no destructive or IAM-user permission unless configured
    assert not {a for a, _ in granted(template, "Instance")} & {
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "iam:PutUserPolicy",
        "iam:PassRole",
        "ec2:CreateFlowLogs",
    }


def test_instance_options_add_exactly_their_permissions() -> None:
    from gameday.template import synthesize

    overrides = {
        "instance.finalAction": "terminate",
        "instance.flowLogs": True,
        "instance.disassociateElasticIp": True,
        "instance.quarantineInstanceProfile": True,
    }
    tuned = synthesize(overrides)
    allowed = granted(tuned, "Instance")
    options = ["enable_flow_logs", "disassociate_elastic_ip", "replace_instance_profile", "terminate_instance"]
    assert guardrail(tuned, "Instance") == expected_guardrail(INSTANCE_ACTIONS + options, allowed)
    assert {"ec2:TerminateInstances", "ec2:DisassociateAddress", "ec2:ReplaceIamInstanceProfileAssociation"} <= set(
        guardrail(tuned, "Instance")["Action"]
    )
    extra = allowed - INSTANCE_DEFAULT
    assert extra == {
        ("ec2:TerminateInstances", f"{E}:instance/*"),
        ("ec2:CreateFlowLogs", f"{E}:network-interface/*"),
        ("ec2:CreateFlowLogs", f"{E}:vpc-flow-log/*"),
        ("ec2:DescribeFlowLogs", "*"),
        ("logs:CreateLogDelivery", "*"),
        ("logs:DeleteLogDelivery", "*"),
        ("ec2:DescribeAddresses", "*"),
        ("ec2:DisassociateAddress", f"{E}:elastic-ip/*"),
        ("ec2:DisassociateAddress", f"{E}:network-interface/*"),
        ("ec2:DescribeIamInstanceProfileAssociations", "*"),
        ("ec2:ReplaceIamInstanceProfileAssociation", f"{E}:instance/*"),
        ("ec2:AssociateIamInstanceProfile", f"{E}:instance/*"),
        ("iam:PassRole", "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-quarantined-instance"),
    }


@pytest.mark.parametrize("playbook", ["Instance"])
def test_granted_equals_declared(template: dict[str, Any], playbook: str) -> None:
    """The role holds what the configured actions declare, nothing else (resource tokens aside)."""
    actions = {"Instance": INSTANCE_ACTIONS}[playbook]
    allowed = granted(template, playbook)
    assert {a for a, _ in allowed} - {a for a, _ in RECORD} == {a for a, _ in declared(actions)} - {
        a for a, _ in RECORD
    }
    assert guardrail(template, playbook) == expected_guardrail(actions, allowed)


# ----------------------------------------------------------------------------- trail


def test_trail_rule_pattern(template: dict[str, Any]) -> None:
    assert pattern(template, "TrailTampering") == {
        "source": ["aws.cloudtrail"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["cloudtrail.amazonaws.com"],
            "eventName": ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"],
        },
    }


def test_trail_recorder_schedule_targets_the_trail_function(template: dict[str, Any]) -> None:
    from gameday.template import scheduled_rules

    found = [(s, t) for lid, s, t in scheduled_rules(template) if lid.startswith("TrailConfigRecorder")]
    assert len(found) == 1
    schedule, targets = found[0]
    assert schedule == "rate(1 hour)"
    assert len(targets) == 1 and targets[0].startswith("TrailFunction")


TRAIL_ACTIONS = ["record_trail_config", "restart_logging", "recreate_trail", "restore_trail_config"]
TRAIL_DEFAULT = RECORD | {
    ("cloudtrail:DescribeTrails", "*"),
    *{
        (a, TRAIL)
        for a in (
            "cloudtrail:GetEventSelectors",
            "cloudtrail:GetInsightSelectors",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:ListTags",
            "cloudtrail:StartLogging",
            "cloudtrail:CreateTrail",
            "cloudtrail:AddTags",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:PutInsightSelectors",
            "cloudtrail:UpdateTrail",
        )
    },
}


def test_trail_role_has_exactly_its_permissions(template: dict[str, Any]) -> None:
    assert granted(template, "Trail") == TRAIL_DEFAULT
    assert guardrail(template, "Trail") == expected_guardrail(TRAIL_ACTIONS, TRAIL_DEFAULT)


def test_trail_actor_containment_adds_exactly_the_credential_actions() -> None:
    from gameday.plan import context
    from gameday.template import synthesize

    tuned = synthesize({"trail.containActor": True})
    allowed = granted(tuned, "Trail")
    actor = list(parse_context(context({"trail.containActor": True})).trail.actor_actions)
    actions = [
        *TRAIL_ACTIONS,
        "inspect_principal",
        *actor,
        *(["revoke_sessions"] if "revoke_sessions" not in actor else []),
    ]
    assert guardrail(tuned, "Trail") == expected_guardrail(actions, allowed)
    assert {"iam:UpdateAccessKey", "iam:PutUserPolicy", "iam:PutRolePolicy"} <= set(guardrail(tuned, "Trail")["Action"])
    extra = allowed - TRAIL_DEFAULT
    assert extra == {
        ("iam:ListUserTags", USER),
        ("iam:GetRole", ROLE),
        ("iam:UpdateAccessKey", USER),
        ("iam:ListAccessKeys", USER),
        ("iam:PutUserPolicy", USER),
        ("iam:GetUserPolicy", USER),
        ("iam:PutRolePolicy", ROLE),
        ("iam:GetRolePolicy", ROLE),
    }


# ----------------------------------------------------------------------------- risky change


def test_world_open_ingress_rule_pattern(template: dict[str, Any]) -> None:
    assert pattern(template, "WorldOpenAdminIngress") == {
        "source": ["aws.ec2"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": ["AuthorizeSecurityGroupIngress"],
            "errorCode": [{"exists": False}],
            "$or": [
                {"requestParameters": {"ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}},
                {"requestParameters": {"ipPermissions": {"items": {"ipv6Ranges": {"items": {"cidrIpv6": ["::/0"]}}}}}},
            ],
        },
    }


def test_root_sign_in_rule_pattern(template: dict[str, Any]) -> None:
    assert pattern(template, "RootConsoleSignIn") == {
        "source": ["aws.signin"],
        "detail-type": ["AWS Console Sign In via CloudTrail"],
        "detail": {"eventName": ["ConsoleLogin"], "userIdentity": {"type": ["Root"]}},
    }


def test_risky_change_role_has_exactly_its_permissions(template: dict[str, Any]) -> None:
    allowed = granted(template, "RiskyChange")
    assert allowed == RECORD | {
        ("ec2:DescribeSecurityGroups", "*"),
        ("ec2:DescribeSecurityGroupRules", "*"),
        ("ec2:RevokeSecurityGroupIngress", f"{E}:security-group/*"),
    }
    assert guardrail(template, "RiskyChange") == expected_guardrail(
        ["inspect_security_group", "revoke_ingress_rules"], allowed
    )
    assert guardrail(template, "RiskyChange")["Action"] == ["ec2:RevokeSecurityGroupIngress"]


# ----------------------------------------------------------------------------- health -> credential


def test_health_credentials_exposed_routes_to_the_credential_function(template: dict[str, Any]) -> None:
    assert pattern(template, "HealthCredentialsExposed") == {
        "source": ["aws.health"],
        "detail-type": ["AWS Health Event"],
        "detail": {"service": ["RISK"], "eventTypeCode": ["AWS_RISK_CREDENTIALS_EXPOSED"]},
    }
    rule = next(
        r
        for lid, r in template["Resources"].items()
        if lid.startswith("HealthCredentialsExposed") and r["Type"] == "AWS::Events::Rule"
    )
    assert rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("CredentialFunction")
    assert ("iam:GetAccessKeyLastUsed", USER) in granted(template, "Credential")


def test_new_rules_route_the_fixtures(template: dict[str, Any]) -> None:
    """Each fixture matches exactly the rule meant for it (real-format events against the exact patterns)."""
    from gameday.patterns import matches
    from tests.conftest import load_event

    expected = {
        "guardduty/instance_actor_high": "GuardDutyInstanceFindings",
        "cloudtrail/stop_logging": "TrailTampering",
        "cloudtrail/stop_logging_failed": "TrailTampering",
        "cloudtrail/delete_trail": "TrailTampering",
        "cloudtrail/update_trail_weaken": "TrailTampering",
        "cloudtrail/put_event_selectors_weaken": "TrailTampering",
        "cloudtrail/authorize_sg_ingress_ssh_world": "WorldOpenAdminIngress",
        "cloudtrail/authorize_sg_ingress_rdp_ipv6": "WorldOpenAdminIngress",
        "cloudtrail/authorize_sg_ingress_https_world": "WorldOpenAdminIngress",  # port checked in code
        "signin/root_console_login": "RootConsoleSignIn",
        "signin/root_console_login_mfa": "RootConsoleSignIn",
        "health/risk_credentials_exposed": "HealthCredentialsExposed",
    }
    rules = {
        lid: r["Properties"]["EventPattern"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    }
    for fixture, rule in expected.items():
        hits = [lid for lid, p in rules.items() if matches(p, load_event(fixture))]
        assert len(hits) == 1 and hits[0].startswith(rule), (fixture, hits)
    assert not [lid for lid, p in rules.items() if matches(p, load_event("guardduty/instance_target_bruteforce"))]
