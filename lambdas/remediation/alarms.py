"""The EC2 alarms the stack keeps per monitored instance, defined once.

The alarm-lifecycle function creates them with PutMetricAlarm at run time and the stack
creates the same definitions as CloudFormation alarms for instances listed in context, so
both paths produce identical alarms. Names are `<prefix>-<instance id>-<metric>`: one
EventBridge rule (`prefix` match on `<prefix>-i-`) routes all of them to the health playbook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SYSTEM_CHECK = "StatusCheckFailed_System"
INSTANCE_CHECK = "StatusCheckFailed_Instance"
STATUS_CHECKS = (SYSTEM_CHECK, INSTANCE_CHECK)
NAMESPACE = "AWS/EC2"
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$")

# Status checks: a stopped instance publishes nothing, so missing data leaves the alarm in
# INSUFFICIENT_DATA (ignored by the playbook): never a false ALARM, and never a false OK
# that would close an open incident. Metric alarms treat missing data as not breaching.
STATUS_CHECK_MISSING_DATA = "missing"
METRIC_MISSING_DATA = "notBreaching"


def recover_action(partition: str, region: str) -> str:
    """The native CloudWatch alarm action that moves an instance to healthy hardware (no EC2 API does)."""
    return f"arn:{partition}:automate:{region}:ec2:recover"


def alarm_name(prefix: str, instance_id: str, metric: str) -> str:
    return f"{prefix}-{instance_id}-{metric}"


def instance_prefix(prefix: str, instance_id: str) -> str:
    """Name prefix of every alarm of one instance (for DescribeAlarms AlarmNamePrefix)."""
    return f"{prefix}-{instance_id}-"


def fleet_prefix(prefix: str) -> str:
    """Name prefix of every per-instance alarm of the stack (the rule matches on it)."""
    return f"{prefix}-i-"


def parse_alarm_name(prefix: str, name: str) -> tuple[str, str] | None:
    """(instance id, metric) of one of our alarm names, or None for any other alarm."""
    match = re.fullmatch(rf"{re.escape(prefix)}-(i-[0-9a-f]{{8}}(?:[0-9a-f]{{9}})?)-([A-Za-z_]{{1,64}})", name)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class Target:
    """What the alarm definitions need to know about one instance."""

    instance_id: str
    recover: bool  # the system-check alarm carries the native recover action
    instance_store: bool  # disk alarms watch DiskReadOps/DiskWriteOps instead of EBSReadOps/EBSWriteOps


def definitions(
    *, prefix: str, target: Target, partition: str, region: str, topic_arn: str, options: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """PutMetricAlarm arguments of every alarm of one instance, in a stable order."""
    status = options["status_check"]
    out: list[dict[str, Any]] = []

    def add(
        metric: str,
        statistic: str,
        spec: Mapping[str, Any],
        threshold: float,
        *,
        operator: str,
        missing: str,
        actions: list[str],
        what: str,
    ) -> None:
        out.append(
            {
                "AlarmName": alarm_name(prefix, target.instance_id, metric),
                "AlarmDescription": f"{what} of {target.instance_id} (auto-remediation {prefix})",
                "Namespace": NAMESPACE,
                "MetricName": metric,
                "Dimensions": [{"Name": "InstanceId", "Value": target.instance_id}],
                "Statistic": statistic,
                "Period": int(spec["periodSeconds"]),
                "EvaluationPeriods": int(spec["evaluationPeriods"]),
                "Threshold": float(threshold),
                "ComparisonOperator": operator,
                "TreatMissingData": missing,
                "ActionsEnabled": True,
                "AlarmActions": actions,
            }
        )

    system_actions = [topic_arn] + ([recover_action(partition, region)] if target.recover else [])
    ge = "GreaterThanOrEqualToThreshold"
    gt = "GreaterThanThreshold"
    checks: dict[str, Any] = {"operator": ge, "missing": STATUS_CHECK_MISSING_DATA}
    add(SYSTEM_CHECK, "Maximum", status, 1, **checks, actions=system_actions, what="System status check")
    add(INSTANCE_CHECK, "Maximum", status, 1, **checks, actions=[topic_arn], what="Instance status check")
    notify: dict[str, Any] = {"operator": gt, "missing": METRIC_MISSING_DATA, "actions": [topic_arn]}
    enabled = set(options.get("metric_alarms", ()))
    if "cpu" in enabled:
        cpu = options["cpu"]
        add("CPUUtilization", "Average", cpu, cpu["threshold"], **notify, what="CPU")
    if "disk" in enabled:
        disk = options["disk"]
        for metric in ("DiskReadOps", "DiskWriteOps") if target.instance_store else ("EBSReadOps", "EBSWriteOps"):
            add(metric, "Sum", disk, disk["threshold"], **notify, what=metric)
    if "network" in enabled:
        net = options["network"]
        for metric in ("NetworkIn", "NetworkOut"):
            add(metric, "Sum", net, net["threshold"], **notify, what=metric)
    return out


# Fields compared to decide whether an existing alarm drifted from its definition.
COMPARED = (
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "ActionsEnabled",
    "AlarmActions",
)


def drifted(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Fields of `existing` (a DescribeAlarms MetricAlarm) that differ from the definition."""
    diff = []
    for key in COMPARED:
        have, want = existing.get(key), wanted.get(key)
        if key == "AlarmActions":
            have, want = sorted(have or []), sorted(want or [])
        elif key == "Dimensions":
            have = sorted((d["Name"], d["Value"]) for d in have or [])
            want = sorted((d["Name"], d["Value"]) for d in want or [])
        elif key in ("Threshold",):
            have, want = float(have or 0), float(want or 0)
        if have != want:
            diff.append(key)
    return diff
