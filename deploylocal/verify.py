"""Compare what CloudFormation created in the emulator with the synthesized template.

Every expected value comes from the template (the one the CDK CLI just deployed), with
Ref / GetAtt / Sub / Join resolved against the physical ids CloudFormation reports
(`list_stack_resources`) and the attributes the emulator's APIs report for them. Each
resource gets one row: which properties were compared, which differ, and which the
emulator does not keep (so they are NOT verified here; the template tests cover them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from gameday import account
from gameday.remote import DeployedStack

# Properties moto's CloudFormation accepts but does not apply: not verifiable here.
NOT_KEPT: dict[str, tuple[str, ...]] = {
    "AWS::DynamoDB::Table": ("PointInTimeRecoverySpecification", "SSESpecification", "TimeToLiveSpecification"),
    "AWS::S3::Bucket": (
        "VersioningConfiguration",
        "PublicAccessBlockConfiguration",
        "LifecycleConfiguration",
        "LoggingConfiguration",
        "OwnershipControls",
        "BucketEncryption.BucketKeyEnabled",
    ),
    "AWS::Lambda::Function": ("LoggingConfig",),
    "AWS::IAM::Role": ("ManagedPolicyArns",),
}

# Resource types moto's CloudFormation skips entirely ("No Moto CloudFormation support").
# Found at run time (listed by the stack without a logical id); this table explains them.
SKIPPED_MEANING = {
    "AWS::CloudWatch::Alarm": "no alarm exists: failure and DLQ-depth alarms are checked on the template only",
    "AWS::S3::BucketPolicy": "no TLS-only / log-delivery bucket policy is applied",
    "AWS::SQS::QueuePolicy": "no TLS-only queue policy is applied",
    "AWS::SNS::TopicPolicy": "no TLS-only topic policy is applied",
    "AWS::SNS::Subscription": "no e-mail subscription exists",
    "AWS::Lambda::EventInvokeConfig": "no async retry / on-failure destination is configured",
    "AWS::CDK::Metadata": "CDK version metadata (no AWS resource)",
}

# Where the emulator renders an attribute differently from AWS; expected values use its form.
EMULATOR_FORMS = [
    "AWS::Logs::LogGroup Arn: moto renders it without AWS's trailing ':*'",
    "AWS::Lambda::Function Layers: dropped on create; on update moto resolves the ARN in its own "
    "account, so only layer name and version are compared",
]


@dataclass
class Check:
    """One resource: compared properties, differences, and what could not be verified."""

    logical_id: str
    type: str
    physical_id: str = ""
    compared: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_verified: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def status(self) -> str:
        if self.skipped:
            return "NOT CREATED (emulator skips type)"
        return "FAIL" if self.problems else "ok"

    def expect(self, what: str, expected: Any, actual: Any) -> None:
        self.compared.append(what)
        if _canonical(expected) != _canonical(actual):
            self.problems.append(f"{what}: expected {_short(expected)}, deployed {_short(actual)}")


@dataclass
class Verification:
    label: str
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.problems for c in self.checks)

    @property
    def skipped_types(self) -> list[str]:
        return sorted({c.type for c in self.checks if c.skipped})

    def table(self) -> str:
        rows = [
            f"Verification after {self.label}: {'PASS' if self.ok else 'FAIL'}",
            f"{'resource':<58} {'type':<28} result",
        ]
        for c in self.checks:
            rows.append(f"{c.logical_id[:58]:<58} {c.type[:28]:<28} {c.status}")
            if c.compared:
                rows.append(f"    compared: {', '.join(c.compared)}")
            for problem in c.problems:
                rows.append(f"    DIFFERS: {problem}")
            if c.not_verified:
                rows.append(f"    not verified (emulator does not keep): {', '.join(c.not_verified)}")
            if c.not_compared:
                rows.append(f"    not compared here (template tests cover it): {', '.join(c.not_compared)}")
        skipped = self.skipped_types
        if skipped:
            rows.append("Not verified, the emulator does not create these resource types:")
            rows += [f"  - {t}: {SKIPPED_MEANING.get(t, 'not supported by moto CloudFormation')}" for t in skipped]
        rows += [f"Note: {n}" for n in self.notes]
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ok": self.ok,
            "notes": self.notes,
            "checks": [
                {
                    "logical_id": c.logical_id,
                    "type": c.type,
                    "physical_id": c.physical_id,
                    "status": c.status,
                    "compared": c.compared,
                    "problems": c.problems,
                    "not_verified": c.not_verified,
                    "not_compared": c.not_compared,
                }
                for c in self.checks
            ],
        }


def _canonical(value: Any) -> str:
    return json.dumps(_normalize(value), sort_keys=True, default=str)


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _statements(document: Any) -> list[Any]:
    """Policy statements in a comparable form: Action/Resource always sorted lists."""
    if isinstance(document, str):
        document = json.loads(document)
    out = []
    for statement in document.get("Statement", []):
        item = dict(statement)
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in item:
                item[key] = sorted(item[key]) if isinstance(item[key], list) else [item[key]]
        out.append(item)
    return sorted(out, key=lambda s: json.dumps(s, sort_keys=True))


# ---------------------------------------------------------------------- physical ids


def physical_map(stack: DeployedStack) -> dict[str, account.Physical]:
    """Ref value and attributes of every created resource, as the emulator reports them."""
    out: dict[str, account.Physical] = {}
    region, acct = stack.region, account.ACCOUNT
    for logical_id, info in stack.resources.items():
        kind, pid = info["type"], info["physical_id"]
        attrs: dict[str, str] = {}
        if kind == "AWS::KMS::Key":
            attrs = {"Arn": f"arn:aws:kms:{region}:{acct}:key/{pid}", "KeyId": pid}
        elif kind == "AWS::SNS::Topic":
            attrs = {"TopicArn": pid, "TopicName": pid.rsplit(":", 1)[-1]}
        elif kind == "AWS::SQS::Queue":
            arn = stack.client("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])
            attrs = {"Arn": arn["Attributes"]["QueueArn"], "QueueUrl": pid, "QueueName": pid.rsplit("/", 1)[-1]}
        elif kind == "AWS::DynamoDB::Table":
            attrs = {"Arn": stack.client("dynamodb").describe_table(TableName=pid)["Table"]["TableArn"]}
        elif kind == "AWS::S3::Bucket":
            attrs = {
                "Arn": f"arn:aws:s3:::{pid}",
                "DomainName": f"{pid}.s3.amazonaws.com",
                "RegionalDomainName": f"{pid}.s3.{region}.amazonaws.com",
            }
        elif kind == "AWS::Lambda::Function":
            attrs = {"Arn": stack.functions[logical_id].arn}
        elif kind == "AWS::IAM::Role":
            role = stack.client("iam").get_role(RoleName=pid)["Role"]
            attrs = {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        elif kind == "AWS::Logs::LogGroup":
            attrs = {"Arn": f"arn:aws:logs:{region}:{acct}:log-group:{pid}"}  # moto's form (see EMULATOR_FORMS)
        elif kind == "AWS::Events::Rule":
            attrs = {"Arn": stack.client("events").describe_rule(Name=pid)["Arn"]}
        out[logical_id] = account.Physical(pid, attrs)
    return out


# ---------------------------------------------------------------------- checks per type

Checker = Callable[[DeployedStack, Check, dict[str, Any], Callable[[Any], Any]], None]


def _function(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    lam = stack.client("lambda")
    conf = lam.get_function_configuration(FunctionName=check.physical_id)
    check.expect("Handler", props["Handler"], conf["Handler"])
    check.expect("Runtime", props["Runtime"], conf.get("Runtime"))
    check.expect("Role", resolve(props["Role"]), conf["Role"])
    check.expect(
        "Environment",
        resolve(props.get("Environment", {}).get("Variables", {})),
        conf.get("Environment", {}).get("Variables", {}),
    )
    check.expect("Timeout", props.get("Timeout", 3), conf.get("Timeout"))
    check.expect("MemorySize", props.get("MemorySize", 128), conf.get("MemorySize"))
    check.expect("Architectures", props.get("Architectures", ["x86_64"]), conf.get("Architectures"))
    check.expect("Description", props.get("Description", ""), conf.get("Description", ""))
    if "ReservedConcurrentExecutions" in props:
        got = lam.get_function_concurrency(FunctionName=check.physical_id).get("ReservedConcurrentExecutions")
        check.expect("ReservedConcurrentExecutions", props["ReservedConcurrentExecutions"], got)
    if props.get("Layers"):
        deployed = [layer["Arn"] for layer in conf.get("Layers", [])]
        if not deployed:
            check.not_verified.append("Layers (dropped on create)")
        else:
            expected = [":".join(str(resolve(arn)).split(":")[-2:]) for arn in props["Layers"]]
            check.expect("Layers (name:version)", expected, [":".join(a.split(":")[-2:]) for a in deployed])


def _role(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    iam = stack.client("iam")
    role = iam.get_role(RoleName=check.physical_id)["Role"]
    check.expect(
        "AssumeRolePolicyDocument",
        _statements(resolve(props["AssumeRolePolicyDocument"])),
        _statements(role["AssumeRolePolicyDocument"]),
    )
    check.expect("Description", props.get("Description"), role.get("Description"))
    if not props.get("ManagedPolicyArns"):
        attached = iam.list_attached_role_policies(RoleName=check.physical_id)["AttachedPolicies"]
        check.expect("managed policies (none)", [], [p["PolicyArn"] for p in attached])
    declared = sorted(p["PolicyName"] for p in props.get("Policies", []))
    template = stack_template(stack)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            roles = [r.get("Ref") for r in resource["Properties"].get("Roles", []) if isinstance(r, dict)]
            if check.logical_id in roles:
                declared.append(resource["Properties"]["PolicyName"])
    check.expect(
        "inline policy names",
        sorted(declared),
        sorted(iam.list_role_policies(RoleName=check.physical_id)["PolicyNames"]),
    )


def _policy(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    iam = stack.client("iam")
    for ref in props.get("Roles", []):
        role = resolve(ref)
        got = iam.get_role_policy(RoleName=role, PolicyName=props["PolicyName"])["PolicyDocument"]
        check.expect(f"statements on {role}", _statements(resolve(props["PolicyDocument"])), _statements(got))


def _rule(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    events = stack.client("events")
    rule = events.describe_rule(Name=check.physical_id)
    if "EventPattern" in props:
        check.expect("EventPattern", resolve(props["EventPattern"]), json.loads(rule.get("EventPattern", "{}")))
    if "ScheduleExpression" in props:
        check.expect("ScheduleExpression", props["ScheduleExpression"], rule.get("ScheduleExpression"))
    check.expect("State", props.get("State", "ENABLED"), rule.get("State"))
    check.expect("Description", props.get("Description"), rule.get("Description"))
    targets = events.list_targets_by_rule(Rule=check.physical_id)["Targets"]
    expected = [{k: resolve(v) for k, v in t.items()} for t in props.get("Targets", [])]
    keys = sorted({k for t in expected for k in t})
    check.expect(
        f"Targets ({', '.join(keys)})",
        sorted(expected, key=lambda t: t["Id"]),
        sorted(({k: t.get(k) for k in keys} for t in targets), key=lambda t: t["Id"]),
    )


def _permission(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    function = resolve(props["FunctionName"])
    policy = json.loads(stack.client("lambda").get_policy(FunctionName=function)["Policy"])
    want = {
        "Action": props["Action"],
        "Principal": {"Service": props["Principal"]},
        "SourceArn": resolve(props.get("SourceArn")),
    }
    found = [
        {
            "Action": s.get("Action"),
            "Principal": s.get("Principal"),
            "SourceArn": s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn"),
        }
        for s in policy.get("Statement", [])
    ]
    check.compared.append("Action, Principal, SourceArn")
    if want not in found:
        check.problems.append(f"no statement {_short(want)} in the function policy {_short(found)}")


def _topic(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    attrs = stack.client("sns").get_topic_attributes(TopicArn=check.physical_id)["Attributes"]
    check.expect("KmsMasterKeyId", resolve(props.get("KmsMasterKeyId")), attrs.get("KmsMasterKeyId"))
    check.expect("DisplayName", props.get("DisplayName", ""), attrs.get("DisplayName", ""))
    subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=check.physical_id)["Subscriptions"]
    check.expect("subscriptions (template declares none as properties)", [], [s["Endpoint"] for s in subscriptions])


def _queue(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    attrs = stack.client("sqs").get_queue_attributes(QueueUrl=check.physical_id, AttributeNames=["All"])["Attributes"]
    if "MessageRetentionPeriod" in props:
        check.expect(
            "MessageRetentionPeriod", str(props["MessageRetentionPeriod"]), attrs.get("MessageRetentionPeriod")
        )
    if "SqsManagedSseEnabled" in props:
        check.expect(
            "SqsManagedSseEnabled", str(props["SqsManagedSseEnabled"]).lower(), attrs.get("SqsManagedSseEnabled")
        )


def _table(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    table = stack.client("dynamodb").describe_table(TableName=check.physical_id)["Table"]
    check.expect("KeySchema", props["KeySchema"], table["KeySchema"])
    check.expect(
        "AttributeDefinitions",
        sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
    )
    check.expect(
        "BillingMode",
        props.get("BillingMode", "PROVISIONED"),
        table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
    )


def _bucket(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    s3 = stack.client("s3")
    s3.head_bucket(Bucket=check.physical_id)
    check.compared.append("exists")
    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if rules:
        got = s3.get_bucket_encryption(Bucket=check.physical_id)["ServerSideEncryptionConfiguration"]["Rules"]
        check.expect(
            "BucketEncryption (algorithm, key)",
            [resolve(r["ServerSideEncryptionByDefault"]) for r in rules],
            [r["ApplyServerSideEncryptionByDefault"] for r in got],
        )
    if "Tags" in props:
        try:
            tags = s3.get_bucket_tagging(Bucket=check.physical_id)["TagSet"]
        except ClientError:
            tags = []
        check.expect(
            "Tags",
            sorted((t["Key"], t["Value"]) for t in props["Tags"]),
            sorted((t["Key"], t["Value"]) for t in tags if not t["Key"].startswith("aws:")),
        )


def _log_group(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    groups = stack.client("logs").describe_log_groups(logGroupNamePrefix=check.physical_id)["logGroups"]
    found = [g for g in groups if g["logGroupName"] == check.physical_id]
    check.expect("exists", True, bool(found))
    if found and "RetentionInDays" in props:
        check.expect("RetentionInDays", props["RetentionInDays"], found[0].get("retentionInDays"))


def _key(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    kms = stack.client("kms")
    meta = kms.describe_key(KeyId=check.physical_id)["KeyMetadata"]
    check.expect("Description", props.get("Description"), meta.get("Description"))
    check.expect("KeyState", "Enabled" if props.get("Enabled", True) else "Disabled", meta.get("KeyState"))
    rotation = kms.get_key_rotation_status(KeyId=check.physical_id)["KeyRotationEnabled"]
    check.expect("EnableKeyRotation", bool(props.get("EnableKeyRotation", False)), rotation)
    policy = kms.get_key_policy(KeyId=check.physical_id, PolicyName="default")["Policy"]
    check.expect("KeyPolicy statements", _statements(resolve(props["KeyPolicy"])), _statements(policy))


def _dashboard(stack: DeployedStack, check: Check, props: dict[str, Any], resolve: Callable[[Any], Any]) -> None:
    body = stack.client("cloudwatch").get_dashboard(DashboardName=check.physical_id)["DashboardBody"]
    check.expect("DashboardBody", json.loads(resolve(props["DashboardBody"])), json.loads(body))


CHECKERS: dict[str, tuple[Checker, tuple[str, ...]]] = {
    "AWS::CloudWatch::Dashboard": (_dashboard, ("DashboardBody", "DashboardName")),
    # type: (checker, template properties it compares)
    "AWS::Lambda::Function": (
        _function,
        (
            "Handler",
            "Runtime",
            "Role",
            "Environment",
            "Timeout",
            "MemorySize",
            "Architectures",
            "Description",
            "ReservedConcurrentExecutions",
            "Layers",
        ),
    ),
    "AWS::IAM::Role": (_role, ("AssumeRolePolicyDocument", "Description", "Policies")),
    "AWS::IAM::Policy": (_policy, ("PolicyDocument", "PolicyName", "Roles")),
    "AWS::Events::Rule": (_rule, ("EventPattern", "ScheduleExpression", "State", "Description", "Targets")),
    "AWS::Lambda::Permission": (_permission, ("Action", "FunctionName", "Principal", "SourceArn")),
    "AWS::SNS::Topic": (_topic, ("KmsMasterKeyId", "DisplayName")),
    "AWS::SQS::Queue": (_queue, ("MessageRetentionPeriod", "SqsManagedSseEnabled")),
    "AWS::DynamoDB::Table": (_table, ("KeySchema", "AttributeDefinitions", "BillingMode")),
    "AWS::S3::Bucket": (_bucket, ("BucketEncryption", "Tags")),
    "AWS::Logs::LogGroup": (_log_group, ("RetentionInDays",)),
    "AWS::KMS::Key": (_key, ("Description", "Enabled", "EnableKeyRotation", "KeyPolicy")),
}
_IGNORED_PROPS = {"Tags", "Code"}  # tags compared where the API returns them; Code is the asset (hash-named)


def stack_template(stack: DeployedStack) -> dict[str, Any]:
    """The template CloudFormation holds for the stack (what it was given)."""
    body = stack.client("cloudformation").get_template(StackName=stack.stack_name)["TemplateBody"]
    return dict(json.loads(body) if isinstance(body, str) else body)


def verify(stack: DeployedStack, template: dict[str, Any], *, label: str) -> Verification:
    """Check every template resource against the emulator; never raises for a difference."""
    physical = physical_map(stack)

    def resolve(value: Any) -> Any:
        return account.resolve(value, physical)

    checks = []
    received = stack_template(stack)
    template_check = Check("(template)", "AWS::CloudFormation::Stack", stack.stack_name)
    template_check.expect(
        "template CloudFormation received == synthesized template (Resources)",
        template["Resources"],
        received.get("Resources"),
    )
    checks.append(template_check)
    for logical_id, resource in sorted(template["Resources"].items(), key=lambda kv: (kv[1]["Type"], kv[0])):
        kind = resource["Type"]
        check = Check(logical_id, kind)
        checks.append(check)
        if logical_id not in stack.resources:
            check.skipped = True
            continue
        check.physical_id = stack.resources[logical_id]["physical_id"]
        props = resource.get("Properties", {})
        kept = NOT_KEPT.get(kind, ())
        check.not_verified = [
            p
            for p in kept
            if p.split(".")[0] in props and (p.count(".") == 0 or p.split(".")[1] in props[p.split(".")[0]])
        ]
        entry = CHECKERS.get(kind)
        if entry is None:
            check.problems.append(f"no verifier for {kind}: add one to deploylocal/verify.py")
            continue
        checker, covered = entry
        try:
            checker(stack, check, props, resolve)
        except (ClientError, KeyError) as exc:
            check.problems.append(f"could not read it back: {type(exc).__name__}: {exc}")
        unlisted = sorted(set(props) - set(covered) - _IGNORED_PROPS - {p.split(".")[0] for p in kept})
        check.not_compared = unlisted
    return Verification(label, checks, notes=list(EMULATOR_FORMS))
