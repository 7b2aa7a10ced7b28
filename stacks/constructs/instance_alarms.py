"""Synth-time alarms for the instances listed in context (`monitoring.instanceIds`).

They use the very definitions the alarm-lifecycle function applies at run time
(`remediation.alarms`), so a listed instance's alarms equal a tagged instance's.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.catalog import LAMBDAS  # noqa: F401  (puts the Lambda asset on sys.path)
from stacks.config import CoreConfig, MonitoringConfig
from stacks.constructs.core import CoreResources

from remediation import alarms as definitions  # isort: skip


class InstanceAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: MonitoringConfig,
        core: CoreResources,
        config: CoreConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.CfnAlarm] = []
        for instance_id in monitoring.instance_ids:
            target = definitions.Target(
                instance_id=instance_id, recover=monitoring.recover_listed_instances, instance_store=False
            )
            for spec in definitions.definitions(
                prefix=config.name_prefix,
                target=target,
                partition=Aws.PARTITION,
                region=Aws.REGION,
                topic_arn=core.topic.topic_arn,
                options=monitoring.alarm_options(),
            ):
                alarm = cloudwatch.CfnAlarm(
                    self,
                    f"{instance_id}-{spec['MetricName']}",
                    alarm_name=spec["AlarmName"],
                    alarm_description=spec["AlarmDescription"],
                    namespace=spec["Namespace"],
                    metric_name=spec["MetricName"],
                    dimensions=[
                        cloudwatch.CfnAlarm.DimensionProperty(name=d["Name"], value=d["Value"])
                        for d in spec["Dimensions"]
                    ],
                    statistic=spec["Statistic"],
                    period=spec["Period"],
                    evaluation_periods=spec["EvaluationPeriods"],
                    threshold=spec["Threshold"],
                    comparison_operator=spec["ComparisonOperator"],
                    treat_missing_data=spec["TreatMissingData"],
                    actions_enabled=spec["ActionsEnabled"],
                    alarm_actions=spec["AlarmActions"],
                )
                self.alarms.append(alarm)
