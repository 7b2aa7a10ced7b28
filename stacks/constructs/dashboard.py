"""One CloudWatch dashboard: the monitored fleet's health and what the playbooks did about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.constructs.core import CoreResources
from stacks.constructs.playbook_function import PlaybookFunction

NAMESPACE = "AutoRemediation"
OUTCOMES = ("Remediations", "DryRuns", "Notified", "Skipped", "InvalidEvents", "ActionsFailed")
PERIOD = Duration.minutes(5)


def _search(expression: str, label: str, statistic: str) -> cloudwatch.MathExpression:
    """All instances' series of one EC2 metric (tag-based monitoring is not known at synth time)."""
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{AWS/EC2,InstanceId}} MetricName=\"{expression}\"', '{statistic}', 300)",
        label=label,
        using_metrics={},
        period=PERIOD,
    )


def _instance_metrics(instance_ids: Sequence[str], names: Sequence[str], statistic: str) -> list[cloudwatch.IMetric]:
    return [
        cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name=name,
            dimensions_map={"InstanceId": instance_id},
            statistic=statistic,
            period=PERIOD,
            label=f"{instance_id} {name}",
        )
        for instance_id in instance_ids
        for name in names
    ]


class Dashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        playbooks: Mapping[str, PlaybookFunction],
        core: CoreResources,
        instance_ids: Sequence[str],
        search_fleet: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))

        def fleet(title: str, names: Sequence[str], statistic: str) -> cloudwatch.GraphWidget:
            left: list[cloudwatch.IMetric] = list(_instance_metrics(instance_ids, names, statistic))
            if search_fleet:
                left += [_search(n, n, statistic) for n in names]
            return cloudwatch.GraphWidget(title=title, left=left, width=8, height=6)

        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown="# Auto-remediation\nMonitored EC2 instances, status checks, and what every playbook did.",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            fleet("Monitored instances: CPU (%)", ["CPUUtilization"], "Average"),
            fleet(
                "Monitored instances: disk operations",
                ["EBSReadOps", "EBSWriteOps", "DiskReadOps", "DiskWriteOps"],
                "Sum",
            ),
            fleet("Monitored instances: network (bytes)", ["NetworkIn", "NetworkOut"], "Sum"),
        )
        self.dashboard.add_widgets(
            fleet("Status-check failures", ["StatusCheckFailed_System", "StatusCheckFailed_Instance"], "Maximum"),
            cloudwatch.GraphWidget(
                title="Remediations by playbook and outcome",
                left=[
                    cloudwatch.Metric(
                        namespace=NAMESPACE,
                        metric_name=outcome,
                        dimensions_map={"service": name, "Playbook": name},
                        statistic="Sum",
                        period=PERIOD,
                        label=f"{name} {outcome}",
                    )
                    for name in playbooks
                    for outcome in OUTCOMES
                ],
                stacked=True,
                width=8,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="Time to contain (ms, p90)",
                left=[
                    cloudwatch.Metric(
                        namespace=NAMESPACE,
                        metric_name="TimeToContainMs",
                        dimensions_map={"service": name, "Playbook": name},
                        statistic="p90",
                        period=PERIOD,
                        label=name,
                    )
                    for name in playbooks
                ],
                width=8,
                height=6,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[
                    fn.function.metric_errors(period=PERIOD, statistic="Sum", label=name)
                    for name, fn in playbooks.items()
                ],
                width=12,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="On-failure queue depth",
                left=[
                    core.failure_queue.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(1), statistic="Maximum"
                    )
                ],
                width=12,
                height=6,
            ),
        )
