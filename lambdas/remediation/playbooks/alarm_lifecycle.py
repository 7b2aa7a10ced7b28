"""Alarm lifecycle: the monitored instances' alarms follow the instances.

`running` creates the instance's alarms (idempotently) when it is in scope, `terminated`
deletes them, and a daily schedule reconciles: creates missing, repairs drifted and deletes
orphaned alarms. Instances listed in context have CloudFormation-managed alarms and are
left alone. Routine runs are quiet (logs and metrics); a failure, a dry run or a repaired
drift is recorded and notified like any playbook run.
"""

from __future__ import annotations

from typing import Any

from remediation import guards
from remediation.actions.alarms import monitored
from remediation.ec2_events import InstanceStateChange, ScheduledEvent
from remediation.engine import Run, incident_id_for, reject
from remediation.events import InvalidEvent
from remediation.observability import MetricUnit, metrics
from remediation.settings import Settings


def handle(event: Any, settings: Settings) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        return _reconcile(event, settings)
    try:
        change = InstanceStateChange.parse(event)
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    instance_id = change.instance_id
    run = Run(
        settings,
        event_id=change.envelope.id,
        incident_id=incident_id_for(settings.playbook, f"{instance_id}:{change.state}:{change.envelope.id}"),
        subject={"instance_id": instance_id, "state": change.state},
        detected_at=change.envelope.time,
    )
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if instance_id in settings.option("static_instance_ids"):
        return run.skip("alarms of instances listed in context are managed by CloudFormation")
    summary = f"alarms of {instance_id} ({change.state})"
    if change.state == "terminated":
        if settings.mode == "notify":
            return run.notify_only("playbook mode is notify", summary)
        run.step("delete_instance_alarms", instance_id, instance_id=instance_id)
        return _quiet(run, summary)
    if change.state != "running":
        return run.skip(f"state {change.state}: alarms change only on running and terminated")
    inspected = run.step("inspect_instance_health", instance_id, instance_id=instance_id)
    info = run.state.get("instance")
    if inspected.status == "failed":
        return run.finish(summary)
    if info is None:
        return run.skip(f"instance {instance_id} no longer exists")
    if not monitored(run, info):
        return run.skip(f"instance does not carry {settings.option('tag_key')}={settings.option('tag_value')}")
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", summary)
    run.step("put_instance_alarms", instance_id, info=info, partition=change.partition, region=change.envelope.region)
    if guards.protected(settings, info["tags"]):
        run.result.reason = "protected instance: watched, but its system-check alarm has no recover action"
    return _quiet(run, summary)


def _reconcile(event: Any, settings: Settings) -> dict[str, Any]:
    try:
        scheduled = ScheduledEvent.parse(event)
    except InvalidEvent as exc:
        return reject(settings, event, exc)
    run = Run(
        settings,
        event_id=scheduled.envelope.id,
        incident_id=incident_id_for(settings.playbook, f"reconcile:{scheduled.envelope.id}"),
        subject={"reconcile": scheduled.envelope.time.isoformat()},
        detected_at=scheduled.envelope.time,
    )
    if settings.mode == "off":
        return run.skip("playbook mode is off")
    if settings.mode == "notify":
        return run.notify_only("playbook mode is notify", "daily alarm reconcile")
    partition = "aws"
    for resource in event.get("resources", []) if isinstance(event.get("resources"), list) else []:
        if isinstance(resource, str) and resource.startswith("arn:"):
            partition = resource.split(":")[1]
    step = run.step("reconcile_alarms", "fleet", partition=partition, region=scheduled.envelope.region)
    repaired = run.state.get("reconciled", {})
    if step.status == "succeeded" and (repaired.get("created") or repaired.get("updated") or repaired.get("deleted")):
        run.result.reason = "alarm drift repaired"
        return run.finish("daily alarm reconcile repaired drift")
    return _quiet(run, "daily alarm reconcile")


def _quiet(run: Run, summary: str) -> dict[str, Any]:
    """Routine alarm upkeep is not an incident: metrics only, unless it failed or was a dry run."""
    if run.failed or run.dry_run:
        return run.finish(summary)
    metrics.add_metric(name="AlarmUpkeep", unit=MetricUnit.Count, value=1)
    done = sum(1 for s in run.result.steps if s.status in ("succeeded", "already_done"))
    metrics.add_metric(name="ActionsSucceeded", unit=MetricUnit.Count, value=done)
    run.result.incident_id = ""
    return run.result.to_dict()
