"""Shared resources every playbook uses: key, topic, failure queue, incident table, evidence bucket."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import CoreConfig


class CoreResources(Construct):
    """Encrypted, TLS-only, versioned storage and messaging for the playbooks."""

    def __init__(self, scope: Construct, construct_id: str, *, core: CoreConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if core.retain_data else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the auto-remediation topic, queue and evidence",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch alarms publish to the encrypted topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )

        self.topic = sns.Topic(
            self, "Notifications", display_name="Auto-remediation", master_key=self.key, enforce_ssl=True
        )
        for address in core.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))

        self.failure_queue = sqs.Queue(
            self,
            "FailureQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.failure_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the terminal on-failure destination of the playbook functions; "
                "its depth alarms the team, so a further DLQ would only hide failures.",
            )
        )

        self.table = dynamodb.Table(
            self,
            "Incidents",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            removal_policy=removal,
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot use a KMS key
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(core.evidence_retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
            removal_policy=removal,
        )
        self.evidence = s3.Bucket(
            self,
            "Evidence",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="evidence/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(core.evidence_retention_days),
                    noncurrent_version_expiration=Duration.days(core.evidence_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal,
        )

        self.alarm_action = cw_actions.SnsAction(self.topic)
        depth = cloudwatch.Alarm(
            self,
            "FailureQueueDepth",
            alarm_description="A remediation failed after Lambda's retries: see the on-failure queue",
            metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        depth.add_alarm_action(self.alarm_action)
