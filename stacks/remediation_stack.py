"""The one stack: composes the core resources, playbook functions and their rules."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
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
            actions=("inspect_principal", "lookup_key_owner", *cred.all_actions, "restore_access_key"),
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
            patterns={
                "GuardDutyCredentialFindings": rules.credential_pattern(config),
                "HealthCredentialsExposed": rules.credentials_exposed_pattern(config),
            },
        )

        self._instance_playbook(config)
        self._trail_playbook(config)
        self._playbook(
            "risky_change",
            handler="handlers.risky_change.lambda_handler",
            mode=config.risky.mode,
            actions=["inspect_security_group", "revoke_ingress_rules"],
            options={"admin_ports": list(config.risky.admin_ports)},
            description="Revokes world-open admin-port ingress rules; notifies root console sign-ins",
            patterns={
                "WorldOpenAdminIngress": rules.world_open_ingress_pattern(config),
                "RootConsoleSignIn": rules.root_sign_in_pattern(config),
            },
        )

        self._health(config)

        self.dashboard = Dashboard(
            self,
            "Dashboard",
            playbooks=self.playbooks,
            core=self.core,
            instance_ids=config.monitoring.instance_ids,
            search_fleet=config.monitoring.scope != "list",
        )
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
        self.instance_alarms = InstanceAlarms(
            self, "InstanceAlarms", monitoring=monitoring, core=self.core, config=config.core
        )
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

    def _instance_playbook(self, config: Config) -> None:
        inst = config.instance
        actions = [
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
        if inst.flow_logs:
            actions.append("enable_flow_logs")
            self._allow_flow_log_delivery()
        if inst.disassociate_elastic_ip:
            actions.append("disassociate_elastic_ip")
        profile = ""
        if inst.quarantine_instance_profile:
            actions.append("replace_instance_profile")
            profile = self._quarantine_instance_profile()
        if inst.final_action != "none":
            actions.append(f"{inst.final_action}_instance")
        self._playbook(
            "instance",
            handler="handlers.instance.lambda_handler",
            mode=inst.mode,
            actions=actions,
            options={
                "finding_types": list(inst.finding_types),
                "min_severity": inst.min_severity,
                "act_on_target": inst.act_on_target,
                "final_action": inst.final_action,
                "auto_scaling": inst.auto_scaling,
                "untrack_first": inst.untrack_first,
                "forensic_access_cidr": inst.forensic_access_cidr,
                "forensic_access_port": inst.forensic_access_port,
                "flow_logs": inst.flow_logs,
                "disassociate_elastic_ip": inst.disassociate_elastic_ip,
                "quarantine_instance_profile": profile,
            },
            description="Preserves evidence of and isolates EC2 instances GuardDuty reports as compromised",
            timeout_seconds=120,
            patterns={"GuardDutyInstanceFindings": rules.instance_pattern(config)},
        )

    def _trail_playbook(self, config: Config) -> None:
        trail = config.trail
        actions = ["record_trail_config", "restart_logging", "recreate_trail", "restore_trail_config"]
        if trail.contain_actor:
            actions += ["inspect_principal", *trail.actor_actions]
            if "revoke_sessions" not in trail.actor_actions:
                actions.append("revoke_sessions")  # assumed-role actors get their sessions revoked
        fn = self._playbook(
            "trail",
            handler="handlers.trail.lambda_handler",
            mode=trail.mode,
            actions=actions,
            options={
                "protected_trails": list(trail.protected_trails),
                "contain_actor": trail.contain_actor,
                "actor_actions": list(trail.actor_actions),
            },
            description="Restarts, recreates or restores CloudTrail trails that were stopped, deleted or weakened",
            patterns={"TrailTampering": rules.trail_tampering_pattern(config)},
        )
        events.Rule(
            self,
            "TrailConfigRecorder",
            description="Records the protected trails' configuration for the trail playbook to restore from",
            schedule=events.Schedule.rate(Duration.minutes(trail.record_interval_minutes)),
            targets=[targets.LambdaFunction(fn.function, retry_attempts=2, max_event_age=Duration.hours(1))],
        )

    def _quarantine_instance_profile(self) -> str:
        """A role with no permissions and its instance profile, swapped onto isolated instances."""
        name = f"{self.stack_name}-quarantined-instance"
        role = iam.Role(
            self,
            "QuarantinedInstanceRole",
            role_name=name,
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Attached to isolated instances: holds no permissions at all",
        )
        iam.CfnInstanceProfile(self, "QuarantinedInstanceProfile", instance_profile_name=name, roles=[role.role_name])
        return name

    def _allow_flow_log_delivery(self) -> None:
        """Let VPC Flow Logs write into the evidence bucket (under flow-logs/) with the stack's key."""
        evidence, key = self.core.evidence, self.core.key
        delivery = iam.ServicePrincipal("delivery.logs.amazonaws.com")
        conditions = {"StringEquals": {"aws:SourceAccount": self.account}}
        evidence.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogsDeliveryWrite",
                principals=[delivery],
                actions=["s3:PutObject"],
                resources=[evidence.arn_for_objects("flow-logs/*")],
                conditions={
                    **conditions,
                    "StringEquals": {"aws:SourceAccount": self.account, "s3:x-amz-acl": "bucket-owner-full-control"},
                },
            )
        )
        evidence.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogsDeliveryAclCheck",
                principals=[delivery],
                actions=["s3:GetBucketAcl", "s3:ListBucket"],
                resources=[evidence.bucket_arn],
                conditions=conditions,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogsDeliveryEncrypt",
                principals=[delivery],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
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
