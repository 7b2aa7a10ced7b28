"""A playbook's Lambda function: its own role holding exactly its actions' permissions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from aws_cdk import Acknowledgment, CfnElement, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.catalog import LAMBDAS, REGISTRY, permissions_for
from stacks.config import LOG_RETENTION_DAYS, CoreConfig
from stacks.constructs.core import CoreResources

RUNTIME = lambda_.Runtime.PYTHON_3_14
POWERTOOLS_LAYER = (
    "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-x86_64:"
)

# Why a wildcard resource is unavoidable, by the resource pattern actions declare.
WILDCARD_REASONS = {
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*": "the playbook contains whichever IAM user a finding "
    "names, unknown at deploy time; scoped to this account's users and to the actions its steps declare",
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*": "the playbook revokes sessions of whichever role a "
    "finding names, unknown at deploy time; scoped to this account's roles and to the declared actions",
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:group/*": "a compromised user is removed from the groups it "
    "belongs to, unknown at deploy time; only iam:RemoveUserFromGroup is granted on groups",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*": "the instance and health playbooks "
    "act on whichever instance a finding or an alarm names, unknown at deploy time; scoped to this account and "
    "region's instances and to the actions each playbook's steps declare",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/*": "every EBS volume of a compromised "
    "instance is tagged and snapshotted; the volumes are unknown at deploy time",
    "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*": "evidence snapshots get ids only when created",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*": "every network interface of "
    "a compromised instance is moved to the isolation group; interfaces are unknown at deploy time",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/*": "isolation groups are created "
    "per VPC on first use, and world-open rules are revoked from whichever group an API call changed",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/*": "the isolation group is created in the "
    "VPC of the compromised instance, unknown at deploy time",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*": "flow logs get ids only when created",
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:elastic-ip/*": "the Elastic IP of a compromised "
    "instance is unknown at deploy time; only DisassociateAddress is granted (the allocation is kept)",
    "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*": "the instance leaves "
    "whichever Auto Scaling group it belongs to; only DetachInstances/EnterStandby are granted",
    "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/*": "the instance is "
    "deregistered from whichever target groups hold it; only DeregisterTargets is granted",
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/*": "the instance role is read from whichever "
    "instance profile the compromised instance carries; only iam:GetInstanceProfile is granted",
    "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*": "the trail playbook restarts, recreates or "
    "restores whichever trail an API call tampered with (in its home region), unknown at deploy time; "
    "restricted further by trail.protectedTrails at run time",
    "@evidence": "each incident writes its evidence under its own key below incidents/ in the evidence bucket",
    "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*": (
        "an impaired instance is marked Unhealthy in whichever Auto Scaling group it belongs to; only "
        "autoscaling:SetInstanceHealth is granted on groups"
    ),
    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${NamePrefix}-i-*": "the per-instance "
    "alarms are created as instances start; scoped to alarm names carrying this stack's prefix",
}
_ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache"]


def _resource(ref: str, core: CoreResources, name_prefix: str = "") -> list[str]:
    if ref == "@table":
        return [core.table.table_arn]
    if ref == "@evidence":
        return [core.evidence.arn_for_objects("incidents/*")]
    if ref == "@topic":
        return [core.topic.topic_arn]
    if ref == "@key":
        return [core.key.key_arn]
    if ref == "*":
        return ["*"]
    return [Fn.sub(ref.replace("${NamePrefix}", name_prefix))]


class PlaybookFunction(Construct):
    """Code asset + managed Powertools layer + log group + async retries + on-failure queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        playbook: str,
        handler: str,
        mode: str,
        actions: Sequence[str],
        options: Mapping[str, Any],
        core: CoreResources,
        config: CoreConfig,
        description: str,
        timeout_seconds: int = 60,
        memory_size: int = 256,
    ) -> None:
        super().__init__(scope, construct_id)
        self.playbook = playbook
        self.actions = tuple(actions)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{playbook} playbook: exactly the permissions its actions declare",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        grouped: dict[tuple[str, ...], set[str]] = {}
        for permission in permissions_for(actions):
            grouped.setdefault(permission.resources, set()).update(permission.actions)
        for resources, iam_actions in sorted(grouped.items()):
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=sorted(iam_actions),
                    resources=[r for ref in resources for r in _resource(ref, core, config.name_prefix)],
                )
            )
        self._acknowledge_wildcards(grouped, core, config.name_prefix)
        guarded = protected_guardrail_actions(actions)
        if guarded and config.protected_tag_key:
            # The protected-tag rule enforced by IAM itself: a playbook may act first and
            # inspect later, and a protected principal or resource is still never changed.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="NeverChangeProtectedResources",
                    effect=iam.Effect.DENY,
                    actions=guarded,
                    resources=["*"],
                    conditions={
                        "StringEquals": {f"aws:ResourceTag/{config.protected_tag_key}": config.protected_tag_value}
                    },
                )
            )

        environment = {
            "PLAYBOOK": playbook,
            "MODE": mode,
            "STACK_NAME": stack.stack_name,
            "NAME_PREFIX": config.name_prefix,
            "PROTECTED_TAG_KEY": config.protected_tag_key,
            "PROTECTED_TAG_VALUE": config.protected_tag_value,
            "PRINCIPAL_ALLOW_LIST": json.dumps(list(config.principal_allow_list)),
            "INCIDENT_TABLE": core.table.table_name,
            "EVIDENCE_BUCKET": core.evidence.bucket_name,
            "TOPIC_ARN": core.topic.topic_arn,
            "PLAYBOOK_CONFIG": json.dumps(options, sort_keys=True, separators=(",", ":")),
            "FUNCTION_TIMEOUT": str(timeout_seconds),
            "BREAKER_LIMIT": str(config.breaker_limit),
            "BREAKER_WINDOW_MINUTES": str(config.breaker_window_minutes),
            "REPEAT_NOTIFY_MINUTES": str(config.repeat_notify_minutes),
            "POWERTOOLS_SERVICE_NAME": playbook,
            "POWERTOOLS_METRICS_NAMESPACE": "AutoRemediation",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", Fn.sub(POWERTOOLS_LAYER + str(config.powertools_layer_version))
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=lambda_.Code.from_asset(str(LAMBDAS), exclude=_ASSET_EXCLUDE),
            handler=handler,
            role=self.role,
            layers=[layer],
            environment=environment,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            reserved_concurrent_executions=config.reserved_concurrency,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        lambda_.EventInvokeConfig(
            self,
            "Async",
            function=self.function,
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(core.failure_queue),
        )
        errors = cloudwatch.Alarm(
            self,
            "Errors",
            alarm_description=f"The {playbook} playbook function failed (it will be retried, then queued)",
            metric=self.function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        errors.add_alarm_action(core.alarm_action)

    def _acknowledge_wildcards(
        self, grouped: dict[tuple[str, ...], set[str]], core: CoreResources, name_prefix: str = ""
    ) -> None:
        """Acknowledge each wildcard the declared permissions need, with its specific reason."""
        policy = self.role.node.find_child("DefaultPolicy")
        evidence_id = Stack.of(core).get_logical_id(cast(CfnElement, core.evidence.node.default_child))
        acks = []
        for resources, iam_actions in grouped.items():
            for ref in resources:
                if ref == "*":
                    reason = (
                        f"{', '.join(sorted(iam_actions))} support no resource-level permissions "
                        "(Service Authorization Reference), so the resource must be *"
                    )
                    acks.append(Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=reason))
                elif ref in WILDCARD_REASONS:
                    rendered = (
                        f"<{evidence_id}.Arn>/incidents/*"
                        if ref == "@evidence"
                        else ref.replace("${NamePrefix}", name_prefix).replace("${", "<").replace("}", ">")
                    )
                    acks.append(
                        Acknowledgment(
                            id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{rendered}]", reason=WILDCARD_REASONS[ref]
                        )
                    )
        if acks:
            Validations.of(policy).acknowledge(*acks)


READ_VERBS = ("Get", "List", "Describe", "Lookup")


def protected_guardrail_actions(actions: Sequence[str]) -> list[str]:
    """IAM actions of the mutating steps that change a resource (not the ones that only read)."""
    out: set[str] = set()
    for name in actions:
        spec = REGISTRY[name]
        if not spec.mutating:
            continue
        for permission in spec.permissions:
            out.update(a for a in permission.actions if not a.split(":", 1)[1].startswith(READ_VERBS))
    return sorted(out)


def _retention(days: int) -> logs.RetentionDays:
    """Map a validated number of days onto the CDK enum (same order as CloudWatch's list)."""
    members = [m for m in logs.RetentionDays if m.name != "INFINITE"]
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]
