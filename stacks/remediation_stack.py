"""The one stack: composes the core resources, playbook functions and their rules."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from stacks import rules
from stacks.config import Config
from stacks.constructs.core import CoreResources
from stacks.constructs.dashboard import Dashboard
from stacks.constructs.instance_alarms import InstanceAlarms
from stacks.constructs.playbook_function import PlaybookFunction


class RemediationStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.core = CoreResources(self, "Core", core=config.core)
        self.playbooks: dict[str, PlaybookFunction] = {}

        cred = config.credential
        self._playbook(
            "credential",
            handler="handlers.credential.lambda_handler",
            mode=cred.mode,
            actions=("inspect_principal", *cred.all_actions),
            options={
                "finding_types": list(cred.finding_types),
                "min_severity": cred.min_severity,
                "actions": list(cred.actions),
                "actions_by_finding_type": [[p, list(s)] for p, s in cred.actions_by_finding_type],
                "recheck_seconds": cred.recheck_seconds,
                "cloudtrail_lookback_hours": cred.cloudtrail_lookback_hours,
            },
            description="Contains compromised IAM credentials reported by GuardDuty",
            timeout_seconds=60 + cred.recheck_seconds,
            patterns={"GuardDutyCredentialFindings": rules.credential_pattern(config)},
        )

        self._health(config)

        self.dashboard = Dashboard(self, "Dashboard", playbooks=self.playbooks, core=self.core,
                                   instance_ids=config.monitoring.instance_ids,
                                   search_fleet=config.monitoring.scope != "list")  # fmt: skip
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard.dashboard_name)
        CfnOutput(self, "IncidentTableName", value=self.core.table.table_name)
        CfnOutput(self, "EvidenceBucketName", value=self.core.evidence.bucket_name)
        CfnOutput(self, "NotificationTopicArn", value=self.core.topic.topic_arn)
        CfnOutput(self, "FailureQueueUrl", value=self.core.failure_queue.queue_url)

    def _health(self, config: Config) -> None:
        """EC2 health playbook, the alarm-lifecycle function and the synth-time alarms."""
        health, monitoring = config.health, config.monitoring
        self._playbook(
            "health",
            handler="handlers.health.lambda_handler",
            mode=health.mode,
            actions=health.all_actions,
            options={
                "system_check_action": health.system_check_action,
                "instance_check_action": health.instance_check_action,
                "reboots_before_stop_start": health.reboots_before_stop_start,
                "reboot_window_minutes": health.reboot_window_minutes,
                "auto_scaling_instances": health.auto_scaling_instances,
                "retirement_action": health.retirement_action,
                "stop_timeout_seconds": health.stop_timeout_seconds,
            },
            description="Recovers, reboots or replaces EC2 instances whose status checks fail",
            # A stop/start may wait for the stop and then the start: room for both, plus the rest.
            timeout_seconds=2 * health.stop_timeout_seconds + 60,
            patterns={
                "HealthAlarmStateChanges": rules.health_alarm_pattern(config),
                "HealthEc2Events": rules.health_events_pattern(),
            },
        )
        self.instance_alarms = InstanceAlarms(self, "InstanceAlarms", monitoring=monitoring, core=self.core,
                                              config=config.core)  # fmt: skip
        if monitoring.scope == "list":
            return  # only the listed instances, whose alarms CloudFormation manages
        lifecycle = self._playbook(
            "alarm_lifecycle",
            handler="handlers.alarm_lifecycle.lambda_handler",
            mode=monitoring.mode,
            actions=("inspect_instance_health", "put_instance_alarms", "delete_instance_alarms", "reconcile_alarms"),
            options={
                "scope": monitoring.scope,
                "tag_key": monitoring.tag_key,
                "tag_value": monitoring.tag_value,
                "static_instance_ids": list(monitoring.instance_ids),
                "alarms": monitoring.alarm_options(),
            },
            description="Creates and deletes the monitored EC2 instances' alarms as instances start and terminate",
            timeout_seconds=300,
            patterns={"AlarmLifecycleInstanceState": rules.instance_state_pattern()},
        )
        events.Rule(
            self,
            "AlarmLifecycleReconcile",
            description="Daily: create missing and delete orphaned instance alarms",
            schedule=events.Schedule.expression(monitoring.reconcile_schedule),
            targets=[targets.LambdaFunction(lifecycle.function, retry_attempts=2, max_event_age=Duration.hours(2))],
        )

    def _playbook(
        self,
        name: str,
        *,
        patterns: dict[str, dict[str, Any]],
        **kwargs: Any,
    ) -> PlaybookFunction:
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        fn = PlaybookFunction(self, construct_id, playbook=name, core=self.core, config=self.config.core, **kwargs)
        for rule_id, pattern in patterns.items():
            events.Rule(
                self,
                rule_id,
                description=f"Routes to the {name} playbook",
                event_pattern=_pattern(pattern),
                targets=[targets.LambdaFunction(fn.function, retry_attempts=8, max_event_age=Duration.hours(2))],
            )
        self.playbooks[name] = fn
        return fn


def _pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """EventPattern from a plain dict: top-level keys map to the L2 fields, `detail` stays raw."""
    fields = {
        "source": "source",
        "detail-type": "detail_type",
        "detail": "detail",
        "account": "account",
        "region": "region",
        "resources": "resources",
    }
    return events.EventPattern(**{fields[k]: v for k, v in pattern.items()})
