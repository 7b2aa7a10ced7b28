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
            actions=("inspect_principal", *cred.all_actions, "restore_access_key"),
            options={
                "finding_types": list(cred.finding_types),
                "min_severity": cred.min_severity,
                "actions": list(cred.actions),
                "actions_by_finding_type": [[p, list(s)] for p, s in cred.actions_by_finding_type],
                "recheck_seconds": cred.recheck_seconds,
                "cloudtrail_lookback_hours": cred.cloudtrail_lookback_hours,
            },
            description="Contains compromised IAM credentials reported by GuardDuty",
            timeout=Duration.seconds(60 + cred.recheck_seconds),
            patterns={"GuardDutyCredentialFindings": rules.credential_pattern(config)},
        )

        CfnOutput(self, "IncidentTableName", value=self.core.table.table_name)
        CfnOutput(self, "EvidenceBucketName", value=self.core.evidence.bucket_name)
        CfnOutput(self, "NotificationTopicArn", value=self.core.topic.topic_arn)
        CfnOutput(self, "FailureQueueUrl", value=self.core.failure_queue.queue_url)

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
